"""Batch mode on several processes: the same bytes, exit code and messages as one process."""

from __future__ import annotations

import io
import json
import os
import select
import signal
import subprocess
from typing import Any

import pytest

from adcli.commands.results import Value
from adcli.drivers import points, workers
from adcli.drivers.batch import Output
from adcli.errors import AdcliError
from adcli.render.formats import LineStream
from conftest import console_script

# Every kind of line batch mode meets: results, in-band errors, warnings, comments, blank lines,
# CRLF ends, repeated heads with `where`, a definition, and bytes that are not UTF-8.
KINDS = [
    b"(sqrt(x)+1)^3 where x=2\n",
    b"x y + %d\n",
    b"sin(x) * exp(-x^2/%d)\r\n",
    b"# a comment\n",
    b"\n",
    b"sqrt(x) where x=-%d\n",
    b"(x + 1\n",
    b"a = 2; a x^2 where x=%d\n",
    b"log(x) where x=0\n",
    b"x \xff y\n",
    b"foo(x)\n",
]


def mixed_lines(count: int) -> bytes:
    lines = [KINDS[index % len(KINDS)] for index in range(count)]
    return b"\xef\xbb\xbf" + b"".join(line % (index % 7 + 1) if b"%d" in line else line
                                       for index, line in enumerate(lines))


def run_adcli(*args: str, cwd) -> tuple[int, str, str]:
    done = subprocess.run(console_script() + list(args), capture_output=True, text=True, cwd=cwd, timeout=300)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("workers") / "programs.txt"
    path.write_bytes(mixed_lines(6000))
    assert path.stat().st_size > workers.MIN_BYTES  # so the default takes several processes
    return path


@pytest.mark.parametrize("fmt", ["json", "text", "plain", "csv"])
def test_several_processes_write_exactly_what_one_writes(big_file, fmt):
    common = ["grad", "--file", str(big_file), "--at", "y=0.5", "--format", fmt]
    alone = run_adcli(*common, "--jobs", "1", cwd=big_file.parent)
    assert alone[0] == 1 and alone[1].count("\n") > 3000  # some lines fail: exit code 1
    assert run_adcli(*common, "--jobs", "2", cwd=big_file.parent) == alone
    assert run_adcli(*common, "--jobs", "3", cwd=big_file.parent) == alone
    assert run_adcli(*common, cwd=big_file.parent) == alone


def test_records_keep_their_line_numbers(big_file):
    code, stdout, _ = run_adcli("eval", "--file", str(big_file), "--at", "x=3,y=0.5", "--format", "json",
                                "--jobs", "2", cwd=big_file.parent)
    numbers = [json.loads(line)["line"] for line in stdout.splitlines()]
    program_lines = [n for n in range(1, 6001) if KINDS[(n - 1) % len(KINDS)] not in (b"# a comment\n", b"\n")]
    assert numbers == program_lines


def test_standard_input_from_a_file_is_shared_out_too(big_file):
    with open(big_file, "rb") as stdin:
        done = subprocess.run(console_script() + ["eval", "-", "--at", "x=3,y=0.5", "--format", "plain"],
                              stdin=stdin, capture_output=True, timeout=300)
    alone = run_adcli("eval", "--file", str(big_file), "--at", "x=3,y=0.5", "--format", "plain", "--jobs", "1",
                      cwd=big_file.parent)
    assert (done.returncode, done.stdout.decode(), done.stderr.decode()) == alone


def test_a_pipe_stays_line_by_line_with_jobs_too(tmp_path):
    text = mixed_lines(300).decode("utf-8", errors="surrogateescape")
    common = console_script() + ["grad", "-", "--at", "x=2,y=0.5", "--format", "json"]
    data = text.encode("utf-8", errors="surrogateescape")
    several = subprocess.run(common + ["--jobs", "2"], input=data, capture_output=True, cwd=tmp_path, timeout=300)
    alone = subprocess.run(common, input=data, capture_output=True, cwd=tmp_path, timeout=300)
    assert (several.returncode, several.stdout, several.stderr) == (alone.returncode, alone.stdout, alone.stderr)


def test_jobs_must_be_positive(cli):
    run = cli("grad", "-", "--jobs", "0", input="x\n")
    assert run.exit_code == 2 and "--jobs" in run.stderr


def test_blocks_end_at_line_ends_and_know_their_first_line():
    data = b"".join(b"x + %d\n" % n for n in range(1000)) + b"y"  # the last line has no end
    found = list(workers.blocks(io.BytesIO(data), 100))
    assert b"".join(block for block, _ in found) == data
    assert all(block.endswith(b"\n") for block, _ in found[:-1])
    for block, first_line in found:
        assert block.startswith(b"x + %d\n" % (first_line - 1)) or block == b"y"


def test_a_line_longer_than_a_block_stays_whole():
    long_line = b"x" + b" + x" * 100 + b"\n"
    found = list(workers.blocks(io.BytesIO(b"y\n" + long_line + b"z\n"), 8))
    assert found == [(b"y\n" + long_line, 1), (b"z\n", 3)]


def test_small_files_pipes_and_buffers_take_one_process(tmp_path):
    small = tmp_path / "small.txt"
    small.write_bytes(b"x\n" * 100)
    big = tmp_path / "big.txt"
    big.write_bytes(b"x\n" * workers.MIN_BYTES)
    with open(small, "rb") as small_file, open(big, "rb") as big_file:
        assert workers.jobs_for(small_file, None) == 1
        assert workers.jobs_for(big_file, None) == len(os.sched_getaffinity(0))
        assert workers.jobs_for(big_file, None, min_bytes=4 * workers.MIN_BYTES) == 1
        assert workers.jobs_for(small_file, 3) == 3
    assert workers.jobs_for(io.BytesIO(b"x\n" * workers.MIN_BYTES), None) == 1
    assert workers.jobs_for(io.BytesIO(b"x\n"), 2) == 1
    read, write = os.pipe()
    with os.fdopen(read, "rb") as pipe, os.fdopen(write, "wb"):
        assert workers.jobs_for(pipe, None) == 1
        assert workers.jobs_for(pipe, 2) == 1


def test_csv_output_of_programs_takes_one_process(cli, big_file, monkeypatch):
    """Its header comes from the first result, so its lines depend on each other."""
    def refuse(*args, **kwargs):
        raise AssertionError("CSV output of programs ran in several processes")

    monkeypatch.setattr(workers, "run_in_order", refuse)
    run = cli("grad", "--file", str(big_file), "--at", "x=3,y=0.5", "--format", "csv", "--jobs", "2")
    assert run.stdout.startswith("line,expr,value,") and "AssertionError" not in run.stderr


def test_a_small_file_gets_small_blocks(tmp_path):
    path = tmp_path / "file.txt"
    path.write_bytes(b"x\n" * 20_000)
    with open(path, "rb") as file:
        assert workers.block_size(file, 2) == 40_000 // 8
        file.read(30_000)
        assert workers.block_size(file, 2) == workers.SMALLEST_BLOCK
    assert workers.block_size(io.BytesIO(b"x\n"), 2) == workers.BLOCK_BYTES


def test_the_blocks_run_in_worker_processes(tmp_path):
    path = tmp_path / "file.txt"
    path.write_bytes(b"x + 1\n" * 4000)

    def compute(compiled):
        return Value(compiled.text, float(os.getpid()))

    out, err = io.StringIO(), io.StringIO()
    with open(path, "rb") as file:
        code = workers.write_results_in_parallel(file, compute, LineStream("plain"), Output(out, err, False), 2)
    pids = [float(line) for line in out.getvalue().splitlines()]
    assert code == 0 and err.getvalue() == "" and len(pids) == 4000
    assert os.getpid() not in pids and len(set(pids)) == 2


def test_the_help_gives_the_size_from_which_all_cores_work(cli):
    run = cli("grad", "--help")
    help_text = " ".join(run.stdout.split())
    assert f"every core for a file of {workers.MIN_BYTES // 1024} KB or more of programs" in help_text
    assert f"{points.MIN_BYTES_FOR_JOBS // 2**20} MB or more of points" in help_text


def test_with_jobs_a_pipe_still_sees_each_result_as_its_line_comes_in(tmp_path):
    process = subprocess.Popen(console_script() + ["eval", "-", "--jobs", "2", "--format", "plain"], cwd=tmp_path,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        process.stdin.write(b"2 x where x=3\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], 60)  # the input is still open
        assert ready and process.stdout.readline() == b"6.0\n"
    finally:
        process.communicate(timeout=60)  # closes the input
    assert process.returncode == 0


def test_a_worker_that_dies_is_an_error_not_a_hang(tmp_path):
    path = tmp_path / "file.txt"
    path.write_bytes(b"x + 1\n" * 4000)

    def compute(compiled):
        os._exit(9)  # as if the kernel had killed the worker

    with open(path, "rb") as file, pytest.raises(AdcliError, match="worker process stopped"):
        workers.write_results_in_parallel(file, compute, LineStream("plain"), Output(io.StringIO(), io.StringIO(),
                                                                                     False), 2)


def _threads_setting(_: int) -> str:
    return os.environ.get("ADCLI_THREADS", "unset")


@pytest.mark.parametrize("setting, expected", [(None, "1"), ("3", "3")])
def test_worker_processes_sweep_points_on_one_thread_each_unless_told(monkeypatch, setting, expected):
    """--jobs N processes already share the cores: two threads each would make 2N on N cores."""
    if setting is None:
        monkeypatch.delenv("ADCLI_THREADS", raising=False)
    else:
        monkeypatch.setenv("ADCLI_THREADS", setting)
    seen: list[str] = []
    output = Output(io.StringIO(), io.StringIO(), False)
    workers.run_in_order(_threads_setting, [(k,) for k in range(4)], lambda found: seen.append(found) or 0, output, 2)
    assert seen == [expected] * 4
    assert os.environ.get("ADCLI_THREADS") == setting  # the parent's own setting is left as it was


def _sigint_state(_: int) -> tuple[bool, Any]:
    return signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, set()), signal.getsignal(signal.SIGINT)


def test_workers_are_forked_with_ctrl_c_blocked_and_ignore_it():
    """A Ctrl-C between a worker's fork and its start-up used to end the worker with a traceback of its
    own: the workers come from the fork with SIGINT blocked (so nothing can arrive before they ignore
    it), while the parent blocks it only for the forking moment."""
    seen: list[Any] = []
    output = Output(io.StringIO(), io.StringIO(), False)
    workers.run_in_order(_sigint_state, [(k,) for k in range(4)], lambda found: seen.append(found) or 0, output, 2)
    assert seen == [(True, signal.SIG_IGN)] * 4
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())
