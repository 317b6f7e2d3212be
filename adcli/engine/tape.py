"""Numbers on the tape: the float and NumPy interpreters, value and gradient; and the tracer that records.

The forward sweep stores every slot's value (the tape); the reverse sweep (sweeps.backward)
adds each operand's share into one cotangent per slot. Run on `Tracer` instead of numbers,
the same reverse sweep records a new program that computes the gradient, which can be
differentiated again.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from ..lazy_numpy import np

from ..errors import ShapeError
from .primitives import PRIMITIVES
from .program import COMMUTATIVE, CONST, Instruction, Program, ProgramBuilder
from .sweeps import Handle, Interpreter, backward, depends_on, evaluate, vjp_rule  # noqa: F401 - vjp_rule re-exported

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
        return apply_scalar(instruction.op, *operands)  # no primitive with a scalar form takes parameters

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
    if "axis" in detail:
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


class Tracer(Interpreter):
    """An interpreter that records primitives into a ProgramBuilder instead of computing them.

    It folds operations on constants, drops the identities x*1, x+0, x-0, x/1, --x,
    picks the branch of a `where` whose condition is a constant, and (when the builder
    knows shapes) drops `sum_to_like` / `broadcast_like` that leave a shape unchanged,
    so repeated differentiation does not pile up dead weight.

    With `reciprocals`, it records a / b as a * (1 / b) (one more rounding): then the
    derivative of 1 / b is -(1 / b)^2 b', a product of slots that already exist, and
    nested tangent sweeps stay polynomial in size where (a / b) / b would nest forever.
    """

    def __init__(self, builder: ProgramBuilder, reciprocals: bool = False):
        self.builder = builder
        self.span = (0, 0)
        self.reciprocals = reciprocals

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
        constants = [builder.constant_value(slot) for slot in slots]
        if constants and all(c is not None for c in constants) and name in PRIMITIVES:
            with np.errstate(all="ignore"):
                return Handle(self, builder.const(PRIMITIVES[name].forward(*constants, **params), self.span))
        simpler = _identity(name, slots, constants) if name in _IDENTITIES else \
            self._shape_identity(name, slots, constants) if name in _SHAPE_IDENTITIES else None
        if simpler is not None:
            return Handle(self, simpler)
        if name == "add":
            fused = self._fused_scans(slots)
            if fused is not None:
                return fused
        if name == "neg" and builder.instructions[slots[0]].op == "neg":
            return Handle(self, builder.instructions[slots[0]].args[0])
        if name == "div" and self.reciprocals and not _is_exactly(constants[0], 1.0):
            return self("mul", self.handle(slots[0]), self("div", 1.0, self.handle(slots[1])))
        if name in _SIGN_RULES:
            signed = [self._unsigned(slot) for slot in slots]
            if signed[0][1] or signed[1][1]:
                return self._with_sign_outside(name, signed)
        return Handle(self, builder.emit(name, tuple(slots), tuple(sorted(params.items())) if params else (), self.span))

    def _fused_scans(self, slots: list[int]) -> Handle | None:
        """scan(u, a) + scan(v, a) as scan(u + v, a), a scan being linear in its first operand.

        A tangent sweep makes one scan per operand of a scan, so without this prod's nth
        derivative programs doubled their scans at every order (order 14: 9.2 s, now 0.9 s).
        """
        first, second = (self.builder.instructions[slot] for slot in slots)
        if first.op != "scan" or (second.op, second.args[1], second.params) != ("scan", first.args[1], first.params):
            return None
        summed = self("add", self.handle(first.args[0]), self.handle(second.args[0]))
        return self("scan", summed, self.handle(first.args[1]), **dict(first.params))

    def _unsigned(self, slot: int) -> tuple[int, bool]:
        """(s, True) when `slot` is -s (a negation or a negative scalar constant), else (slot, False)."""
        instruction = self.builder.instructions[slot]
        if instruction.op == "neg":
            return instruction.args[0], True
        if instruction.op == CONST:
            value = instruction.constant
            if isinstance(value, float) and value < 0:
                return self.builder.const(-value, self.span), True
        return slot, False

    def _with_sign_outside(self, name: str, signed: list[tuple[int, bool]]) -> Handle:
        """Rewrite so that negations sit outside sums and products, where equal terms meet.

        Each rewrite is exact in IEEE arithmetic (rounding is symmetric), so only the
        structure changes: -(a/b)/b and -((a/b)/b) become one slot.
        """
        (a, negative_a), (b, negative_b) = signed
        a, b = self.handle(a), self.handle(b)
        flip, swap, op = _SIGN_RULES[name][(negative_a, negative_b)]
        result = self(op, *((b, a) if swap else (a, b)))
        return -result if flip else result

    def _slot(self, operand: Any) -> int:
        if isinstance(operand, Handle):
            return operand.payload
        return self.builder.const(operand, self.span)

    def _shape_identity(self, name: str, slots: list[int], constants: list[Any]) -> int | None:
        """The operand a broadcast or a constant-condition `where` returns unchanged, judged by shapes."""
        shape = self.builder.shape
        if name != "where":
            return slots[0] if shape(slots[0]) is not None and shape(slots[0]) == shape(slots[1]) else None
        if constants[0] is not None and np.ndim(constants[0]) == 0:
            chosen, other = (slots[1], slots[2]) if constants[0] else (slots[2], slots[1])
            if self._is_scalar(other) or (shape(chosen) is not None and shape(chosen) == shape(other)):
                return chosen  # the result has the chosen branch's shape
        return None

    def _is_scalar(self, slot: int) -> bool:
        value = self.builder.constant_value(slot)
        return (value is not None and np.ndim(value) == 0) or self.builder.shape(slot) == ()


_SHAPE_IDENTITIES = frozenset(("sum_to_like", "broadcast_like", "where"))
_IDENTITIES = {"mul": 1.0, "add": 0.0, "sub": 0.0, "div": 1.0}  # x op this == x

# For (first operand negated, second operand negated): (negate the result, swap operands, new op).
_SIGN_RULES = {
    "mul": {(True, False): (True, False, "mul"), (False, True): (True, False, "mul"), (True, True): (False, False, "mul")},
    "div": {(True, False): (True, False, "div"), (False, True): (True, False, "div"), (True, True): (False, False, "div")},
    "add": {(True, False): (False, True, "sub"), (False, True): (False, False, "sub"), (True, True): (True, False, "add")},
    "sub": {(True, False): (True, False, "add"), (False, True): (False, False, "add"), (True, True): (False, True, "sub")},
}


def _identity(name: str, slots: list[int], constants: list[Any]) -> int | None:
    """The operand that `name` would return unchanged (x*1, 1*x, x+0, 0+x, x-0, x/1)."""
    neutral = _IDENTITIES[name]
    if _is_exactly(constants[1], neutral):
        return slots[0]
    if name in COMMUTATIVE and _is_exactly(constants[0], neutral):
        return slots[1]
    return None


def _is_exactly(value: Any, number: float) -> bool:
    """value is the scalar `number` (+0.0, not -0.0, for zero: -0.0 + x is not x when x is -0.0)."""
    return isinstance(value, float) and value == number and math.copysign(1.0, value) > 0
