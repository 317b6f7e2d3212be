"""--points: one EXPR at every row of a CSV, a chunk at a time through the tape."""

from __future__ import annotations

import csv
import io
import json
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import adcli
from adcli.drivers import points, workers
from adcli.drivers.points import PointsFile, check_pointwise

from conftest import console_script

FORMULA = "(x + 2y)^2 tanh(x y)"


def closed_form(x, y):
    """(x + 2y)^2 tanh(xy) and its partial derivatives, by hand."""
    s, t = x + 2 * y, np.tanh(x * y)
    sech2 = 1 - t * t
    return s * s * t, 2 * s * t + s * s * sech2 * y, 4 * s * t + s * s * sech2 * x


def points_csv(x, y, header="x,y") -> str:
    return header + "\n" + "".join(f"{a!r},{b!r}\n" for a, b in zip(map(float, x), map(float, y)))


@pytest.fixture
def grid():
    rng = np.random.default_rng(7)
    return rng.uniform(-2, 2, 40), rng.uniform(-2, 2, 40)


def test_csv_rows_carry_inputs_value_and_partials(cli, grid):
    x, y = grid
    run = cli("grad", FORMULA, "--points", "-", "--format", "csv", input=points_csv(x, y))
    assert run.exit_code == 0, run.stderr
    table = list(csv.reader(io.StringIO(run.stdout)))
    assert table[0] == ["x", "y", "value", "d/dx", "d/dy"]
    got = np.array(table[1:], dtype=float)
    np.testing.assert_array_equal(got[:, :2], np.column_stack([x, y]))
    np.testing.assert_allclose(got[:, 2:], np.column_stack(closed_form(x, y)), rtol=1e-13, atol=1e-13)


def test_json_lines_records(cli, grid):
    x, y = grid
    run = cli("grad", FORMULA, "--points", "-", "--format", "json", input=points_csv(x, y))
    got = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["row"] for r in got] == list(range(1, 41))
    assert list(got[0]) == ["row", "at", "value", "grad"]
    value, dx, dy = closed_form(x, y)
    for record, *expected in zip(got, x, y, value, dx, dy):
        assert record["at"] == {"x": expected[0], "y": expected[1]}
        assert record["value"] == pytest.approx(expected[2], rel=1e-13, abs=1e-13)
        assert record["grad"] == pytest.approx({"x": expected[3], "y": expected[4]}, rel=1e-13, abs=1e-13)


def test_points_agree_with_one_shot_grad(cli):
    run = cli("grad", "x^3 sin(x)", "--points", "-", "--format", "plain", input="x\n0.3\n-1.7\n")
    for row, x in zip(run.stdout.splitlines(), (0.3, -1.7)):
        value, grads = adcli.grad("x^3 sin(x)", x=x)
        assert [float(v) for v in row.split()] == pytest.approx([value, grads["x"]], rel=1e-15)


@pytest.mark.parametrize("rows, chunk", [(100, 7), (64, 8), (5, 64), (1, 1)])
def test_chunk_boundaries_keep_every_row_in_order(cli, monkeypatch, rows, chunk):
    monkeypatch.setattr(points, "CHUNK_ROWS", chunk)
    x = np.linspace(-1, 1, rows)
    run = cli("grad", "x^2 y", "--points", "-", "--format", "csv", input=points_csv(x, 2 - x))
    got = np.array(list(csv.reader(io.StringIO(run.stdout)))[1:], dtype=float)
    assert got.shape == (rows, 5)
    np.testing.assert_array_equal(got[:, 0], x)
    np.testing.assert_allclose(got[:, 3], 2 * x * (2 - x), rtol=1e-15)


def test_bad_cells_are_reported_with_row_and_column_and_the_rest_go_on(cli, monkeypatch):
    monkeypatch.setattr(points, "CHUNK_ROWS", 3)
    text = "x,y\n1,2\n3,abc\n\n4,5\n6\n7,\n8,9\n"
    run = cli("grad", "x y", "--points", "-", "--format", "json", input=text)
    got = [json.loads(line) for line in run.stdout.splitlines()]
    assert run.exit_code == 1
    assert [r["row"] for r in got] == [1, 2, 4, 5, 6, 7]  # row 3 is blank
    assert got[1]["error"] == {"message": "column 2 (y): 'abc' is not a number", "column": 2}
    assert got[3]["error"]["message"] == "the row has 1 cells, but the header names 2 variables"
    assert got[4]["error"] == {"message": "column 2 (y) is empty", "column": 2}
    assert [r["value"] for r in got if "value" in r] == [2.0, 20.0, 72.0]
    assert "adcli: error: row 2: column 2 (y): 'abc' is not a number" in run.stderr


def test_bad_rows_keep_their_place_in_every_format(cli):
    text = "x\n1\nzz\n2\n"
    csv_run = cli("eval", "2x", "--points", "-", "--format", "csv", input=text)
    assert csv_run.stdout.splitlines() == ["x,value", "1.0,2.0", ",", "2.0,4.0"]  # no text in a column of numbers
    text_run = cli("eval", "2x", "--points", "-", input=text)
    assert text_run.stdout.splitlines()[1] == "row 2: error: column 1 (x): 'zz' is not a number"
    plain_run = cli("eval", "2x", "--points", "-", "--format", "plain", input=text)
    assert plain_run.stdout.splitlines() == ["2.0", "", "4.0"]


def test_crlf_bom_and_quoted_cells(cli):
    run = cli("eval", "x + y", "--points", "-", "--format", "plain", input='\ufeff"x", "y"\r\n1, 2\r\n"3","4"\r\n')
    assert (run.exit_code, run.stdout.split()) == (0, ["3.0", "7.0"])


@pytest.mark.parametrize("expr, what", [
    ("sum(x)", "sum"), ("mean(x*y)", "mean"), ("norm(x)", "norm"), ("max(x)", "max"), ("x @ y", "operator '@'"),
    ("x.T", "operator '.T'"), ("[x, y]", "array literal"), ("x * [1, 2]", "spreads an array constant"),
])
def test_programs_that_combine_points_are_refused(cli, expr, what):
    run = cli("grad", expr, "--points", "-", input="x,y\n1,2\n")
    assert run.exit_code == 1 and run.stdout == ""
    assert what in run.stderr and "--points" in run.stderr


def test_constants_may_be_reduced(cli):
    run = cli("grad", "x * sum([1, 2, 3]) + max(x, 1)", "--points", "-", "--format", "plain", input="x\n2\n0\n")
    assert run.stdout.split() == ["14.0", "7.0", "1.0", "6.0"]


def test_check_pointwise_reads_the_program_not_the_data():
    check_pointwise(adcli.compile("a = x y; sin(a) + a^2 + atan2(x, y)").program)
    with pytest.raises(adcli.ShapeError, match="combines points"):
        check_pointwise(adcli.compile("a = x y; prod(a)").program)


def test_at_values_are_the_same_at_every_point_and_get_a_gradient_per_point(cli):
    run = cli("grad", "a x^2", "--at", "a=3", "--points", "-", "--format", "csv", input="x\n1\n2\n")
    assert run.stdout.splitlines() == ["x,value,d/da,d/dx", "1.0,3.0,1.0,6.0", "2.0,12.0,4.0,12.0"]


def test_where_values_too(cli):
    run = cli("grad", "a x where a=3", "--points", "-", "--format", "plain", input="x\n2\n")
    assert run.stdout.split() == ["6.0", "2.0", "3.0"]


def test_array_values_and_double_bindings_are_refused(cli):
    assert "shape (2,)" in cli("eval", "a x", "--at", "a=[1, 2]", "--points", "-", input="x\n1\n").stderr
    run = cli("eval", "x", "--at", "x=1", "--points", "-", input="x\n1\n")
    assert run.exit_code == 1 and "bound twice" in run.stderr


def test_unbound_variable_is_an_error(cli):
    run = cli("eval", "x + z", "--points", "-", input="x\n1\n")
    assert run.exit_code == 1 and "'z' has no value" in run.stderr


def test_nth_derivative_at_points(cli):
    run = cli("grad", "x^4", "--wrt", "x", "--order", "2", "--points", "-", "--format", "json", input="x\n1\n-2\n")
    got = [json.loads(line) for line in run.stdout.splitlines()]
    assert [(r["value"], r["derivative"], r["order"]) for r in got] == [(1.0, 12.0, 2), (16.0, 48.0, 2)]


def test_eval_points_and_a_file_path(cli, tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("t\n0\n1\n")
    run = cli("eval", "exp(t)", "--points", str(path), "--format", "json")
    assert [json.loads(line) for line in run.stdout.splitlines()] == [
        {"row": 1, "at": {"t": 0.0}, "value": 1.0}, {"row": 2, "at": {"t": 1.0}, "value": float(np.exp(1.0))}]


def test_header_only_still_prints_the_header(cli):
    run = cli("grad", "x y", "--points", "-", "--format", "csv", input="x,y\n")
    assert (run.exit_code, run.stdout) == (0, "x,y,value,d/dx,d/dy\n")


@pytest.mark.parametrize("text, message", [("", "is empty"), ("x,2y\n1,2\n", "column 2 is '2y'"),
                                           ("x,x\n1,2\n", "'x' twice"), ("x,pi\n1,2\n", "'pi'")])
def test_bad_headers(cli, text, message):
    run = cli("eval", "x", "--points", "-", input=text)
    assert run.exit_code == 1 and message in run.stderr


def test_non_finite_warning_names_the_row(cli):
    run = cli("grad", "log(x)", "--points", "-", "--format", "json", input="x\n1\n-1\n0\n")
    assert run.exit_code == 0
    assert "adcli: warning: row 2: log at column 1 gives nan" in run.stderr.splitlines()
    assert [json.loads(line)["value"] for line in run.stdout.splitlines()] == [0.0, "nan", "-inf"]


@pytest.mark.parametrize("rows, warning", [
    ("-3,0.5\n2,-1\n", "row 1: sqrt at column 14 gives nan"),  # log makes a nan too, but at row 2
    ("1,0.5\n2,-1\n-4,1\n", "row 2: log at column 5 gives nan"),
    ("1,1\n0,1\n", "row 2: the derivative of sqrt at column 14 is inf here"),
    ("1,nan\n-1,1\n", "row 2: sqrt at column 14 gives nan"),  # row 1's nan is its input's
])
def test_the_warning_says_what_happened_at_the_row_it_names(cli, rows, warning):
    run = cli("grad", "x^2 log(y) + sqrt(x)", "--points", "-", "--format", "plain", input="x,y\n" + rows)
    assert run.exit_code == 0
    assert run.stderr == f"adcli: warning: {warning}\n"


CELLS = st.one_of(st.floats(allow_nan=False, width=64).map(repr),
                  st.sampled_from(["nan", "-inf", " 1 ", "1e3", ".5", "5."]))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(CELLS, CELLS), min_size=1, max_size=20), st.integers(1, 8))
def test_chunked_reading_matches_reading_each_cell(rows, chunk_rows):
    text = "a,b\n" + "".join(f"{p},{q}\n" for p, q in rows)
    reader = PointsFile(io.BytesIO(text.encode()), chunk_rows)
    chunks = [reader.parse(*each) for each in reader.line_chunks()]
    got = np.column_stack([np.concatenate([chunk.columns[name] for chunk in chunks]) for name in reader.names])
    np.testing.assert_array_equal(got, np.array([[float(p), float(q)] for p, q in rows]))
    assert np.concatenate([chunk.rows for chunk in chunks]).tolist() == list(range(1, len(rows) + 1))


# -- several processes ----------------------------------------------------------------------

def mixed_points(rows: int) -> str:
    """Rows of every kind: good ones, nan and inf results (log of y <= 0), bad cells, blank lines."""
    kinds = ["{x},{y}", "{x},{y}", "{x},-{y}", "{x},0", "{x},oops", "", "{x}", "{x},{y}"]
    x = np.linspace(-3, 3, rows)
    return "x,y\n" + "".join(kinds[n % len(kinds)].format(x=x[n], y=0.5 + n % 3) + "\n" for n in range(rows))


@pytest.mark.parametrize("fmt", ["json", "text", "plain", "csv"])
def test_points_on_several_processes_write_exactly_what_one_writes(cli, tmp_path, monkeypatch, fmt):
    path = tmp_path / "points.csv"
    path.write_text(mixed_points(3000))
    monkeypatch.setattr(points, "CHUNK_ROWS", 256)  # 12 chunks
    parallel_runs = []
    run_in_order = workers.run_in_order
    monkeypatch.setattr(workers, "run_in_order", lambda *args: parallel_runs.append(args[-1]) or run_in_order(*args))
    common = ["grad", "x^2 log(y) + sqrt(x)", "--points", str(path), "--format", fmt]
    alone, several = cli(*common, "--jobs", "1"), cli(*common, "--jobs", "2")
    assert parallel_runs == [2]
    assert alone.exit_code == 1 and alone.stdout.count("\n") > 2000
    assert alone.stderr.count("warning") >= 1 and (alone.stdout + alone.stderr).count("error") > 700
    assert (several.exit_code, several.stdout, several.stderr) == (alone.exit_code, alone.stdout, alone.stderr)


def test_a_big_points_file_takes_every_core_by_default(tmp_path):
    """From the installed command, whose default for a file of 2 MB or more is every core."""
    path = tmp_path / "points.csv"
    path.write_text(mixed_points(150_000))
    assert path.stat().st_size > points.MIN_BYTES_FOR_JOBS
    common = console_script() + ["grad", "x^2 log(y)", "--points", str(path), "--format", "json"]
    default = subprocess.run(common, capture_output=True, timeout=300)
    alone = subprocess.run(common + ["--jobs", "1"], capture_output=True, timeout=300)
    assert default.returncode == alone.returncode == 1
    assert default.stdout.count(b"\n") == 150_000 - 150_000 // 8
    assert (default.stdout, default.stderr) == (alone.stdout, alone.stderr)


@pytest.mark.parametrize("command", ["eval", "grad"])
def test_a_nan_input_elsewhere_in_the_chunk_does_not_hide_a_warning(cli, command):
    """The chunk as a whole names no operation when an operand holds a nan anywhere: the row itself does."""
    run = cli(command, "sqrt(x)", "--points", "-", "--format", "plain", input="x\n1\nnan\n-1\n4\n")
    assert run.exit_code == 0
    assert run.stderr == "adcli: warning: row 3: sqrt at column 1 gives nan\n"


@pytest.mark.parametrize("digit", ["\u0661", "\uff11", "\U0001d7cf"])  # Arabic-Indic, full-width, mathematical 1
def test_a_cell_takes_ascii_digits_only_as_at_does(cli, digit):
    """float() reads '١' as 1.0; --at and the language refuse it, and a points cell now does too."""
    run = cli("eval", "2x", "--points", "-", input=f"x\n1\n{digit}\n")
    assert run.stdout.splitlines()[1] == f"row 2: error: column 1 (x): {digit!r} is not a number"
