"""Value and gradient over many points: the sweeps a cache-sized chunk at a time, on two threads, from a plan.

When every operation of a program is elementwise (`pointwise_shape`), entry i of every result
needs only entry i of the inputs, so the inputs can be cut into chunks whose tapes stay in the
CPU cache. The sweep over one chunk is a `Plan`: the forward sweep and the ordinary reverse
sweep (`tape.backward`, with its rules and shortcuts) run ONCE on stand-in values, and every
NumPy call they would make on a chunk is written down as a step. A chunk then runs the steps
in a tight loop, each writing with `out=` into a few buffers that the plan reuses once their
values are dead. The steps are the very calls the plain sweep makes, with the same operands
in the same order, so each chunk's results are bit for bit those of `forward` +
`numeric_gradients` on the whole arrays; what goes is the per-instruction bookkeeping
(rule look-ups, parameter dicts, shape checks, fresh temporaries), which ran under the GIL.
"""

from __future__ import annotations

import functools
import math
import os
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from ..lazy_numpy import np

from ..engine.primitives import PRIMITIVES
from ..engine.program import CONST, VAR, Instruction, Program
from ..engine.sweeps import Handle, Interpreter, depends_on, value_and_cotangents
from ..engine.tape import apply_numeric
from ..errors import SettingError
from .replay import ReplayCache, exact_numbers

# Elements per chunk: small enough that a chunk's buffers stay in the CPU cache, where whole-array
# sweeps fault in fresh temporaries of N, and large enough that handing the GIL between the
# workers at every ufunc call costs less than the call's work.
POINT_CHUNK = 65536
# Elements per piece where a worker sweeps the output rows that held its buffers.
SCRATCH_PIECE = 4096
# NumPy releases the GIL inside each ufunc, so two threads sweep two chunks at once: the default
# number of threads, fewer when this process may run on fewer CPUs, and what $ADCLI_THREADS says when set.
POINT_WORKERS = 2
THREADS_VARIABLE = "ADCLI_THREADS"
MOST_THREADS = 64  # a larger ADCLI_THREADS means this many
# Plans kept, by program, wanted names and the inputs' kinds (see `_plan_key`).
PLAN_CACHE_SIZE = 64


def pointwise_shape(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str]) -> tuple[int, ...] | None:
    """The array inputs' common shape when each of its elements can be swept on its own, else None.

    That holds when every operation is elementwise, every constant is a scalar, every
    variable is a scalar or an array of that one shape, every differentiated variable the
    program uses is such an array (a scalar's gradient would sum over chunks, in another
    order) and the output is an array: then a chunk's results are bit for bit the whole's.
    """
    shapes: set[tuple[int, ...]] = set()
    for instruction in program.instructions:
        op = instruction.op
        if op == CONST:
            if np.ndim(instruction.constant) != 0:
                return None
        elif op == VAR:
            value = inputs[instruction.variable]
            if np.ndim(value) != 0:
                shapes.add(np.shape(value))
        elif not PRIMITIVES[op].elementwise:
            return None
    if len(shapes) != 1:
        return None
    arrays = [name for name in program.variables if np.ndim(inputs[name]) != 0]
    if any(name in program.variables and name not in arrays for name in wrt):
        return None
    return shapes.pop() if depends_on(program, arrays)[program.output] else None


def point_threads() -> int:
    """How many threads sweep the chunks: $ADCLI_THREADS when set, else POINT_WORKERS or the usable CPUs if fewer."""
    setting = os.environ.get(THREADS_VARIABLE, "").strip()
    if not setting:
        usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        return max(1, min(POINT_WORKERS, usable or 1))
    if not setting.isdecimal() or int(setting) < 1:
        raise SettingError(f"{THREADS_VARIABLE} must be a whole number of threads, 1 or more; it is {setting!r}")
    return min(int(setting), MOST_THREADS)


def chunked_value_and_gradients(program: Program, inputs: Mapping[str, Any],
                                wrt: Sequence[str]) -> tuple[Any, dict[str, Any]] | None:
    """forward + numeric_gradients over big elementwise inputs, a chunk at a time; None when that does not apply."""
    shape = pointwise_shape(program, inputs, wrt)
    if shape is None:
        return None
    workers = point_threads()
    row_size = max(1, math.prod(shape[1:]))
    # Chunks of POINT_CHUNK elements, smaller (down to a quarter) when that gives each worker 2 chunks or more.
    rows = max(1, min(POINT_CHUNK, max(POINT_CHUNK // 4, shape[0] * row_size // (4 * workers))) // row_size)
    if shape[0] < 2 * workers * rows:
        return None
    plan = plan_for(program, inputs, wrt)
    if plan is None:
        return None
    value = np.empty(shape, dtype=plan.dtypes[plan.value])
    grads = {name: _gradient_out(plan, name, shape) for name in wrt}
    _Sweep(plan, [inputs[name] for name in plan.inputs], [value] + [grads[name] for name in plan.gradient_names],
           rows, workers).run()
    return value, grads


class _Sweep:
    """One call's chunks, shared by the workers; each keeps its buffers in output rows that it sweeps last.

    A worker's buffers are chunk-sized, so they used to add a few chunks per worker to the
    results; placed in the outputs' last rows, which are written anyway, they add nothing:
    peak memory is the results alone. Each worker sweeps its own such rows at the end, the
    later part first with buffers in the rows before it, and so on down to a piece small
    enough that its buffers do not count.
    """

    def __init__(self, plan: Plan, arrays: Sequence[Any], outputs: Sequence[Any], rows: int, workers: int):
        self.plan, self.arrays, self.outputs, self.rows, self.workers = plan, arrays, outputs, rows, workers
        self.row_shape = outputs[0].shape[1:]
        length = outputs[0].shape[0]
        arenas = sum(out.dtype == np.float64 for out in outputs)
        carvable = arenas and all(dtype.itemsize <= 8 for dtype in plan.buffer_dtypes)
        self.scratch_rows = rows * -(-len(plan.buffer_dtypes) // arenas) if carvable else 0
        self.head = length - workers * self.scratch_rows
        if self.head < workers * rows:  # too short to lend rows: buffers of their own
            self.scratch_rows, self.head = 0, length
        self.chunks = iter(range(0, self.head, rows))  # shared: next() on it holds the GIL

    def run(self) -> None:
        import threading

        errors: list[BaseException] = []

        def work(worker: int) -> None:
            try:
                with np.errstate(all="ignore"):  # per thread, as forward and numeric_gradients set it
                    self.work(worker)
            except BaseException as error:  # noqa: BLE001 - re-raised in the calling thread
                errors.append(error)

        threads = [threading.Thread(target=work, args=(worker,)) for worker in range(1, self.workers)]
        for thread in threads:
            thread.start()
        work(0)  # the calling thread is a worker too: one thread stack less
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def work(self, worker: int) -> None:
        if not self.scratch_rows:
            self._sweep(self.chunks, self.rows, self.head, None)
            return
        start = self.head + worker * self.scratch_rows
        lent = range(start, start + self.scratch_rows)
        self._sweep(self.chunks, self.rows, self.head, self._carve(lent, self.rows))
        self._sweep_lent(lent)

    def _sweep_lent(self, lent: range) -> None:
        """The rows that held this worker's buffers, in a few large parts rather than many small pieces.

        Rows [start, stop) are swept in chunks of `rows` from `middle` on, their buffers carved
        out of [start, middle), which is then what is left; a last piece gets buffers of its own.
        """
        lent_per_row = self.scratch_rows // self.rows
        piece = max(1, SCRATCH_PIECE // max(1, math.prod(self.row_shape)))
        start, stop = lent.start, lent.stop
        while stop - start > piece:
            rows = (stop - start) // (lent_per_row + 1)
            if rows < 1:
                break
            middle = start + rows * lent_per_row
            self._sweep(iter(range(middle, stop, rows)), rows, stop, self._carve(range(start, middle), rows))
            stop = middle
        self._sweep(iter(range(start, stop, piece)), piece, stop, None)

    def _sweep(self, starts: Any, rows: int, stop: int, buffers: list[Any] | None) -> None:
        programs: dict[int, Callable[..., None]] = {}
        for start in starts:
            length = min(rows, stop - start)
            if length not in programs:
                programs[length] = self.plan.bind((length,) + self.row_shape, buffers)
            part = slice(start, start + length)
            programs[length]([array[part] for array in self.arrays], [out[part] for out in self.outputs])

    def _carve(self, own: range, rows: int) -> list[Any]:
        """The plan's buffers, `rows` rows each, cut out of the float64 outputs' rows `own` (each holds whole buffers)."""
        arenas = [out[own.start:own.stop].reshape(-1).view(np.uint8) for out in self.outputs if out.dtype == np.float64]
        chunk_shape = (rows,) + self.row_shape
        size = math.prod(chunk_shape)
        buffers: dict[int, Any] = {}
        arena, offset = 0, 0
        by_size = sorted(range(len(self.plan.buffer_dtypes)), key=lambda k: -self.plan.buffer_dtypes[k].itemsize)
        for index in by_size:  # largest first, so that every offset stays aligned for what follows
            dtype = self.plan.buffer_dtypes[index]
            if offset + size * dtype.itemsize > arenas[arena].size:
                arena, offset = arena + 1, 0
            buffers[index] = arenas[arena][offset:offset + size * dtype.itemsize].view(dtype).reshape(chunk_shape)
            offset += -(-size * dtype.itemsize // 8) * 8
        return [buffers[index] for index in range(len(buffers))]


def _gradient_out(plan: Plan, name: str, shape: tuple[int, ...]) -> Any:
    """Where a gradient goes: a fresh array, zeros where nothing flows, None for a name the program does not use."""
    if name in plan.gradient_names:
        return np.empty(shape, dtype=plan.dtypes[plan.gradients[plan.gradient_names.index(name)]])
    return np.zeros(shape) if name in plan.used else None


# -- plans: the sweeps of one chunk, recorded once -------------------------------------------

@dataclass(frozen=True)
class Step:
    """One NumPy call of a chunk's sweep: values[result] = function(*values[operands])."""

    function: Callable[..., Any]
    operands: tuple[int, ...]  # value numbers
    result: int
    ufunc: bool  # takes out=: writes into its value's place; else it returns a fresh array
    fill: bool = False  # the same in every chunk (the seed, a zero cotangent, steps on those only): run once per bind


@dataclass(frozen=True)
class Plan:
    """A chunk's forward and reverse sweeps as NumPy calls over numbered values.

    Value k is an input chunk (`inputs`, `input_numbers`), a scalar (`constants`) or a step's
    result. A ufunc step writes its result either into the caller's array for output i
    (`in_outputs[k] == i`: the value is output 0, gradient j is output j + 1) or into buffer
    `buffers[k]`; values whose lifetimes do not overlap share one. An output's own value is
    written there by its last step when that step is a ufunc's, else copied there at the end.
    """

    steps: tuple[Step, ...]
    inputs: tuple[str, ...]  # the array variables
    input_numbers: tuple[int, ...]  # their values
    constants: dict[int, Any]
    dtypes: dict[int, Any]
    buffers: dict[int, int]
    buffer_dtypes: tuple[Any, ...]
    in_outputs: dict[int, int]
    value: int
    gradient_names: tuple[str, ...]  # the wanted names with a cotangent
    gradients: tuple[int, ...]  # their values
    used: frozenset[str]  # variables the program uses

    @property
    def results(self) -> tuple[int, ...]:
        return (self.value, *self.gradients)

    def bind(self, shape: tuple[int, ...],
             buffers: Sequence[Any] | None = None) -> Callable[[Sequence[Any], Sequence[Any]], None]:
        """A function sweeping one chunk of this shape: (input chunks, output chunks) -> None.

        Each call reuses the same buffers (given, at least as long as the chunk, or made
        here); a thread binds its own.
        """
        if buffers is None:
            buffers = [np.empty(shape, dtype=dtype) for dtype in self.buffer_dtypes]
        else:
            buffers = [buffer[:shape[0]] for buffer in buffers]
        values: list[Any] = [None] * len(self.dtypes)
        for number, constant in self.constants.items():
            values[number] = constant
        for number, buffer in self.buffers.items():
            values[number] = buffers[buffer]
        for step in self.steps:
            if step.fill:
                values[step.result] = step.function(*[values[k] for k in step.operands], out=values[step.result])
        steps = [(step.function, step.operands, step.result) for step in self.steps if not step.fill]
        inputs, in_outputs = tuple(zip(self.input_numbers, range(len(self.inputs)))), tuple(self.in_outputs.items())
        copies = tuple((number, index) for index, number in enumerate(self.results) if self.in_outputs.get(number) != index)

        def sweep(chunks: Sequence[Any], outputs: Sequence[Any]) -> None:
            for number, index in inputs:
                values[number] = chunks[index]
            for number, index in in_outputs:
                values[number] = outputs[index]
            for function, operands, result in steps:
                values[result] = function(*[values[k] for k in operands], out=values[result])
            for number, index in copies:
                np.copyto(outputs[index], values[number])

        return sweep


def plan_for(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str]) -> Plan | None:
    """The cached plan for this program, these names and inputs like these (None when one cannot be made)."""
    return _PLANS.get(_plan_key(program, inputs, wrt), lambda: make_plan(program, inputs, wrt)) or None


_PLANS = ReplayCache(PLAN_CACHE_SIZE)  # a plan, or False (no plan) for each key; locked: threads share it


def _plan_key(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str]) -> Any:
    """What a plan depends on: the instructions and their numbers' bits, the names, each array's dtype and
    each scalar's exact value and type."""
    def kind(value: Any) -> Any:
        array = np.asarray(value)
        return ("array", array.dtype.str) if array.ndim else (type(value).__qualname__, array.dtype.str, array.tobytes())

    key = (program.instructions, exact_numbers(program), program.output, tuple(wrt),
           tuple((name, kind(inputs[name])) for name in program.variables))
    try:
        hash(key)
    except TypeError:
        return None
    return key


class _NoPlan(Exception):
    """The recording met something a plan does not cover; the caller sweeps another way."""


def make_plan(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str]) -> Plan | bool:
    """Record the sweeps of one chunk; False when the recording meets what a plan does not cover."""
    recorder = _Recorder()
    try:
        with np.errstate(all="ignore"):
            output, cotangents = value_and_cotangents(program, inputs, recorder, recorder.seed, wrt)
    except _NoPlan:
        return False
    slots = program.variable_slots()
    wanted = [(name, cotangents[slots[name]]) for name in wrt if name in slots and cotangents[slots[name]] is not None]
    if not all(isinstance(handle, _Symbol) for _, handle in wanted):
        return False
    return recorder.plan(output.payload, wanted, frozenset(slots))


class _Symbol(Handle):
    """A chunk-sized value in a recording: arithmetic on it records a step."""

    __slots__ = ()
    __array_ufunc__ = None  # a NumPy scalar on the left hands over to our reflected operators

    @property
    def dtype(self) -> Any:
        """The chunk's dtype (its stand-in's), which decides how some primitives compute."""
        return self.apply.samples[self.payload].dtype


def _ufunc_of(function: Callable[..., Any]) -> Any:
    """The NumPy ufunc a table entry calls, or None (then the step returns a fresh array).

    The table looks `np.<name>` up at its first call and keeps it in `.function`; the
    recording has called it on the stand-ins by now.
    """
    found = getattr(function, "function", function)
    return found if isinstance(found, np.ufunc) and found.nout == 1 else None


class _Recorder(Interpreter):
    """A recording sweep: computes what involves no symbol, records a step for the rest.

    Each symbol carries a two-element stand-in array, on which every call also runs: its
    dtype and shape are the chunk's, and where the plain sweep would hand back an operand
    unchanged (x^1, where with a constant condition, sum_to_like to the same shape) the
    stand-in's call does the same, and the recording hands back that operand's symbol.
    """

    STAND_IN = 2

    def __init__(self) -> None:
        self.samples: list[Any] = []  # value number -> stand-in
        self.steps: list[Step] = []
        self.inputs: dict[int, str] = {}  # value number -> variable
        self.fills: set[int] = set()  # values the same in every chunk: the seed, zero cotangents, what follows from them
        self.constants: set[int] = set()  # scalars
        self.made: dict[Any, _Symbol] = {}  # (ufunc, operands) -> its result, so that no call is recorded twice

    def variable(self, name: str, inputs: Mapping[str, Any]) -> Any:
        """An array input becomes a symbol; a scalar one stays as it is."""
        value = inputs[name]
        if np.ndim(value):
            symbol = self._new(np.zeros(self.STAND_IN, dtype=np.asarray(value).dtype))
            self.inputs[symbol.payload] = name
            return symbol
        return value.copy() if isinstance(value, np.ndarray) else value  # a cached plan must not see it change in place

    def forward(self, instruction: Instruction, operands: list[Any]) -> Any:
        """The forward sweep's call, as tape.forward makes it (no shortcuts)."""
        op, _, params, _ = instruction
        spelled = self._by_operators(op, operands, params)
        return spelled if spelled is not None else self.record(PRIMITIVES[op].forward, operands, dict(params))

    def apply(self, name: str, *operands: Any, **params: Any) -> Any:
        return self(name, *operands, **params)

    def __call__(self, name: str, *operands: Any, **params: Any) -> Any:
        """apply_numeric, recorded: the same function and shortcuts on the same operands."""
        if not any(isinstance(operand, _Symbol) for operand in operands):
            return apply_numeric(name, *operands, **params)
        if name == "broadcast_like" and not isinstance(operands[0], _Symbol):
            return self.fill(operands[0], operands[1])
        spelled = self._by_operators(name, operands, params)
        if spelled is not None:
            return spelled
        stand_in = apply_numeric(name, *self._samples(operands), **params)
        return self._result(PRIMITIVES[name].forward, operands, params, stand_in)

    def _by_operators(self, name: str, operands: Sequence[Any], params: Any) -> Any:
        """The primitive's value as its arithmetic on our symbols records it (x*x for x^2), or None."""
        spell = PRIMITIVES[name].by_operators
        spelling = spell(*operands) if spell is not None and not params and isinstance(operands[0], _Symbol) else None
        return spelling(operands[0]) if spelling is not None else None

    def record(self, function: Callable[..., Any], operands: Sequence[Any], params: Mapping[str, Any]) -> Any:
        """function(*operands, **params) as the forward sweep calls it (no shortcuts)."""
        if not any(isinstance(operand, _Symbol) for operand in operands):
            return function(*operands, **params)
        return self._result(function, operands, params, function(*self._samples(operands), **params))

    def seed(self, output: Any) -> _Symbol:
        """numeric_gradients' seed, ones_like(value), for an output computed in the chunk."""
        if not isinstance(output, _Symbol):
            raise _NoPlan
        return self.fill(1.0, output)

    def fill(self, constant: Any, like: _Symbol) -> _Symbol:
        """np.broadcast_to(constant, like's shape).copy(): an array of one number, the same in every chunk."""
        sample = np.broadcast_to(constant, self.samples[like.payload].shape).copy()
        symbol = self._new(sample)
        self.steps.append(Step(_fill, (self._constant(constant),), symbol.payload, ufunc=True, fill=True))
        self.fills.add(symbol.payload)
        return symbol

    def _result(self, function: Callable[..., Any], operands: Sequence[Any], params: Mapping[str, Any],
                stand_in: Any) -> Any:
        for operand in operands:
            if stand_in is self._sample_of(operand):
                return operand  # the plain sweep hands this operand back unchanged
        if not isinstance(stand_in, np.ndarray) or stand_in.shape != (self.STAND_IN,) or any(
                np.shares_memory(stand_in, self._sample_of(operand)) for operand in operands):
            raise _NoPlan  # not a fresh elementwise result of the chunk's shape
        unchanged = self._times_one(function, operands, stand_in)
        if unchanged is not None:
            return unchanged
        ufunc = None if params else _ufunc_of(function)
        same = (ufunc, tuple(operand.payload if isinstance(operand, _Symbol) else _constant_key(operand)
                             for operand in operands))
        if ufunc is not None and same in self.made:
            return self.made[same]  # the same call on the same values: the same bits, computed once
        symbol = self._new(stand_in)
        if ufunc is not None:
            self.made[same] = symbol
        numbers = tuple(operand.payload if isinstance(operand, _Symbol) else self._constant(operand)
                        for operand in operands)
        call = ufunc if ufunc is not None else _ignoring_out(functools.partial(function, **params))
        # Of fills and scalars only (-g, 2 g with g the seed): the same in every chunk, so computed once per buffer set.
        constant = all(number in self.fills for number in numbers if number not in self.constants)
        self.steps.append(Step(call, numbers, symbol.payload, ufunc=ufunc is not None, fill=constant))
        if constant:
            self.fills.add(symbol.payload)
        return symbol

    def _times_one(self, function: Callable[..., Any], operands: Sequence[Any], stand_in: Any) -> _Symbol | None:
        """v for ones * v or v * ones, where v is computed in the chunk: exactly v in IEEE arithmetic.

        The seed is ones, so the first rules applied multiply by it: (x + 2y)^2 tanh(x y)
        makes 2 such passes of its 19. Not for an input v: a signalling nan would come out quiet.
        """
        if _ufunc_of(function) is not np.multiply or len(operands) != 2 or stand_in.dtype != np.float64:
            return None
        for one, other in (operands, operands[::-1]):
            if isinstance(one, _Symbol) and isinstance(other, _Symbol) and one.payload in self.fills and \
                    other.payload not in self.inputs and other.payload not in self.fills and \
                    self._is_ones(one) and self.samples[other.payload].dtype == np.float64:
                return other
        return None

    def _is_ones(self, symbol: _Symbol) -> bool:
        sample = self.samples[symbol.payload]
        return sample.dtype == np.float64 and bool(np.all(sample == 1.0))

    def _new(self, sample: Any) -> _Symbol:
        self.samples.append(sample)
        return _Symbol(self, len(self.samples) - 1)

    def _constant(self, value: Any) -> int:
        self.samples.append(value)
        self.constants.add(len(self.samples) - 1)
        return len(self.samples) - 1

    def _sample_of(self, operand: Any) -> Any:
        return self.samples[operand.payload] if isinstance(operand, _Symbol) else operand

    def _samples(self, operands: Sequence[Any]) -> list[Any]:
        return [self._sample_of(operand) for operand in operands]

    def plan(self, value: int, wanted: Sequence[tuple[str, _Symbol]], used: frozenset[str]) -> Plan:
        gradients = tuple(handle.payload for _, handle in wanted)
        results = (value, *gradients)
        steps = _live_steps(self._fills_read_as_numbers(_live_steps(self.steps, results)), results)
        dtypes = {k: np.asarray(sample).dtype for k, sample in enumerate(self.samples)}
        buffers, buffer_dtypes, in_outputs = _storage(steps, results, self.fills, dtypes)
        constants = {k: self.samples[k] for k in sorted(self.constants)}
        return Plan(tuple(steps), tuple(self.inputs.values()), tuple(self.inputs), constants, dtypes, buffers,
                    tuple(buffer_dtypes), in_outputs, value, tuple(name for name, _ in wanted), gradients, used)

    def _fills_read_as_numbers(self, steps: Sequence[Step]) -> list[Step]:
        """Arithmetic steps read a fill's one number, not its chunk-sized buffer (1 / v, not ones / v).

        The number is a 0-d array of the fill's dtype, which NumPy types as it types the
        array; + - * / round each element exactly, so a number and an array of it give the
        same bits. A fill nothing else reads is then no longer made, and its buffer goes.
        """
        numbers: dict[int, int] = {}
        rewritten = []
        for step in steps:
            if step.ufunc and not step.fill and step.function in (np.add, np.subtract, np.multiply, np.divide):
                operands = tuple(self._fill_number(k, numbers) if k in self.fills else k for k in step.operands)
                step = Step(step.function, operands, step.result, step.ufunc)
            rewritten.append(step)
        return rewritten

    def _fill_number(self, fill: int, numbers: dict[int, int]) -> int:
        if fill not in numbers:
            sample = self.samples[fill]
            numbers[fill] = self._constant(np.array(sample.flat[0], dtype=sample.dtype))
        return numbers[fill]


def _constant_key(value: Any) -> Any:
    """A scalar operand as a key that tells apart what a ufunc tells apart (-0.0 and 0.0, float and int)."""
    array = np.asarray(value)
    return type(value), array.dtype.str, array.tobytes()


def _fill(constant: Any, out: Any) -> Any:
    np.copyto(out, constant)
    return out


def _ignoring_out(function: Callable[..., Any]) -> Callable[..., Any]:
    """A function returning a fresh array, called like a ufunc with out= (which it ignores)."""
    return lambda *operands, out=None: function(*operands)


def _live_steps(steps: Sequence[Step], results: Sequence[int]) -> list[Step]:
    """The steps some result needs (a backwards loop): forward values no rule reads are not computed."""
    needed = set(results)
    kept: list[Step] = []
    for step in reversed(steps):
        if step.result in needed:
            needed.update(step.operands)
            kept.append(step)
    return kept[::-1]


def _storage(steps: Sequence[Step], results: Sequence[int], fills: set[int],
             dtypes: Mapping[int, Any]) -> tuple[dict[int, int], list[Any], dict[int, int]]:
    """Where each ufunc step's value lives: the caller's output arrays first, then a few shared buffers.

    Output i holds result i from the step that makes it (when a ufunc makes it, once) to
    the end; before that step, it holds values that are dead by then. Each of those is a
    buffer of chunk size less in the peak memory: (x + 2y)^2 tanh(x y) needed 4 buffers per
    thread beside its 3 outputs, and needs 2. A value's place becomes free at its last
    reading; the step reading it may write its own result there (NumPy's elementwise loops
    allow out= to be an operand). Fills keep their own buffers: they are made once.
    """
    last_use: dict[int, int] = {}
    for index, step in enumerate(steps):
        for number in step.operands:
            last_use[number] = index
    for number in results:
        last_use[number] = len(steps)
    made_at = {step.result: index for index, step in enumerate(steps) if step.ufunc and not step.fill}
    own = {number: index for index, number in enumerate(results) if number in made_at and results.count(number) == 1}
    free_until = {index: made_at[number] if number in own else len(steps) - 1 for index, number in enumerate(results)}
    free_outputs = {index for index, number in enumerate(results) if dtypes[number] == np.float64}
    free_buffers: dict[Any, list[int]] = defaultdict(list)
    buffers: dict[int, int] = {}
    buffer_dtypes: list[Any] = []
    in_outputs: dict[int, int] = {}
    for index, step in enumerate(steps):
        for number in set(step.operands):
            if last_use.get(number) == index and number not in fills:
                if number in in_outputs:
                    free_outputs.add(in_outputs[number])
                elif number in buffers:
                    free_buffers[dtypes[number]].append(buffers[number])
        number = step.result
        if not step.ufunc:
            continue
        if number in own:
            in_outputs[number] = own[number]
            free_outputs.discard(own[number])
            continue
        fits = [i for i in free_outputs if free_until[i] >= last_use[number]]
        if fits and dtypes[number] == np.float64 and number not in fills:
            in_outputs[number] = min(fits, key=free_until.get)  # the output that is free the shortest
            free_outputs.discard(in_outputs[number])
        elif free_buffers[dtypes[number]] and number not in fills:
            buffers[number] = free_buffers[dtypes[number]].pop()
        else:
            buffers[number] = len(buffer_dtypes)
            buffer_dtypes.append(dtypes[number])
    return buffers, buffer_dtypes, in_outputs
