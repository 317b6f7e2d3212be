"""`check`: the AD gradient (and Hessian) beside central finite differences, tolerances, kink warnings."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import adcli
from adcli.commands import checking


def test_smooth_point_passes(cli):
    run = cli("check", "x^2 y + sin(x y)", "--at", "x=1,y=2", "--format", "json")
    assert run.exit_code == 0, run.stderr
    record = run.json()
    assert list(record) == ["expr", "ok", "max_abs_err", "max_rel_err", "grad", "finite_difference", "warnings"]
    assert record["ok"] is True and record["warnings"] == []
    assert record["grad"]["x"] == pytest.approx(4 + 2 * math.cos(2.0), rel=1e-15)
    assert record["finite_difference"]["x"] == pytest.approx(record["grad"]["x"], rel=1e-8)
    assert 0 < record["max_abs_err"] < 1e-8 and 0 < record["max_rel_err"] < 1e-8
    assert run.stderr == ""


def test_too_tight_a_tolerance_fails(cli):
    run = cli("check", "exp(sin(x))", "--at", "x=0.7", "--rtol", "0", "--atol", "0", "--format", "json")
    assert run.exit_code == 1
    assert run.json()["ok"] is False  # finite differences are never exact here


def test_kink_point_warns(cli):
    run = cli("check", "abs(x) + y^2", "--at", "x=0,y=1", "--format", "json")
    record = run.json()
    assert len(record["warnings"]) == 1 and "abs at column 1" in record["warnings"][0]
    assert run.stderr == f"adcli: warning: {record['warnings'][0]}\n"
    assert record["ok"] is True and run.exit_code == 0  # |h| - |-h| = 0: here they happen to agree


def test_non_differentiable_point_disagrees_and_warns(cli):
    run = cli("check", "relu(x)", "--at", "x=0")
    assert run.exit_code == 1
    assert "relu at column 1 is at a kink" in run.stderr
    lines = dict(line.rsplit(None, 1) for line in run.stdout.splitlines() if not line.startswith("warnings"))
    assert lines["ok"] == "no" and float(lines["max_abs_err"]) == pytest.approx(0.5)
    assert float(lines["d/dx"]) == 0.0 and float(lines["fd d/dx"]) == pytest.approx(0.5)


@pytest.mark.parametrize("text, at", [
    ("sqrt(x) + 1", "x=0"), ("max(x, y)", "x=1,y=1"), ("max([x, y, 1])", "x=1,y=0"), ("floor(x)", "x=2"),
    ("x^y", "x=0,y=0.5"), ("log(x + 1)", "x=-1"),
])
def test_domain_edges_and_ties_warn(cli, text, at):
    run = cli("check", text, "--at", at, "--format", "json")
    assert run.json()["warnings"], text
    assert "adcli: warning:" in run.stderr


def test_order_two_checks_the_hessian(cli):
    run = cli("check", "log(sum(exp(x))) * y", "--at", "x=[0.5, -1, 2],y=1.5", "--order", "2", "--format", "json")
    assert run.exit_code == 0, run.stderr
    record = run.json()
    assert record["wrt"] == ["x", "y"]
    assert np.shape(record["hessian"]) == (4, 4) == np.shape(record["finite_difference_hessian"])
    np.testing.assert_allclose(record["hessian"], record["finite_difference_hessian"], rtol=1e-6, atol=1e-8)


def test_order_two_sees_a_wrong_second_derivative_that_order_one_cannot(cli):
    # relu(x)^2 has first derivative 2 relu(x) (continuous; its differences are off by h/2 = 3e-6)
    # but a jump in the second at 0
    assert cli("check", "relu(x)^2", "--at", "x=0", "--atol", "1e-5").exit_code == 0
    assert cli("check", "relu(x)^2", "--at", "x=0", "--atol", "1e-5", "--order", "2").exit_code == 1


def test_text_csv_and_plain(cli):
    text = cli("check", "x^3", "--at", "x=2")
    labels = [line.split()[0] for line in text.stdout.splitlines()]
    assert labels == ["ok", "max_abs_err", "max_rel_err", "d/dx", "fd", "warnings"]  # "fd d/dx"
    csv = cli("check", "x^3", "--at", "x=2", "--format", "csv")
    header, row = csv.stdout.splitlines()
    assert header == "ok,max_abs_err,max_rel_err,d/dx,fd d/dx"
    assert row.split(",")[0] == "true" and float(row.split(",")[3]) == 12.0
    plain = cli("check", "x^3", "--at", "x=2", "--format", "plain")
    assert plain.stdout.split()[0] == "true"
    assert [float(v) for v in plain.stdout.split()[1:]][2:] == pytest.approx([12.0, 12.0], rel=1e-9)


def test_wrt_selects_variables(cli):
    record = cli("check", "x y", "--at", "x=2,y=3", "--wrt", "y", "--format", "json").json()
    assert record["grad"] == {"y": 2.0} and list(record["finite_difference"]) == ["y"]


def test_step_follows_the_variables_scale():
    assert checking.step_for(0.5) == checking.step_for(1.0) == pytest.approx(6.06e-6, rel=1e-2)
    assert checking.step_for(np.array([1e6, -3.0])) == pytest.approx(1e6 * checking.step_for(1.0))
    assert checking.step_for(np.array([np.inf, 2.0])) == pytest.approx(2 * checking.step_for(1.0))


def test_large_scale_variable_still_checks():
    program = adcli.compile("sin(x / 1e6) * 1e6").program
    assert checking.check(program, {"x": np.float64(3e6)}, ["x"]).ok


def test_errors_treat_matching_non_finite_entries_as_equal():
    absolute, relative = checking.errors(np.array([np.inf, np.nan, 1.0, 0.0]), np.array([np.inf, np.nan, 1.5, 0.0]))
    assert absolute.tolist() == [0.0, 0.0, 0.5, 0.0]
    assert relative.tolist() == pytest.approx([0.0, 0.0, 1 / 3, 0.0])
    absolute, relative = checking.errors(np.array([np.nan, np.inf]), np.array([1.0, 2.0]))
    assert absolute.tolist() == relative.tolist() == [np.inf, np.inf]


def test_smooth_power_at_zero_does_not_warn(cli):
    run = cli("check", "x^2 + x^0 + y^3", "--at", "x=0,y=0", "--format", "json")
    assert run.exit_code == 0 and run.json()["warnings"] == []


def test_many_programs_list_each_warning_once(cli):
    run = cli("check", "-", "--at", "x=0", "--format", "json", input="abs(x)\nx^3\n")
    assert run.exit_code == 0, run.stderr
    first, second = (json.loads(line) for line in run.stdout.splitlines())
    assert len(first["warnings"]) == 1 and second["warnings"] == []
    assert run.stderr.count("adcli: warning: line 1: abs at column 1") == 1
