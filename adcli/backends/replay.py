"""Replay plans: the NumPy calls of a sweep over small values, recorded once, then run as one function.

On small arrays (descend's parameters, a Hessian's rows) a sweep's time goes to Python: per
instruction it looks up rules, builds parameter dicts and tries shortcuts, while NumPy's
arithmetic takes a fraction of a microsecond. A `Replay` runs the sweeps ONCE per program
and kind of inputs through a recording interpreter in which every input is a symbol, so the
recording holds no input's value: each call that involves a symbol becomes a step, and
what involves none (the program's constants, the seed) is computed there and then. The
steps become one generated Python function, a straight line of calls over local variables
(the cheapest way Python has to make them), which later calls run on new values.

A step is the very call the plain sweep makes, with the same operands in the same order,
and it returns a fresh value (no out= buffers: at these sizes NumPy allocates as fast as it
writes into one), so a replay gives bit for bit what `forward` and `backward` give. Where the
plain sweep decides something from a value (the `where` and `pow` shortcuts of
tape.NumPyValues), the step is the deciding call itself, so the decision is taken anew.
A replay only depends on what its key holds: the program with its constants' bits, the
wanted names, and each input's type, dtype and shape (never a value). And a replay never
hands out an object it keeps (a constant, the seed): the plain sweep makes those anew at
each call, so a caller may write into what it gets, and a kept one would carry that write
into every later call.
"""

from __future__ import annotations

import functools
import math
import operator
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Mapping, Sequence

from ..lazy_numpy import np

from ..engine.primitives import PRIMITIVES, OnFirstCall, power_as_products
from ..engine.derivatives import (ScalarRows, apply_batched, gradient_program, hessian_sweeps, jacobian_mode,
                                  jacobian_reverse_sweep, jvp_program, keep_rows, shapes_of)
from ..engine.program import CONST, VAR, Instruction, Program, exact_params
from ..engine.sweeps import Handle, Interpreter, evaluate, value_and_cotangents
from ..engine.tape import NUMPY, SHORTCUTS, apply_numeric, forward, ones_like

# Replays kept, by program, wanted names and the inputs' kinds (see `replay_key`).
REPLAY_CACHE_SIZE = 64
# Elements of the largest input, or constant kept in a replay (a seed, a Hessian's unit vectors), for which
# a replay is made: beyond it NumPy's work outweighs the Python a replay saves, and the cache stays small.
REPLAY_MAX_ELEMENTS = 1 << 14


@dataclass(frozen=True)
class Replay:
    """A recorded sweep: `run(a mapping with a value for each of `inputs`)` returns the outputs recorded
    (each a value, or None where nothing flows)."""

    run: Callable[..., tuple[Any, ...]]
    inputs: tuple[str, ...]
    kinds: Mapping[str, Hashable]  # each input's kind (`kind_of`) when recorded
    steps: int  # NumPy calls per run

    def __call__(self, inputs: Mapping[str, Any]) -> tuple[Any, ...]:
        return self.run(inputs)

    def fits(self, inputs: Mapping[str, Any], names: Sequence[str] | None = None) -> bool:
        """Whether these inputs (or the named ones: those that changed) are of the kinds recorded."""
        kinds = self.kinds
        return all(name not in kinds or kind_of(inputs[name]) == kinds[name] for name in (kinds if names is None else names))


def kind_of(value: Any) -> Hashable:
    """What a replay may depend on in an input: its Python type, dtype and shape."""
    return (type(value), getattr(value, "dtype", None), getattr(value, "shape", None))


def replay_key(program: Program, inputs: Mapping[str, Any], what: str, wrt: Sequence[str]) -> Hashable | None:
    """The instructions with the bits of their numbers (`exact_numbers`), `what` is recorded, the wanted
    names and the kind of each input that the program or those names read (a Hessian's gradient
    program reads a wanted name the program does not use, for its shape); None when something in
    them cannot be hashed."""
    names = (*program.variables, *[name for name in wrt if name not in program.variables])
    key = (program.instructions, program.outputs, exact_numbers(program), what, tuple(wrt),
           tuple((name, kind_of(inputs.get(name))) for name in names))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def exact_numbers(program: Program) -> Hashable:
    """The bits of each constant and parameter, for keys: instructions compare their numbers as floats, in
    which 0.0 and -0.0 are equal (and a nan is only itself)."""
    return tuple(_constant_bits(instruction) if instruction.op == CONST else exact_params(instruction.params)
                 for instruction in program.instructions if instruction.params and instruction.op != VAR)


def _constant_bits(instruction: Instruction) -> Hashable:
    value = instruction.constant
    if type(value) is float:
        return value.hex() if not math.isnan(value) else ("nan", np.float64(value).tobytes())
    array = np.asarray(value)
    return (type(value), array.dtype.str, array.shape, array.tobytes())


class ReplayCache:
    """A bounded cache of what recordings made (a Replay, a plan, or None: nothing for that key), oldest out first."""

    def __init__(self, size: int = REPLAY_CACHE_SIZE):
        self.size = size
        self.found: OrderedDict[Hashable, Any] = OrderedDict()
        self.lock = threading.Lock()  # the library may be used from several threads

    def get(self, key: Hashable | None, make: Callable[[], Any], wait: bool = False) -> Any:
        """What `make` made for `key` (made now when new). With `wait`, None the first time a key comes:
        a call that comes once does not pay for a recording, one that comes again does."""
        if key is None:
            return None if wait else make()
        found = self.found.get(key, _MISSING)
        if found is _MISSING or found is _SEEN:
            found = _SEEN if wait and found is _MISSING else make()
            with self.lock:
                while len(self.found) >= self.size:
                    self.found.popitem(last=False)
                self.found[key] = found
        return None if found is _SEEN else found


_MISSING = object()
_SEEN = object()  # a key that came once (see ReplayCache.get's `wait`)
_OPERATORS = frozenset((operator.add, operator.sub, operator.mul, operator.truediv, operator.neg))
SCALAR_ROWS = ScalarRows()
_REPLAYS = ReplayCache()


# -- value and gradients ------------------------------------------------------------------------

def value_and_gradients_replay(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str]) -> Replay | None:
    """A replay of `forward` then `numeric_gradients`' reverse sweep, seeded with ones: it returns
    (value, cotangent of each name in `wrt`), a cotangent None where nothing flows; None when
    no replay can be made.

    Only for inputs that the NumPy sweep takes: when every variable is a Python float the
    scalar sweep runs instead, with other arithmetic.
    """
    if not _numpy_sweeps(program, inputs):
        return None
    key = replay_key(program, inputs, "value_and_gradients", wrt)
    return _REPLAYS.get(key, lambda: _record_value_and_gradients(program, inputs, wrt))


def value_and_gradients_again(program: Program, inputs: Mapping[str, Any],
                              wrt: Sequence[str]) -> tuple[Any, dict[str, Any]] | None:
    """What `forward` and `numeric_gradients` give (derivatives.value_and_gradients' plain sweeps), by a
    replay, from the second call with this program, these names and inputs of these kinds on; None
    when the plain sweeps must run (the first call, or no replay)."""
    if not _numpy_sweeps(program, inputs):
        return None
    key = replay_key(program, inputs, "value_and_gradients", wrt)
    replay = _REPLAYS.get(key, lambda: _record_value_and_gradients(program, inputs, wrt), wait=True)
    if replay is None:
        return None
    with np.errstate(all="ignore"):
        value, *cotangents = replay(inputs)
    slots = program.variable_slots()
    # numeric_gradients' zeros where nothing flows to a variable the program reads (None for one it does not)
    return value, {name: np.zeros_like(inputs[name], dtype=np.float64) if cotangent is None and name in slots
                   else cotangent for name, cotangent in zip(wrt, cotangents)}


def _record_value_and_gradients(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str]) -> Replay | None:
    recorder = Recorder()
    try:
        with np.errstate(all="ignore"):  # numeric_gradients' seed: of the value's shape only
            output, cotangents = value_and_cotangents(program, inputs, recorder,
                                                      lambda value: ones_like(recorder.sample(value)), wrt)
    except Exception:  # noqa: BLE001 - whatever the recording meets, the plain sweep handles (and reports)
        return None
    slots = program.variable_slots()
    gradients = [cotangents[slots[name]] if name in slots else None for name in wrt]
    return recorder.replay([output, *gradients])


# -- Hessians ----------------------------------------------------------------------------------

def hessian_plan(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str]) -> tuple[Program, Replay | None]:
    """The gradient program that derivatives.hessian sweeps, and a replay of `hessian_sweeps` when one can be made.

    A replay is made when both forward sweeps are NumPy's (a variable that is not a Python
    float) and every value of the gradient program is a scalar (the batched reverse sweep
    then runs on ScalarRows, whose decisions are all by shape).
    """
    key = replay_key(program, inputs, "hessian", wrt)
    return _REPLAYS.get(key, lambda: _record_hessian(program, inputs, wrt))


def _record_hessian(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str]) -> tuple[Program, Replay | None]:
    gradient = gradient_program(program, wrt, shapes_of(inputs))
    if not (_numpy_sweeps(gradient, inputs) and _numpy_sweeps(program, inputs)):
        return gradient, None
    recorder = ScalarRowsRecorder()

    def sweep(swept: Program, inputs: Mapping[str, Any]) -> list[Any]:
        values = evaluate(swept, inputs, recorder)
        if swept is gradient and any(np.ndim(recorder.sample(value)) != 0 for value in values):
            raise NoReplay  # arrays: the batched sweep would run on Batched
        return values

    try:
        with np.errstate(all="ignore"):
            swept = hessian_sweeps(program, gradient, inputs, wrt, sweep, recorder)
    except Exception:  # noqa: BLE001 - whatever the recording meets, the plain sweeps handle (and report)
        return gradient, None
    return gradient, recorder.replay(swept)


def _numpy_sweeps(program: Program, inputs: Mapping[str, Any]) -> bool:
    """Whether tape.forward sweeps this program with NumPy (some variable it reads is not a Python
    float) on inputs small enough for a replay."""
    read = [inputs[instruction.variable] for instruction in program.instructions if instruction.op == VAR]
    return any(type(value) is not float for value in read) and \
        all(np.size(value) <= REPLAY_MAX_ELEMENTS for value in read)


# -- Jacobians ---------------------------------------------------------------------------------

def jacobian_plan(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str]) -> tuple[Program | None, Replay | None]:
    """What derivatives.jacobian keeps: forward mode's tangent program, or a replay of reverse mode's sweeps
    (forward, then jacobian_reverse_sweep) when one can be made; (None, None) when neither applies."""
    key = replay_key(program, inputs, "jacobian", wrt)
    return _REPLAYS.get(key, lambda: _record_jacobian(program, inputs, wrt))


def _record_jacobian(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str]) -> tuple[Program | None, Replay | None]:
    try:
        value_shape = np.shape(forward(program, inputs)[program.output])
    except Exception:  # noqa: BLE001 - the plain sweep reports it
        return None, None
    mode = jacobian_mode(program, inputs, wrt, value_shape)
    if mode == "forward":
        return jvp_program(program, inputs, wrt), None
    if mode == "none" or not _numpy_sweeps(program, inputs):
        return None, None
    recorder = BatchRecorder()
    try:
        with np.errstate(all="ignore"):
            values = evaluate(program, inputs, recorder)
            recorder.scalar_rows = all(np.ndim(recorder.sample(value)) == 0 for value in values)
            cotangents = jacobian_reverse_sweep(program, values, wrt, value_shape,
                                                recorder if recorder.scalar_rows else None,
                                                None if recorder.scalar_rows else recorder)
    except Exception:  # noqa: BLE001 - whatever the recording meets, the plain sweeps handle (and report)
        return None, None
    unwrapped = [cotangent.payload if isinstance(cotangent, Handle) else cotangent for cotangent in cotangents]
    return None, recorder.replay([values[program.output], *unwrapped])


# -- recording ----------------------------------------------------------------------------------

class NoReplay(Exception):
    """The recording met something a replay cannot hold: a decision taken on a symbol's value."""


class Symbol:
    """A value in a recording (payload: its number): arithmetic records a step; reading its value is refused.

    The operators record Python's own operators, as the plain sweep applies them to its
    values (on NumPy scalars that is NumPy's scalar arithmetic, not a ufunc: the same
    numbers, but a nan's sign can differ, and it costs a tenth).
    """

    __slots__ = ("apply", "payload")
    __array_ufunc__ = None  # NumPy defers to the operators below: array * symbol is symbol.__rmul__

    def __init__(self, apply: Callable[..., Any], payload: int):
        self.apply = apply
        self.payload = payload

    def _refuse(self, *args: Any) -> Any:
        raise NoReplay

    __bool__ = __float__ = __int__ = __index__ = __len__ = __iter__ = __array__ = __getitem__ = _refuse
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse  # a comparison would decide from a value too
    __hash__ = object.__hash__

    def _operate(self, function: Callable[..., Any], *operands: Any) -> Any:
        return self.apply.__self__.record(function, operands, {})

    def __add__(self, other): return self._operate(operator.add, self, other)
    def __radd__(self, other): return self._operate(operator.add, other, self)
    def __sub__(self, other): return self._operate(operator.sub, self, other)
    def __rsub__(self, other): return self._operate(operator.sub, other, self)
    def __mul__(self, other): return self._operate(operator.mul, self, other)
    def __rmul__(self, other): return self._operate(operator.mul, other, self)
    def __truediv__(self, other): return self._operate(operator.truediv, self, other)
    def __rtruediv__(self, other): return self._operate(operator.truediv, other, self)
    def __neg__(self): return self._operate(operator.neg, self)


class Recorder(Interpreter):
    """NumPyValues (tape.py), recording: what involves a symbol becomes a step, the rest is computed.

    Each symbol has a sample, its value in this recording, on which every step also runs:
    its type, dtype and shape are those of every later run (they are in the key).
    """

    def __init__(self) -> None:
        self.samples: list[Any] = []  # value number -> its value in this recording
        self.steps: list[tuple[Callable[..., Any], tuple[Any, ...], int]] = []  # (function, operands, result number)
        self.symbols: dict[str, Symbol] = {}  # the inputs read, in the order first read
        self.made: dict[Hashable, Symbol] = {}  # pure calls made so far (see _made_by)
        self.kept: list[Any] = []  # the constants those calls read

    def sample(self, value: Any) -> Any:
        return self.samples[value.payload] if isinstance(value, Symbol) else value

    # the interpreter protocol, as tape.NumPyValues answers it
    def variable(self, name: str, inputs: Mapping[str, Any]) -> Any:
        if name not in self.symbols:
            self.symbols[name] = self._new(inputs[name])
        return self.symbols[name]

    def forward(self, instruction: Instruction, operands: list[Any]) -> Any:
        op, _, params, _ = instruction
        return self.record(PRIMITIVES[op].forward, operands, dict(params), op)

    def apply(self, name: str, *operands: Any, **params: Any) -> Any:
        if not any(isinstance(operand, Symbol) for operand in operands):
            return apply_numeric(name, *operands, **params)
        samples = [self.sample(operand) for operand in operands]
        if name in SHORTCUTS:
            if name == "where" and isinstance(operands[0], Symbol) and np.ndim(samples[0]) == 0:
                # where(x > 0, a, b) with a scalar x picks an operand by x's value: the step is the deciding call
                constants = tuple(not isinstance(operand, Symbol) for operand in operands)
                return self.record(functools.partial(_where_picking_a_copy, constants), operands, params)
            # Else the shortcut decides from constants, types and shapes (all in the key): decide now.
            found = apply_numeric(name, *samples, **params)
            for operand, sample in zip(operands, samples):
                if found is sample:
                    return operand
        elif name == "sum_to_like" and np.shape(samples[0]) == np.shape(samples[1]):
            return operands[0]  # sum_to_shape hands back the operand when the shapes agree (they are in the key)
        return self.record(PRIMITIVES[name].forward, operands, params, name)

    def lift(self, value: Any) -> Any:
        if isinstance(value, Symbol):
            return self.record(np.float64, [value], {}) if type(self.sample(value)) is float else value
        return NUMPY.lift(value)

    # steps
    def record(self, function: Callable[..., Any], operands: Sequence[Any], params: Mapping[str, Any],
               name: str | None = None) -> Any:
        """function(*operands, **params), computed on the samples; a step when an operand is a symbol.

        `name` (the primitive's) lets the step be a shorter equivalent call (`_faster`).
        """
        if not any(isinstance(operand, Symbol) for operand in operands):
            return function(*operands, **params)
        samples = [self.sample(operand) for operand in operands]
        result = function(*samples, **params)
        if not isinstance(result, (np.ndarray, np.generic)):
            raise NoReplay  # a Python value would take other paths in the sweep that follows
        rule = _FASTER.get(name) if name is not None else None
        made = rule(self._emit, operands, samples, **params) if rule is not None else None
        if made is not None:
            if not _same_bits(self.sample(made), result):
                raise NoReplay  # a shorter call must be the same arithmetic: never seen, but never replayed either
            return made
        function = _direct(function)
        return self._step(functools.partial(function, **params) if params else function, operands, result)

    def _emit(self, function: Callable[..., Any], operands: Sequence[Any]) -> Any:
        """A step of a shorter call (`_FASTER`): function(*operands), the operands' constants given positionally."""
        if not any(isinstance(operand, Symbol) for operand in operands):
            return function(*operands)
        return self._step(function, operands, function(*[self.sample(operand) for operand in operands]))

    def _step(self, function: Callable[..., Any], operands: Sequence[Any], result: Any) -> Symbol:
        """A step function(*operands) whose value here is `result`, or the earlier one that made it."""
        made = self._made_by(function, operands)
        if made is not None:
            return made
        self.steps.append((function, tuple(operands), len(self.samples)))
        return self._new(result)

    def _made_by(self, function: Callable[..., Any], operands: Sequence[Any]) -> Symbol | None:
        """The symbol an earlier step made by this same call, when the call is a pure function.

        A Hessian sweeps the program, then its gradient program, which begins with a copy
        of the program: each of those calls is made once. (Replayed values are never
        written in place, so sharing one is safe.)
        """
        if not (isinstance(function, np.ufunc) or function in _OPERATORS):
            return None
        key = (function, *[("symbol", operand.payload) if isinstance(operand, Symbol) else ("constant", id(operand))
                           for operand in operands])
        found = self.made.get(key)
        if found is None:
            self.made[key] = Symbol(self.apply, len(self.samples))  # the symbol the caller is about to make
            self.kept.extend(operand for operand in operands if not isinstance(operand, Symbol))  # ids stay unique
        return found

    def _new(self, sample: Any) -> Symbol:
        self.samples.append(sample)
        return Symbol(self.apply, len(self.samples) - 1)

    def replay(self, outputs: Sequence[Any]) -> Replay | None:
        """The steps that the outputs need, as one generated function of the inputs (None when it
        would keep a constant larger than REPLAY_MAX_ELEMENTS)."""
        steps = _live(self.steps, outputs)
        namespace: dict[str, Any] = {}

        def name_of(value: Any) -> str:
            if isinstance(value, Symbol):
                return f"v{value.payload}"
            name = f"c{len(namespace)}"
            namespace[name] = value
            return name

        names = tuple(self.symbols)
        lines = ["def replay(inputs):"]
        for name in names:  # the names are constants of the namespace, never text in the code
            lines.append(f"    v{self.symbols[name].payload} = inputs[{name_of(name)}]")
        for index, (function, operands, result) in enumerate(steps):
            namespace[f"f{index}"] = function
            lines.append(f"    v{result} = f{index}({', '.join(name_of(operand) for operand in operands)})")
        returned = []
        for output in outputs:
            if isinstance(output, np.ndarray):  # made from constants: each run hands out its own copy
                returned.append(f"{name_of(output)}.copy()")
            else:
                returned.append("None" if output is None else name_of(output))
        lines.append(f"    return ({', '.join(returned)},)")
        if any(isinstance(value, np.ndarray) and value.size > REPLAY_MAX_ELEMENTS for value in namespace.values()):
            return None
        # Generated from value numbers only (no text of the user's): names v<number>, c<number>, f<number>.
        exec(compile("\n".join(lines), "<adcli replay>", "exec"), namespace)  # noqa: S102
        kinds = {name: kind_of(self.samples[self.symbols[name].payload]) for name in names}
        return Replay(namespace["replay"], names, kinds, len(steps))


class ScalarRowsRecorder(Recorder):
    """A Recorder whose `apply` is derivatives.ScalarRows' (its forward stays NumPyValues'): for a
    Hessian's batched reverse sweep, where every forward value is a scalar and a batch is a vector."""

    def apply(self, name: str, *operands: Any, **params: Any) -> Any:
        if not any(isinstance(operand, Symbol) for operand in operands):
            return SCALAR_ROWS.apply(name, *operands, **params)
        primitive = PRIMITIVES[name]
        # ScalarRows.apply's decisions, in its order; all by shape
        if primitive.elementwise:
            return self.record(primitive.forward, operands, params, name)
        if name in ("sum_to_like", "broadcast_like"):
            return operands[0]
        if not any(np.ndim(self.sample(operand)) > 0 for operand in operands):
            return self.record(primitive.forward, operands, params, name)
        return self.record(functools.partial(SCALAR_ROWS.apply, name), operands, params)

    def keep_rows(self, mask: Any, value: Any) -> Any:
        if not isinstance(value, Symbol):
            return keep_rows(mask, value)
        # derivatives.keep_rows on an array (ScalarRows' values are never Handles): its np.where, the mask shaped now
        shaped = mask.reshape(mask.shape + (1,) * max(np.ndim(self.sample(value)) - 1, 0))
        return self._step(np.where, [shaped, value, 0.0], keep_rows(mask, self.sample(value)))


class BatchRecorder(ScalarRowsRecorder):
    """A Recorder whose `apply` is derivatives.Batched's (batched_apply), or ScalarRows' when every
    forward value is a scalar (`scalar_rows`, set after the forward sweep)."""

    scalar_rows = False

    def as_batch(self, value: Any) -> Handle:
        return Handle(self.apply, value)

    def apply(self, name: str, *operands: Any, **params: Any) -> Any:
        if self.scalar_rows:
            return super().apply(name, *operands, **params)
        flags = [isinstance(operand, Handle) for operand in operands]
        raw = [operand.payload if flag else operand for operand, flag in zip(operands, flags)]
        primitive = PRIMITIVES[name]
        if not any(flags):
            return self.record(primitive.forward, raw, params, name)  # batched_apply's plain call
        if not any(isinstance(value, Symbol) for value in raw):
            return Handle(self.apply, apply_batched(primitive, raw, flags, params))
        samples = [self.sample(value) for value in raw]
        if primitive.elementwise:
            rank = max(getattr(value, "ndim", 0) - flag for value, flag in zip(samples, flags))
            if all(not flag or rank == value.ndim - 1 for value, flag in zip(samples, flags)):
                # apply_batched would align nothing: its call is the primitive's own
                return Handle(self.apply, self.record(primitive.forward, raw, params, name))
        if name == "sum_to_like" and flags == [True, False] and samples[0].shape[1:] == np.shape(samples[1]):
            return operands[0]  # _sum_rows_to hands back the rows when their shape is already the operand's
        call = functools.partial(_batched_call, primitive, tuple(flags), params)
        return Handle(self.apply, self.record(call, raw, {}))


def _where_picking_a_copy(constants: tuple[bool, ...], *operands: Any) -> Any:
    """apply_numeric's where, which may hand back an operand itself: a copy when that operand is a constant
    the replay keeps (the plain sweep makes its constants anew, so a caller may write into what it gets)."""
    found = apply_numeric("where", *operands)
    return found.copy() if any(constant and found is operand for constant, operand in zip(constants, operands)) else found


def _batched_call(primitive: Any, flags: tuple[bool, ...], params: Mapping[str, Any], *operands: Any) -> Any:
    return apply_batched(primitive, list(operands), list(flags), dict(params))


def _direct(function: Callable[..., Any]) -> Callable[..., Any]:
    """The NumPy function a table entry looks up at its first call (made by now), without the lookup."""
    if type(function) is not OnFirstCall:  # a subclass (primitives.power) decides more than the lookup
        return function
    return function.function if function.function is not None else function


def _live(steps: Sequence[tuple[Callable[..., Any], tuple[Any, ...], int]],
          outputs: Sequence[Any]) -> list[tuple[Callable[..., Any], tuple[Any, ...], int]]:
    """The steps some output needs (a backwards loop): forward values no rule reads are not computed."""
    needed = {output.payload for output in outputs if isinstance(output, Symbol)}
    kept = []
    for step in reversed(steps):
        if step[2] in needed:
            needed.update(operand.payload for operand in step[1] if isinstance(operand, Symbol))
            kept.append(step)
    return kept[::-1]


# -- shorter calls: the same NumPy arithmetic without the Python around it -----------------------
#
# Some table entries are Python functions around one or two NumPy calls (np.mean counts the
# items, sum_to_shape compares shapes, _expand broadcasts a view) where the wrapping costs
# several times the arithmetic. With the operands' types, dtypes and shapes fixed by the key,
# the wrapping's decisions are known when recording, and the step can make the inner calls
# alone: the same ufuncs on the same operands, so the same bits. Each rule applies to exact
# float64 ndarrays only (a subclass or another dtype keeps the table's function).

def _float_array(value: Any) -> bool:
    return type(value) is np.ndarray and value.dtype == np.float64


def _same_bits(a: Any, b: Any) -> bool:
    return type(a) is type(b) and np.shape(a) == np.shape(b) and np.asarray(a).dtype == np.asarray(b).dtype and \
        np.asarray(a).tobytes() == np.asarray(b).tobytes()


# Each rule: (emit, operands, samples, **params) -> the result's symbol, made by emit(function, operands)
# steps, or None (the table's function then makes the step).

def _faster_sum(emit, operands, samples, axis=None, keepdims=False):
    # np.sum on an ndarray is exactly np.add.reduce with these arguments (numpy's _wrapreduction)
    if not _float_array(samples[0]):
        return None
    return emit(np.add.reduce, [operands[0], _normal_axis(samples[0], axis), None, None, keepdims])


def _faster_mean(emit, operands, samples, axis=None, keepdims=False):
    # np.mean on a float64 ndarray: np.add.reduce, then a division by the item count (numpy's _methods._mean)
    x = samples[0]
    if not _float_array(x) or x.size == 0:
        return None
    axis = _normal_axis(x, axis)
    total = emit(np.add.reduce, [operands[0], axis, None, None, keepdims])
    return emit(np.true_divide, [total, np.intp(x.size if axis is None else x.shape[axis])])


def _normal_axis(x, axis):
    return None if axis is None else axis % x.ndim


def _faster_expand(emit, operands, samples, axis=None, mean=False, keepdims=False):
    # mean's cotangent, broadcast_to(g, shape) / count: each entry is g / count (the count as a float64, as
    # NumPy converts it), so g over an array of counts
    g, x = samples
    if not (mean and axis is None and not keepdims and _float_array(x) and np.ndim(g) == 0
            and np.asarray(g).dtype == np.float64):
        return None
    return emit(np.true_divide, [operands[0], np.full(x.shape, float(x.size))])


def _faster_sum_to_like(emit, operands, samples):
    # primitives.sum_to_shape with its decisions (all by shape) taken
    value, like = samples
    if not _float_array(value):
        return None
    shape = np.shape(like)
    extra = value.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(extra + i for i, size in enumerate(shape) if size == 1 and value.shape[extra + i] != 1)
    summed = emit(np.add.reduce, [operands[0], axes, None, None, True]) if axes else operands[0]
    return emit(np.ndarray.reshape, [summed, shape])


def _faster_matmul_grad(first: bool):
    def rule(emit, operands, samples):
        g, a, b = samples
        if not (_float_array(g) and _float_array(a) and _float_array(b) and a.ndim >= 2 and b.ndim >= 2):
            return None
        # _matmul_grad_a/_b for two matrices (or stacks): one matmul, whose shape must already be the operand's
        grad = np.matmul(g, b.swapaxes(-1, -2)) if first else np.matmul(a.swapaxes(-1, -2), g)
        if grad.shape != (a.shape if first else b.shape):
            return None
        if first:
            return emit(np.matmul, [operands[0], emit(np.ndarray.swapaxes, [operands[2], -1, -2])])
        return emit(np.matmul, [emit(np.ndarray.swapaxes, [operands[1], -1, -2]), operands[0]])
    return rule


def _faster_transpose(emit, operands, samples):
    return emit(np.ndarray.transpose, operands) if _float_array(samples[0]) else None


def _faster_pow(emit, operands, samples):
    # primitives.power decides by the exponent's value: only a constant one (in the key) is decided now
    if isinstance(operands[1], Symbol):
        return None
    products = power_as_products(*samples)
    if products is None:
        return emit(np.power, operands)
    x = operands[0]
    square = emit(operator.mul, [x, x])
    return square if samples[1] == 2.0 else emit(operator.mul, [square, x])  # x*x, or (x*x)*x


_FASTER: dict[str, Callable[..., Any]] = {
    "sum": _faster_sum,
    "mean": _faster_mean,
    "expand": _faster_expand,
    "sum_to_like": _faster_sum_to_like,
    "matmul_grad_a": _faster_matmul_grad(True),
    "matmul_grad_b": _faster_matmul_grad(False),
    "transpose": _faster_transpose,
    "pow": _faster_pow,
}
