"""A compiled program: a flat list of primitive operations over numbered slots.

Slot i holds the result of instruction i; an instruction's operands are earlier slots,
so the list is already in evaluation order and no sweep over it needs recursion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

CONST = "const"
VAR = "var"
LEAVES = (CONST, VAR)


class Instruction(NamedTuple):
    op: str  # a primitive's name, or CONST / VAR
    args: tuple[int, ...]  # operand slots
    params: tuple[tuple[str, Any], ...]  # static parameters (axis=..., the constant, the variable's name)
    span: tuple[int, int]  # where in the source text it comes from

    @property
    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)


@dataclass(frozen=True)
class Program:
    text: str
    instructions: tuple[Instruction, ...]
    outputs: tuple[int, ...]
    variables: tuple[str, ...]  # in order of first appearance
    where: dict[str, np.ndarray] = field(default_factory=dict)  # bindings written in the text

    @property
    def output(self) -> int:
        return self.outputs[0]

    def variable_slots(self) -> dict[str, int]:
        return {
            instruction.params[0][1]: slot
            for slot, instruction in enumerate(self.instructions)
            if instruction.op == VAR
        }


def _memo_key(op: str, args: tuple[int, ...], params: tuple) -> Any:
    if op == CONST:
        value = params[0][1]
        if isinstance(value, float) and not math.isnan(value):
            return (CONST, value.hex())  # hex keeps -0.0 apart from 0.0
        return None
    return (op, args, params)


class ProgramBuilder:
    """Appends instructions, reusing the slot of an identical earlier one (hash-consing)."""

    def __init__(self, text: str = ""):
        self.text = text
        self.instructions: list[Instruction] = []
        self._memo: dict[Any, int] = {}

    def emit(self, op: str, args: tuple[int, ...] = (), params: tuple = (), span: tuple[int, int] = (0, 0)) -> int:
        key = _memo_key(op, args, params)
        if key is not None:
            try:
                found = self._memo.get(key)
            except TypeError:  # an unhashable parameter: never shared
                key, found = None, None
            if found is not None:
                return found
        self.instructions.append(Instruction(op, args, params, span))
        slot = len(self.instructions) - 1
        if key is not None:
            self._memo[key] = slot
        return slot

    def const(self, value: Any, span: tuple[int, int] = (0, 0)) -> int:
        if np.ndim(value) == 0:
            value = float(value)
        return self.emit(CONST, (), (("value", value),), span)

    def var(self, name: str, span: tuple[int, int] = (0, 0)) -> int:
        return self.emit(VAR, (), (("name", name),), span)

    def constant_value(self, slot: int) -> Any:
        """The value of `slot` when it is a constant instruction, else None."""
        instruction = self.instructions[slot]
        return instruction.params[0][1] if instruction.op == CONST else None

    def build(self, outputs: tuple[int, ...], variables: tuple[str, ...], where: dict | None = None) -> Program:
        """The program that computes `outputs`, without instructions none of them needs."""
        instructions, outputs = prune(self.instructions, outputs)
        return Program(self.text, instructions, outputs, variables, dict(where or {}))


def prune(instructions: list[Instruction] | tuple[Instruction, ...], outputs: tuple[int, ...]):
    """Drop instructions no output depends on and renumber the rest (a backwards loop)."""
    needed = [False] * len(instructions)
    for slot in outputs:
        needed[slot] = True
    for slot in range(len(instructions) - 1, -1, -1):
        if needed[slot]:
            for arg in instructions[slot].args:
                needed[arg] = True
    renumber: dict[int, int] = {}
    kept: list[Instruction] = []
    for slot, instruction in enumerate(instructions):
        if needed[slot]:
            renumber[slot] = len(kept)
            kept.append(instruction._replace(args=tuple(renumber[a] for a in instruction.args)))
    return tuple(kept), tuple(renumber[slot] for slot in outputs)
