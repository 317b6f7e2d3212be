"""The forward and reverse sweeps over a program, and the tracer that records a reverse sweep.

The forward sweep stores every slot's value (the tape). The reverse sweep is a plain loop
backwards over the instructions, adding each operand's share into one cotangent per slot.
The same reverse sweep runs on NumPy values (`apply_numeric`) or, through `Tracer`, on
symbolic slots: then it records a new program that computes the gradient, which can be
differentiated again.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .errors import ShapeError
from .primitives import PRIMITIVES
from .program import CONST, VAR, Instruction, Program, ProgramBuilder

Apply = Callable[..., Any]


def apply_numeric(name: str, *operands: Any, **params: Any) -> Any:
    return PRIMITIVES[name].forward(*operands, **params)


def forward(program: Program, inputs: Mapping[str, Any]) -> list[Any]:
    """Every slot's value, given a value for each variable."""
    instructions = program.instructions
    values: list[Any] = [None] * len(instructions)
    slot = 0
    try:
        with np.errstate(all="ignore"):
            for slot, (op, args, params, _) in enumerate(instructions):
                if op == CONST:
                    values[slot] = params[0][1]
                elif op == VAR:
                    values[slot] = inputs[params[0][1]]
                else:
                    operands = [values[a] for a in args]
                    values[slot] = PRIMITIVES[op].forward(*operands, **dict(params))
    except (ValueError, IndexError, TypeError) as error:
        raise shape_error(program, slot, values, error) from None
    return values


def shape_error(program: Program, slot: int, values: Sequence[Any], error: Exception) -> ShapeError:
    """A user-facing error for an operation NumPy refused, pointing at its source."""
    instruction = program.instructions[slot]
    shapes = " and ".join(str(np.shape(values[a])) for a in instruction.args)
    label = describe(program, instruction)
    detail = str(error).split("\n")[0]
    if "axis" in detail:
        message = f"{label}: {detail}"
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


def depends_on(program: Program, names: Iterable[str]) -> list[bool]:
    """For each slot, whether its value depends on any of the named variables."""
    wanted = set(names)
    flags: list[bool] = []
    for op, args, params, _ in program.instructions:
        if op == VAR:
            flags.append(params[0][1] in wanted)
        else:
            flags.append(any(flags[a] for a in args))
    return flags


def vjp_rule(op: str, index: int):
    primitive = PRIMITIVES[op]
    if primitive.arity is None:  # variadic: one rule, told which operand
        rule = primitive.vjps[0]
        return lambda apply, g, ans, *operands: rule(apply, g, ans, *operands, index=index)
    return primitive.vjps[index]


def backward(
    program: Program,
    handles: Sequence[Any],
    seeds: Mapping[int, Any],
    needs_grad: Sequence[bool],
    apply: Apply = apply_numeric,
    on_instruction: Callable[[Instruction], None] | None = None,
) -> list[Any]:
    """Cotangents of every slot that needs one (None where nothing flows), in one backwards loop.

    `handles` are the slots' values (NumPy) or traced slots; `seeds` maps output slots to
    their incoming cotangents; `needs_grad` marks slots on a path to a wanted variable.
    """
    instructions = program.instructions
    cotangents: list[Any] = [None] * len(instructions)
    for slot, seed in seeds.items():
        cotangents[slot] = seed
    for slot in range(len(instructions) - 1, -1, -1):
        g = cotangents[slot]
        op, args, params, _ = instructions[slot]
        if g is None or op in (CONST, VAR):
            continue
        if on_instruction is not None:
            on_instruction(instructions[slot])
        primitive = PRIMITIVES[op]
        operands = [handles[a] for a in args]
        keywords = dict(params)
        for index, arg in enumerate(args):
            if not needs_grad[arg]:
                continue
            rule = vjp_rule(op, index)
            if rule is None:
                continue
            share = rule(apply, g, handles[slot], *operands, **keywords)
            if primitive.broadcasts:
                share = apply("sum_to_like", share, operands[index])
            cotangents[arg] = share if cotangents[arg] is None else cotangents[arg] + share
        cotangents[slot] = None  # used up: free it
    return cotangents


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
    seed = ones_like(values[output]) if seed is None else seed
    needs = depends_on(program, wrt)
    with np.errstate(all="ignore"):
        cotangents = backward(program, values, {output: seed}, needs)
    slots = program.variable_slots()
    return {name: _cotangent_or_zeros(cotangents, slots, values, name) for name in wrt}


def _cotangent_or_zeros(cotangents, slots, values, name):
    slot = slots.get(name)
    if slot is None:
        return None  # the program does not use it: the caller knows its shape
    cotangent = cotangents[slot]
    return np.zeros_like(values[slot], dtype=np.float64) if cotangent is None else cotangent


class Handle:
    """A value in a sweep whose `apply` is not NumPy's: arithmetic on it goes through that apply.

    The tracer's handles carry slots of the program being recorded; the diagnostics'
    carry NumPy values that it checks as they are made.
    """

    __slots__ = ("apply", "payload")

    def __init__(self, apply: Apply, payload: Any):
        self.apply = apply
        self.payload = payload

    def __add__(self, other): return self.apply("add", self, other)
    def __radd__(self, other): return self.apply("add", other, self)
    def __sub__(self, other): return self.apply("sub", self, other)
    def __rsub__(self, other): return self.apply("sub", other, self)
    def __mul__(self, other): return self.apply("mul", self, other)
    def __rmul__(self, other): return self.apply("mul", other, self)
    def __truediv__(self, other): return self.apply("div", self, other)
    def __rtruediv__(self, other): return self.apply("div", other, self)
    def __neg__(self): return self.apply("neg", self)


class Tracer:
    """An `apply` that records primitives into a ProgramBuilder instead of computing them.

    It folds operations on constants and drops the identities x*1, x+0, x-0, x/1, --x,
    so repeated differentiation does not pile up dead weight.
    """

    def __init__(self, builder: ProgramBuilder):
        self.builder = builder
        self.span = (0, 0)

    def handle(self, slot: int) -> Handle:
        return Handle(self, slot)

    def constant(self, value: float) -> Handle:
        return Handle(self, self.builder.const(value, self.span))

    def __call__(self, name: str, *operands: Any, **params: Any) -> Handle:
        slots = [self._slot(operand) for operand in operands]
        constants = [self.builder.constant_value(slot) for slot in slots]
        if constants and all(c is not None for c in constants) and name in PRIMITIVES:
            with np.errstate(all="ignore"):
                return Handle(self, self.builder.const(PRIMITIVES[name].forward(*constants, **params), self.span))
        simpler = _identity(name, slots, constants)
        if simpler is not None:
            return Handle(self, simpler)
        if name == "neg" and self.builder.instructions[slots[0]].op == "neg":
            return Handle(self, self.builder.instructions[slots[0]].args[0])
        return Handle(self, self.builder.emit(name, tuple(slots), tuple(sorted(params.items())), self.span))

    def _slot(self, operand: Any) -> int:
        if isinstance(operand, Handle):
            return operand.payload
        return self.builder.const(operand, self.span)


def _identity(name: str, slots: list[int], constants: list[Any]) -> int | None:
    """The operand that `name` would return unchanged (x*1, 1*x, x+0, 0+x, x-0, x/1)."""
    def is_(position: int, number: float) -> bool:
        value = constants[position]
        return value is not None and np.ndim(value) == 0 and value == number and math.copysign(1, value) > 0

    if name == "mul":
        return slots[0] if is_(1, 1.0) else slots[1] if is_(0, 1.0) else None
    if name == "add":
        return slots[0] if is_(1, 0.0) else slots[1] if is_(0, 0.0) else None
    if name in ("sub", "div"):
        return slots[0] if is_(1, 0.0 if name == "sub" else 1.0) else None
    return None
