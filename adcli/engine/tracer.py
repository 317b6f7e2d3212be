"""The tracer: an interpreter that records primitives into a ProgramBuilder instead of computing them.

Run through `sweeps.backward`, it records the reverse sweep as a program; through the
tangent sweep, a tangent program. Each primitive it is asked for goes through its rewrite
rules first (rewrite.py), so repeated differentiation does not pile up dead weight.
"""

from __future__ import annotations

from typing import Any

from . import rewrite
from .program import Instruction, ProgramBuilder
from .sweeps import Handle, Interpreter


class Tracer(Interpreter):
    """Records primitives as instructions at `span`; `rules` decide what is recorded instead.

    rewrite.RECORDING for reverse sweeps, rewrite.TANGENT_SWEEP for tangent sweeps (which
    records a / b as a * (1 / b) and drops zero terms, keeping nested tangent sweeps small
    and finite).
    """

    def __init__(self, builder: ProgramBuilder, rules: rewrite.RuleSet = rewrite.RECORDING):
        self.builder = builder
        self.span = (0, 0)
        self.rules = rules

    def handle(self, slot: int) -> Handle:
        return Handle(self, slot)

    def constant(self, value: float) -> Handle:
        return Handle(self, self.builder.const(value, self.span))

    def apply(self, name: str, *operands: Any, **params: Any) -> Handle:
        return self(name, *operands, **params)

    def at(self, instruction: Instruction) -> None:
        self.span = instruction.span  # recorded instructions point where the one they differentiate came from

    def __call__(self, name: str, *operands: Any, **params: Any) -> Handle:
        builder = self.builder
        slots = [operand.payload if isinstance(operand, Handle) else builder.const(operand, self.span)
                 for operand in operands]
        term = rewrite.Term(name, slots, [builder.constant_value(slot) for slot in slots], params)
        for rule in self.rules.for_op(name):
            found = rule.rewrite(self, term)
            if found is not None:
                return found
        return Handle(self, builder.emit(name, tuple(slots), tuple(sorted(params.items())) if params else (), self.span))
