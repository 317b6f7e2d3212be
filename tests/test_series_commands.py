"""`adcli taylor` and `adcli limit` (SPEC section 7), through the CLI, the console script and the library."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import adcli
from adcli.language.unparse import polynomial


def test_spec_example_sin_x_over_x_starts_1_0_minus_a_sixth(cli):
    run = cli("taylor", "sin(x)/x", "--at", "x=0", "--format", "json")
    assert run.exit_code == 0, run.stderr
    record = run.json()
    assert list(record) == ["expr", "wrt", "at", "order", "coefficients", "polynomial"]
    assert record["expr"] == "sin(x)/x" and record["wrt"] == "x" and record["at"] == 0.0 and record["order"] == 5
    assert record["coefficients"][:3] == pytest.approx([1.0, 0.0, -1 / 6], abs=1e-16)
    assert record["polynomial"] == "1 - 0.16666666666666666*x^2 + 0.008333333333333333*x^4"


def test_taylor_text_lists_each_coefficient_and_the_polynomial(cli):
    run = cli("taylor", "exp(x)", "--at", "x=1", "--order", "2")
    assert run.stdout.splitlines() == [
        "c0          2.718281828459045",
        "c1          2.718281828459045",
        "c2          1.3591409142295225",
        "polynomial  2.718281828459045 + 2.718281828459045*(x - 1) + 1.3591409142295225*(x - 1)^2",
    ]


def test_taylor_plain_and_csv(cli):
    assert cli("taylor", "1/(1 - x)", "--at", "x=0", "--order", "3", "--format", "plain").stdout == "1.0 1.0 1.0 1.0\n"
    csv = cli("taylor", "x^2", "--at", "x=-1", "--order", "2", "--format", "csv").stdout
    assert csv == "c0,c1,c2\n1.0,-2.0,1.0\n"


def test_order_zero_is_the_value_and_order_1000_works(cli):
    assert cli("taylor", "cos(x)", "--at", "x=0", "--order", "0", "--format", "plain").stdout == "1.0\n"
    record = cli("taylor", "x^3 sin(x)/(1 + x^2)", "--at", "x=0.5", "--order", "1000", "--format", "json").json()
    assert len(record["coefficients"]) == 1001 and record["order"] == 1000
    assert all(math.isfinite(c) for c in record["coefficients"])


def test_the_polynomial_is_adcli_input_that_evaluates_to_the_sum(cli):
    record = cli("taylor", "exp(sin(x))", "--at", "x=0.5", "--order", "8", "--format", "json").json()
    point = 0.7
    expected = sum(c * (point - 0.5) ** k for k, c in enumerate(record["coefficients"]))
    run = cli("eval", record["polynomial"], "--at", f"x={point}", "--format", "plain")
    assert float(run.stdout) == pytest.approx(expected, rel=1e-14)
    assert float(run.stdout) == pytest.approx(math.exp(math.sin(point)), rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6) | st.sampled_from([0.0, 1.0, -1.0, 2.0]), min_size=1, max_size=6),
       st.floats(-10, 10) | st.just(0.0), st.floats(-3, 3))
def test_polynomial_text_compiles_back(coefficients, point, x):
    text = polynomial(coefficients, "x", point)
    value = adcli.compile(text).eval(x=x) if "x" in adcli.compile(text).variables else adcli.compile(text).eval()
    expected = sum(c * (x - point) ** k for k, c in enumerate(coefficients))
    scale = sum(abs(c * (x - point) ** k) for k, c in enumerate(coefficients))
    assert value == pytest.approx(expected, abs=1e-12 * max(scale, 1.0))


def test_a_series_with_infinite_or_nan_coefficients_prints_them_as_numpy_does(cli):
    run = cli("taylor", "exp(1000 x)", "--at", "x=1", "--order", "2")
    assert run.stdout.splitlines()[-1].split(None, 1)[1] == "inf + inf*(x - 1) + nan*(x - 1)^2"


@pytest.mark.parametrize("text, point, expected", [
    ("sin(x)/x", "0", 1.0), ("(1 - cos(x))/x^2", "0", 0.5), ("x/(exp(x) - 1)", "0", 1.0),
    ("(x^2 - 1)/(x - 1)", "1", 2.0), ("(exp(x) - 1)/x", "0", 1.0), ("1/x^2", "0", "inf"), ("-1/x^2", "0", "-inf"),
    ("x^2 + 1", "2", 5.0), ("1/x - 1/sin(x)", "0", 0.0),
])
def test_limit_json(cli, text, point, expected):
    run = cli("limit", text, "--at", f"x={point}", "--format", "json")
    assert run.exit_code == 0, run.stderr
    record = run.json()
    assert list(record) == ["expr", "wrt", "at", "limit"]
    assert record["limit"] == (expected if isinstance(expected, str) else pytest.approx(expected, abs=1e-15))


def test_limit_that_differs_from_the_sides_says_so(cli):
    text = cli("limit", "1/x", "--at", "x=0")
    assert text.exit_code == 0
    assert text.stdout.splitlines() == ["limit  does not exist: the sides differ", "left   -inf", "right  inf"]
    record = cli("limit", "1/x", "--at", "x=0", "--format", "json").json()
    assert record["limit"] is None and (record["left"], record["right"]) == ("-inf", "inf")
    assert cli("limit", "1/x", "--at", "x=0", "--format", "plain").stdout == "-inf inf\n"


@pytest.mark.parametrize("text, alternative", [("sin(x)/(x - pi)", "-1.0"), ("(1 + cos(x))/(x - pi)^2", "0.5")])
def test_a_pole_from_rounding_is_flagged_with_the_limit_without_it(cli, text, alternative):
    run = cli("limit", text, "--at", "x=pi", "--format", "json")
    assert run.exit_code == 0 and run.json()["limit"] is None  # float64's answer: sin(pi) is 1.2e-16 there
    assert run.stderr.startswith("adcli: warning: the pole rests on a leading coefficient tiny beside the next one")
    assert run.stderr.rstrip().endswith(f"if it is 0, the limit is {alternative}")
    assert cli("limit", "1/x", "--at", "x=0").stderr == ""


@pytest.mark.parametrize("command", ["taylor", "limit"])
@pytest.mark.parametrize("text, point, culprit, column", [
    ("x log(x)", "0", "log", 3), ("sqrt(x)", "0", "sqrt", 1), ("abs(x)", "0", "abs", 1), ("1 + relu(x)", "0", "relu", 5),
    ("floor(x)", "2", "floor", 1),
])
def test_not_analytic_says_the_method_does_not_apply(cli, command, text, point, culprit, column):
    run = cli(command, text, "--at", f"x={point}")
    assert run.exit_code == 1 and run.stdout == ""
    first, source, caret = run.stderr.splitlines()
    assert first.startswith(f"adcli: error: {culprit} is not analytic at x={float(point)!r}")
    assert "power series do not apply" in first and f"(at column {column})" in first
    assert source.strip() == text and caret.index("^") - 2 == column - 1


def test_taylor_at_a_pole_points_to_limit(cli):
    run = cli("taylor", "1/x^2", "--at", "x=0")
    assert run.exit_code == 1 and "pole of order 2" in run.stderr and "adcli limit" in run.stderr


@pytest.mark.parametrize("args, message", [
    (("taylor", "sin(x)"), "variable 'x' has no value"),
    (("taylor", "x y", "--at", "x=1,y=2"), "name it with --wrt (the formula's variables: x, y)"),
    (("limit", "x y", "--at", "x=1,y=2", "--wrt", "x,y"), "--wrt names 2"),
    (("taylor", "sin(x)", "--at", "x=[1,2]"), "expand at one point"),
    (("taylor", "sum(x)", "--at", "x=1"), "scalar formulas"),
    (("taylor", "sin(x", "--at", "x=1"), "missing ')'"),
])
def test_errors(cli, args, message):
    run = cli(*args)
    assert run.exit_code == 1 and message in run.stderr and "Traceback" not in run.stderr


def test_other_variables_are_held_at_their_values(cli):
    record = cli("taylor", "exp(a x)", "--at", "x=0,a=2", "--wrt", "x", "--order", "2", "--format", "json").json()
    assert record["coefficients"] == pytest.approx([1.0, 2.0, 2.0])


def test_a_nan_coefficient_is_warned_about(cli):
    run = cli("taylor", "sqrt(x)", "--at", "x=-1", "--order", "1")
    assert run.exit_code == 0 and "warning: sqrt at column 1 gives nan" in run.stderr


def test_many_programs(cli):
    run = cli("limit", "-", "--at", "x=0", "--format", "json", input="sin(x)/x\nlog(x)\n(1-cos(x))/x^2\n")
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert lines[0]["limit"] == 1.0 and "not analytic" in lines[1]["error"]["message"] and lines[2]["limit"] == 0.5


def test_console_script(adcli_process):
    run = adcli_process("taylor", "sin(x)/x", "--at", "x=0", "--order", "2", "--format", "plain")
    assert run.exit_code == 0
    assert run.stdout == "1.0 0.0 -0.16666666666666666\n"
    assert adcli_process("limit", "(x^2 - 1)/(x - 1)", "--at", "x=1").stdout == "limit  2.0\n"


def test_library():
    compiled = adcli.compile("sin(x)/x")
    assert compiled.taylor("x", at=0.0, order=2) == pytest.approx([1.0, 0.0, -1 / 6])
    assert compiled.limit("x", at=0.0).value == 1.0
    sides = adcli.compile("1/x").limit("x", at=0.0)
    assert sides.value is None and (sides.left, sides.right) == (-math.inf, math.inf)
    assert adcli.compile("a x^2").taylor("x", at=1.0, order=2, a=3.0) == [3.0, 6.0, 3.0]


# -- grad --order on Taylor mode ------------------------------------------------------------------

@pytest.mark.parametrize("text, point", [("x^3 sin(x)/(1 + x^2)", 0.5), ("exp(sin(x))", -1.2), ("log(1 + x^2) tanh(x)", 1.7),
                                          ("sqrt(1 + x^2) / (2 + cos(x))", 0.3), ("x^x", 1.3), ("atan2(x, 2) erf(x)", 0.8)])
def test_grad_order_is_taylor_mode_and_agrees_with_the_nested_program(cli, text, point):
    from adcli.engine.derivatives import nth_derivative_program
    from adcli.engine.tape import forward

    compiled = adcli.compile(text)
    for order in (2, 3, 5, 8):
        run = cli("grad", text, "--at", f"x={point}", "--wrt", "x", "--order", str(order), "--format", "json")
        nested = nth_derivative_program(compiled.program, "x", order)
        expected = forward(nested, {"x": point})[nested.output]
        assert run.json()["derivative"] == pytest.approx(expected, rel=1e-11, abs=1e-12)


def test_grad_order_64_in_one_sweep_matches_leibniz_at_50_digits(cli):
    import mpmath

    mpmath.mp.dps = 50
    x, n = mpmath.mpf(0.5), 64

    def cubic_sine(j):  # d^j/dx^j x^3 sin(x)
        return mpmath.fsum(mpmath.binomial(j, i) * mpmath.ff(3, i) * x ** (3 - i) * mpmath.sin(x + (j - i) * mpmath.pi / 2)
                           for i in range(min(j, 3) + 1))

    def lorentzian(m):  # d^m/dx^m 1/(1 + x^2), from 1/(x - i) - 1/(x + i) over 2i
        return mpmath.re(mpmath.factorial(m) * (-1) ** m * ((x - 1j) ** -(m + 1) - (x + 1j) ** -(m + 1)) / 2j)

    exact = mpmath.fsum(mpmath.binomial(n, j) * cubic_sine(j) * lorentzian(n - j) for j in range(n + 1))
    run = cli("grad", "x^3 sin(x)/(1+x^2)", "--at", "x=0.5", "--wrt", "x", "--order", "64", "--format", "json")
    assert run.json()["derivative"] == pytest.approx(float(exact), rel=1e-12)


@pytest.mark.parametrize("text, point, expected", [
    ("abs(x^2)", "0", 0.0),  # PyTorch: d/dx abs(u) = sign(u) u', and sign(0) = 0, at every order
    ("relu(x) x^2", "0", 0.0), ("max(x^3, 0)", "0", 0.0),
])
def test_grad_order_at_kinks_keeps_pytorchs_conventions(cli, text, point, expected):
    run = cli("grad", text, "--at", f"x={point}", "--wrt", "x", "--order", "2", "--format", "json")
    assert run.json()["derivative"] == expected


def test_library_derivative_takes_the_same_path():
    value, third = adcli.compile("x^3 sin(x)").derivative("x", 3, x=1.0)
    assert third == pytest.approx(6.660726245334686, rel=1e-14)
    assert adcli.compile("abs(x^2)").derivative("x", 2, x=0.0)[1] == 0.0


SYMPY_LIMITS = [
    ("(exp(x) - 1 - x)/x^2", 0), ("(tan(x) - x)/x^3", 0), ("(1 - cos(x))/x", 0), ("(sqrt(1 + x) - 1)/x", 0),
    ("(x^3 - 8)/(x - 2)", 2), ("sin(3*x)/sin(5*x)", 0), ("(2^x - 1)/x", 0), ("(1/x - 1/tan(x))/x", 0),
    ("(asin(x) - x)/x^3", 0), ("log(cos(x))/x^2", 0), ("(x^2 - 4)/(x^2 - 5*x + 6)", 2), ("erf(x)/x", 0),
    ("x^2/(1 - cos(x))", 0), ("(exp(x^2) - 1)/(x*sin(x))", 0), ("1/x - 1/(exp(x) - 1)", 0),
]


@pytest.mark.parametrize("text, point", SYMPY_LIMITS)
def test_limits_agree_with_sympy(text, point):
    import sympy

    x = sympy.Symbol("x")
    expected = sympy.limit(sympy.sympify(text.replace("^", "**"), locals={"x": x, "erf": sympy.erf}), x, point)
    assert adcli.compile(text).limit("x", at=float(point)).value == pytest.approx(float(expected), rel=1e-14, abs=1e-15)


LEAVES = st.sampled_from(["x", "0", "1", "2", "pi", "(x - 1)", "(-x)"])
UNARY = ["sin", "cos", "exp", "log", "sqrt", "abs", "relu", "floor", "atan", "tanh", "cbrt", "asin", "sign", "erf"]


def expressions():
    def extend(children):
        return st.one_of(
            st.tuples(st.sampled_from(UNARY), children).map(lambda p: f"{p[0]}({p[1]})"),
            st.tuples(children, st.sampled_from(["+", "-", "*", "/"]), children).map(lambda p: f"({p[0]} {p[1]} {p[2]})"),
            st.tuples(children, st.sampled_from(["2", "3", "-1", "0.5", "x"])).map(lambda p: f"({p[0]})^{p[1]}"),
            st.tuples(st.sampled_from(["max", "min", "atan2", "hypot"]), children, children).map(
                lambda p: f"{p[0]}({p[1]}, {p[2]})"))
    return st.recursive(LEAVES, extend, max_leaves=6)


@settings(max_examples=150, deadline=None)
@given(expressions(), st.sampled_from([0.0, 1.0, -1.0, 0.5]))
def test_any_formula_gives_series_or_an_adcli_error(text, point):
    compiled = adcli.compile(text)
    for attempt in (lambda: compiled.taylor("x", at=point, order=4), lambda: compiled.limit("x", at=point)):
        try:
            attempt()
        except adcli.AdcliError:
            pass


@pytest.mark.parametrize("command, expected", [("taylor", "taylor expands at a finite point"),
                                               ("limit", "limit approaches a finite point")])
@pytest.mark.parametrize("point", ["nan", "inf", "-inf"])
def test_a_point_that_is_not_finite_is_refused(cli, command, expected, point):
    """taylor at nan printed 'nan + nan*(x + nan)', text that reads back as nothing; limit at inf printed nan."""
    run = cli(command, "sin(x)", "--at", f"x={point}")
    assert run.exit_code == 1 and run.stderr.startswith(f"adcli: error: {expected}") and f"x is {point}" in run.stderr
