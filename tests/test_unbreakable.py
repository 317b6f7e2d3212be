"""No input ends in a traceback: every error a user can reach is an AdcliError, and a batch or points run
reports a line's unexpected error in place and goes on.

The inputs that once ended in tracebacks are pinned one by one; the fuzzing tests below look for
the next ones (grammar-aware programs, byte mutations, `--at` forms, every command and format).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from adcli.engine.primitives import PRIMITIVES

ONCE_TRACEBACKS = [
    ("eval", "sum(x, axis=1/0)", "--at", "x=[1,2]"),  # OverflowError
    ("eval", "sum(x, axis=0/0)", "--at", "x=[1,2]"),  # ValueError
    ("eval", "sum(x, axis=1e999)", "--at", "x=[1,2]"),  # OverflowError
    ("grad", "sum(x, axis=1e300)", "--at", "x=[1,2]"),  # OverflowError in NumPy
    ("jacobian", "erf(y)", "--at", "y=[1,2]"),  # TypeError on a Handle
    ("hessian", "erf(y)*y", "--at", "y=[1,2]"),
    ("jacobian", "exp(x)", "--at", "x=[1,2,3],y=[1,2]"),  # ValueError: broadcast
    ("jacobian", "atan2(y, x)", "--at", "y=1e-170,x=1e-170"),  # ZeroDivisionError
    ("grad", "sum(y, axis=0)", "--at", "y=1", "--wrt", "y", "--order", "2"),  # AxisError
]


@pytest.mark.parametrize("args", ONCE_TRACEBACKS)
@pytest.mark.parametrize("fmt", ["text", "json", "csv", "plain"])
def test_inputs_that_once_ended_in_a_traceback(cli, args, fmt):
    run = cli(*args, "--format", fmt)
    assert run.exit_code in (0, 1) and "Traceback" not in run.stderr + run.stdout
    assert "internal error" not in run.stderr
    if run.exit_code == 1:
        assert run.stderr.startswith("adcli: error: ")


def good_lines(count: int, start: int) -> list[str]:
    return [f"x^2 + {number} where x = {number % 7}" for number in range(start, start + count)]


def test_one_bad_line_among_six_thousand_is_one_error_record(adcli_process):
    """The issue's run: 3,000 good lines, one that once raised OverflowError, 3,000 good: 6,001 records."""
    lines = good_lines(3000, 0) + ["sum(x, axis=1/0) where x = [1, 2]"] + good_lines(3000, 3000)
    run = adcli_process("grad", "-", "--format", "json", input="\n".join(lines) + "\n")
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert run.exit_code == 1 and len(records) == 6001
    assert [record["line"] for record in records] == list(range(1, 6002))
    assert "axis must be a whole number" in records[3000]["error"]["message"]
    assert records[6000]["grad"] == {"x": 2.0 * (5999 % 7)}


@pytest.fixture
def broken_erf(monkeypatch):
    """erf raising a plain Python exception at 13: a bug adcli did not foresee, on one input only."""
    erf = PRIMITIVES["erf"]

    def forward(x):
        if np.any(np.asarray(x) == 13.0):
            raise RuntimeError("a bug at 13")
        return erf.forward(x)

    monkeypatch.setitem(PRIMITIVES, "erf", erf._replace(forward=forward, scalar=None))


@pytest.mark.parametrize("fmt", ["json", "text", "csv", "plain"])
def test_an_unexpected_error_in_one_batch_line_is_its_error_record(cli, broken_erf, fmt):
    lines = good_lines(300, 0) + ["erf(x) where x = 13"] + good_lines(300, 300)
    run = cli("grad", "-", "--format", fmt, input="\n".join(lines) + "\n")
    assert run.exit_code == 1
    if fmt == "json":
        records = [json.loads(line) for line in run.stdout.splitlines()]
        assert len(records) == 601 and records[300]["line"] == 301
        assert "internal error (RuntimeError: a bug at 13)" in records[300]["error"]["message"]
    elif fmt == "csv":
        assert len(run.stdout.splitlines()) == 602  # the header and a row per line
    elif fmt == "text":
        assert "line 301: error: internal error (RuntimeError: a bug at 13)" in run.stdout
    assert "a bug at 13" in run.stderr or fmt == "text"


def test_an_unexpected_error_at_one_point_is_that_rows_error(cli, broken_erf, tmp_path):
    points = tmp_path / "points.csv"
    points.write_text("x\n" + "".join(f"{value}\n" for value in [1, 2, 13, 4, 13, 6]))
    run = cli("grad", "erf(x)", "--points", str(points), "--format", "json")
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert run.exit_code == 1 and [record["row"] for record in records] == [1, 2, 3, 4, 5, 6]
    assert "internal error (RuntimeError: a bug at 13)" in records[2]["error"]["message"]
    assert "error" in records[4] and records[3]["value"] == pytest.approx(0.9999999845827421)
    assert "row 3" in run.stderr and "row 5" in run.stderr


def test_an_unexpected_error_one_shot_is_one_line_and_exit_1(cli, broken_erf):
    run = cli("grad", "erf(x)", "--at", "x=13")
    assert run.exit_code == 1
    assert run.stderr.startswith("adcli: error: internal error (RuntimeError: a bug at 13); please report it")


@pytest.fixture
def hessian_too_big(monkeypatch):
    """The Hessian of 100,000 entries (75 GiB) as NumPy refuses it, without allocating anything."""
    from adcli.commands import calculus

    def refuse(*args, **kwargs):
        raise MemoryError("Unable to allocate 74.5 GiB for an array with shape (100000, 100000) and data type float64")

    monkeypatch.setattr(calculus, "hessian", refuse)


def test_not_enough_memory_is_said_as_such_not_as_a_bug_to_report(cli, hessian_too_big):
    message = "not enough memory: Unable to allocate 74.5 GiB for an array with shape (100000, 100000)"
    one = cli("hessian", "sum(x^2)", "--at", "x=[1, 2]")
    assert one.exit_code == 1 and one.stderr.startswith(f"adcli: error: {message}") and "report" not in one.stderr
    batch = cli("hessian", "-", "--at", "x=[1, 2]", "--format", "json", input="sum(x^2)\n")
    assert json.loads(batch.stdout)["error"]["message"].startswith(message)
    session = cli("repl", input="hessian sum(x^2) at x=[1, 2]\n2 + 2\n")
    assert session.stderr.startswith(f"adcli: error: {message}") and session.stdout == "4.0\n"
