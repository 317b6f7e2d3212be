"""Batch and points modes on every core: blocks of input go to forked worker processes, their text comes back in order.

Parsing with Lark holds the GIL, and so does writing numbers as text (most of points mode's
time), so threads cannot share this work; processes can. Forked workers start with the
parser, the command and its options already loaded, and each keeps its own caches
(tests/benchmarks/batch_rate.py measures the gain). The output is byte for byte one process's: each block's
records and messages are rendered in a worker and written by the parent in input order, at
most a few blocks ahead of the writer, so memory stays flat.
"""

from __future__ import annotations

import io
import os
import signal
import stat
import sys
from collections import deque
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Iterable, Iterator, TypeVar

from . import batch
from .batch import Compute, Output, ProgramCache, program_lines, results, write_results
from ..errors import AdcliError
from ..render.formats import LineStream

# Input per task: enough short programs that sending and answering a task is a small part of its
# time; less for a small file, so that every worker gets a few blocks.
BLOCK_BYTES = 1 << 16
SMALLEST_BLOCK = 1 << 12
# Files smaller than this run in one process unless --jobs asks otherwise: starting the workers
# would cost more than they save.
MIN_BYTES = 1 << 15
# Tasks in flight per worker: enough to keep every worker busy, few enough to keep memory flat.
AHEAD = 2
# --jobs above this means this many: every process is forked at once, and more would only crowd the machine.
MAX_JOBS = 64

T = TypeVar("T")


def jobs_for(source: BinaryIO, asked: int | None, min_bytes: int = MIN_BYTES) -> int:
    """How many processes for a regular file: --jobs if given, else every usable core when it is big.

    A pipe or a terminal is read in one process, so that each result leaves as soon as its
    input is in.
    """
    remaining = _bytes_left(source)
    if remaining is None or not _can_fork():
        return 1
    if asked is not None:
        return min(asked, MAX_JOBS)
    return 1 if remaining < min_bytes else len(os.sched_getaffinity(0))


def _bytes_left(source: BinaryIO) -> int | None:
    """What is left to read of a regular file; None for a pipe, a terminal or a stream with no file."""
    try:
        status = os.fstat(source.fileno())
        return status.st_size - source.tell() if stat.S_ISREG(status.st_mode) else None
    except (AttributeError, OSError, ValueError):  # not backed by a file (a test's buffer)
        return None


def block_size(source: BinaryIO, jobs: int) -> int:
    """BLOCK_BYTES, or less for a small file: a few blocks for every worker."""
    remaining = _bytes_left(source)
    if remaining is None:
        return BLOCK_BYTES
    return max(SMALLEST_BLOCK, min(BLOCK_BYTES, remaining // (4 * jobs)))


def _can_fork() -> bool:
    return sys.platform.startswith("linux")


@dataclass
class BatchBlock:
    """What every worker does to a block of program lines: the same as one process does to the whole input."""

    compute: Compute
    stream: LineStream
    echo_errors: bool
    cache: ProgramCache = field(default_factory=ProgramCache)  # each worker fills its own copy

    def __call__(self, data: bytes, first_line: int) -> tuple[str, str, int]:
        """(standard output text, standard error text, exit code) of one block of lines."""
        out, err = io.StringIO(), io.StringIO()
        lines = program_lines(io.BytesIO(data), first_line)
        code = write_results(results(lines, self.compute, self.cache), self.stream, Output(out, err, self.echo_errors))
        return out.getvalue(), err.getvalue(), code


_task: Callable[..., Any] | None = None  # this worker process's task, set once as it starts (None in the parent)


def _start_worker(task: Callable[..., Any], parent: int) -> None:
    global _task
    _task = task
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: no traceback per worker
    # (it came blocked from the fork, see `_sigint_held`, and stays so: ignored, a pending one is dropped)
    from ..backends.chunked import THREADS_VARIABLE
    os.environ.setdefault(THREADS_VARIABLE, "1")  # the processes share the cores: a chunk sweep each, not two threads
    _end_with(parent)


class _sigint_held:
    """SIGINT blocked in this thread meanwhile, so a worker forked meanwhile starts with it blocked.

    A Ctrl-C between a worker's fork and its `_start_worker` (which ignores SIGINT) would
    otherwise stop it with a traceback of its own. A Ctrl-C that comes meanwhile waits, and
    this process gets it as the block ends.
    """

    def __enter__(self) -> None:
        self.before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})

    def __exit__(self, *exception: Any) -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, self.before)


PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when the thread that forked it ends


def _end_with(parent: int) -> None:
    """Have Linux kill this worker as soon as its parent ends, however it ends (SIGTERM, SIGHUP, SIGKILL, a
    crash): else a worker blocked on writing its result to a parent that is gone stays alive forever."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0 or os.getppid() != parent:
        os._exit(1)  # the parent ended before the request was made (or it cannot be made): end now


def _run_task(arguments: tuple) -> Any:
    assert _task is not None, "_run_task runs in a worker process"
    return _task(*arguments)


def blocks(source: BinaryIO, size: int) -> Iterator[tuple[bytes, int]]:
    """(whole lines of about `size` bytes, the number of the first of them)."""
    first_line = 1
    while True:
        data = _read(source, size)
        if not data:
            return
        if not data.endswith(b"\n"):
            last = data.rfind(b"\n") + 1  # where the line the block cut starts
            data += _read(source, batch.MAX_LINE_BYTES + 1, whole_line=True)
            if len(data) - last - data.endswith(b"\n") > batch.MAX_LINE_BYTES:
                # Too long, counting the part before the cut: the worker says so in its place, and no more is read.
                yield data[:last + batch.MAX_LINE_BYTES + 1], first_line
                return
        yield data, first_line
        first_line += data.count(b"\n")


def _read(source: BinaryIO, size: int, whole_line: bool = False) -> bytes:
    try:
        return source.readline(size) if whole_line else source.read(size)
    except OSError as problem:
        raise AdcliError(f"cannot read the input: {problem.strerror or problem}") from None


def write_results_in_parallel(source: BinaryIO, compute: Compute, stream: LineStream, output: Output,
                              jobs: int) -> int:
    """write_results(results(program_lines(source), compute), stream, output), on `jobs` processes."""
    task = BatchBlock(compute, stream, output.echo_errors)
    return run_in_order(task, blocks(source, block_size(source, jobs)), lambda block: write_block(block, output),
                        output, jobs)


def run_in_order(task: Callable[..., T], arguments: Iterable[tuple], write: Callable[[T], int], output: Output,
                 jobs: int) -> int:
    """write(task(*each)) for each of `arguments` in order, the tasks run on `jobs` forked processes;
    the exit code: 1 if any write said so. The workers inherit everything loaded so far."""
    import multiprocessing  # here: an import that only a big input pays for
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    output.out.flush()  # a worker that flushes an inherited buffer on exit would write it twice
    output.err.flush()
    failed = 0
    arguments = iter(arguments)
    stopped: AdcliError | None = None  # the input could not be read on: after what came before it is written
    # concurrent.futures rather than multiprocessing.Pool: a worker that dies (killed, out of
    # memory) raises BrokenProcessPool instead of leaving its task's result to wait forever.
    pool = ProcessPoolExecutor(jobs, multiprocessing.get_context("fork"), _start_worker, (task, os.getpid()))
    finished = False
    pending: deque = deque()
    try:
        while stopped is None:
            try:
                each = next(arguments, None)
            except AdcliError as problem:
                stopped = problem
                break
            if each is None:
                break
            with _sigint_held():
                pending.append(pool.submit(_run_task, each))  # the first submit forks the workers
            if len(pending) > AHEAD * jobs:
                failed |= write(pending.popleft().result())
        while pending:
            failed |= write(pending.popleft().result())
        finished = True
    except BrokenProcessPool:
        raise AdcliError("a worker process stopped unexpectedly (out of memory?); "
                         "try --jobs 1 to run in one process") from None
    finally:
        # After a failure (the reader left, the output failed, Ctrl-C) no task is waited for: the
        # workers go when the pool's manager tells them, or with this process.
        pool.shutdown(wait=finished, cancel_futures=True)
    if stopped is not None:
        raise stopped
    return failed


def write_block(block: tuple[str, str, int], output: Output) -> int:
    out, err, code = block
    output.write_text(out)
    output.err.write(err)
    return code
