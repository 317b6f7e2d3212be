"""Faults around adcli, through real processes: output that cannot be written, closed descriptors,
signals to a run with workers, inputs without end, and control characters on their way to a terminal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

from adcli.cli.streams import escape_controls
from adcli.drivers import batch, points, workers
from adcli.language import bindings

from conftest import console_script

FORMATS = ["text", "json", "csv", "plain"]

# One of each kind of run: help, version, one-shot commands, many programs, many points, usage errors.
COMMANDS = [
    ["--help"],
    ["--version"],
    ["grad", "--help"],
    ["eval", "x^2", "--at", "x=3"],
    ["grad", "x^2 y", "--at", "x=3,y=2"],
    ["grad", "x^3", "--at", "x=2", "--wrt", "x", "--order", "2"],
    ["hessian", "x^2 y", "--at", "x=1,y=2"],
    ["jacobian", "[x, 2x]", "--at", "x=1"],
    ["check", "x^2", "--at", "x=1"],
    ["descend", "(w - 3)^2", "--at", "w=0", "--wrt", "w", "--lr", "0.1", "--steps", "3"],
    ["grad", "-", "--at", "x=1"],
    ["eval", "x y", "--points", "-"],
]
STDIN = {"-": "x^2\n# a comment\nsin(x)\n", "--points": "x,y\n1,2\n3,4\n"}


def stdin_for(command: list[str]) -> bytes:
    text = STDIN["--points"] if "--points" in command else STDIN["-"] if "-" in command else ""
    return text.encode()


def with_format(command: list[str], fmt: str) -> list[str]:
    return command if command[0].startswith("-") or "--help" in command else command + ["--format", fmt]


def run_with(command: list[str], stdout, stdin=None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(console_script() + command, stdout=stdout, stderr=subprocess.PIPE, timeout=timeout,
                          input=None if stdin is not None else stdin_for(command), stdin=stdin)


# Every command in text; every other format in the three modes (one-shot, many programs, many points).
FULL_DISK = [(command, "text") for command in COMMANDS] + [
    (command, fmt) for command in (COMMANDS[4], COMMANDS[-2], COMMANDS[-1]) for fmt in FORMATS[1:]]


@pytest.mark.parametrize("command, fmt", FULL_DISK, ids=lambda part: " ".join(part) if isinstance(part, list) else part)
def test_a_full_disk_is_an_error_in_every_command_and_format(command, fmt):
    with open("/dev/full", "w") as full:
        done = run_with(with_format(command, fmt), full)
    assert (done.returncode, done.stderr.decode()) == (1, "adcli: error: cannot write output: No space left on device\n")


@pytest.mark.parametrize("command", [["grad", "-", "--at", "x=1"], ["grad", "x^2 y", "--points", "-"]], ids=" ".join)
@pytest.mark.parametrize("fmt", ["text", "csv"])
def test_a_full_disk_behind_output_is_the_same_error_not_an_internal_one(command, fmt):
    done = run_with(command + ["--format", fmt, "--output", "/dev/full"], subprocess.PIPE)
    assert (done.returncode, done.stderr.decode()) == (1, "adcli: error: cannot write output: No space left on device\n")


@pytest.mark.parametrize("option", ["--file", "--points"])
def test_output_naming_the_file_being_read_is_refused_and_the_file_kept(tmp_path, option):
    source = tmp_path / "input.csv"
    source.write_text("x,y\n1,2\n" if option == "--points" else "x^2\n")
    command = ["grad", "x y", "--points", str(source)] if option == "--points" else ["grad", "--file", str(source)]
    done = run_with(command + ["--at", "x=1"] * (option == "--file") + ["--output", str(source)], subprocess.PIPE)
    assert done.returncode == 1 and "is the file being read" in done.stderr.decode()
    assert source.read_text() == ("x,y\n1,2\n" if option == "--points" else "x^2\n")


def test_output_naming_the_parquet_file_being_read_is_refused(tmp_path):
    """A Parquet input is read a row group at a time, with no stream open to compare: its path is compared."""
    parquet = pytest.importorskip("pyarrow.parquet")
    import pyarrow

    source = tmp_path / "points.parquet"
    parquet.write_table(pyarrow.table({"x": [1.0, 2.0], "y": [3.0, 4.0]}), source)
    before = source.read_bytes()
    done = run_with(["grad", "x y", "--points", str(source), "--output", str(source)], subprocess.PIPE)
    assert done.returncode == 1 and "is the file being read" in done.stderr.decode()
    assert source.read_bytes() == before


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_closed_standard_output_is_an_error(command):
    done = subprocess.run(console_script() + command, input=stdin_for(command), stderr=subprocess.PIPE,
                          pass_fds=(), close_fds=True, preexec_fn=lambda: os.close(1), timeout=60)
    assert (done.returncode, done.stderr.decode()) == (1, "adcli: error: cannot write output: standard output is closed\n")


def test_a_usage_error_with_a_closed_output_still_says_what_is_wrong():
    done = subprocess.run(console_script() + ["grad", "--bogus"], stderr=subprocess.PIPE,
                          preexec_fn=lambda: os.close(1), timeout=60)
    assert done.returncode == 2 and "No such option '--bogus'" in done.stderr.decode()


@pytest.mark.parametrize("command", [["grad", "-", "--at", "x=1"], ["eval", "x", "--points", "-"],
                                     ["eval", "--points", "-", "x"], ["repl"]])
def test_a_closed_standard_input_is_an_error(command):
    done = subprocess.run(console_script() + command, capture_output=True, preexec_fn=lambda: os.close(0), timeout=60)
    assert (done.returncode, done.stderr.decode()) == (1, "adcli: error: cannot read standard input: it is closed\n")


def test_adcli_alone_with_a_closed_standard_input_prints_the_help():
    done = subprocess.run(console_script(), capture_output=True, preexec_fn=lambda: os.close(0), timeout=60)
    assert done.returncode == 2 and b"Usage: adcli" in done.stdout and done.stderr == b""


def test_a_closed_standard_input_does_not_matter_to_a_one_shot_command():
    done = subprocess.run(console_script() + ["eval", "6*7", "--format", "plain"], capture_output=True,
                          preexec_fn=lambda: os.close(0), timeout=60)
    assert (done.returncode, done.stdout) == (0, b"42.0\n")


def test_a_file_opened_with_a_closed_output_never_takes_its_place(tmp_path):
    """A file adcli opens must not get descriptor 1 (and then receive the output meant for stdout)."""
    programs = tmp_path / "programs.txt"
    programs.write_text("x^2\n")
    done = subprocess.run(console_script() + ["grad", "--file", str(programs), "--at", "x=1"], stderr=subprocess.PIPE,
                          preexec_fn=lambda: os.close(1), timeout=60)
    assert done.returncode == 1 and programs.read_text() == "x^2\n"


def test_a_closed_standard_error_changes_nothing_else():
    done = subprocess.run(console_script() + ["eval", "6*7", "--format", "plain"], stdout=subprocess.PIPE,
                          preexec_fn=lambda: os.close(2), timeout=60)
    assert (done.returncode, done.stdout) == (0, b"42.0\n")


def test_a_warning_that_cannot_be_written_makes_the_exit_code_1():
    with open("/dev/full", "w") as full:
        done = subprocess.run(console_script() + ["eval", "log(-1)", "--format", "plain"], stdout=subprocess.PIPE,
                              stderr=full, timeout=60)
    assert (done.returncode, done.stdout) == (1, b"nan\n")


@pytest.mark.parametrize("command", [["--help"], ["grad", "--help"], ["eval", "x", "--points", "-"]], ids=" ".join)
def test_a_reader_that_leaves_is_quiet(command):
    """`adcli ... | head -c 1`: everything after the first byte goes nowhere, without a word."""
    process = subprocess.Popen(console_script() + command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    def feed():
        try:
            process.stdin.write(b"x\n" + b"1\n" * 200_000 if "--points" in command else b"")
            process.stdin.close()
        except BrokenPipeError:
            pass

    threading.Thread(target=feed, daemon=True).start()  # the run writes while it reads
    process.stdout.read(1)
    process.stdout.close()
    assert process.wait(timeout=60) in (0, 141) and process.stderr.read() == b""


# -- workers and signals -------------------------------------------------------------------


def group_members(group: int) -> list[int]:
    """The processes whose process group is `group` (a scan of /proc)."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group and fields[0] != "Z":
                members.append(int(entry))
    return members


def wait_for(condition, timeout: float = 30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def many_programs(tmp_path):
    path = tmp_path / "many.txt"
    path.write_text("".join(f"sin(x)^2 + {i} x where x={i}\n" for i in range(40_000)))
    return path


def _default_stop_signals() -> None:
    """The child as a terminal would start it: under nohup or a background job, pytest hands down SIGHUP or
    SIGINT ignored, and adcli rightly keeps what it was given."""
    for stop in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.SIG_DFL)


def start_with_workers(path, read_output: bool) -> subprocess.Popen:
    """A `--jobs 2` run in its own process group, its output to a pipe that is read or left full."""
    process = subprocess.Popen(console_script() + ["grad", "--file", str(path), "--jobs", "2", "--format", "json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                               preexec_fn=_default_stop_signals)
    if read_output:
        threading.Thread(target=process.stdout.read, daemon=True).start()
    assert wait_for(lambda: len(group_members(process.pid)) >= 3), "the two workers never started"
    return process


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_a_stopped_run_leaves_no_worker_behind(many_programs, stop):
    process = start_with_workers(many_programs, read_output=False)  # blocked: its output pipe is full
    try:
        process.send_signal(stop)
        assert process.wait(timeout=30) == -stop
        assert wait_for(lambda: group_members(process.pid) == [], timeout=10), group_members(process.pid)
    finally:
        for pid in group_members(process.pid):
            os.kill(pid, signal.SIGKILL)


def test_ctrl_c_ends_a_run_with_workers_with_130_and_no_process_left(many_programs):
    process = start_with_workers(many_programs, read_output=True)
    try:
        os.killpg(process.pid, signal.SIGINT)  # as a terminal does: to the whole group
        assert process.wait(timeout=30) == 130
        assert wait_for(lambda: group_members(process.pid) == [], timeout=10), group_members(process.pid)
        assert "Traceback" not in process.stderr.read().decode()
    finally:
        for pid in group_members(process.pid):
            os.kill(pid, signal.SIGKILL)


def test_jobs_is_capped():
    with open(os.devnull, "rb") as empty_file_like:
        assert workers.jobs_for(empty_file_like, 99_999) == 1  # not a regular file
    assert workers.MAX_JOBS == 64


def test_jobs_far_past_the_cap_forks_only_the_cap(tmp_path):
    path = tmp_path / "programs.txt"
    path.write_bytes(b"1 + 0\n" * 100)
    with open(path, "rb") as file:
        assert workers.jobs_for(file, 99_999) == workers.MAX_JOBS
    done = subprocess.run(console_script() + ["eval", "--file", str(path), "--jobs", "99999", "--format", "plain"],
                          capture_output=True, timeout=120)
    assert (done.returncode, done.stdout.split()) == (0, [b"1.0"] * 100)


def test_the_help_documents_the_cap(cli):
    assert "At most 64" in " ".join(cli("grad", "--help").stdout.split())


# -- inputs without end --------------------------------------------------------------------

ENDLESS = [
    (["eval", "--file", "/dev/zero"], None, "the line is longer than 16 MiB"),
    (["eval", "-"], "/dev/zero", "the line is longer than 16 MiB"),
    (["eval", "-", "--format", "json", "--jobs", "2"], "/dev/zero", "the line is longer than 16 MiB"),
    (["eval", "x", "--points", "/dev/zero"], None, "the points file's header is longer than 1 MiB"),
    (["eval", "x", "--points", "-"], "/dev/zero", "the points file's header is longer than 1 MiB"),
]


@pytest.mark.parametrize("command, stdin, message", ENDLESS, ids=lambda part: " ".join(part) if isinstance(part, list) else None)
def test_an_input_without_end_is_an_error_read_no_further_than_the_limit(command, stdin, message):
    with open(stdin or os.devnull, "rb") as source:
        done = subprocess.run(console_script() + command, stdin=source, capture_output=True, timeout=60)
    assert done.returncode == 1 and message in (done.stdout + done.stderr).decode(), done.stderr[:500]
    assert len(done.stdout) < 1000


@pytest.mark.parametrize("suffix", [".csv", ".json", ".txt", ".npy"])
def test_an_at_file_linked_to_dev_zero_is_an_error(tmp_path, suffix):
    link = tmp_path / f"z{suffix}"
    link.symlink_to("/dev/zero")
    done = subprocess.run(console_script() + ["eval", "z", "--at", f"z=@{link}"], capture_output=True, timeout=60)
    expected = "not a NumPy .npy file" if suffix == ".npy" else "larger than 64 MiB, the limit for a text file"
    assert done.returncode == 1 and expected in done.stderr.decode()


def test_a_program_line_past_the_limit_is_an_error_in_its_place_and_the_last_read(tmp_path, monkeypatch, cli):
    monkeypatch.setattr(batch, "MAX_LINE_BYTES", 100)
    lines = ["x + 1", "y" * 101, "x + 2"]
    run = cli("eval", "-", "--at", "x=1", "--format", "json", input="\n".join(lines) + "\n")
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert run.exit_code == 1
    assert records[0]["value"] == 2.0 and len(records) == 2
    assert records[1]["line"] == 2 and "longer than 100 bytes" in records[1]["error"]["message"]


def test_a_line_of_exactly_the_limit_is_read():
    data = b"x" * 10 + b"\n" + b"y" * 11
    reader = batch.bounded_lines(__import__("io").BytesIO(data), limit=10)
    assert next(reader) == b"x" * 10 + b"\n"
    with pytest.raises(batch.LineTooLong) as raised:
        next(reader)
    assert raised.value.number == 2


def test_with_workers_a_line_past_the_limit_ends_the_run_as_in_one_process(tmp_path, monkeypatch, cli):
    monkeypatch.setattr(batch, "MAX_LINE_BYTES", 100)  # the forked workers inherit it
    path = tmp_path / "programs.txt"
    path.write_bytes(b"1 + 1\n" * 3000 + b"y" * 5000 + b"\n2 + 2\n")
    runs = [cli("eval", "--file", str(path), "--jobs", jobs, "--format", "json") for jobs in ("1", "2")]
    assert runs[0].stdout == runs[1].stdout and runs[0].exit_code == runs[1].exit_code == 1
    records = runs[0].stdout.splitlines()
    assert len(records) == 3001 and "longer than 100 bytes" in records[-1]
    with open(path, "rb") as file:
        assert sum(data.count(b"\n") for data, _ in workers.blocks(file, 4096)) == 3000  # nothing read after it


def test_a_points_row_past_the_limit_ends_the_run_after_the_rows_before_it(cli, monkeypatch):
    monkeypatch.setattr(points, "MAX_ROW_BYTES", 50)
    run = cli("eval", "2x", "--points", "-", "--format", "plain", input="x\n1\n2\n" + "3" * 60 + "\n4\n")
    assert run.exit_code == 1 and run.stdout.split() == ["2.0", "4.0"]
    assert "row 3 is longer than 50 bytes, the limit for one row" in run.stderr


def test_points_chunks_are_bounded_in_bytes(monkeypatch):
    monkeypatch.setattr(points, "CHUNK_BYTES", 100)
    source = __import__("io").BytesIO(b"x\n" + b"1.000000000\n" * 50)
    chunks = list(points.PointsFile(source).line_chunks())
    assert [len(lines) for lines, _ in chunks] == [9] * 5 + [5]
    assert [first for _, first in chunks] == [1, 10, 19, 28, 37, 46]


def test_a_npy_header_claiming_a_huge_shape_is_an_error_before_allocating(tmp_path, cli):
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000,), }"
    header += b" " * (117 - len(header)) + b"\n"
    path = tmp_path / "huge.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + bytes(16))
    run = cli("eval", "v", "--at", f"v=@{path}")
    assert run.exit_code == 1
    assert "its header says shape (100000000000,) of float64 (800000000000 bytes), but 16 bytes follow" in run.stderr


@pytest.mark.parametrize("array", [np.arange(6.0).reshape(2, 3), np.asfortranarray(np.arange(6.0).reshape(2, 3)),
                                   np.arange(4, dtype=np.int32), np.float64(2.5)])
def test_npy_files_still_load_exactly(tmp_path, array):
    path = tmp_path / "a.npy"
    np.save(path, array)
    assert np.array_equal(bindings.load_file(str(path)), array)


def test_a_text_file_past_the_limit_is_an_error(tmp_path, monkeypatch, cli):
    monkeypatch.setattr(bindings, "MAX_FILE_BYTES", 10)
    path = tmp_path / "a.csv"
    path.write_text("1,2,3,4,5,6\n")
    run = cli("eval", "v", "--at", f"v=@{path}")
    assert run.exit_code == 1 and "larger than" in run.stderr


# -- control characters --------------------------------------------------------------------

TITLE = "\x1b]0;PWNED\x07"


def test_escape_controls_keeps_text_and_shows_each_control():
    assert escape_controls("x\ty\n") == "x\ty\n"
    assert escape_controls(f"a{TITLE}b\r\x9b\u202e") == "a\\x1b]0;PWNED\\x07b\\x0d\\x9b\\u202e"


@pytest.mark.parametrize("fmt", FORMATS)
def test_control_characters_of_program_lines_never_reach_the_output(fmt):
    line = f"x + 1 {TITLE}\n"
    done = subprocess.run(console_script() + ["eval", "-", "--at", "x=1", "--format", fmt], input=line.encode(),
                          capture_output=True, timeout=60)
    assert done.returncode == 1
    for stream in (done.stdout, done.stderr):
        assert b"\x1b" not in stream and b"\x07" not in stream
    assert b"\\x1b" in done.stdout + done.stderr or b"\\u001b" in done.stdout


@pytest.mark.parametrize("command", [
    ["eval", f"x{TITLE}", "--at", "x=1"],
    ["eval", "x", "--at", f"x{TITLE}=1"],
    ["eval", "x", "--at", f"x=@{TITLE}.csv"],
    ["eval", "x", "--points", "-"],
    ["eval", "x", "--points", "-", "--format", "csv"],
    ["grad", f"--wrt{TITLE}"],
], ids=lambda command: command[-1].replace(TITLE, "TITLE"))
def test_control_characters_of_arguments_and_cells_are_escaped(command):
    stdin = f"x\n1\n2{TITLE}\n".encode()
    done = subprocess.run(console_script() + command, input=stdin, capture_output=True, timeout=60)
    assert done.returncode in (1, 2)
    assert b"\x1b" not in done.stdout + done.stderr and b"\x07" not in done.stdout + done.stderr


def test_with_workers_a_line_past_the_limit_that_a_block_cuts_ends_the_run_too(tmp_path, monkeypatch, cli):
    """The line starts 64 bytes before the first block's end: neither part alone passes the limit."""
    monkeypatch.setattr(batch, "MAX_LINE_BYTES", 100)
    path = tmp_path / "programs.txt"
    path.write_bytes(b"1 + 1\n" * 672 + b"y" * 150 + b"\n" + b"2 + 2\n" * 3000)
    runs = [cli("eval", "--file", str(path), "--jobs", jobs, "--format", "json") for jobs in ("1", "2")]
    assert runs[0].stdout == runs[1].stdout and runs[0].exit_code == runs[1].exit_code == 1
    assert len(runs[1].stdout.splitlines()) == 673 and "longer than 100 bytes" in runs[1].stdout.splitlines()[-1]
    with open(path, "rb") as file:
        assert sum(data.count(b"\n") for data, _ in workers.blocks(file, 4096)) == 672


@pytest.mark.parametrize("encoding, shown", [("ascii", "d/dθ"), ("latin-1", "d/d\\u03b8")])
@pytest.mark.parametrize("command, stdin", [(["grad", "-"], "θ^2 where θ=2\n"), (["repl"], "θ = 2\ngrad θ^2\n"),
                                            (["diff", "θ^2"], "")])
def test_a_stream_that_cannot_encode_a_name_still_shows_the_result(encoding, shown, command, stdin):
    """PYTHONIOENCODING=ascii (or latin-1) once failed a batch line and ended session lines in an internal error."""
    done = subprocess.run(console_script() + command, input=stdin.encode(), capture_output=True, timeout=60,
                          env={**os.environ, "PYTHONIOENCODING": encoding})
    assert done.returncode == 0 and done.stderr == b""
    assert shown.encode() in done.stdout
