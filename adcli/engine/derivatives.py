"""Derivatives built on the tape: gradients, derivative programs, nth derivatives, Hessians, Jacobians.

Every derivative program starts from the reverse sweep recorded as a new program
(`Tracer`). Further orders differentiate that recording with a tangent sweep: a forward
loop giving each slot its derivative along a direction. There is no second set of rules:
a primitive's tangent rule is the transpose of its VJP (which is linear in the
cotangent), obtained once per primitive by recording the VJP with a symbolic cotangent
and sweeping that small recording backwards. A tangent sweep reuses every slot of the
program it differentiates and, through hash-consing, the tangents an earlier sweep
already made, so the nth derivative grows polynomially in n where reverse sweeps nested
n deep grow exponentially.

Hessians and Jacobians sweep once for all their rows: the cotangents (or tangents) of all
unit vectors travel together as one batch with a leading axis.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Mapping, Sequence

from ..lazy_numpy import np

from .primitives import PRIMITIVES
from . import rewrite
from .program import LEAVES, VAR, Program, ProgramBuilder, Shape, symbolic_shapes
from .sweeps import Handle, Interpreter, backward, depends_on, evaluate, vjp_rule
from .tape import NumPyValues, forward, numeric_gradients
from .tracer import Tracer

Shapes = Mapping[str, Shape]


def shapes_of(inputs: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    return {name: np.shape(value) for name, value in inputs.items()}


def direction_name(name: str) -> str:
    """The variable holding the direction of `name` in a tangent program (no user name has a colon)."""
    return f"tangent:{name}"


# -- recording reverse sweeps -------------------------------------------------------------------

def _record_copy(program: Program, tracer: Tracer) -> list[Handle]:
    """Re-emit the program's instructions, as they are, into the tracer's builder."""
    return [tracer.handle(slot) for slot in tracer.builder.inline(program)]


def _zeros_like(tracer: Tracer, handle: Handle) -> Handle:
    return tracer("broadcast_like", 0.0, handle)


def _record_gradient(program: Program, handles: Sequence[Handle], tracer: Tracer, wrt: Sequence[str],
                     seed: Handle, output: int) -> list[Handle]:
    """The reverse sweep, recorded: d(seed . output)/d(name) for each name."""
    cotangents = backward(program, handles, {output: seed}, depends_on(program, wrt), tracer)
    slots = program.variable_slots()
    grads = []
    for name in wrt:
        slot = slots.get(name)
        if slot is not None and cotangents[slot] is not None:
            grads.append(cotangents[slot])
        else:
            variable = handles[slot] if slot is not None else tracer.handle(tracer.builder.var(name))
            grads.append(_zeros_like(tracer, variable))
    return grads


# -- tangent rules: each primitive's VJP, transposed ---------------------------------------

def _placeholders(tracer: Tracer, arity: int) -> tuple[list[Handle], Handle]:
    """Variables a0, a1, ... for a primitive's operands and `ans` for its result."""
    operands = [tracer.handle(tracer.builder.var(f"a{i}")) for i in range(arity)]
    return operands, tracer.handle(tracer.builder.var("ans"))


def _vjp_recording(op: str, params: tuple, index: int, arity: int) -> Program:
    """One operand's VJP as a program of the placeholders and the cotangent `g`."""
    builder = ProgramBuilder()
    tracer = Tracer(builder)
    operands, ans = _placeholders(tracer, arity)
    g = tracer.handle(builder.var("g"))
    share = vjp_rule(op, index)(tracer, g, ans, *operands, **dict(params))
    if PRIMITIVES[op].broadcasts:
        share = tracer("sum_to_like", share, operands[index])
    return builder.build((share.payload,), ())


def _replay(program: Program, tracer: Tracer, by_name: Mapping[str, Handle]) -> list[Handle]:
    """Emit a placeholder program through `tracer`, its variables standing for the given handles."""
    return evaluate(program, by_name, tracer)


def _tangent_rule(op: str, params: tuple, index: int, arity: int) -> Program | None:
    """J t for one operand, as a program of the placeholders and the operand's tangent `t` (None if zero).

    J t is the transpose of the VJP g -> J^T g: the reverse sweep of the VJP's recording
    with respect to g, seeded with t.
    """
    vjp = _vjp_recording(op, params, index, arity)
    g = vjp.variable_slots().get("g")
    if g is None:
        return None
    builder = ProgramBuilder()
    tracer = Tracer(builder, rewrite.TANGENT_RULE)
    operands, ans = _placeholders(tracer, arity)
    tangent = tracer.handle(builder.var("t"))
    # g stands in for a value of the result's shape (the answer is linear in g, so its value
    # never matters): `ans` serves. Slots computed from it only carry shapes, and vanish
    # once the shapes are known.
    by_name = {f"a{i}": handle for i, handle in enumerate(operands)} | {"ans": ans, "g": ans}
    handles = _replay(vjp, tracer, by_name)
    cotangents = backward(vjp, handles, {vjp.output: tangent}, depends_on(vjp, ["g"]), tracer)
    if cotangents[g] is None:
        return None
    return builder.build((cotangents[g].payload,), ())


@functools.lru_cache(maxsize=None)
def _cached_tangent_rule(op: str, params: tuple, index: int, arity: int) -> Program | None:
    return _tangent_rule(op, params, index, arity)


def _tangent_share(tracer: Tracer, op: str, params: tuple, index: int, operands: Sequence[Handle], ans: Handle,
                   tangent: Handle) -> Handle | None:
    """J t for one operand of one instruction: its primitive's tangent rule, replayed."""
    try:
        rule = _cached_tangent_rule(op, params, index, len(operands))
    except TypeError:  # an unhashable parameter: derive the rule afresh
        rule = _tangent_rule(op, params, index, len(operands))
    if rule is None:
        return None
    by_name = {f"a{i}": handle for i, handle in enumerate(operands)} | {"ans": ans, "t": tangent}
    return _replay(rule, tracer, by_name)[rule.output]


# -- recording tangent sweeps -------------------------------------------------------------------

def _record_tangents(program: Program, handles: Sequence[Handle], tracer: Tracer,
                     directions: Mapping[str, Handle]) -> list[Handle | None]:
    """The tangent sweep, recorded: each slot's derivative along `directions` (None where it is zero)."""
    tangents: list[Handle | None] = [None] * len(program.instructions)
    for slot, instruction in enumerate(program.instructions):
        op, args, params, span = instruction
        if op == VAR:
            tangents[slot] = directions.get(instruction.variable)
        if op in LEAVES:
            continue
        tracer.span = span
        operands = [handles[a] for a in args]
        for index, arg in enumerate(args):
            if tangents[arg] is None or vjp_rule(op, index) is None:
                continue
            share = _tangent_share(tracer, op, params, index, operands, handles[slot], tangents[arg])
            if share is not None:
                tangents[slot] = share if tangents[slot] is None else tangents[slot] + share
    return tangents


def _recorder(program: Program, shapes: Shapes | None, tangents: bool = False,
              ) -> tuple[ProgramBuilder, Tracer, list[Handle]]:
    """A builder holding a copy of the program, and its tracer (for tangent sweeps one whose rules
    record reciprocals and drop zero terms, which keeps nested tangent sweeps small and finite).

    Without the variables' shapes, each one's shape stands for itself: the program then holds
    for any shapes, and broadcasts between equal shapes still vanish.
    """
    builder = ProgramBuilder(program.text, shapes if shapes is not None else symbolic_shapes(program.variables))
    tracer = Tracer(builder, rewrite.TANGENT_SWEEP if tangents else rewrite.RECORDING)
    return builder, tracer, _record_copy(program, tracer)


# -- derivative programs ------------------------------------------------------------------

def _gradient_recording(program: Program, wrt: Sequence[str], shapes: Shapes | None,
                        ) -> tuple[ProgramBuilder, list[Handle]]:
    """The program copied and its reverse sweep recorded, seeded with ones: (builder, gradients)."""
    builder, tracer, handles = _recorder(program, shapes)
    output = handles[program.output]
    tracer.span = program.instructions[program.output].span
    seed = tracer("broadcast_like", 1.0, output)
    return builder, _record_gradient(program, handles, tracer, wrt, seed, program.output)


def _payloads(handles: Sequence[Handle]) -> tuple[int, ...]:
    return tuple(handle.payload for handle in handles)


def gradient_program(program: Program, wrt: Sequence[str], shapes: Shapes | None = None) -> Program:
    """A program whose outputs are d(sum of output)/d(each name in wrt), recorded from the reverse sweep.

    `shapes` (the variables' shapes) lets the recording drop broadcasts that change nothing.
    """
    builder, grads = _gradient_recording(program, wrt, shapes)
    return builder.build(_payloads(grads), program.variables, program.where)


def _tangent_recording(program: Program, shapes: Shapes | None, directions: Mapping[str, str | None],
                       ) -> tuple[ProgramBuilder, list[Handle]]:
    """The program copied and its tangent sweep recorded: (builder, the outputs' tangents).

    `directions` maps a variable to the name of the variable holding its direction, or to
    None for all ones.
    """
    builder, tracer, handles = _recorder(program, shapes, tangents=True)
    slots = program.variable_slots()
    seeds = {}
    for name, direction in directions.items():
        if name in slots:
            variable = handles[slots[name]]
            seeds[name] = tracer("broadcast_like", 1.0, variable) if direction is None else \
                tracer.handle(builder.var(direction))
    tangents = _record_tangents(program, handles, tracer, seeds)
    return builder, [_zeros_like(tracer, handles[o]) if tangents[o] is None else tangents[o] for o in program.outputs]


def tangent_program(program: Program, name: str, shapes: Shapes | None = None) -> Program:
    """A program whose outputs are the derivatives of the program's outputs along `name` -> `name` + t (all ones)."""
    builder, tangents = _tangent_recording(program, shapes, {name: None})
    return builder.build(_payloads(tangents), program.variables, program.where)


def nth_derivative_program(program: Program, name: str, order: int, shapes: Shapes | None = None) -> Program:
    """The program of d^order/d name^order of the (summed) output.

    One recorded reverse sweep gives the gradient; each further order is a recorded tangent
    sweep of the previous program along all ones. (For an array variable that is the
    gradient of the (order-1)th derivative along all ones: an elementwise program gets each
    point's own nth derivative.)
    """
    program = gradient_program(program, [name], shapes)
    for _ in range(order - 1):
        program = tangent_program(program, name, shapes)
    return program


def _with_directions(shapes: Shapes | None, renames: Mapping[str, str]) -> dict[str, tuple[int, ...]] | None:
    if shapes is None:
        return None
    return dict(shapes) | {renamed: shapes[name] for name, renamed in renames.items() if name in shapes}


# -- sweeps for many directions at once ---------------------------------------------------------
#
# A batch carries a leading axis, one entry per direction (a unit vector). Elementwise
# primitives broadcast over that axis, so one sweep serves every direction at NumPy speed;
# the others run once per entry. A batched value is a Handle whose apply is `batched_apply`;
# values that are the same for every direction stay plain arrays.

def keep_rows(mask: np.ndarray, value: Any) -> Any:
    """A batch (or a Handle of one) with exact zeros in the rows where `mask` is false."""
    payload = value.payload if isinstance(value, Handle) else value
    kept = np.where(mask.reshape(mask.shape + (1,) * max(np.ndim(payload) - 1, 0)), payload, 0.0)
    return Handle(value.apply, kept) if isinstance(value, Handle) else kept


class Batched(Interpreter):
    """Values with a leading batch axis (Handles) beside plain ones; `batch` names the batched variables."""

    def __init__(self, batch: Mapping[str, Any] | None = None):
        self.batch = batch or {}

    def variable(self, name: str, inputs: Mapping[str, Any]) -> Any:
        return Handle(batched_apply, self.batch[name]) if name in self.batch else inputs[name]

    def apply(self, name: str, *operands: Any, **params: Any) -> Any:
        return batched_apply(name, *operands, **params)

    lift = NumPyValues.lift  # a Python float from the scalar sweep's tape would raise on 1/0 in a rule
    keep_rows = staticmethod(keep_rows)  # SeparateRows' zeroing of other rows

    def as_batch(self, value: Any) -> Handle:
        """`value` (with its leading batch axis) as this interpreter's batched value."""
        return Handle(batched_apply, value)


def batched_apply(name: str, *operands: Any, **params: Any) -> Any:
    """Apply a primitive where Handle operands carry a leading batch axis (and plain ones do not)."""
    flags = [isinstance(operand, Handle) for operand in operands]
    raw = [operand.payload if flag else operand for operand, flag in zip(operands, flags)]
    primitive = PRIMITIVES[name]
    if not any(flags):
        return primitive.forward(*raw, **params)
    return Handle(batched_apply, apply_batched(primitive, raw, flags, params))


def apply_batched(primitive, operands: list[Any], flags: list[bool], params: dict) -> np.ndarray:
    """The primitive on operands of which those flagged carry a batch of rows along a new first axis."""
    count = next(len(value) for value, flag in zip(operands, flags) if flag)
    if primitive.elementwise:
        rank = max(getattr(value, "ndim", 0) - flag for value, flag in zip(operands, flags))
        return primitive.forward(*(_align(v, rank) if f else v for v, f in zip(operands, flags)), **params)
    if primitive.name == "sum_to_like" and flags == [True, False]:
        return _sum_rows_to(operands[0], np.shape(operands[1]))
    if primitive.name == "broadcast_like" and flags == [True, False]:
        shape = np.shape(operands[1])
        return np.broadcast_to(_align(operands[0], len(shape)), (count,) + shape).copy()
    if primitive.slice_wise:  # one call along the next axis: a scan then steps once per element, not per row
        return _slice_wise_batched(primitive, operands, flags, params, count)
    rows = [primitive.forward(*(v[i] if f else v for v, f in zip(operands, flags)), **params) for i in range(count)]
    return np.stack(rows)


def _slice_wise_batched(primitive, operands: list[Any], flags: list[bool], params: dict, count: int) -> np.ndarray:
    """A batch of rows as one call along the next axis, so that a scan steps once per element, not per row."""
    shape = np.shape(next(value for value, flag in zip(operands, flags) if flag))
    rows = [value if flag else np.broadcast_to(value, shape) for value, flag in zip(operands, flags)]
    axis = params.get("axis")
    if axis is None:
        flat = [np.reshape(row, (count, -1)) for row in rows]
        return np.reshape(primitive.forward(*flat, **{**params, "axis": 1}), shape)
    return primitive.forward(*rows, **{**params, "axis": axis + 1 if axis >= 0 else axis})


def _sum_rows_to(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """sum_to_shape for each row: undo broadcasting without touching the batch axis."""
    row_shape = rows.shape[1:]
    if row_shape == shape:
        return rows
    extra = len(row_shape) - len(shape)
    axes = tuple(range(1, 1 + extra)) + tuple(
        1 + extra + i for i, size in enumerate(shape) if size == 1 and row_shape[extra + i] != 1)
    return np.reshape(np.sum(rows, axis=axes, keepdims=True), rows.shape[:1] + shape)


def _align(rows: np.ndarray, rank: int) -> np.ndarray:
    """Rows of any rank up to `rank` as (count, 1, ..., 1, *row shape), so they broadcast entry by entry."""
    missing = rank - (rows.ndim - 1)
    return rows.reshape(rows.shape[:1] + (1,) * missing + rows.shape[1:]) if missing else rows


class _RowHandle(Handle):
    """A batched value and the rows (directions) that reach it: payload (value, rows as a bit set)."""

    __slots__ = ()


class SeparateRows(Interpreter):
    """Keeps the rows of a batched sweep apart, so that each equals its sweep alone.

    Swept alone, a row's sweep never touches a slot its seed does not reach; swept together,
    that slot holds zeros for the row, and 0 * inf = nan at a domain edge (d/dy x^y = x^y log x
    at x = 0) would leak into a row that never asked for it. So every value carries the rows
    that reach it. Rules are linear in the cotangent (or tangent), so in any other row a value
    is 0 or nan and stays apart from real values until two values reached by different rows
    meet (a sum of cotangents): only there, and in the final values, are other rows zeroed.
    Rows are a bit set (a Python int): unions and comparisons on every operation stay cheap.
    """

    def __init__(self, inner: Interpreter, count: int, variable_rows: Mapping[str, np.ndarray] | None = None):
        self.inner = inner
        self.all_rows = (1 << count) - 1
        self.variable_rows = {name: _bits(rows) for name, rows in (variable_rows or {}).items()}
        self._masks: dict[int, np.ndarray] = {}

    def variable(self, name: str, inputs: Mapping[str, Any]) -> Any:
        value = self.inner.variable(name, inputs)
        rows = self.variable_rows.get(name)
        return value if rows is None else _RowHandle(self.apply, (value, rows))

    def lift(self, value: Any) -> Any:
        return self.inner.lift(value)

    def reaching(self, value: Any, rows: np.ndarray) -> _RowHandle:
        """`value` (batched) as reached by the rows where `rows` is true, only."""
        return _RowHandle(self.apply, (value, _bits(rows)))

    def apply(self, name: str, *operands: Any, **params: Any) -> Any:
        rows, meeting = None, False
        for operand in operands:
            if type(operand) is _RowHandle:
                own = operand.payload[1]
                if rows is None:
                    rows = own
                elif own != rows:
                    rows, meeting = rows | own, True
        if rows is None:
            return self.inner.apply(name, *operands, **params)
        if meeting:
            operands = tuple(self.own_rows(operand) for operand in operands)
        values = [operand.payload[0] if type(operand) is _RowHandle else operand for operand in operands]
        return _RowHandle(self.apply, (self.inner.apply(name, *values, **params), rows))

    def own_rows(self, value: Any) -> Any:
        """A value of this sweep as it is in the rows that reach it, with exact zeros in the others."""
        if not isinstance(value, _RowHandle):
            return value
        value, rows = value.payload
        if rows == self.all_rows:
            return value
        mask = self._masks.get(rows)
        if mask is None:
            count = self.all_rows.bit_length()
            mask = self._masks[rows] = np.array([rows >> row & 1 for row in range(count)], dtype=bool)
        return self.inner.keep_rows(mask, value)  # the inner interpreter's call: a recording one records it


def _bits(rows: np.ndarray) -> int:
    """A boolean vector of rows as a bit set: bit r is row r."""
    return int.from_bytes(np.packbits(np.asarray(rows, dtype=bool), bitorder="little").tobytes(), "little")


def forward_batched(program: Program, inputs: Mapping[str, Any], batch: Mapping[str, np.ndarray],
                    variable_rows: Mapping[str, np.ndarray] | None = None) -> list[np.ndarray]:
    """The outputs, where each variable in `batch` carries a leading batch axis; every output gets that axis.

    `variable_rows` (optional) names, for batched variables, the rows in which they are not zero by
    construction: the rows are then kept apart (SeparateRows).
    """
    count = len(next(iter(batch.values())))
    interpreter: Interpreter = Batched(batch)
    if variable_rows and not all(rows.all() for rows in variable_rows.values()):
        interpreter = SeparateRows(interpreter, count, variable_rows)
    with np.errstate(all="ignore"):
        values = evaluate(program, inputs, interpreter)
        outputs = [interpreter.own_rows(values[o]) if isinstance(interpreter, SeparateRows) else values[o]
                   for o in program.outputs]
    return [_rows(output, count) for output in outputs]


def _rows(value: Any, count: int) -> np.ndarray:
    if isinstance(value, Handle):
        return np.asarray(value.payload, dtype=np.float64)
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (count,) + np.shape(value))


class ScalarRows(Interpreter):
    """Batched for programs whose forward values are all scalars: a batch is then just a 1-D
    array (one scalar per direction) that NumPy's own broadcasting lines up, no Handles needed."""

    lift = NumPyValues.lift
    keep_rows = staticmethod(keep_rows)

    def apply(self, name: str, *operands: Any, **params: Any) -> Any:
        primitive = PRIMITIVES[name]
        if primitive.elementwise:
            return primitive.forward(*operands, **params)
        if name in ("sum_to_like", "broadcast_like"):
            return operands[0]  # a scalar row's shape is the scalar's
        flags = [np.ndim(operand) > 0 for operand in operands]
        if not any(flags):
            return primitive.forward(*operands, **params)
        count = next(len(operand) for operand, flag in zip(operands, flags) if flag)
        return np.stack([primitive.forward(*(o[i] if f else o for o, f in zip(operands, flags)), **params)
                         for i in range(count)])


def _reverse_batched(program: Program, values: Sequence[Any], seeds: Mapping[int, np.ndarray],
                     shapes: Shapes, wrt: Sequence[str], count: int, seed_rows: Mapping[int, np.ndarray] | None = None,
                     ) -> dict[str, np.ndarray]:
    """One reverse sweep for a batch of cotangents: for each name, (count, *its shape in `shapes`).

    `seed_rows` (optional) names, for each seeded slot, the rows whose seed is not zero by
    construction: the rows are then kept apart, each as its own sweep would be (SeparateRows).
    """
    cotangents = reverse_batched_sweep(program, values, seeds, wrt, count, seed_rows)
    return {name: batch_rows(cotangent, count, shapes[name]) for name, cotangent in zip(wrt, cotangents)}


def reverse_batched_sweep(program: Program, values: Sequence[Any], seeds: Mapping[int, np.ndarray],
                          wrt: Sequence[str], count: int, seed_rows: Mapping[int, np.ndarray] | None = None,
                          scalar_rows: Interpreter | None = None, batched: Interpreter | None = None) -> list[Any]:
    """The sweep of `_reverse_batched`: each name's cotangent batch as the sweep leaves it (None where nothing flows).

    `scalar_rows` and `batched` stand in for ScalarRows and Batched (a recording's, which
    has checked which one the values call for: ScalarRows when every value is a scalar).
    """
    interpreter: Interpreter
    if scalar_rows is not None or (batched is None and all(np.ndim(value) == 0 for value in values)):
        interpreter, handles = scalar_rows or ScalarRows(), dict(seeds)
    else:
        interpreter = batched or Batched()
        handles = {slot: interpreter.as_batch(seed) for slot, seed in seeds.items()}
    if seed_rows and not all(rows.all() for rows in seed_rows.values()):
        interpreter = SeparateRows(interpreter, count)
        handles = {slot: interpreter.reaching(seed, seed_rows[slot]) for slot, seed in handles.items()}
    with np.errstate(all="ignore"):
        cotangents = backward(program, values, handles, depends_on(program, wrt), interpreter)
    slots = program.variable_slots()
    found = []
    for name in wrt:
        cotangent = cotangents[slots[name]] if name in slots else None
        if isinstance(interpreter, SeparateRows):
            cotangent = interpreter.own_rows(cotangent)
        found.append(cotangent)
    return found


def batch_rows(cotangent: Any, count: int, shape: tuple[int, ...]) -> np.ndarray:
    """A cotangent batch from a sweep as (count, *shape) float64 (zeros for None)."""
    shape = (count,) + tuple(shape)
    if cotangent is None:
        return np.zeros(shape)
    batch = cotangent.payload if isinstance(cotangent, Handle) else cotangent  # (count, ...) or one for all
    if type(batch) is np.ndarray and batch.shape == shape and batch.dtype == np.float64:
        return batch  # what broadcast_to would view
    return np.broadcast_to(np.asarray(batch, dtype=np.float64), shape)


def _unit_vectors(sizes: Sequence[int]) -> tuple[list[np.ndarray], int]:
    """Row k of the identity over all entries, cut into one block per variable (C order, concatenated)."""
    total = sum(sizes)
    identity = np.eye(total)
    offsets = np.cumsum([0, *sizes])
    return [identity[:, start:end] for start, end in zip(offsets[:-1], offsets[1:])], total


# -- numeric results ------------------------------------------------------------------------

def value_and_gradients(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str]) -> tuple[Any, dict[str, Any]]:
    """The output's value and d(sum of output)/d(name) for each name (zeros for unused ones)."""
    swept = None
    if not all(type(value) is float for value in inputs.values()):
        # here: the scalar one-shot path never needs the backends
        from ..backends.chunked import chunked_value_and_gradients
        from ..backends.replay import value_and_gradients_again

        swept = chunked_value_and_gradients(program, inputs, wrt)  # many points: cache-sized chunks, 2 threads
        if swept is None:
            swept = value_and_gradients_again(program, inputs, wrt)  # small arrays again: a replay
    if swept is not None:
        value, grads = swept
    else:
        values = forward(program, inputs)
        value, grads = values[program.output], numeric_gradients(program, values, wrt)
    for name, grad in grads.items():
        if grad is None:
            grads[name] = 0.0 if type(inputs[name]) is float else np.zeros_like(inputs[name], dtype=np.float64)
    return value, grads


def hessian(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str]) -> tuple[Any, dict[str, Any], np.ndarray]:
    """Value, gradient and the Hessian over the wrt variables flattened in C order and concatenated.

    Row k is the gradient of (e_k . gradient): the recorded gradient program swept backwards
    once, with the cotangents of all rows e_k as one batch. The gradient program, and where
    it can be made a replay of the sweeps' NumPy calls, are kept per program and kind of
    inputs (backends/replay.py).
    """
    from ..backends.replay import hessian_plan  # here: the engine does not load the backends for other commands

    shapes = shapes_of(inputs)
    gradient, replay = hessian_plan(program, inputs, wrt)
    if replay is not None:
        with np.errstate(all="ignore"):
            swept = replay(inputs)
    else:
        swept = hessian_sweeps(program, gradient, inputs, wrt, forward)
    value, outputs, cotangents = swept[0], swept[1:1 + len(wrt)], swept[1 + len(wrt):]
    grads = {name: np.asarray(output, dtype=np.float64) for name, output in zip(wrt, outputs)}
    sizes = [math.prod(shapes[name]) for name in wrt]
    total = sum(sizes)
    if total == 0:
        return value, grads, np.zeros((0, 0))
    rows = [batch_rows(cotangent, total, shapes[name]) for name, cotangent in zip(wrt, cotangents)]
    return value, grads, np.concatenate([row.reshape(total, size) for row, size in zip(rows, sizes)], axis=1)


def hessian_sweeps(program: Program, gradient: Program, inputs: Mapping[str, Any], wrt: Sequence[str],
                   sweep: Callable[[Program, Mapping[str, Any]], Sequence[Any]],
                   scalar_rows: Interpreter | None = None) -> tuple[Any, ...]:
    """The sweeps of a Hessian: (value, each gradient, each name's cotangent batch or None).

    `sweep(program, inputs)` is the forward sweep (tape.forward, or a recording's); the
    batched reverse sweep of `gradient` (the program's gradient program) runs on
    `scalar_rows` when given (see reverse_batched_sweep).
    """
    values = sweep(gradient, inputs)
    value = sweep(program, inputs)[program.output]
    outputs = tuple(values[output] for output in gradient.outputs)
    shapes = shapes_of({name: inputs[name] for name in wrt})
    blocks, total = _unit_vectors([math.prod(shapes[name]) for name in wrt])
    if total == 0:
        return (value, *outputs)
    seeds: dict[int, np.ndarray] = {}
    seed_rows: dict[int, np.ndarray] = {}
    for output, block, name in zip(gradient.outputs, blocks, wrt):
        seed = block.reshape((total,) + shapes[name])
        seeds[output] = seed if output not in seeds else seeds[output] + seed  # equal gradients share a slot
        seed_rows[output] = seed_rows.get(output, False) | np.any(block, axis=1)
    cotangents = reverse_batched_sweep(gradient, values, seeds, wrt, total, seed_rows, scalar_rows)
    return (value, *outputs, *cotangents)


def jacobian(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str]) -> tuple[Any, dict[str, np.ndarray]]:
    """J[name] of shape value.shape + variable.shape, in one batched sweep: forward mode (one tangent per
    input entry) when the inputs have fewer entries than the value, else reverse mode (one cotangent per
    value entry). Per program and kind of inputs, the tangent program is kept, and reverse mode's sweeps
    are replayed where they can be (backends/replay.py)."""
    from ..backends.replay import jacobian_plan  # here: the engine does not load the backends for other commands

    jvp, replay = jacobian_plan(program, inputs, wrt)
    if replay is not None:
        with np.errstate(all="ignore"):
            value, *cotangents = replay(inputs)
        return value, _reverse_matrices(cotangents, inputs, wrt, np.shape(value))
    values = forward(program, inputs)
    value = values[program.output]
    value_shape = np.shape(value)
    sizes = [int(np.size(inputs[name])) for name in wrt]
    outputs = int(np.prod(value_shape, dtype=int))
    if not sum(sizes) or not outputs:
        return value, {name: np.zeros(value_shape + np.shape(inputs[name])) for name in wrt}
    if sum(sizes) < outputs:
        return value, _jacobian_forward(program, inputs, wrt, sizes, value_shape, jvp)
    return value, _jacobian_reverse(program, values, inputs, wrt, value_shape)


def jacobian_mode(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str], value_shape: tuple[int, ...]) -> str:
    """Which sweep `jacobian` makes: "none" (no entries), "forward" or "reverse"."""
    sizes = [int(np.size(inputs[name])) for name in wrt]
    outputs = math.prod(value_shape)
    if not sum(sizes) or not outputs:
        return "none"
    return "forward" if sum(sizes) < outputs else "reverse"


def jvp_program(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str]) -> Program:
    """The tangent program of forward mode: the outputs' tangents along the directions `tangent:<name>`."""
    directions = {name: direction_name(name) for name in wrt}
    builder, tangents = _tangent_recording(program, _with_directions(shapes_of(inputs), directions), directions)
    return builder.build(_payloads(tangents), program.variables + tuple(directions.values()), program.where)


def _jacobian_forward(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str], sizes: Sequence[int],
                      value_shape: tuple[int, ...], jvp: Program | None = None) -> dict[str, np.ndarray]:
    """Forward mode's matrices, by the tangent program `jvp` (made here when not given)."""
    jvp = jvp or jvp_program(program, inputs, wrt)
    directions = {name: direction_name(name) for name in wrt}
    blocks, total = _unit_vectors(sizes)
    batch = {directions[name]: block.reshape((total,) + np.shape(inputs[name])) for name, block in zip(wrt, blocks)}
    rows = {directions[name]: np.any(block, axis=1) for name, block in zip(wrt, blocks)}
    columns = forward_batched(jvp, inputs, batch, rows)[0]  # (total, *value_shape)
    matrices, start = {}, 0
    for name, size in zip(wrt, sizes):
        block = np.moveaxis(np.broadcast_to(columns[start:start + size], (size,) + value_shape), 0, -1)
        matrices[name] = np.reshape(block, value_shape + np.shape(inputs[name]))
        start += size
    return matrices


def jacobian_reverse_sweep(program: Program, values: Sequence[Any], wrt: Sequence[str], value_shape: tuple[int, ...],
                           scalar_rows: Interpreter | None = None, batched: Interpreter | None = None) -> list[Any]:
    """Reverse mode's sweep: one cotangent per value entry, each name's batch as the sweep leaves it."""
    count = math.prod(value_shape)
    seeds = {program.output: np.eye(count).reshape((count,) + value_shape)}
    return reverse_batched_sweep(program, values, seeds, wrt, count, None, scalar_rows, batched)


def _jacobian_reverse(program: Program, values: Sequence[Any], inputs: Mapping[str, Any], wrt: Sequence[str],
                      value_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    return _reverse_matrices(jacobian_reverse_sweep(program, values, wrt, value_shape), inputs, wrt, value_shape)


def _reverse_matrices(cotangents: Sequence[Any], inputs: Mapping[str, Any], wrt: Sequence[str],
                      value_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    count = math.prod(value_shape)
    return {name: np.reshape(batch_rows(cotangent, count, np.shape(inputs[name])), value_shape + np.shape(inputs[name]))
            for name, cotangent in zip(wrt, cotangents)}
