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
wanted names, and each input's type, dtype and shape (never a value).
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

from ..engine.primitives import PRIMITIVES
from ..engine.program import CONST, Instruction, Program
from ..engine.sweeps import Handle, Interpreter, backward, depends_on, evaluate
from ..engine.tape import NUMPY, SHORTCUTS, apply_numeric, ones_like

# Replays kept, by program, wanted names and the inputs' kinds (see `replay_key`).
REPLAY_CACHE_SIZE = 64


@dataclass(frozen=True)
class Replay:
    """A recorded sweep: `run(*values of `inputs`)` returns `outputs` (each a value, or None where nothing flows)."""

    run: Callable[..., tuple[Any, ...]]
    inputs: tuple[str, ...]
    kinds: tuple[Hashable, ...]  # each input's kind (`kind_of`) when recorded
    steps: int  # NumPy calls per run

    def __call__(self, inputs: Mapping[str, Any]) -> tuple[Any, ...]:
        return self.run(*[inputs[name] for name in self.inputs])

    def fits(self, inputs: Mapping[str, Any]) -> bool:
        """Whether these inputs are of the kinds recorded (a descent checks after each update)."""
        return all(kind_of(inputs[name]) == kind for name, kind in zip(self.inputs, self.kinds))


def kind_of(value: Any) -> Hashable:
    """What a replay may depend on in an input: its Python type, dtype and shape."""
    return (type(value), getattr(value, "dtype", None), getattr(value, "shape", None))


def replay_key(program: Program, inputs: Mapping[str, Any], what: Hashable) -> Hashable | None:
    """The instructions, their constants' bits (0.0 and -0.0 are equal as floats, not here), `what` is
    recorded and each input's kind; None when something in them cannot be hashed."""
    constants = tuple(_constant_bits(instruction) for instruction in program.instructions if instruction.op == CONST)
    key = (program.instructions, program.outputs, constants, what,
           tuple((name, kind_of(inputs[name])) for name in program.variables))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _constant_bits(instruction: Instruction) -> Hashable:
    value = instruction.constant
    if type(value) is float:
        return value.hex() if not math.isnan(value) else ("nan", np.float64(value).tobytes())
    array = np.asarray(value)
    return (type(value), array.dtype.str, array.shape, array.tobytes())


class ReplayCache:
    """A bounded cache of replays (or False: none can be made for that key), oldest out first."""

    def __init__(self, size: int = REPLAY_CACHE_SIZE):
        self.size = size
        self.found: OrderedDict[Hashable, Replay | bool] = OrderedDict()
        self.lock = threading.Lock()  # the library may be used from several threads

    def get(self, key: Hashable | None, make: Callable[[], Replay | None]) -> Replay | None:
        if key is None:
            return make()
        found = self.found.get(key)
        if found is None:
            found = make() or False
            with self.lock:
                while len(self.found) >= self.size:
                    self.found.popitem(last=False)
                self.found[key] = found
        return found or None


_REPLAYS = ReplayCache()


# -- value and gradients ------------------------------------------------------------------------

def value_and_gradients_replay(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str]) -> Replay | None:
    """A replay of `forward` then `numeric_gradients`' reverse sweep, seeded with ones: it returns
    (value, cotangent of each name in `wrt`), a cotangent None where nothing flows; None when
    no replay can be made.

    Only for inputs that the NumPy sweep takes: when every variable is a Python float the
    scalar sweep runs instead, with other arithmetic.
    """
    if not program.variables or all(type(inputs[name]) is float for name in program.variables):
        return None
    key = replay_key(program, inputs, ("value_and_gradients", tuple(wrt)))
    return _REPLAYS.get(key, lambda: _record_value_and_gradients(program, inputs, wrt))


def _record_value_and_gradients(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str]) -> Replay | None:
    recorder = Recorder(program.variables, inputs)
    try:
        with np.errstate(all="ignore"):
            handles = evaluate(program, inputs, recorder)
            output = handles[program.output]
            seed = ones_like(recorder.sample(output))  # numeric_gradients' seed: of the value's shape only
            cotangents = backward(program, handles, {program.output: seed}, depends_on(program, wrt), recorder)
    except Exception:  # noqa: BLE001 - whatever the recording meets, the plain sweep handles (and reports)
        return None
    slots = program.variable_slots()
    gradients = [cotangents[slots[name]] if name in slots else None for name in wrt]
    return recorder.replay([output, *gradients])


# -- recording ----------------------------------------------------------------------------------

class NoReplay(Exception):
    """The recording met something a replay cannot hold: a decision taken on a symbol's value."""


class Symbol(Handle):
    """A value in a recording (payload: its number): arithmetic records a step; reading its value is refused.

    The operators record Python's own operators, as the plain sweep applies them to its
    values (on NumPy scalars that is NumPy's scalar arithmetic, not a ufunc: the same
    numbers, but a nan's sign can differ, and it costs a tenth).
    """

    __slots__ = ()

    def _refuse(self, *args: Any) -> Any:
        raise NoReplay

    __bool__ = __float__ = __int__ = __index__ = __len__ = __iter__ = __array__ = __getitem__ = _refuse

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

    def __init__(self, names: Sequence[str], inputs: Mapping[str, Any]):
        self.samples: list[Any] = []  # value number -> its value in this recording
        self.steps: list[tuple[Callable[..., Any], tuple[Any, ...], int]] = []  # (function, operands, result number)
        self.names = tuple(names)
        self.symbols = {name: self._new(inputs[name]) for name in self.names}

    def sample(self, value: Any) -> Any:
        return self.samples[value.payload] if isinstance(value, Symbol) else value

    # the interpreter protocol, as tape.NumPyValues answers it
    def variable(self, name: str, inputs: Mapping[str, Any]) -> Any:
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
                return self.record(functools.partial(apply_numeric, name), operands, params)
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
        faster = _faster(name, samples, params) if name is not None else None
        if faster is not None:
            function, operands = faster[0], [*operands, *faster[1]]
        else:
            function = _direct(function)
            function = functools.partial(function, **params) if params else function
        self.steps.append((function, tuple(operands), len(self.samples)))
        return self._new(result)

    def _new(self, sample: Any) -> Symbol:
        self.samples.append(sample)
        return Symbol(self.apply, len(self.samples) - 1)

    def replay(self, outputs: Sequence[Any]) -> Replay:
        """The steps that the outputs need, as one generated function of the inputs."""
        steps = _live(self.steps, outputs)
        namespace: dict[str, Any] = {}

        def name_of(value: Any) -> str:
            if isinstance(value, Symbol):
                return f"v{value.payload}"
            name = f"c{len(namespace)}"
            namespace[name] = value
            return name

        lines = [f"def replay({', '.join(f'v{self.symbols[name].payload}' for name in self.names)}):"]
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
        # Generated from value numbers only (no text of the user's): names v<number>, c<number>, f<number>.
        exec(compile("\n".join(lines), "<adcli replay>", "exec"), namespace)  # noqa: S102
        kinds = tuple(kind_of(self.samples[self.symbols[name].payload]) for name in self.names)
        return Replay(namespace["replay"], self.names, kinds, len(steps))


def _direct(function: Callable[..., Any]) -> Callable[..., Any]:
    """The NumPy function a table entry looks up at its first call (made by now), without the lookup."""
    found = getattr(function, "function", None)
    return found if found is not None else function


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


def _faster(name: str, samples: Sequence[Any], params: Mapping[str, Any]) -> tuple[Callable[..., Any], tuple] | None:
    """(function, extra constant operands) making the same calls as primitive `name` here, or None."""
    rule = _FASTER.get(name)
    return rule(samples, **params) if rule is not None else None


def _faster_sum(samples, axis=None, keepdims=False):
    # np.sum on an ndarray is exactly np.add.reduce with these arguments (numpy's _wrapreduction)
    if not _float_array(samples[0]):
        return None
    axis = _normal_axis(samples[0], axis)
    return functools.partial(np.add.reduce, axis=axis, keepdims=keepdims), ()


def _faster_mean(samples, axis=None, keepdims=False):
    # np.mean on a float64 ndarray: np.add.reduce, then a division by the item count (numpy's _methods._mean)
    x = samples[0]
    if not _float_array(x) or x.size == 0:
        return None
    axis = _normal_axis(x, axis)
    count = np.intp(x.size if axis is None else x.shape[axis])
    return _reduce_then_divide(axis, keepdims), (count,)


def _reduce_then_divide(axis, keepdims):
    def mean(x, count):
        return np.true_divide(np.add.reduce(x, axis=axis, keepdims=keepdims), count)
    return mean


def _normal_axis(x, axis):
    return None if axis is None else axis % x.ndim


def _faster_expand(samples, axis=None, mean=False, keepdims=False):
    # mean's cotangent, broadcast_to(g, shape) / count: each entry is g / count, so g over an array of counts
    g, x = samples
    if not (mean and axis is None and not keepdims and _float_array(x) and np.ndim(g) == 0
            and np.asarray(g).dtype == np.float64):
        return None
    return _swap_second(np.true_divide), (np.full(x.shape, x.size, dtype=np.intp),)


def _swap_second(function):
    def call(g, x, counts):  # x only carries the shape, which `counts` has
        return function(g, counts)
    return call


def _faster_sum_to_like(samples):
    value, like = samples
    if not _float_array(value):
        return None
    shape = np.shape(like)
    extra = value.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(extra + i for i, size in enumerate(shape) if size == 1 and value.shape[extra + i] != 1)

    def sum_to_like(value, like):  # primitives.sum_to_shape with its decisions taken
        return (np.add.reduce(value, axis=axes, keepdims=True) if axes else value).reshape(shape)
    return sum_to_like, ()


def _faster_matmul_grad(first: bool):
    def rule(samples):
        g, a, b = samples
        if not (_float_array(g) and _float_array(a) and _float_array(b) and a.ndim >= 2 and b.ndim >= 2):
            return None
        # _matmul_grad_a/_b for two matrices (or stacks): one matmul, whose shape must already be the operand's
        grad = np.matmul(g, b.swapaxes(-1, -2)) if first else np.matmul(a.swapaxes(-1, -2), g)
        if grad.shape != (a.shape if first else b.shape):
            return None
        if first:
            return (lambda g, a, b: np.matmul(g, b.swapaxes(-1, -2))), ()
        return (lambda g, a, b: np.matmul(a.swapaxes(-1, -2), g)), ()
    return rule


def _faster_transpose(samples):
    return (np.ndarray.transpose, ()) if _float_array(samples[0]) else None


_FASTER: dict[str, Callable[..., tuple[Callable[..., Any], tuple] | None]] = {
    "sum": _faster_sum,
    "mean": _faster_mean,
    "expand": _faster_expand,
    "sum_to_like": _faster_sum_to_like,
    "matmul_grad_a": _faster_matmul_grad(True),
    "matmul_grad_b": _faster_matmul_grad(False),
    "transpose": _faster_transpose,
}
