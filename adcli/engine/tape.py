"""Numbers on the tape: the float and NumPy interpreters, and value and gradient on them.

The forward sweep stores every slot's value (the tape); the reverse sweep (sweeps.backward)
adds each operand's share into one cotangent per slot. Run on the tracer (tracer.py)
instead of numbers, the same reverse sweep records a new program that computes the
gradient, which can be differentiated again.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from ..lazy_numpy import np

from ..errors import ShapeError
from .primitives import PRIMITIVES
from .program import Instruction, Program
from .sweeps import Interpreter, backward, depends_on, evaluate


class NumPyValues(Interpreter):
    """Float64 NumPy values: the sweep every other one is checked against.

    The forward sweep calls each primitive's NumPy function as it is; the VJP rules' `apply`
    takes two shortcuts that return an operand itself, exactly, where the rules would
    compute it again (their results are never written in place).
    """

    def forward(self, instruction: Instruction, operands: list[Any]) -> Any:
        op, _, params, _ = instruction
        return PRIMITIVES[op].forward(*operands, **dict(params))

    def apply(self, name: str, *operands: Any, **params: Any) -> Any:
        shortcut = _SHORTCUTS.get(name)
        found = shortcut(*operands) if shortcut is not None else None
        return PRIMITIVES[name].forward(*operands, **params) if found is None else found

    def lift(self, value: Any) -> Any:
        return np.float64(value) if type(value) is float else value  # a Python float would raise on 1/0 in a rule


NUMPY = NumPyValues()
apply_numeric = NUMPY.apply


def _power_of_one(x: Any, y: Any) -> Any:
    """x^1 is x exactly (IEEE pow), so skip the pow: x^2's VJP computes x^(2-1)."""
    return x if isinstance(x, np.ndarray) and x.dtype == np.float64 and type(y) is float and y == 1.0 else None


def _constant_where(condition: Any, a: Any, b: Any) -> Any:
    """where(scalar condition, a, b) is the chosen array itself when it already has the result's shape and type.

    The VJP of x^c masks with where(c == 0, 0, ...), so this saves array passes in most backward sweeps.
    """
    if np.ndim(condition) != 0:
        return None
    chosen = a if condition else b
    if isinstance(chosen, np.ndarray) and chosen.dtype == np.float64 and \
            chosen.shape == np.broadcast_shapes(np.shape(a), np.shape(b)):
        return chosen
    return None


_SHORTCUTS = {"pow": _power_of_one, "where": _constant_where}
SHORTCUTS = frozenset(_SHORTCUTS)  # the primitives whose `apply` may decide from values to hand back an operand


def forward(program: Program, inputs: Mapping[str, Any]) -> list[Any]:
    """Every slot's value, given a value for each variable."""
    values = scalar_forward(program, inputs)
    return values if values is not None else _numpy_forward(program, inputs)


# -- the scalar sweep: Python floats and `math` ---------------------------------------------
#
# A scalar program at scalar inputs runs on Python floats, which is what keeps one-shot
# commands from importing NumPy at all and makes each operation several times cheaper than
# on NumPy scalars. `math` raises where NumPy returns an IEEE nan or inf, and both sweeps
# then hand the whole program to NumPy, so edge values, their warnings and their conventions
# have one source: the NumPy sweep. Finite results agree with it to float64 rounding (libm
# and NumPy's SIMD functions can differ in the last bit).

class LeaveToNumPy(Exception):
    """The scalar sweep met something only the NumPy sweep handles."""


def _finite_float(value: Any) -> float:
    if type(value) is float and -math.inf < value < math.inf:
        return value
    raise LeaveToNumPy


def apply_scalar(name: str, *operands: Any, **params: Any) -> float:
    scalar = PRIMITIVES[name].scalar
    if scalar is None:
        raise LeaveToNumPy
    return _finite_float(scalar(*operands, **params))


class Floats(Interpreter):
    """Finite Python floats; anything else raises LeaveToNumPy (or a `math` domain error)."""

    def constant(self, value: Any) -> float:
        return _finite_float(value)

    def variable(self, name: str, inputs: Mapping[str, Any]) -> float:
        return _finite_float(inputs[name])

    def forward(self, instruction: Instruction, operands: list[Any]) -> float:
        if instruction.params:  # elu's alpha, leaky_relu's slope
            return apply_scalar(instruction.op, *operands, **dict(instruction.params))
        return apply_scalar(instruction.op, *operands)

    def apply(self, name: str, *operands: Any, **params: Any) -> float:
        return apply_scalar(name, *operands, **params)

    def unbroadcast(self, share: Any, operand: Any) -> Any:
        return share  # floats do not broadcast


FLOATS = Floats()


def scalar_forward(program: Program, inputs: Mapping[str, Any]) -> list[float] | None:
    """Every slot's value as a finite Python float, or None when the NumPy sweep must run instead."""
    try:
        return evaluate(program, inputs, FLOATS)
    except (LeaveToNumPy, ArithmeticError, ValueError):
        return None


def scalar_gradients(program: Program, values: Sequence[Any], wrt: Sequence[str], output: int) -> dict[str, Any] | None:
    """numeric_gradients on a scalar sweep's tape, or None when the NumPy sweep must run instead."""
    if not all(type(value) is float for value in values):
        return None
    try:
        cotangents = backward(program, values, {output: 1.0}, depends_on(program, wrt), FLOATS)
        slots = program.variable_slots()
        return {name: None if name not in slots else _scalar_cotangent(cotangents[slots[name]]) for name in wrt}
    except (LeaveToNumPy, ArithmeticError, ValueError):
        return None


def _scalar_cotangent(cotangent: float | None) -> float:
    return 0.0 if cotangent is None else _finite_float(cotangent)


def _numpy_forward(program: Program, inputs: Mapping[str, Any]) -> list[Any]:
    values: list[Any] = []
    try:
        with np.errstate(all="ignore"):
            evaluate(program, inputs, NUMPY, values)
    except (ValueError, IndexError, TypeError) as error:
        raise shape_error(program, len(values), values, error) from None
    return values


def shape_error(program: Program, slot: int, values: Sequence[Any], error: Exception) -> ShapeError:
    """A user-facing error for an operation NumPy refused, pointing at its source."""
    instruction = program.instructions[slot]
    shapes = " and ".join(str(np.shape(values[a])) for a in instruction.args)
    label = describe(program, instruction)
    detail = str(error).split("\n")[0]
    if instruction.op == "index":
        message = detail  # the span is the index itself
    elif "axis" in detail:
        message = f"{label}: {detail}"
    elif "zero-size array" in detail:
        message = f"{label}: the array {shapes} is empty"
    elif "maximum supported dimension" in detail:
        message = f"{label}: the result would have more dimensions than NumPy supports"
    else:
        message = f"{label}: operands of shapes {shapes} do not fit together"
    return ShapeError(message, program.text, instruction.span)


def describe(program: Program, instruction: Instruction) -> str:
    """How the user wrote an instruction: `'+'`, `sum`, `implicit multiplication`."""
    start, end = instruction.span
    written = program.text[start:end]
    if instruction.op == "stack":
        return "array literal"
    if instruction.op == "mul" and written not in ("*",):
        return "implicit multiplication"
    if written and not written[0].isalnum() and written[0] not in "_(":
        return f"operator '{written}'"
    return written or instruction.op


def ones_like(value: Any) -> Any:
    return np.ones_like(value, dtype=np.float64) if np.ndim(value) else np.float64(1.0)


def numeric_gradients(
    program: Program,
    values: Sequence[Any],
    wrt: Sequence[str],
    seed: Any = None,
    output: int | None = None,
) -> dict[str, Any]:
    """d(sum of seed * output)/d(variable) for each name in `wrt`, from a forward tape."""
    output = program.output if output is None else output
    if seed is None:
        grads = scalar_gradients(program, values, wrt, output)
        if grads is not None:
            return grads
        seed = ones_like(values[output])
    needs = depends_on(program, wrt)
    with np.errstate(all="ignore"):
        cotangents = backward(program, values, {output: seed}, needs, NUMPY)
    slots = program.variable_slots()
    return {name: _cotangent_or_zeros(cotangents, slots, values, name) for name in wrt}


def _cotangent_or_zeros(cotangents, slots, values, name):
    slot = slots.get(name)
    if slot is None:
        return None  # the program does not use it: the caller knows its shape
    cotangent = cotangents[slot]
    return np.zeros_like(values[slot], dtype=np.float64) if cotangent is None else cotangent
