"""Where a nan or inf came from, and whether a point sits on a kink of some primitive."""

from __future__ import annotations

import math
import re
from typing import Any, Mapping, Sequence

from ..lazy_numpy import np

from .primitives import PRIMITIVES
from .program import CONST, LEAVES, Instruction, Program
from .sweeps import Handle, Interpreter, backward, depends_on
from .tape import describe, ones_like


def all_finite(value: Any) -> bool:
    return math.isfinite(value) if type(value) is float else bool(np.all(np.isfinite(value)))


def _kind(value: Any) -> str:
    """nan, inf or -inf: what the value holds that is not finite (log(0) gives -inf, not inf)."""
    if np.any(np.isnan(value)):
        return "nan"
    positive, negative = bool(np.any(np.isposinf(value))), bool(np.any(np.isneginf(value)))
    return "inf and -inf" if positive and negative else "-inf" if negative else "inf"


_NUMBER = re.compile(r"([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _overflowing_number(program: Program) -> str | None:
    """The first number written in the text that is too large for float64 (1e999 reads as inf)."""
    for instruction in program.instructions:
        if instruction.op == CONST and type(instruction.constant) is float and math.isinf(instruction.constant):
            written = program.text[instruction.span[0]:instruction.span[1]]
            if _NUMBER.fullmatch(written):
                shown = written if len(written) <= 24 else f"{written[:12]}...{written[-8:]}"
                return f"the number {shown} at {_where(program, instruction.span)} is too large for float64: it is inf"
    return None


def _where(program: Program, span: tuple[int, int]) -> str:
    text = program.text
    column = span[0] - (text.rfind("\n", 0, span[0]) + 1) + 1
    return f"column {column}" if "\n" not in text else f"line {text.count(chr(10), 0, span[0]) + 1}, column {column}"


def nonfinite_value_origin(program: Program, values: Sequence[Any]) -> str | None:
    """The first operation that made a nan/inf from finite operands, if the output is not finite."""
    if all_finite(values[program.output]):
        return None
    overflow = _overflowing_number(program)
    if overflow is not None:
        return overflow
    for slot, instruction in enumerate(program.instructions):
        if instruction.op in LEAVES:
            continue
        if not all_finite(values[slot]) and all(all_finite(values[a]) for a in instruction.args):
            return f"{describe(program, instruction)} at {_where(program, instruction.span)} gives {_kind(values[slot])}"
    return None


def nonfinite_gradient_origin(program: Program, values: Sequence[Any], wrt: Sequence[str]) -> str | None:
    """The first step of the reverse sweep that made a nan/inf cotangent from finite numbers."""
    finder = _NanFinder(program)
    handles = [Handle(finder.apply, value) for value in values]
    seed = Handle(finder.apply, ones_like(values[program.output]))
    with np.errstate(all="ignore"):
        backward(program, handles, {program.output: seed}, depends_on(program, wrt), finder)
    return finder.found


class _NanFinder(Interpreter):
    """NumPy values that remember the first rule which made a nan or inf from finite operands."""

    def __init__(self, program: Program):
        self.program = program
        self.current: Instruction | None = None
        self.found: str | None = None

    def at(self, instruction: Instruction) -> None:
        self.current = instruction

    def apply(self, name: str, *operands: Any, **params: Any) -> Handle:
        raw = [o.payload if isinstance(o, Handle) else o for o in operands]
        result = PRIMITIVES[name].forward(*raw, **params)
        if self.found is None and not all_finite(result) and all(all_finite(o) for o in raw):
            instruction = self.current
            self.found = (f"the derivative of {describe(self.program, instruction)} at "
                          f"{_where(self.program, instruction.span)} is {_kind(result)} here")
        return Handle(self.apply, result)


def nonfinite_warning(program: Program, values: Sequence[Any], grads: Mapping[str, Any] | None) -> str | None:
    """One warning naming where non-finite numbers first appeared (value first, then gradient)."""
    origin = nonfinite_value_origin(program, values)
    if origin is None and grads is not None and not all(all_finite(g) for g in grads.values()):
        origin = nonfinite_gradient_origin(program, values, list(grads))
        if origin is None:
            origin = "the gradient is not finite"
    return origin


def kinks(program: Program, values: Sequence[Any]) -> list[str]:
    """Operations whose operands sit on a kink or domain edge, where finite differences mislead."""
    found = []
    for instruction in program.instructions:
        if instruction.op in LEAVES:
            continue
        kink = PRIMITIVES[instruction.op].kink
        if kink is None:
            continue
        operands = [values[a] for a in instruction.args]
        with np.errstate(all="ignore"):
            hit = kink(*operands, **instruction.param_dict)
        if np.any(hit):
            found.append(f"{describe(program, instruction)} at {_where(program, instruction.span)} is at a kink or domain edge")
    return found
