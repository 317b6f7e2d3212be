"""Many programs, one per line: records in order, errors in place, streaming, Unix manners."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import pty
import select
import subprocess
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import adcli
from adcli.drivers import batch
from adcli.drivers.batch import ProgramCache, numeric_where, program_lines, where_position

from conftest import console_script

MIXED = "\n".join([
    "x^2 where x=3",         # 1
    "",                      # 2: blank, counted
    "# a comment line",      # 3: counted
    "sine(x)",               # 4: unknown function
    "x*y",                   # 5: y bound by --at, x too
    "x^2 + y where x=0.5",   # 6: where wins over --at
    "(x + 1",                # 7: missing ')'
    "log(x - 10)",           # 8: nan, a warning
])
AT = ("--at", "x=2,y=5")


def records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_json_records_in_order_with_errors_in_place(cli):
    run = cli("grad", "-", *AT, "--format", "json", input=MIXED)
    assert run.exit_code == 1
    got = records(run.stdout)
    assert [r["line"] for r in got] == [1, 4, 5, 6, 7, 8]
    assert got[0] == {"line": 1, "expr": "x^2 where x=3", "value": 9.0, "grad": {"x": 6.0, "y": 0.0}}
    assert got[1] == {"line": 4, "expr": "sine(x)",
                      "error": {"message": "unknown function 'sine'; did you mean 'sin'?", "column": 1}}
    assert got[2]["value"] == 10.0 and got[2]["grad"] == {"x": 5.0, "y": 2.0}
    assert got[3]["value"] == 5.25 and got[3]["grad"] == {"x": 1.0, "y": 1.0}
    assert set(got[4]) == {"line", "expr", "error"} and got[4]["error"]["message"] == "missing ')'"
    assert got[5]["value"] == "nan" and got[5]["warnings"] == ["log at column 1 gives nan"]
    assert "adcli: warning: line 8: log at column 1 gives nan" in run.stderr.splitlines()


def test_exit_code_is_zero_when_every_line_succeeds(cli):
    run = cli("eval", "-", "--format", "plain", input="1+1\n\n# nothing\n2^10\n")
    assert (run.exit_code, run.stdout) == (0, "2.0\n\n\n1024.0\n")  # plain: a line for every input line


def test_a_failing_line_does_not_stop_the_run(cli):
    run = cli("eval", "-", "--format", "json", input="1/\n" * 3 + "7\n")
    assert run.exit_code == 1
    assert [("error" in r, r["line"]) for r in records(run.stdout)] == [(True, 1), (True, 2), (True, 3), (False, 4)]


def test_text_shows_each_line_and_errors_in_place_on_stdout(cli):
    run = cli("grad", "-", *AT, input=MIXED)
    lines = run.stdout.splitlines()
    assert lines[:3] == ["line 1: x^2 where x=3", "  value  9.0", "  d/dx   6.0"]
    failure = lines.index("line 4: error: unknown function 'sine'; did you mean 'sin'? (at column 1)")
    assert lines[failure + 1:failure + 3] == ["    sine(x)", "    ^^^^"]
    assert "adcli: error" not in run.stderr  # text shows errors once, in place


def test_csv_has_one_header_one_row_per_line_and_an_error_column(cli):
    run = cli("grad", "-", *AT, "--format", "csv", input=MIXED)
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert list(rows[0]) == ["line", "expr", "value", "d/dx", "d/dy", "error"]
    assert [row["line"] for row in rows] == ["1", "4", "5", "6", "7", "8"]
    assert rows[0]["value"] == "9.0" and rows[0]["error"] == ""
    assert rows[1]["value"] == "" and rows[1]["error"].startswith("unknown function 'sine'")
    assert "adcli: error: line 4: unknown function 'sine'" in run.stderr


def test_csv_waits_for_the_first_result_to_name_its_columns(cli):
    run = cli("grad", "-", "--format", "csv", input="sine(x)\nx^2 where x=1\n")
    assert run.stdout.splitlines()[0] == "line,expr,value,d/dx,error"
    assert run.stdout.splitlines()[1].startswith("1,sine(x),,,unknown function")


def test_csv_lines_with_fewer_or_other_variables(cli):
    run = cli("grad", "-", "--format", "csv", input="x+y where x=1,y=2\nx where x=3\nz where z=1\n")
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert rows[1]["d/dx"] == "1.0" and rows[1]["d/dy"] == ""
    assert "no column d/dz" in rows[2]["error"] and run.exit_code == 1


def test_csv_refuses_arrays_in_a_row(cli):
    run = cli("eval", "-", "--format", "csv", input="[1, 2]\n3\n")
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert "use --format json" in rows[0]["error"] and rows[1]["value"] == "3.0"


def test_plain_keeps_one_output_line_per_input_line(cli):
    run = cli("grad", "-", *AT, "--format", "plain", input=MIXED)
    assert run.stdout.splitlines() == ["9.0 6.0 0.0", "", "", "", "10.0 5.0 2.0", "5.25 1.0 1.0", "", "nan -0.125 0.0"]
    assert "adcli: error: line 7: missing ')'" in run.stderr


def test_file_option_reads_the_same_as_stdin(cli, tmp_path):
    path = tmp_path / "programs.txt"
    path.write_text(MIXED)
    from_file = cli("grad", "--file", str(path), *AT, "--format", "json")
    assert from_file.stdout == cli("grad", "-", *AT, "--format", "json", input=MIXED).stdout
    assert from_file.exit_code == 1


def test_missing_file_is_an_error(cli, tmp_path):
    run = cli("eval", "--file", str(tmp_path / "nowhere.txt"))
    assert run.exit_code == 1 and "cannot read" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("args", [("x", "--file", "f.txt"), (), ("-", "--points", "p.csv"),
                                  ("--file", "f.txt", "--points", "p.csv")])
def test_misuse_is_a_usage_error(cli, args):
    assert cli("eval", *args).exit_code == 2


def test_bad_at_value_stops_before_any_line(cli):
    run = cli("eval", "-", "--at", "x=sine(1)", input="x\n")
    assert run.exit_code == 1 and run.stdout == "" and "sin" in run.stderr


def test_wrt_and_order_apply_to_every_line(cli):
    run = cli("grad", "-", "--wrt", "x", "--order", "2", "--format", "json",
              input="x^3 where x=2\nsin(x) where x=0\ny^2 where y=1\n")
    got = records(run.stdout)
    assert [r.get("derivative") for r in got[:2]] == [12.0, 0.0]
    assert "x" in got[2]["error"]["message"] and run.exit_code == 1


def test_crlf_and_byte_order_mark_are_accepted(cli):
    run = cli("eval", "-", "--format", "json", input="\ufeffx^2 where x=3\r\n\r\n2*4\r\n")
    got = [(r["line"], r["expr"], r["value"]) for r in records(run.stdout)]
    assert got == [(1, "x^2 where x=3", 9.0), (3, "2*4", 8.0)]


def test_undecodable_bytes_fail_only_their_line(tmp_path):
    run = subprocess.run(console_script() + ["eval", "-", "--format", "json"], input=b"1+1\n2*\xff3\n4\n",
                         capture_output=True, cwd=tmp_path, timeout=60)
    got = records(run.stdout.decode())
    assert run.returncode == 1
    assert [r.get("value") for r in got] == [2.0, None, 4.0]
    assert got[1]["line"] == 2 and "UTF-8" in got[1]["error"]["message"] and got[1]["error"]["column"] == 3


def test_where_position_skips_names_that_merely_contain_where():
    assert where_position("wherever + x where x=1") == 13
    assert where_position("x # where x=1") is None
    assert where_position("anywhere") is None


def test_numeric_where_reads_only_plain_number_bindings():
    assert numeric_where(" x=1, y=-2.5e-1 ; # note") == {"x": 1.0, "y": -0.25}
    for richer in (" x=1,", " x=pi", " x=1 y=2", " x=2e", " x=1, x=2", " x=[1]", " x=- 1", "\u00a0x=1"):
        assert numeric_where(richer) is None, richer


NAMES = st.sampled_from(["x", "y", "w", "z", "a", "pi", "sin", "e"])
VALUES = st.one_of(st.floats(-1e6, 1e6).map(repr),
                   st.sampled_from(["pi/4", "-0", ".5", "2e", "[1, 2]", "sin(1)", "y", "1,"]))
CLAUSES = st.lists(st.tuples(NAMES, VALUES), min_size=0, max_size=3).map(
    lambda pairs: "" if not pairs else " where " + ", ".join(f"{name}={value}" for name, value in pairs))


def _compiled_or_error(compile_, text):
    try:
        compiled = compile_(text)
    except adcli.AdcliError as error:
        return ("error", error.message, error.span)
    where = [(name, float(value) if np.ndim(value) == 0 else np.asarray(value).tolist())
             for name, value in compiled.program.where.items()]
    return (compiled.text, compiled.variables, compiled.program.instructions, where)


@settings(max_examples=60, deadline=None)
@given(heads=st.lists(st.sampled_from(["x*y + w", "sin(x) y", "a = 2; a x", "(x + 1"]), min_size=1, max_size=4),
       clauses=st.lists(CLAUSES, min_size=4, max_size=4))
def test_the_cache_gives_exactly_what_a_fresh_compile_gives(heads, clauses):
    cache = ProgramCache(capacity=2)
    for head, clause in zip(heads * 4, clauses):
        text = head + clause
        assert _compiled_or_error(cache.compile, text) == _compiled_or_error(adcli.compile, text)


def test_repeated_programs_are_compiled_once(monkeypatch):
    calls = []
    monkeypatch.setattr(batch, "compile", lambda text: calls.append(text) or adcli.compile(text))
    cache = ProgramCache(capacity=2)
    for value in range(5):
        cache.compile(f"x^2 + y where x={value}, y=1")
    assert calls == ["x^2 + y where x=0, y=1"]
    cache.compile("a")
    cache.compile("b")  # pushes the least recently used head, x^2 + y, out
    cache.compile("x^2 + y where x=9, y=1")
    assert len(cache) == 2 and calls[-1] == "x^2 + y where x=9, y=1"


def test_program_lines_skips_blank_and_comment_lines_but_counts_them():
    stream = io.BytesIO(b"\xef\xbb\xbf# header\n\n   \nx\r\n  # indented comment\ny")
    lines = list(program_lines(stream))
    assert [(line.number, line.text) for line in lines if not line.skipped] == [(4, "x"), (6, "y")]
    assert [line.number for line in lines if line.skipped] == [1, 2, 3, 5]


def test_a_reader_sees_each_record_before_the_input_ends():
    process = subprocess.Popen(console_script() + ["grad", "-", "--format", "json"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        process.stdin.write(b"x^2 where x=3\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, "no record before stdin closed"
        assert json.loads(process.stdout.readline()) == {"line": 1, "expr": "x^2 where x=3", "value": 9.0,
                                                         "grad": {"x": 6.0}}
        process.stdin.write(b"x^3 where x=2\n")
        process.stdin.flush()
        assert json.loads(process.stdout.readline())["grad"] == {"x": 12.0}
    finally:
        process.stdin.close()
        process.wait(timeout=60)
    assert process.returncode == 0


def test_a_closed_pipe_ends_quietly(tmp_path):
    path = tmp_path / "many.txt"
    path.write_text("".join(f"x^2 + {i} where x={i}\n" for i in range(20000)))
    process = subprocess.Popen(console_script() + ["eval", "--file", str(path), "--format", "json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = process.stdout.readline()
    process.stdout.close()  # the reader goes away, as `| head -1` does
    stderr = process.stderr.read().decode()
    process.wait(timeout=60)
    assert json.loads(first)["value"] == 0.0
    assert stderr == "" and process.returncode == 141


def test_a_terminal_on_stdin_gets_a_hint():
    controller, terminal = pty.openpty()
    process = subprocess.Popen(console_script() + ["eval", "-", "--format", "plain"], stdin=terminal,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(terminal)
    try:
        os.write(controller, b"6*7\n")
        time.sleep(0.5)
        os.write(controller, b"\x04")  # Ctrl-D: the end of the input
        stdout, stderr = process.communicate(timeout=60)
    finally:
        os.close(controller)
    assert stdout.decode().split() == ["42.0"]
    assert stderr.decode().startswith("adcli: reading programs from standard input")


def test_json_is_strict_for_non_finite_results(cli):
    run = cli("grad", "-", "--format", "json", input="1/x where x=0\nsqrt(x) where x=-1\n")
    got = [json.loads(line, parse_constant=pytest.fail) for line in run.stdout.splitlines()]
    assert [(r["value"], r["grad"]["x"]) for r in got] == [("inf", "-inf"), ("nan", "nan")]
    assert all(r["warnings"] for r in got) and run.exit_code == 0


def test_digits_apply_to_batch_records(cli):
    run = cli("eval", "-", "--digits", "3", "--format", "json", input="pi\n")
    assert records(run.stdout)[0]["value"] == 3.14
    assert math.isclose(records(cli("eval", "-", "--format", "json", input="pi\n").stdout)[0]["value"], math.pi)


def test_one_decorator_line_opts_a_command_in():
    """What hessian, jacobian or check do to take `-` and --file: @command_inputs(), and a plain command to drive."""
    import click
    from click.testing import CliRunner

    from adcli.cli.app import command_inputs, drive
    from adcli.commands import calculus

    @click.command()
    @command_inputs()
    def hessian_like(inputs):
        return drive(inputs, calculus.hessian)

    runner = CliRunner()
    batch_run = runner.invoke(hessian_like, ["-", "--format", "json"], input="x^2 y where x=1, y=2\nx^\n")
    got = records(batch_run.stdout)
    assert got[0]["hessian"] == [[4.0, 2.0], [2.0, 0.0]] and got[1]["line"] == 2 and "error" in got[1]
    assert batch_run.exit_code == 1
    one_shot = runner.invoke(hessian_like, ["x^3", "--at", "x=2", "--format", "json"])
    assert json.loads(one_shot.stdout)["hessian"] == [[12.0]] and one_shot.exit_code == 0
    assert runner.invoke(hessian_like, ["x^3", "--points", "-"], input="x\n1\n").exit_code == 2  # no such option


class _CountingPipe(io.StringIO):
    """A text stream that is not a regular file and counts its flushes."""

    flushes = 0

    def flush(self) -> None:
        self.flushes += 1


def test_records_are_flushed_one_by_one_only_when_a_reader_may_be_waiting(tmp_path):
    regular = tmp_path / "programs.txt"
    regular.write_bytes(b"x\n")
    read_from_pipe, write_to_pipe = os.pipe()
    try:
        with open(regular, "rb") as file_source, os.fdopen(read_from_pipe, "rb") as pipe_source:
            flushes = {}
            for label, source in (("pipe", pipe_source), ("file", file_source), ("none", None)):
                out = _CountingPipe()
                output = batch.Output(out, io.StringIO(), echo_errors=False, source=source)
                output.write("one")
                output.write("two")
                flushes[label] = out.flushes
    finally:
        os.close(write_to_pipe)
    assert flushes == {"pipe": 2, "file": 0, "none": 2}
    with open(regular, "a", encoding="utf-8") as regular_out:  # output to a regular file: never flushed per record
        assert not batch.Output(regular_out, io.StringIO(), echo_errors=False).flush_each
