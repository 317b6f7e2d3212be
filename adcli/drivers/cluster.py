"""--scheduler: batch and points runs on a Dask distributed cluster.

Workers read their own partitions of the input (byte ranges cut at line ends, or row ranges
of a Parquet file), run the same task a local run runs on them, and the client writes the
results in input order, a bounded window of partitions ahead, so memory stays flat on both
sides. Points partitions start on the local run's chunk boundaries, so every chunk, and so
every record and warning, is the local run's. A partition whose worker is lost is run again
by the scheduler, and its result is written once, in its place.

This module imports Dask only inside its functions: nothing of Dask loads unless a run asks
for a scheduler.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections import deque
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any, Callable, Iterable, Iterator, Sequence

from ..errors import AdcliError, SettingError

INSTALL_HINT = "pip install 'adcli[dask]'"
SCHEDULER_VARIABLE = "ADCLI_SCHEDULER"
LARGEST_LOCAL_CLUSTER = 64  # workers that `local:N` may start on this machine
BLOCK_BYTES = 1 << 26  # a partition of a text input: big enough that a task outweighs its scheduling
SMALLEST_BLOCK = 1 << 20  # ... but a small file is still cut so that every worker gets a few
PARQUET_PARTITION_CHUNKS = 16  # chunks of rows per Parquet partition at most (fewer for a small file)
LINE_PIECE = 1 << 20  # a line skipped while counting is read this much at a time, however long it is
AHEAD_PER_WORKER = 2  # partitions in flight per worker: every worker busy, the client's memory bounded
CONNECT_SECONDS = 20  # how long a client waits for a scheduler before it gives up
RETRIES = 2  # a partition that raised (not one whose worker died: the scheduler reruns those) is tried again
BLOCK_VARIABLE = "ADCLI_BLOCK_BYTES"  # the partition size of a text input, in bytes (for tests, and for tuning)
_LOCAL = re.compile(r"local(?::(.*))?")  # local:-1 and local:abc too, to be refused (not tried as host names)


def _dask_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise AdcliError(f"--scheduler needs Dask, an optional extra: {INSTALL_HINT}") from None
    return distributed


@contextlib.contextmanager
def connect(address: str) -> Iterator[Any]:
    """A Dask client for `address` (`tcp://host:port`, `host:port`), or for a cluster of N local
    worker processes started for this run (`local`, `local:N`) and stopped after it."""
    distributed = _dask_distributed()
    logging.getLogger("distributed").setLevel(logging.ERROR)  # Dask's chatter is not the run's output
    local = _LOCAL.fullmatch(address.strip())
    with contextlib.ExitStack() as stack:
        if local:
            count = local.group(1) if local.group(1) is not None else str(len(os.sched_getaffinity(0)))
            if not (count.strip().isdecimal() and 1 <= int(count) <= LARGEST_LOCAL_CLUSTER):
                raise AdcliError(f"--scheduler local:N takes 1 to {LARGEST_LOCAL_CLUSTER} workers, got {count!r}")
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=int(count), threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                host="127.0.0.1", silence_logs=logging.CRITICAL))
            target: Any = cluster
        else:
            target = address.strip()
        try:
            client = stack.enter_context(distributed.Client(target, timeout=CONNECT_SECONDS, set_as_default=False))
        except (OSError, TimeoutError, ValueError) as problem:
            raise AdcliError(f"cannot reach the Dask scheduler at '{address}': {problem}") from None
        yield client


def scheduler_address(option: str | None) -> str | None:
    """--scheduler, else $ADCLI_SCHEDULER, else None (run on this machine)."""
    address = option if option is not None else os.environ.get(SCHEDULER_VARIABLE) or None
    return address.strip() if address is not None and address.strip() else None


def workers_of(client: Any) -> int:
    return max(1, len(client.scheduler_info().get("workers", {})))


def run_in_order(client: Any, task: Callable[..., Any], partitions: Iterable[tuple], write: Callable[[Any], int],
                 ahead: int | None = None) -> int:
    """write(task(*each)) for each partition in order, the tasks run on the cluster's workers; the
    exit code: 1 if any write said so. `task` goes to every worker once, not once per partition."""
    ahead = ahead or AHEAD_PER_WORKER * workers_of(client)
    [shared_task] = client.scatter([task], broadcast=True, hash=False)
    pending: deque = deque()
    failed = 0
    try:
        for each in partitions:
            pending.append(client.submit(_call, shared_task, *each, pure=False, retries=RETRIES))
            if len(pending) > ahead:
                failed |= _write_until_stopped(_result(pending.popleft()), write)
        while pending:
            failed |= _write_until_stopped(_result(pending.popleft()), write)
    except _EndOfInput as end:
        failed |= end.failed
    finally:
        for future in pending:  # the reader left, or a task failed for good: no more work
            future.cancel()
    return failed


@dataclass(frozen=True)
class Stopped:
    """A partition's result that ends the run's input, as a line past the size limit ends a local run's:
    what came before it is written, then `error` (if any) is raised, and no later partition is written."""

    result: Any
    error: str | None = None


class _EndOfInput(Exception):
    def __init__(self, failed: int):
        self.failed = failed


def _write_until_stopped(result: Any, write: Callable[[Any], int]) -> int:
    if not isinstance(result, Stopped):
        return write(result)
    failed = write(result.result)
    if result.error is not None:
        from ..errors import BindingError
        raise BindingError(result.error)
    raise _EndOfInput(failed)


def _call(task: Callable[..., Any], *arguments: Any) -> Any:
    return task(*arguments)


def _result(future: Any) -> Any:
    """A partition's result; a partition that failed for good is an AdcliError here, never a traceback."""
    try:
        return future.result()
    except AdcliError:
        raise
    except Exception as problem:  # noqa: BLE001 - whatever a worker raised, the run ends with its message
        raise AdcliError(f"a partition failed on the cluster: {type(problem).__name__}: {problem}") from None


def numbered(partitions: Iterable[tuple]) -> Iterator[tuple]:
    """Each partition's arguments led by its number (0, 1, ...), for tasks that name their output by it."""
    return ((number, *arguments) for number, arguments in enumerate(partitions))


# -- text inputs: partitions cut at line ends ------------------------------------------------


@dataclass(frozen=True)
class LineRange:
    """Lines of a file: the byte offset of the first, how many, and the number of the first (1-based)."""

    start: int
    count: int
    first: int


def line_ranges(client: Any, path: str, begin: int, block: int | None = None) -> list[LineRange]:
    """The lines of `path` from byte `begin` on, cut into ranges of about `block` bytes, counted by the
    workers (each reads only its own block). $ADCLI_BLOCK_BYTES sets the block size, for tests."""
    setting = os.environ.get(BLOCK_VARIABLE, "").strip()
    block = block or _block_bytes(setting) or BLOCK_BYTES
    size = os.path.getsize(path)
    if not setting:
        block = max(SMALLEST_BLOCK, min(block, (size - begin) // (2 * AHEAD_PER_WORKER * workers_of(client)) + 1))
    nominal = list(range(begin, size, block)) or [begin]
    counted = client.gather(client.map(count_lines, [path] * len(nominal), nominal, [block] * len(nominal),
                                       [begin] * len(nominal), pure=False))
    ranges, first = [], 1
    for start, count in counted:
        ranges.append(LineRange(start, count, first))
        first += count
    return ranges


def _block_bytes(setting: str) -> int | None:
    """$ADCLI_BLOCK_BYTES as a number of bytes, 1 or more (None when unset); 0 or -1 made no partition at all."""
    if not setting:
        return None
    if not setting.isdecimal() or int(setting) < 1:
        raise SettingError(f"{BLOCK_VARIABLE} must be a whole number of bytes, 1 or more; it is {setting!r}")
    return int(setting)


def count_lines(path: str, nominal: int, block: int, begin: int) -> tuple[int, int]:
    """(the offset of the first line that starts at or after `nominal`, how many lines start before
    `nominal + block`). A line belongs to the block its first byte is in."""
    with open(path, "rb") as file:
        if nominal > begin:
            file.seek(nominal - 1)
            while not file.readline(LINE_PIECE).endswith(b"\n"):  # the rest of the line that started before this block
                if file.tell() >= os.fstat(file.fileno()).st_size:
                    break
        else:
            file.seek(begin)
        start = file.tell()
        limit = min(nominal + block, os.fstat(file.fileno()).st_size)
        if start >= limit:
            return start, 0
        data = file.read(limit - start - 1)  # a new line at the last byte before the limit starts no line here
        return start, 1 + data.count(b"\n")


def read_lines(path: str, start: int, count: int, limit: int) -> Iterator[bytes]:
    """`count` lines of `path` from byte `start`, as read (line ends kept); a line longer than `limit`
    comes cut after limit + 1 bytes, without its end, and is the last (the local readers' rule)."""
    with open(path, "rb") as file:
        file.seek(start)
        for _ in range(count):
            raw = file.readline(limit + 1)
            if not raw:
                return
            yield raw
            if len(raw) > limit and not raw.endswith(b"\n"):
                return


def _too_long(raw: bytes, limit: int) -> bool:
    return len(raw) > limit and not raw.endswith(b"\n")


@dataclass
class ProgramBlocks:
    """A worker's part of a batch run: its range of program lines through the local run's block task."""

    block_task: Callable[[bytes, int], Any]  # (lines as bytes, number of the first) -> rendered block
    path: str

    def __call__(self, lines: LineRange) -> Any:
        from .batch import MAX_LINE_BYTES

        read = list(read_lines(self.path, lines.start, lines.count, MAX_LINE_BYTES))
        block = self.block_task(b"".join(read), lines.first)  # a line cut short is an error record in its place
        return Stopped(block) if read and _too_long(read[-1], MAX_LINE_BYTES) else block


@dataclass
class PointBlocks:
    """A worker's part of a points run: the local run's chunks that start in its range of rows.

    A chunk that starts in the range is read whole, past the range's end if need be, so the
    chunks are exactly those of a local run.
    """

    chunk_task: Callable[[list[bytes], int], Any]  # (a chunk's lines, its first row) -> ChunkReport
    path: str
    chunk_rows: int

    def __call__(self, rows: LineRange) -> Any:
        from .points import MAX_ROW_BYTES, row_too_long

        skip = -(rows.first - 1) % self.chunk_rows  # rows before this range's first chunk boundary
        lines = read_lines(self.path, rows.start, skip + rows.count + self.chunk_rows, MAX_ROW_BYTES)
        skipped = list(islice(lines, skip))
        if skipped and _too_long(skipped[-1], MAX_ROW_BYTES):
            return []  # the local run stops in an earlier partition's chunk
        reports = []
        row = rows.first + skip
        while row < rows.first + rows.count:
            chunk = list(islice(lines, self.chunk_rows))
            if chunk and _too_long(chunk[-1], MAX_ROW_BYTES):
                if len(chunk) > 1:
                    reports.append(self.chunk_task(chunk[:-1], row))
                return Stopped(reports, row_too_long(row + len(chunk) - 1))
            if not chunk:
                break
            reports.append(self.chunk_task(chunk, row))
            row += len(chunk)
        return reports


# -- Parquet inputs: partitions of rows --------------------------------------------------------


def row_partitions(total: int, chunk_rows: int, chunks_per_partition: int | None = None) -> list[tuple[int, int]]:
    """(first, stop) row ranges (0-based) that start on chunk boundaries."""
    size = chunk_rows * (chunks_per_partition or PARQUET_PARTITION_CHUNKS)
    return [(start, min(start + size, total)) for start in range(0, total, size)]



# -- the runs ----------------------------------------------------------------------------------


def write_programs(address: str, path: str, compute: Callable, stream: Any, output: Any,
                   parts: PartFolder | None = None) -> int:
    """A batch run of the programs in `path` on the cluster: the local run's records, in order, to
    `output` or, by the workers, to the part files of `parts`."""
    from .workers import BatchBlock, write_block

    if stream.fmt == "csv":
        raise AdcliError("CSV output of programs takes its columns from the first line, so it cannot be cut "
                         "into partitions: use --format json (or text, plain) with --scheduler")
    task: Any = ProgramBlocks(BatchBlock(compute, stream, output.echo_errors), path)
    with connect(address) as client:
        partitions: Iterable[tuple] = ((lines,) for lines in line_ranges(client, path, 0) if lines.count)
        if parts is not None:
            task, partitions = parts.writing(task, None, "json"), numbered(partitions)
        failed = run_in_order(client, task, partitions, lambda block: write_block(block, output))
    output.write(stream.close())
    return failed


def write_points(address: str, compiled: Any, bindings: Any, points_source: Any, path: str, compute: Callable,
                 stream: Any, output: Any, parts: PartFolder | None = None) -> int:
    """A points run on the cluster: the local run's chunks, records and warnings, in order, to `output`
    or, by the workers, to the part files of `parts`."""
    from . import points

    def on_cluster(evaluate: Any, write: Callable[[Any], int]) -> int:
        with connect(address) as client:
            if hasattr(points_source, "row_count"):
                task: Any = ParquetChunks(evaluate)
                chunks = -(-points_source.row_count // points_source.chunk_rows)
                per_partition = max(1, min(PARQUET_PARTITION_CHUNKS,
                                           chunks // (2 * AHEAD_PER_WORKER * workers_of(client))))
                partitions: Iterable[tuple] = row_partitions(points_source.row_count, points_source.chunk_rows,
                                                             per_partition)
            else:
                task = PointBlocks(evaluate, path, points_source.chunk_rows)
                ranges = line_ranges(client, path, points_source.data_offset(path))
                partitions = ((rows,) for rows in ranges if rows.count)
            if parts is not None:
                header = evaluate.stream.header(evaluate.result(points.empty_chunk(points_source.names)))
                task, partitions = parts.writing(task, header, "csv"), numbered(partitions)
            return run_in_order(client, task, partitions, lambda reports: _write_all(reports, write))

    return points.write_points(compiled, bindings, points_source, compute, stream, output, runner=on_cluster)


@dataclass(frozen=True)
class PartFolder:
    """Where the workers write a run's records, a part file per partition, named in input order:
    `part-00000.csv`, `part-00001.csv`, ... (`.parquet` parts when the folder's name ends in .parquet)."""

    folder: str
    suffix: str

    @classmethod
    def for_output(cls, path: str, fmt: str) -> PartFolder:
        from .parquet import is_parquet

        folder = os.path.abspath(path.rstrip("/") or "/")
        suffix = ".parquet" if is_parquet(folder) else {"json": ".jsonl", "csv": ".csv"}.get(fmt, ".txt")
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as problem:
            raise AdcliError(f"cannot make the folder '{path}': {problem.strerror or problem}") from None
        return cls(folder, suffix)

    @staticmethod
    def wanted(path: str | None) -> bool:
        """--output names a folder of parts: an existing folder, or a path that ends in '/'."""
        return path is not None and (path.endswith("/") or os.path.isdir(path))

    def writing(self, task: Callable[..., Any], header: str | None, parquet_kind: str) -> Callable[..., Any]:
        return PartWriter(task, self, header, parquet_kind)


@dataclass
class PartWriter:
    """A partition's task whose records a worker writes to the partition's own part file; what comes back
    to the client is the rest (messages for standard error, the exit code)."""

    task: Callable[..., Any]
    parts: PartFolder
    header: str | None  # each CSV part starts with the run's header, so that each reads on its own
    parquet_kind: str

    def __call__(self, index: int, *arguments: Any) -> Any:
        result = self.task(*arguments)
        if isinstance(result, Stopped):
            return replace(result, result=self._written(index, result.result))
        return self._written(index, result)

    def _written(self, index: int, result: Any) -> Any:
        if isinstance(result, tuple):  # a block of programs: (records, messages, exit code)
            text, rest = result[0], ("", *result[1:])
        else:  # chunks of points
            text, rest = "".join(report.text for report in result), [replace(report, text="") for report in result]
        self._write(index, (self.header + "\n" if self.header else "") + text)
        return rest

    def _write(self, index: int, text: str) -> None:
        """Written whole, then renamed into place: a partition that runs again replaces its part."""
        final = os.path.join(self.parts.folder, f"part-{index:05d}{self.parts.suffix}")
        partial = f"{final}.{os.getpid()}.partial"
        if self.parts.suffix == ".parquet":
            from .parquet import ParquetSink
            sink: Any = ParquetSink(partial, self.parquet_kind)
        else:
            sink = open(partial, "w", encoding="utf-8", newline="")
        try:
            sink.write(text)
        finally:
            sink.close()
        os.replace(partial, final)


@dataclass
class ParquetChunks:
    """A worker's part of a Parquet points run: the chunks of its rows, each evaluated as a local run would."""

    evaluate: Any  # points._Evaluate over a ParquetPoints, which each worker opens for itself

    def __call__(self, start: int, stop: int) -> list[Any]:
        return [self.evaluate.report(chunk) for chunk in self.evaluate.points.chunks(start, stop)]


def _write_all(reports: list[Any], write: Callable[[Any], int]) -> int:
    failed = 0
    for report in reports:
        failed |= write(report)
    return failed
