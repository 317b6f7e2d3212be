"""A compiled program: a flat list of primitive operations over numbered slots.

Slot i holds the result of instruction i; an instruction's operands are earlier slots,
so the list is already in evaluation order and no sweep over it needs recursion.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Iterable, Mapping, NamedTuple

from ..lazy_numpy import np

from .primitives import PRIMITIVES

CONST = "const"
VAR = "var"
LEAVES = (CONST, VAR)


class Instruction(NamedTuple):
    op: str  # a primitive's name, or CONST / VAR
    args: tuple[int, ...]  # operand slots
    params: tuple[tuple[str, Any], ...]  # static parameters: (("axis", 0),), (("value", 2.0),), (("name", "x"),)
    span: tuple[int, int]  # where in the source text it comes from

    @property
    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def constant(self) -> Any:
        """A CONST instruction's value."""
        return self.params[0][1]

    @property
    def variable(self) -> str:
        """A VAR instruction's name."""
        return self.params[0][1]


class Program(NamedTuple):  # a NamedTuple: a frozen dataclass costs every start-up more
    text: str
    instructions: tuple[Instruction, ...]
    outputs: tuple[int, ...]
    variables: tuple[str, ...]  # in order of first appearance
    where: dict[str, Any]  # bindings written in the text

    @property
    def output(self) -> int:
        return self.outputs[0]

    def variable_slots(self) -> dict[str, int]:
        return {
            instruction.variable: slot
            for slot, instruction in enumerate(self.instructions)
            if instruction.op == VAR
        }


COMMUTATIVE = frozenset(("add", "mul"))  # exactly commutative in IEEE arithmetic, broadcasting included


def _memo_key(op: str, args: tuple[int, ...], params: tuple) -> Any:
    if op == CONST:
        (_, value), = params
        if isinstance(value, float) and not math.isnan(value):
            return (CONST, value.hex())  # hex keeps -0.0 apart from 0.0
        return None
    if op in COMMUTATIVE:
        return (op, tuple(sorted(args)), exact_params(params))  # a*b and b*a share a slot
    return (op, args, exact_params(params))


def exact_params(params: tuple) -> tuple:
    """Static parameters as a key that keeps apart what equal floats do not: leaky_relu's slope -0.0 and 0.0."""
    if not params:
        return params
    return tuple((key, (float, value.hex()) if type(value) is float else value) for key, value in params)


@functools.lru_cache(maxsize=4096)
def _result_shape(op: str, shapes: tuple[tuple[int, ...], ...], params: tuple) -> tuple[int, ...] | None:
    """The shape of `op` applied to operands of these shapes (None if NumPy refuses them)."""
    dummies = [np.zeros(shape) if shape else np.float64(0.0) for shape in shapes]
    try:
        with np.errstate(all="ignore"):
            return np.shape(PRIMITIVES[op].forward(*dummies, **dict(params)))
    except (ValueError, IndexError, TypeError):
        return None


# A slot's shape: a tuple, a variable's name standing for that variable's (unknown) shape, or None
# when not even that is known.
Shape = tuple[int, ...] | str | None


def symbolic_shapes(names: Iterable[str]) -> dict[str, str]:
    """Shapes for variables whose shapes are not given: each one's is its own, unknown but equal to itself."""
    return {name: name for name in names}


def broadcast_shape(*shapes: Shape) -> Shape:
    """The shape NumPy broadcasting gives these (None when that is not known)."""
    if any(shape is None for shape in shapes):
        return None
    symbols = {shape for shape in shapes if isinstance(shape, str)}
    if not symbols:
        return np.broadcast_shapes(*shapes)
    if len(symbols) == 1 and all(shape == () or isinstance(shape, str) for shape in shapes):
        return symbols.pop()  # x's shape with scalars: x's shape, whatever it is
    return None


_LIKE_SECOND_OPERAND = frozenset(("sum_to_like", "broadcast_like", "expand"))  # the result has the second operand's shape


def _symbolic_result_shape(op: str, shapes: tuple[Shape, ...]) -> Shape:
    if PRIMITIVES[op].elementwise:
        return broadcast_shape(*shapes)
    return shapes[1] if op in _LIKE_SECOND_OPERAND else None


class ProgramBuilder:
    """Appends instructions, reusing the slot of an identical earlier one (hash-consing).

    Given the variables' shapes (tuples, or `symbolic_shapes`) it also knows every slot's
    shape, which lets the tracer drop broadcasts that change nothing.
    """

    def __init__(self, text: str = "", variable_shapes: Mapping[str, Shape] | None = None):
        self.text = text
        self.instructions: list[Instruction] = []
        self._memo: dict[Any, int] = {}
        self._variable_shapes = variable_shapes
        self._shapes: list[Shape] = []

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
        if self._variable_shapes is not None:
            self._shapes.append(self._infer_shape(op, args, params))
        return slot

    def snapshot(self) -> tuple[tuple[Instruction, ...], dict[Any, int]]:
        """The instructions so far and what they share, for `resume` (an interactive session's definitions)."""
        return tuple(self.instructions), dict(self._memo)

    def resume(self, snapshot: tuple[tuple[Instruction, ...], dict[Any, int]]) -> None:
        """Continue from a snapshot (copied: it stays as it was). Not for a builder that tracks shapes."""
        instructions, memo = snapshot
        self.instructions, self._memo = list(instructions), dict(memo)

    def drop_last(self) -> None:
        """Forget the last instruction, which nothing may use (the closing `0` of a session's definition)."""
        key = _memo_key(*self.instructions.pop()[:3])
        if key is not None and self._memo.get(key) == len(self.instructions):
            del self._memo[key]

    def shape(self, slot: int) -> Shape:
        """The slot's shape, when the builder was given the variables' shapes (else None)."""
        return self._shapes[slot] if self._variable_shapes is not None else None

    def _infer_shape(self, op: str, args: tuple[int, ...], params: tuple) -> Shape:
        if op == CONST:
            (_, value), = params
            return () if type(value) is float else np.shape(value)  # a float: no NumPy for a scalar recording
        if op == VAR:
            (_, name), = params
            return self._variable_shapes.get(name)
        shapes = tuple(self._shapes[a] for a in args)
        if any(shape is None for shape in shapes):
            return None
        if any(isinstance(shape, str) for shape in shapes):
            return _symbolic_result_shape(op, shapes)
        if PRIMITIVES[op].elementwise and not any(shapes):
            return ()  # scalars in, a scalar out
        try:
            return _result_shape(op, shapes, params)
        except TypeError:  # unhashable parameters
            return _result_shape.__wrapped__(op, shapes, params)

    def inline(self, program: Program, substitutions: Mapping[str, int] | None = None) -> list[int]:
        """Emit a program's instructions as they are, without rewriting them: each one's slot here.

        `substitutions` puts the given slots in place of the named variables (a call's arguments).
        """
        slots: list[int] = []
        emit = self.emit
        for op, args, params, span in program.instructions:
            if substitutions and op == VAR and params[0][1] in substitutions:
                slots.append(substitutions[params[0][1]])
            else:
                slots.append(emit(op, tuple(slots[a] for a in args), params, span))
        return slots

    def const(self, value: Any, span: tuple[int, int] = (0, 0)) -> int:
        if type(value) is not float and np.ndim(value) == 0:
            value = float(value)
        return self.emit(CONST, (), (("value", value),), span)

    def var(self, name: str, span: tuple[int, int] = (0, 0)) -> int:
        return self.emit(VAR, (), (("name", name),), span)

    def constant_value(self, slot: int) -> Any:
        """The value of `slot` when it is a constant instruction, else None."""
        instruction = self.instructions[slot]
        return instruction.constant if instruction.op == CONST else None

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
    if all(needed):  # the usual case for a parsed program: nothing to renumber
        return tuple(instructions), tuple(outputs)
    renumber: dict[int, int] = {}
    kept: list[Instruction] = []
    for slot, (op, args, params, span) in enumerate(instructions):
        if needed[slot]:
            renumber[slot] = len(kept)
            kept.append(Instruction(op, tuple(renumber[a] for a in args), params, span))
    return tuple(kept), tuple(renumber[slot] for slot in outputs)
