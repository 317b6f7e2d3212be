"""The two sweeps over a program, `evaluate` and `backward`, and the interpreter protocol they run on.

A sweep walks the instructions and asks an interpreter what each one means; it never asks
which interpreter it has. The same two loops therefore compute numbers (Python floats,
NumPy arrays, batches of directions, a chunk plan's stand-ins) and record programs (the
tracer), so a derivative program is the very reverse sweep that computes a gradient.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, MutableSequence, Sequence

from .primitives import PRIMITIVES
from .program import CONST, VAR, Instruction, Program

Apply = Callable[..., Any]


class Interpreter:
    """What a sweep needs of the values it runs on.

    `evaluate` asks for each instruction: `constant(value)`, `variable(name, inputs)` or
    `forward(instruction, operands)`. `backward` hands every tape value and seed through
    `lift`, tells `at(instruction)` before applying an instruction's VJP rules, passes
    `apply` to those rules (they call it as `op(name, *operands, **params)`) and sums a
    broadcasting primitive's cotangent share back to its operand's shape with `unbroadcast`.
    The defaults below fit any interpreter whose `apply` knows the whole primitive table.
    """

    def constant(self, value: Any) -> Any:
        """A constant instruction's value, as this interpreter holds values."""
        return value

    def variable(self, name: str, inputs: Mapping[str, Any]) -> Any:
        """A variable's value, looked up in the inputs given to `evaluate`."""
        return inputs[name]

    def forward(self, instruction: Instruction, operands: list[Any]) -> Any:
        """The value of a primitive instruction of the program being evaluated."""
        op, _, params, _ = instruction
        return self.apply(op, *operands, **dict(params)) if params else self.apply(op, *operands)

    def apply(self, name: str, *operands: Any, **params: Any) -> Any:
        """The primitive `name` of the table on these operands (what a VJP rule asks for)."""
        raise NotImplementedError

    def lift(self, value: Any) -> Any:
        """A forward value or a seed as the VJP rules will take it."""
        return value

    def unbroadcast(self, share: Any, operand: Any) -> Any:
        """A broadcasting primitive's cotangent share, summed down to its operand's shape."""
        return self.apply("sum_to_like", share, operand)

    def at(self, instruction: Instruction) -> None:
        """The reverse sweep is about to apply this instruction's VJP rules."""


def evaluate(program: Program, inputs: Mapping[str, Any], interpreter: Interpreter,
             values: MutableSequence[Any] | None = None) -> list[Any]:
    """Every slot's value under `interpreter`, given a value for each variable.

    `values` (empty) receives them as they are made, so that a caller catching an error
    knows which slot raised it: the one after the last value.
    """
    values = [] if values is None else values
    append = values.append
    constant, variable, forward = interpreter.constant, interpreter.variable, interpreter.forward
    for instruction in program.instructions:
        op = instruction.op
        if op == CONST:
            append(constant(instruction.constant))
        elif op == VAR:
            append(variable(instruction.variable, inputs))
        else:
            append(forward(instruction, [values[a] for a in instruction.args]))
    return values  # type: ignore[return-value]


def depends_on(program: Program, names: Iterable[str]) -> list[bool]:
    """For each slot, whether its value depends on any of the named variables."""
    wanted = set(names)
    flags: list[bool] = []
    for instruction in program.instructions:
        if instruction.op == VAR:
            flags.append(instruction.variable in wanted)
        else:
            flags.append(True in [flags[a] for a in instruction.args])  # any() over a generator is slower here
    return flags


def vjp_rule(op: str, index: int):
    """The VJP of operand `index` of `op` (None when the result does not depend on it smoothly)."""
    primitive = PRIMITIVES[op]
    if primitive.arity is None:  # variadic: one rule, told which operand
        rule = primitive.vjps[0]
        return lambda apply, g, ans, *operands: rule(apply, g, ans, *operands, index=index)
    return primitive.vjps[index]


def backward(program: Program, handles: Sequence[Any], seeds: Mapping[int, Any], needs_grad: Sequence[bool],
             interpreter: Interpreter) -> list[Any]:
    """Cotangents of every slot that needs one (None where nothing flows), in one backwards loop.

    `handles` are the slots' values under `interpreter` (tape.NUMPY for NumPy's); `seeds` maps
    output slots to their incoming cotangents; `needs_grad` marks slots on a path to a wanted
    variable.
    """
    lift, apply, unbroadcast, at = interpreter.lift, interpreter.apply, interpreter.unbroadcast, interpreter.at
    instructions = program.instructions
    handles = [lift(handle) for handle in handles]
    cotangents: list[Any] = [None] * len(instructions)
    for slot, seed in seeds.items():
        cotangents[slot] = lift(seed)
    for slot in range(len(instructions) - 1, -1, -1):
        g = cotangents[slot]
        instruction = instructions[slot]
        op, args, params, _ = instruction
        if g is None or op == CONST or op == VAR:
            continue
        at(instruction)
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
                share = unbroadcast(share, operands[index])
            cotangents[arg] = share if cotangents[arg] is None else cotangents[arg] + share
        cotangents[slot] = None  # used up: free it
    return cotangents


class Handle:
    """A value in a sweep whose `apply` is not NumPy's: arithmetic on it goes through that apply.

    The tracer's handles carry slots of the program being recorded; the nan finder's and the
    batched sweep's carry NumPy values.
    """

    __slots__ = ("apply", "payload")
    __array_ufunc__ = None  # NumPy defers to us: array * handle is handle.__rmul__, not an object array of handles

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


def value_and_cotangents(program: Program, inputs: Mapping[str, Any], interpreter: Interpreter,
                         seed_of: Callable[[Any], Any], wrt: Sequence[str]) -> tuple[Any, list[Any]]:
    """The forward sweep, then the reverse sweep from `seed_of(output)` towards `wrt`, on one interpreter:
    the output's handle and every slot's cotangent (what numeric_gradients does, for recording interpreters)."""
    handles = evaluate(program, inputs, interpreter)
    output = handles[program.output]
    return output, backward(program, handles, {program.output: seed_of(output)}, depends_on(program, wrt), interpreter)
