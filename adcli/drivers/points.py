"""Many points: a CSV whose header names variables, one point a row, pushed through the tape a chunk at a time.

Rows are read in chunks (65,536 by default), so memory stays flat however long the file;
each chunk goes through the compiled program as arrays, one element per point. That is
only right for programs that treat every point on its own, so programs that combine
points (a reduction, `@`, `.T` or an array literal over a variable) are refused up front.
"""

from __future__ import annotations

import functools
import heapq
import io
from dataclasses import dataclass
from itertools import islice
from typing import Any, BinaryIO, Callable, Iterator, Mapping

from ..lazy_numpy import np

from ..api import Compiled, check_bindable
from ..commands.results import Result
from .batch import LineTooLong, Output, bounded_lines, byte_size, decode_line, strip_line_end, UTF8_BOM
from ..errors import AdcliError, BindingError, ShapeError, unexpected
from ..language.names import normal
from ..render.formats import PointStream
from ..engine.primitives import COMBINING_POINTS
from ..engine.program import LEAVES, Program
from ..engine.sweeps import depends_on
from ..engine.tape import describe, forward

CHUNK_ROWS = 65536
# A chunk also ends once it holds this many bytes, so that long rows cannot make it large.
CHUNK_BYTES = 1 << 24
# The longest row (or header) of a points file, in bytes; so also the longest cell.
MAX_ROW_BYTES = 1 << 20
# Smaller files (one to three chunks) run in one process unless --jobs asks otherwise: starting
# the workers would cost more than they save.
MIN_BYTES_FOR_JOBS = 1 << 21

TERMINAL_HINT = ("adcli: reading points from standard input: a header line of variable names, "
                 "then one row of numbers per point; end with Ctrl-D")


@dataclass(frozen=True)
class RowFailure:
    """A row that could not be read, and why; `cells` as they were written, `column` the bad cell's (1-based)."""

    row: int
    cells: list[str]
    message: str
    column: int | None = None


class BadRow(ValueError):
    def __init__(self, message: str, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.column = column


@dataclass
class PointsChunk:
    rows: np.ndarray  # the readable rows' numbers, in order (row 1 is the line after the header)
    columns: dict[str, np.ndarray]  # each variable's values at those rows
    failures: list[RowFailure]

    def row(self, index: int) -> PointsChunk:
        """The chunk of just its `index`th readable row."""
        part = slice(index, index + 1)
        return PointsChunk(self.rows[part], {name: column[part] for name, column in self.columns.items()}, [])


# -- refusing programs that combine points -----------------------------------------------


def empty_chunk(names: list[str]) -> PointsChunk:
    """No rows: what a run evaluates once for its CSV header and for errors in its bindings."""
    return PointsChunk(np.empty(0, dtype=np.int64), {name: np.empty(0) for name in names}, [])


def check_pointwise(program: Program) -> None:
    """Raise ShapeError unless the value at each point depends on that point's variables alone."""
    per_point = depends_on(program, program.variables)
    pointwise = [instruction for slot, instruction in enumerate(program.instructions)
                 if per_point[slot] and instruction.op not in LEAVES]
    for instruction in pointwise:
        if instruction.op in COMBINING_POINTS:
            raise ShapeError(f"{describe(program, instruction)} combines points: --points evaluates each row on "
                             "its own, so sums, means, products, norms, max/min of arrays, softmax, logsumexp, "
                             "@, .T, indexing and array literals of variables are not allowed",
                             program.text, instruction.span)
    probe = forward(program, {name: 0.0 for name in program.variables})  # one point: every slot's shape
    for instruction in pointwise:
        for operand in instruction.args:
            if not per_point[operand] and np.ndim(probe[operand]) != 0:
                raise ShapeError(f"{describe(program, instruction)} spreads an array constant over the points: with "
                                 "--points every value is one number per point", program.text, instruction.span)
    if not per_point[program.output] and np.ndim(probe[program.output]) != 0:
        raise ShapeError("the value is an array that does not depend on the points", program.text, None)


def pointwise_inputs(compiled: Compiled, bindings: Mapping[str, Any],
                     chunk: PointsChunk) -> tuple[Compiled, dict[str, Any]]:
    """The chunk's columns plus every other value repeated at each point, so each point has its own gradient."""
    count = len(chunk.rows)
    for name in chunk.columns:
        if name in bindings:
            raise BindingError(f"'{name}' is bound twice: by --at and by the points file's header")

    def spread(name: str, value: Any) -> np.ndarray:
        if np.ndim(value) != 0:
            raise BindingError(f"with --points every value is one number per point, "
                               f"but '{name}' has shape {np.shape(value)}")
        return np.broadcast_to(np.float64(value), (count,))

    where = {name: spread(name, value) for name, value in compiled.program.where.items()}
    spread_bindings = {name: spread(name, value) for name, value in bindings.items()}
    return compiled.rebound(compiled.text, where), {**spread_bindings, **chunk.columns}


# -- reading the points file ---------------------------------------------------------------


class PointsFile:
    """A points CSV read as a stream: `names` from the header, then `line_chunks()` of rows to `parse`."""

    def __init__(self, stream: BinaryIO, chunk_rows: int | None = None):
        self.chunk_rows = chunk_rows or CHUNK_ROWS
        self._lines = bounded_lines(stream, MAX_ROW_BYTES)  # one reader: after the end of the input, no more reads
        self._header_line, self.names = self._read_header()

    def _read_header(self) -> tuple[int, list[str]]:
        try:
            for number, raw in enumerate(self._lines, start=1):
                raw = strip_line_end(raw[len(UTF8_BOM):] if number == 1 and raw.startswith(UTF8_BOM) else raw)
                if raw.strip():
                    text, problem = decode_line(raw)
                    if problem is not None:
                        raise BindingError(f"the points file's header: {problem.message}")
                    return number, header_names(text)
        except LineTooLong:
            raise BindingError(f"the points file's header is longer than {byte_size(MAX_ROW_BYTES)}, "
                               "the limit for one line") from None
        raise BindingError("the points file is empty: its first line names the variables, e.g. 'x,y'")

    def __getstate__(self) -> dict[str, Any]:  # a cluster's worker reads its own rows: the stream stays here
        return {"_lines": None, "chunk_rows": self.chunk_rows, "_header_line": self._header_line, "names": self.names}

    def data_offset(self, path: str) -> int:
        """The byte offset in `path` (this file) of the line after the header: where row 1 starts."""
        with open(path, "rb") as file:
            for _ in islice(file, self._header_line):
                pass
            return file.tell()

    def chunk_arguments(self) -> Iterator[tuple[list[bytes], int]]:
        return self.line_chunks()

    def chunk(self, lines: list[bytes], first_row: int) -> PointsChunk:
        return self.parse(lines, first_row)

    def line_chunks(self) -> Iterator[tuple[list[bytes], int]]:
        """(a chunk's lines as read, the number of its first row), until the file ends.

        A row past MAX_ROW_BYTES ends the run with an error, after the rows before it.
        """
        first_row = 1
        while True:
            lines: list[bytes] = []
            size = 0
            try:
                for raw in self._lines:
                    lines.append(raw)
                    size += len(raw)
                    if len(lines) == self.chunk_rows or size >= CHUNK_BYTES:
                        break
            except LineTooLong as problem:
                if lines:
                    yield lines, first_row
                raise BindingError(row_too_long(problem.number - self._header_line)) from None
            if not lines:
                return
            yield lines, first_row
            first_row += len(lines)

    def parse(self, lines: list[bytes], first_row: int) -> PointsChunk:
        fast = _parse_whole(lines, len(self.names))
        if fast is not None:
            rows = np.arange(first_row, first_row + len(lines))
            return PointsChunk(rows, dict(zip(self.names, fast.T)), [])
        return self._parse_rows(lines, first_row)

    def _parse_rows(self, lines: list[bytes], first_row: int) -> PointsChunk:
        """Row by row, to keep the good rows and say what is wrong with the others."""
        rows, values, failures = [], [], []
        for row, raw in enumerate(lines, start=first_row):
            raw = strip_line_end(raw)
            if not raw.strip():
                continue
            text, problem = decode_line(raw)
            cells = [cell.strip() for cell in text.split(",")]
            try:
                if problem is not None:
                    raise BadRow(problem.message)
                values.append(self._numbers(cells))
                rows.append(row)
            except BadRow as bad:
                failures.append(RowFailure(row, cells, bad.message, bad.column))
        table = np.array(values, dtype=np.float64).reshape(len(values), len(self.names))
        return PointsChunk(np.array(rows, dtype=np.int64), dict(zip(self.names, table.T)), failures)

    def _numbers(self, cells: list[str]) -> list[float]:
        if len(cells) != len(self.names):
            raise BadRow(f"the row has {len(cells)} cells, but the header names {len(self.names)} variables")
        return [cell_number(cell, column, name) for column, (cell, name) in enumerate(zip(cells, self.names), start=1)]


def header_names(text: str) -> list[str]:
    """The variables a points file's header names, in order."""
    names = [normal(_unquoted(cell.strip())) for cell in text.split(",")]
    check_names(names, "the points file's header", text)
    return names


def check_names(names: list[str], where: str, text: str | None = None) -> None:
    """Each name a bindable variable, none twice."""
    for column, name in enumerate(names, start=1):
        if not name.isidentifier():
            raise BindingError(f"{where} must name variables, but column {column} is {name!r}", text, None)
        check_bindable(name)
        if names.index(name) != column - 1:
            raise BindingError(f"{where} names '{name}' twice")


def cell_number(cell: str, column: int, name: str) -> float:
    """A cell as a float (1, -2.5, 1e-3, nan, inf), or BadRow naming the column."""
    text = _unquoted(cell)
    where = f"column {column} ({name})"
    if not text:
        raise BadRow(f"{where} is empty", column)
    try:
        if "_" in text or not text.isascii():  # float() takes 1_000 and ١ or １; NumPy's reader, the fast path,
            raise ValueError                      # does not, nor does --at
        return float(text)
    except ValueError:
        raise BadRow(f"{where}: {shown_cell(cell)} is not a number", column) from None


def shown_cell(cell: str, width: int = 40) -> str:
    """The cell quoted for a message, its start only when it is long."""
    return repr(cell) if len(cell) <= width else repr(cell[:width]) + f"... ({len(cell)} characters)"


def _unquoted(cell: str) -> str:
    return cell[1:-1].strip() if len(cell) >= 2 and cell[0] == cell[-1] == '"' else cell


def _parse_whole(lines: list[bytes], width: int) -> np.ndarray | None:
    """The chunk as a (rows, width) array by NumPy's CSV reader, or None if any line is not plain numbers."""
    if not lines:
        return np.empty((0, width))
    try:
        text = b"".join(lines).decode("utf-8")  # each line keeps its end
        table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64, ndmin=2, comments=None, quotechar='"')
    except (UnicodeDecodeError, ValueError):
        return None
    return table if table.shape == (len(lines), width) else None


# -- the run -------------------------------------------------------------------------------

Compute = Callable[[Compiled, dict[str, Any]], Result]  # a command with its bindings and options applied


@dataclass
class ChunkReport:
    """A chunk's output lines, its warnings (each with the row it describes) and its failures."""

    text: str
    warnings: list[tuple[str, int]]
    failures: list[RowFailure]
    ok: bool


@dataclass
class _Evaluate:
    """What each chunk of rows goes through, in this process or in a worker."""

    compiled: Compiled
    bindings: Mapping[str, Any]
    compute: Compute
    stream: PointStream
    points: PointsFile

    def result(self, chunk: PointsChunk) -> Result:
        return self.compute(*pointwise_inputs(self.compiled, self.bindings, chunk))

    def __call__(self, *arguments: Any) -> ChunkReport:
        """The report of one chunk, given as the points source's `chunk_arguments` give it."""
        return self.report(self.points.chunk(*arguments))

    def report(self, chunk: PointsChunk) -> ChunkReport:
        try:
            return self._report(chunk)
        except AdcliError:
            raise  # about the program or the bindings, so about every row: the run's error
        except Exception:  # noqa: BLE001 - a bug met somewhere in the chunk: each row alone says where
            return self._row_by_row(chunk)

    def _report(self, chunk: PointsChunk) -> ChunkReport:
        compiled, inputs = pointwise_inputs(self.compiled, self.bindings, chunk)
        result = self.compute(compiled, inputs)
        text = "".join(line + "\n" for line in chunk_lines(chunk, result, self.stream))
        return ChunkReport(text, self._warnings(chunk, inputs, result), chunk.failures, not result.failed())

    def _row_by_row(self, chunk: PointsChunk) -> ChunkReport:
        """The chunk's report with each row run alone: a row that still fails is that row's error, the rest go on."""
        lines, warnings, failures, ok = [], [], list(chunk.failures), True
        for index, row in enumerate(chunk.rows.tolist()):
            try:
                report = self._report(chunk.row(index))
            except Exception as problem:  # noqa: BLE001 - an AdcliError too: only this row is to blame
                error = problem if isinstance(problem, AdcliError) else unexpected(problem)
                cells = [repr(float(column[index])) for column in chunk.columns.values()]
                failures.append(RowFailure(row, cells, error.message))
                continue
            lines.append((row, report.text))
            warnings += report.warnings
            ok = ok and report.ok
        failures.sort(key=lambda failure: failure.row)
        lines += [(failure.row, self.stream.failure(failure.row, failure.cells, failure.message, failure.column) + "\n")
                  for failure in failures]
        return ChunkReport("".join(text for _, text in sorted(lines, key=lambda pair: pair[0])), warnings, failures, ok)

    def _warnings(self, chunk: PointsChunk, inputs: Mapping[str, Any], result: Result) -> list[tuple[str, int]]:
        """The warnings of the chunk's first row that turned finite inputs into a nan or inf, with that row.

        The chunk's own warnings name the first operation that made one anywhere in it (and
        none when an operand holds a nan anywhere, an input's own), which need not be what did
        at that row; the row alone, run again, says what did. Only chunks with a nan or inf
        pay. Without such a row, the chunk's warnings, at its first row that is not finite.
        """
        bad = ~finite_points(result.record(), len(chunk.rows))
        if not bad.any():  # warnings come only with a nan or inf
            return []
        from_finite_inputs = np.flatnonzero(bad & finite_points(inputs, len(chunk.rows)))
        if from_finite_inputs.size:
            index = int(from_finite_inputs[0])
            row_warnings = self.result(chunk.row(index)).warnings
            if row_warnings:
                return [(warning, int(chunk.rows[index])) for warning in row_warnings]
        first = int(np.flatnonzero(bad)[0])
        return [(warning, int(chunk.rows[first])) for warning in result.warnings]


@functools.cache
def keep_freed_memory() -> None:
    """Ask glibc's malloc to keep freed chunk-sized arrays for reuse instead of handing them back to the OS.

    By default it serves a chunk's arrays by mmap and returns them when freed, so every chunk
    of a points run faults its pages in afresh and the run's memory saws up and down; kept,
    they are reused. It changes the whole process's allocator, so only the points driver, which
    owns its process, asks for it (tests/benchmarks/RESULTS.md has the figures). Elsewhere than
    glibc this does nothing.
    """
    import ctypes  # here, not at the top: only a points run needs it

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 4 << 20)
    mallopt(m_trim_threshold, 64 << 20)


def write_points(compiled: Compiled, bindings: Mapping[str, Any], points: Any, compute: Compute,
                 stream: PointStream, output: Output, jobs: int = 1,
                 runner: Callable[[Callable, Callable[[ChunkReport], int]], int] | None = None) -> int:
    """Evaluate the program at every row, a chunk at a time, writing one line per row; exit code 1 if any row failed.

    `points` is a PointsFile or a ParquetPoints. With `jobs` > 1 the chunks run in worker
    processes, and a `runner` (a cluster's) takes the chunk task and the writer and runs them
    itself: the same chunks, so the same output.
    """
    check_pointwise(compiled.program)
    keep_freed_memory()
    evaluate = _Evaluate(compiled, bindings, compute, stream, points)
    # No rows yet: the CSV header's columns, and any error about the bindings, with its place.
    output.write(stream.header(evaluate.result(empty_chunk(points.names))))
    warned: set[str] = set()

    def write(report: ChunkReport) -> int:
        return _write_report(report, output, warned)

    if runner is not None:
        return runner(evaluate, write)
    if jobs > 1:
        from .workers import run_in_order

        return run_in_order(evaluate, points.chunk_arguments(), write, output, jobs)
    failed = 0
    for arguments in points.chunk_arguments():
        failed |= write(evaluate(*arguments))
    return failed


def _write_report(report: ChunkReport, output: Output, warned: set[str]) -> int:
    """Write a chunk's lines, each warning the first time it appears in the run, and its failures; 1 if any."""
    output.write_text(report.text)
    for warning, row in report.warnings:
        if warning not in warned:
            warned.add(warning)
            output.warn(f"row {row}", warning)
    for failure in report.failures:
        output.error(f"row {failure.row}", failure.message)
    return 1 if report.failures or not report.ok else 0


def chunk_lines(chunk: PointsChunk, result: Result, stream: PointStream) -> list[str]:
    """The chunk's output lines in row order: its points' results, and its unreadable rows in their places."""
    lines = stream.rows(chunk.rows, chunk.columns, result)
    if not chunk.failures:
        return lines
    failures = [(f.row, stream.failure(f.row, f.cells, f.message, f.column)) for f in chunk.failures]
    return [line for _, line in heapq.merge(zip(chunk.rows.tolist(), lines), failures, key=lambda pair: pair[0])]


def finite_points(arrays: Mapping[str, Any], count: int) -> np.ndarray:
    """Which of `count` points have every number of `arrays` (nested mappings of per-point arrays or scalars) finite."""
    finite = np.ones(count, dtype=bool)
    pending = list(arrays.values())
    while pending:
        value = pending.pop()
        if isinstance(value, Mapping):
            pending.extend(value.values())
        elif not isinstance(value, (str, bool, int, list, tuple)) and value is not None:
            finite &= np.isfinite(np.broadcast_to(np.asarray(value, dtype=np.float64), finite.shape))
    return finite


def row_too_long(row: int) -> str:
    """The error that ends a run at a row past MAX_ROW_BYTES (the rows before it are written)."""
    return f"row {row} is longer than {byte_size(MAX_ROW_BYTES)}, the limit for one row; adcli stops reading there"
