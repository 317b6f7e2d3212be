"""The functions losses are made of (softmax, log_softmax, logsumexp, clip, gelu, silu, elu, leaky_relu),
keepdims, and indexing: against PyTorch float64 values pinned here and in losses_torch.json (written by
tests/reference/losses_torch.py, which compares the same cases with torch itself), through the CLI, and
every error a user can meet. The table-driven checks (finite differences, first and second order) are
in test_primitives.py."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import adcli

PINNED = json.loads((Path(__file__).parent / "losses_torch.json").read_text())["cases"]


def as_array(value):
    """JSON numbers back to float64, the strings "nan", "inf", "-inf" included."""
    if isinstance(value, list):
        return np.array([as_array(item) for item in value], dtype=np.float64)
    return float(value)


def assert_agrees(ours, theirs, what):
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape}, torch {theirs.shape}"
    finite = np.isfinite(theirs)
    scale = max(1.0, float(np.max(np.abs(theirs[finite]), initial=0.0)))
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=1e-12, atol=1e-15 * scale, err_msg=what)
    np.testing.assert_array_equal(ours[~finite], theirs[~finite], err_msg=what)


@pytest.mark.parametrize("case", PINNED, ids=[f"{c['kind']}: {c['text']}" for c in PINNED])
def test_value_gradient_and_hessian_agree_with_torch(case):
    bindings = {name: as_array(value) for name, value in case["bindings"].items()}
    program = adcli.compile(case["text"])
    value, grads = program.grad(case["wrt"], **bindings)
    assert_agrees(value, as_array(case["value"]), "value")
    for name in case["wrt"]:
        assert_agrees(grads[name], as_array(case["grad"][name]), f"d/d{name}")
    _, _, hessian = program.hessian(case["wrt"], **bindings)
    assert_agrees(hessian, as_array(case["hessian"]), "Hessian")


def test_pinned_cases_cover_every_new_function_and_each_kind_of_point():
    texts = " ".join(case["text"] for case in PINNED)
    for name in ("softmax(", "log_softmax(", "logsumexp(", "clip(", "gelu(", "silu(", "elu(", "leaky_relu(",
                 "keepdims=1", "[0]", "[-1]", "[1, 2]", "[1:3]", "[:, 0]", "[::2]", "[::-1]"):
        assert name in texts
    assert {case["kind"] for case in PINNED} == {"ordinary", "bounds", "ties", "large"}


# -- the SPEC's promises, one by one, with torch's numbers written out -------------------------------

def test_logsumexp_is_stable_and_its_gradient_is_the_softmax():
    value, grads = adcli.grad("logsumexp(z)", z=np.array([1000.0, 1001.0, 1002.0]))
    assert value == pytest.approx(1002.4076059644444, rel=1e-15)  # torch.logsumexp
    np.testing.assert_allclose(grads["z"], [0.09003057317037612, 0.24472847105478585, 0.6652409557747898], rtol=1e-12)
    written_out, spelled = adcli.grad("log(sum(exp(z)))", z=np.array([1000.0, 1001.0, 1002.0]))
    assert written_out == math.inf and np.all(np.isnan(spelled["z"]))  # what the issue met, by hand


def test_logsumexp_of_infinities_as_torch():
    assert adcli.evaluate("logsumexp(z)", z=np.array([-math.inf, -math.inf])) == -math.inf
    assert adcli.evaluate("logsumexp(z)", z=np.array([math.inf, 1.0])) == math.inf
    assert math.isnan(adcli.evaluate("logsumexp(z)", z=np.array([math.nan, 1.0])))


def test_softmax_of_a_scalar_is_one_as_torch():
    assert adcli.grad("softmax(x)", x=3.0) == (1.0, {"x": 0.0})
    assert adcli.grad("log_softmax(x, axis=0)", x=3.0) == (0.0, {"x": 0.0})


@pytest.mark.parametrize("x, constant, variable", [
    (-1.0, 0.0, 1.0), (2.0, 0.0, 1.0), (0.5, 1.0, 1.0), (-2.0, 0.0, 0.0), (3.0, 0.0, 0.0)])
def test_clip_gradient_at_and_outside_the_bounds(x, constant, variable):
    """Constant bounds: PyTorch 2.14's clamp, 0 at the bounds; bounds that are variables: clamp with tensor bounds."""
    assert adcli.grad("clip(x, -1, 2)", x=x)[1]["x"] == constant
    _, grads = adcli.grad("clip(x, lo, hi)", x=x, lo=-1.0, hi=2.0)
    assert grads["x"] == variable
    assert grads["lo"] == float(x < -1.0) and grads["hi"] == float(x > 2.0)


def test_clip_with_crossed_bounds_gives_the_upper_one_as_torch():
    value, grads = adcli.grad("clip(x, lo, hi)", x=0.5, lo=2.0, hi=-1.0)
    assert (value, grads) == (-1.0, {"x": 0.0, "lo": 0.0, "hi": 1.0})


@pytest.mark.parametrize("text, x, value, gradient", [  # torch float64
    ("gelu(x)", 0.7, 0.5306254434438489, 0.9766141011336599),
    ("gelu(x)", -3.0, -0.00404969409489031, -0.01194564720418392),
    ("silu(x)", 0.7, 0.46773144051771626, 0.8233867834733425),
    ("silu(x)", -800.0, -0.0, -0.0),
    ("elu(x)", -0.7, -0.5034146962085905, 0.4965853037914095),
    ("elu(x, alpha=2)", -0.7, -1.006829392417181, 0.993170607582819),
    ("elu(x)", 0.0, 0.0, 1.0),
    ("leaky_relu(x)", -0.7, -0.006999999999999999, 0.01),
    ("leaky_relu(x, slope=0.2)", 0.0, 0.0, 0.2),
    ("leaky_relu(x, 0.2)", 1.5, 1.5, 1.0),
])
def test_activations_as_torch(text, x, value, gradient):
    got_value, grads = adcli.grad(text, x=x)
    assert got_value == pytest.approx(value, rel=1e-15, abs=1e-300) and math.copysign(1, got_value) == math.copysign(1, value)
    assert grads["x"] == pytest.approx(gradient, rel=1e-14, abs=1e-300)


def test_elu_second_derivative_is_zero_at_zero_as_torch():
    assert adcli.compile("elu(x, alpha=0.5)").derivative("x", 2, x=0.0)[1] == 0.0
    assert adcli.compile("elu(x, alpha=0.5)").derivative("x", 2, x=-1.0)[1] == pytest.approx(0.5 * math.exp(-1.0))


@pytest.mark.parametrize("text, order, expected", [
    ("logsumexp([x, 2x, 0])", 3, None),
    ("softmax([x, x^2, 1])[1]", 3, None),
    ("log_softmax([x, 0.5x, 1])[0]", 4, None),
    ("gelu(x)", 4, None),
    ("silu(x) + clip(x, -3, 3)", 3, None),
    ("elu(x - 2) * leaky_relu(x, slope=0.3)", 3, None),
    ("sum([x, x^2, x^3][::-1][:2] * [1, 2])", 3, 6.0),
])
def test_nth_derivatives_through_the_new_functions_match_differences_of_the_order_below(text, order, expected):
    program = adcli.compile(text)
    x, step = 0.8, 1e-4
    exact = program.derivative("x", order, x=x)[1]
    below = [program.derivative("x", order - 1, x=x + sign * step)[1] for sign in (1, -1)]
    assert exact == pytest.approx((below[0] - below[1]) / (2 * step), rel=1e-6, abs=1e-8)
    if expected is not None:
        assert exact == pytest.approx(expected)


# -- keepdims -----------------------------------------------------------------------------------

@pytest.mark.parametrize("function", ["sum", "mean", "prod", "norm", "max", "min", "logsumexp"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_keepdims_keeps_the_reduced_axes_and_the_same_numbers(function, axis):
    x = np.array([[0.5, -1.5, 2.0], [1.0, 0.25, -0.75]])
    keyword = "" if axis is None else f", axis={axis}"
    kept, kept_grads = adcli.grad(f"sum({function}(x{keyword}, keepdims=1) * w)", x=x, w=np.array([[1.5, -2.0, 0.5]]))
    plain = adcli.evaluate(f"{function}(x{keyword})", x=x)
    shape = np.shape(adcli.evaluate(f"{function}(x{keyword}, keepdims=1)", x=x))
    assert shape == ((1, 1) if axis is None else (1, 3) if axis == 0 else (2, 1))
    np.testing.assert_array_equal(np.reshape(adcli.evaluate(f"{function}(x{keyword}, keepdims=1)", x=x), np.shape(plain)),
                                  plain)
    assert np.shape(kept_grads["x"]) == x.shape and np.all(np.isfinite(kept_grads["x"]))


def test_keepdims_lets_a_row_broadcast_against_its_matrix():
    value = adcli.evaluate("z - max(z, axis=1, keepdims=1)", z=np.array([[1.0, 3.0], [5.0, 4.0]]))
    np.testing.assert_array_equal(value, [[-2.0, 0.0], [0.0, -1.0]])


def test_keepdims_0_is_the_plain_reduction():
    assert adcli.compile("sum(x, axis=0, keepdims=0)").program == adcli.compile("sum(x, axis=0)").program._replace(
        text="sum(x, axis=0, keepdims=0)")


# -- indexing -----------------------------------------------------------------------------------

A = np.arange(12.0).reshape(3, 4)


@pytest.mark.parametrize("text, index", [
    ("a[0]", (0,)), ("a[-1]", (-1,)), ("a[1, 2]", (1, 2)), ("a[1:3]", (slice(1, 3),)), ("a[:, 0]", (slice(None), 0)),
    ("a[::2]", (slice(None, None, 2),)), ("a[::-1]", (slice(None, None, -1),)), ("a[-1, ::-2]", (-1, slice(None, None, -2))),
    ("a[1:, 1:3]", (slice(1, None), slice(1, 3))), ("a[:2][1]", (1,)), ("a [2]", (2,)), ("a[:, :]", ()), ("a[3:]", (slice(3, None),)),
])
def test_indexing_follows_numpy_and_its_gradient_scatters_into_zeros(text, index):
    value, grads = adcli.grad(text, a=A)
    np.testing.assert_array_equal(value, A[index])
    expected = np.zeros_like(A)
    expected[index] += 1.0
    np.testing.assert_array_equal(grads["a"], expected)


def test_indexing_binds_like_a_call_and_composes():
    assert adcli.evaluate("2a[1, 1]^2", a=A) == 50.0  # 2 * (a[1, 1] ^ 2)
    assert adcli.evaluate("-a[0][1]", a=A) == -1.0
    assert adcli.evaluate("a.T[1, 2]", a=A) == 9.0
    assert adcli.evaluate("(a @ a.T)[1, 1]", a=A) == 126.0
    assert adcli.evaluate("[1, 2, 3][-1]") == 3.0
    assert adcli.evaluate("sum(a, axis=0)[::-1][0]", a=A) == 21.0
    assert adcli.evaluate("r = a[1]; r[0] + r[-1]", a=A) == 11.0


def test_indexing_is_differentiable_twice():
    _, _, hessian = adcli.compile("a[0]^2 * a[-1] + sum(a[::2])^2").hessian(a=np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(hessian, [[2 * 3.0 + 2, 0, 2 * 1.0 + 2], [0, 0, 0], [2 * 1.0 + 2, 0, 2]])


@pytest.mark.parametrize("text, message, column", [
    ("a[3]", "index 3 is out of range for axis 0, of size 3", 3),
    ("a[-4]", "index -4 is out of range for axis 0, of size 3", 3),
    ("a[0, 4]", "index 4 is out of range for axis 1, of size 4", 6),
    ("a[1, 2, 0]", "too many indices: this one is for axis 2, but the value is an array of 2 dimensions", 9),
    ("a[0][0][0]", "too many indices: this one is for axis 0, but the value is a scalar", 9),
    ("a[x]", "an index must be a constant (no variables)", 3),
    ("a[0.5]", "an index must be a whole number", 3),
    ("a[::0]", "a slice's step cannot be 0", 5),
    ("a[1:y]", "a slice's bounds and step must be a constant (no variables)", 5),
    ("2 [1, 2]", "unexpected '[': a number cannot be indexed; for a product write '*' before the array", 3),
])
def test_indexing_errors_point_at_the_index(cli, text, message, column):
    run = cli("grad", text, "--at", "a=[[0,1,2,3],[4,5,6,7],[8,9,10,11]]", "--at", "x=1", "--at", "y=2")
    assert run.exit_code == 1
    lines = run.stderr.splitlines()
    assert lines[0] == f"adcli: error: {message} (at column {column})"
    assert lines[2].index("^") - 2 == column - 1


# -- keywords and their errors -----------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("softmax(x, foo=1)", "softmax has no keyword 'foo'; softmax takes axis="),
    ("leaky_relu(x, slope=y)", "slope must be a constant (no variables)"),
    ("leaky_relu(x, 0.1, slope=0.2)", "leaky_relu got the keyword 'slope' twice"),
    ("sum(x, keepdims=2)", "keepdims must be 0 or 1"),
    ("elu(x, alpha=1e999)", "alpha must be a finite number"),
    ("softmax(x, axis=0.5)", "axis must be a whole number"),
    ("clip(x, 1)", "clip takes 3 arguments, got 2"),
    ("gelu(x, 1)", "gelu takes 1 argument, got 2"),
    ("softmax(x, axis=2)", "softmax: axis 2 is out of bounds for an array of dimension 1"),
])
def test_keyword_errors(cli, text, message):
    run = cli("eval", text, "--at", "x=[1, 2]", "--at", "y=1")
    assert run.exit_code == 1 and run.stderr.startswith(f"adcli: error: {message}"), run.stderr


# -- through the command line, as a user would -------------------------------------------------------

def test_grad_of_a_batch_cross_entropy_from_files(cli, tmp_path):
    logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    np.save(tmp_path / "z.npy", logits)
    np.save(tmp_path / "y.npy", np.eye(3)[[0, 1]])
    run = cli("grad", "mean(logsumexp(z, axis=1) - sum(y * z, axis=1))", "--wrt", "z",
              "--at", f"z=@{tmp_path / 'z.npy'}", "--at", f"y=@{tmp_path / 'y.npy'}", "--format", "json")
    assert run.exit_code == 0, run.stderr
    record = run.json()
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(record["grad"]["z"], (softmax - np.eye(3)[[0, 1]]) / 2, rtol=1e-14)
    assert record["value"] == pytest.approx(0.31853976964918573, rel=1e-14)  # torch.nn.functional.cross_entropy


def test_check_agrees_with_a_hand_derived_softmax_gradient_and_warns_at_a_clip_bound(cli):
    run = cli("check", "sum(softmax(z) * [1, 2, 3])", "--at", "z=[0.2, -1, 0.5]")
    assert run.exit_code == 0 and "warning" not in run.stderr, run.stdout + run.stderr
    run = cli("check", "clip(x, 0, 1)", "--at", "x=1", "--format", "json")
    assert any("kink" in warning for warning in run.json()["warnings"])


def test_points_refuse_indexing_and_softmax_but_take_activations(cli, tmp_path):
    points = tmp_path / "p.csv"
    points.write_text("x\n-1\n0.5\n")
    run = cli("grad", "gelu(x) + leaky_relu(x, slope=0.1) + clip(x, 0, 1)", "--points", str(points), "--format", "csv")
    assert run.exit_code == 0 and len(run.stdout.splitlines()) == 3, run.stderr
    for text in ("x[0]", "softmax(x)", "logsumexp(x)"):
        run = cli("grad", text, "--points", str(points))
        assert run.exit_code == 1 and "combines points" in run.stderr


def test_console_script_prints_softmax_gradient(adcli_process):
    run = adcli_process("grad", "log_softmax(z)[0]", "--at", "z=[1000, 1001, 1002]", "--format", "plain")
    assert run.exit_code == 0, run.stderr
    numbers = [float(word) for word in run.stdout.split()]
    assert numbers[0] == pytest.approx(-2.4076059644443806, rel=1e-15)
    np.testing.assert_allclose(numbers[1:], [0.9099694268296196, -0.24472847105479764, -0.6652409557748218], rtol=1e-14)


def test_grad_help_shows_the_softmax_regression_example(cli):
    run = cli("grad", "--help")
    assert run.exit_code == 0
    assert "mean(logsumexp(z, axis=1) - sum(Y * z, axis=1))" in run.stdout and "--at X=@X.npy" in run.stdout
