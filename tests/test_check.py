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


def test_at_a_kink_ad_between_the_one_sided_slopes_is_accepted(cli):
    run = cli("check", "relu(x)", "--at", "x=0")
    assert run.exit_code == 0
    assert "relu at column 1 is at a kink" in run.stderr
    lines = dict(line.rsplit(None, 1) for line in run.stdout.splitlines() if not line.startswith("warnings"))
    assert lines["ok"] == "yes" and float(lines["max_abs_err"]) == 0.0
    assert float(lines["d/dx"]) == 0.0 and float(lines["fd d/dx"]) == pytest.approx(0.5)  # the central slope


@pytest.mark.parametrize("text, at, slope", [("relu(x)", "1e-20", 1.0), ("relu(x)", "1e-9", 1.0),
                                              ("3 max(x, 0)", "1e-12", 3.0), ("relu(x)^2", "1e-9", 2e-9)])
def test_a_kink_nearer_than_the_smallest_step_is_not_a_false_alarm(cli, text, at, slope):
    # every step of the ladder from 0.1 crosses the kink at 0, and the central differences settle on the average slope
    run = cli("check", text, "--at", f"x={at}", "--format", "json")
    record = json.loads(run.stdout)
    assert run.exit_code == 0 and record["ok"] is True and run.stderr == ""
    assert record["grad"]["x"] == pytest.approx(slope) and record["finite_difference"]["x"] == pytest.approx(slope)


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


def test_order_two_at_a_kink_of_the_gradient_accepts_ad_between_the_one_sided_slopes(cli):
    # relu(x)^2: gradient 2 relu(x), whose slopes at 0 are 0 (left) and 2 (right); AD's Hessian is 0
    run = cli("check", "relu(x)^2", "--at", "x=0", "--order", "2", "--format", "json")
    assert run.exit_code == 0 and run.json()["hessian"] == [[0.0]]


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


def test_the_first_step_follows_the_entrys_own_magnitude():
    assert checking.first_step(1e-6) == pytest.approx(1e-7)
    assert checking.first_step(-3e8) == pytest.approx(3e7)
    assert checking.first_step(0.0) == checking.first_step(np.inf) == checking.first_step(np.nan) == 0.1


@pytest.mark.parametrize("at", ["5e-324", "-5e-324", "1e-323"])
def test_the_smallest_subnormal_points_are_checked_not_an_internal_error(cli, at):
    """A tenth of 5e-324 is 0: that ladder is skipped, never divided by."""
    run = cli("check", "x^2", "--at", f"x={at}", "--format", "json")
    assert run.exit_code == 0 and json.loads(run.stdout)["ok"] is True and "internal error" not in run.stderr


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


# -- trustworthy: no false alarm at small, large and high-frequency points; a wrong rule is still caught --

SMOOTH_POINTS = [
    ("log(x)", "x=1e-6"), ("1/x", "x=1e-3"), ("sin(1000x)", "x=1"),  # the false alarms
    ("log(x)", "x=1e-300"), ("log(x)", "x=1e300"), ("sqrt(x)", "x=1e-200"), ("1/x^2", "x=1e-50"),
    ("exp(x)", "x=-700"), ("exp(x)", "x=700"), ("x^7", "x=1e40"), ("atan(x)", "x=1e8"), ("tanh(x)", "x=20"),
    ("sin(x)", "x=1e10"), ("cos(x)", "x=1e5"), ("sin(1e5 x)", "x=1"), ("cos(1e6 x) x", "x=1.3"),
    ("sigmoid(x)", "x=-30"), ("erf(x)", "x=3"), ("1/(1 + x^2)", "x=1e-8"), ("log1p(x)", "x=-0.999999"),
    ("x - sin(x)", "x=0"), ("exp(x) - x", "x=0"), ("x^2 y + sin(x y)", "x=1e-9,y=1e9"),
    ("tan(x)", "x=1.5707963"), ("sum(sin(1000 v) * v)", "v=[1, 2, 3]"), ("hypot(x, y)", "x=1e-200,y=3e-200"),
    ("prod(v) / sum(v^2)", "v=[1e-3, 2e5, -3]"), ("atan2(y, x)", "x=-1,y=1e-8"),
]


@pytest.mark.parametrize("text, at", SMOOTH_POINTS)
def test_no_false_alarm_at_small_large_and_high_frequency_points(cli, text, at):
    run = cli("check", text, "--at", at, "--format", "json")
    assert run.exit_code == 0 and run.json()["ok"] is True, run.stdout


@pytest.mark.parametrize("text, at", [("log(x) y^2", "x=1e-4,y=3"), ("sin(100 x) exp(y)", "x=1,y=-2"),
                                      ("x^3 / y", "x=1e5,y=1e-3"), ("sum(v^3) * x", "v=[1e-3, 2],x=1.5")])
def test_no_false_alarm_for_hessians_either(cli, text, at):
    run = cli("check", text, "--at", at, "--order", "2", "--format", "json")
    assert run.exit_code == 0 and run.json()["ok"] is True, run.stdout


def test_one_sided_differences_at_a_domain_edge(cli):
    """At 0 no central difference exists ((-h)^2.5 is nan); the right-hand one does."""
    program = adcli.compile("x^2 + x^2.5").program  # slope 0 from the right; x^2.5 is nan left of 0
    result = checking.check(program, {"x": 0.0}, ["x"])
    assert result.ok and result.finite_difference["x"] == pytest.approx(0.0, abs=1e-6)


@pytest.fixture
def broken_sin(monkeypatch):
    """sin's VJP off by one part in 10^4: a wrong rule, as a slip in the primitive table would be."""
    from adcli.engine.primitives import PRIMITIVES

    sin = PRIMITIVES["sin"]
    monkeypatch.setitem(PRIMITIVES, "sin", sin._replace(vjps=(lambda op, g, ans, x: g * op("cos", x) * 1.0001,),
                                                        scalar=None))


@pytest.mark.parametrize("text, at", [("sin(x)", "x=0.3"), ("sin(1000x)", "x=1"), ("log(x) * sin(x)", "x=1e-6"),
                                      ("sin(x) y", "x=1e10,y=2")])
def test_a_wrong_rule_is_still_caught(cli, broken_sin, text, at):
    run = cli("check", text, "--at", at, "--format", "json")
    assert run.exit_code == 1 and run.json()["ok"] is False, run.stdout


def test_a_wrong_rule_is_caught_in_the_hessian(cli, broken_sin):
    run = cli("check", "sin(x) * y", "--at", "x=0.7,y=2", "--order", "2", "--format", "json")
    assert run.exit_code == 1 and run.json()["ok"] is False


def test_a_wrong_rule_at_a_kink_outside_the_one_sided_slopes_is_caught(cli, monkeypatch):
    from adcli.engine.primitives import PRIMITIVES

    relu = PRIMITIVES["relu"]
    monkeypatch.setitem(PRIMITIVES, "relu", relu._replace(vjps=(lambda op, g, ans, x: g * 1.5,), scalar=None))
    run = cli("check", "relu(x)", "--at", "x=0", "--format", "json")  # 1.5 is outside [0, 1]
    assert run.exit_code == 1 and run.json()["ok"] is False
