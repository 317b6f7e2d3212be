"""`grad --order N`: nth derivatives from the recorded reverse sweep and tangent sweeps of it.

References are closed forms computed here (Leibniz's rule, a polynomial recurrence, Faa di
Bruno's formula via Bell polynomials), never adcli's own output.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import adcli
from adcli.engine.derivatives import gradient_program, nth_derivative_program
from adcli.engine.tape import forward

ORDERS = range(1, 11)
POINTS = (-1.3, 0.4, 2.1)
RTOL = 1e-10


def sin_derivative(x: float, order: int) -> float:
    return math.sin(x + order * math.pi / 2)


def power_times_sin(k: int, x: float, n: int) -> float:
    """d^n/dx^n x^k sin(x) by Leibniz's rule."""
    return sum(math.comb(n, j) * math.perm(k, j) * x ** (k - j) * sin_derivative(x, n - j)
               for j in range(min(n, k) + 1))


def exp_square(x: float, n: int) -> float:
    """d^n/dx^n exp(x^2) = P_n(x) exp(x^2) with P_0 = 1, P_{n+1} = P_n' + 2x P_n."""
    polynomial = np.polynomial.Polynomial([1.0])
    for _ in range(n):
        polynomial = polynomial.deriv() + np.polynomial.Polynomial([0.0, 2.0]) * polynomial
    return float(polynomial(x)) * math.exp(x * x)


def log_one_plus(x: float, n: int) -> float:
    return (-1) ** (n - 1) * math.factorial(n - 1) / (1 + x) ** n


def exp_sin(x: float, n: int) -> float:
    """Faa di Bruno: d^n e^f = e^f B_n(f', ..., f^(n)), B_{m+1} = sum_k C(m, k) B_{m-k} f^(k+1)."""
    bell = [1.0]
    for m in range(n):
        bell.append(sum(math.comb(m, k) * bell[m - k] * sin_derivative(x, k + 1) for k in range(m + 1)))
    return math.exp(math.sin(x)) * bell[n]


CLOSED_FORMS = [
    ("x sin(x)", lambda x, n: power_times_sin(1, x, n)),
    ("x^3 sin(x)", lambda x, n: power_times_sin(3, x, n)),
    ("x^5 sin(x)", lambda x, n: power_times_sin(5, x, n)),
    ("exp(x^2)", exp_square),
    ("exp(sin(x))", exp_sin),
]


@pytest.mark.parametrize("text, closed_form", CLOSED_FORMS, ids=[text for text, _ in CLOSED_FORMS])
def test_orders_one_to_ten_match_closed_forms(text, closed_form):
    compiled = adcli.compile(text)
    for x in POINTS:
        for order in ORDERS:
            _, derivative = compiled.derivative("x", order, x=x)
            assert derivative == pytest.approx(closed_form(x, order), rel=RTOL, abs=1e-12), (x, order)


def test_log_one_plus_x_to_order_ten():
    compiled = adcli.compile("log(1+x)")
    for x in (-0.5, 0.25, 3.0):
        for order in ORDERS:
            assert compiled.derivative("x", order, x=x)[1] == pytest.approx(log_one_plus(x, order), rel=RTOL)


def test_elementwise_program_over_an_array_gives_each_points_derivative():
    points = np.linspace(-1.0, 2.0, 7)
    _, derivative = adcli.compile("x^3 sin(x)").derivative("x", 6, x=points)
    expected = [power_times_sin(3, x, 6) for x in points]
    np.testing.assert_allclose(derivative, expected, rtol=RTOL)


def test_size_grows_polynomially():
    """Nested reverse sweeps roughly triple the program per order; tangent sweeps add a few slots."""
    program = adcli.compile("exp(sin(x))").program
    sizes = {order: len(nth_derivative_program(program, "x", order, {"x": ()}).instructions) for order in (5, 10, 20)}
    assert sizes[20] < 8 * sizes[10] < 64 * sizes[5]  # at most cubic: doubling the order multiplies by <= 8
    assert sizes[20] < 1000


def test_prod_derivative_programs_grow_polynomially():
    """prod's exact rule sums scans; a tangent sweep makes one scan per operand, fused back into one."""
    program = adcli.compile("prod([x, x - 1, 2x, x^2])").program
    sizes = {order: len(nth_derivative_program(program, "x", order, {"x": ()}).instructions) for order in (5, 10, 16)}
    assert sizes[16] < (16 / 10) ** 3 * sizes[10] < (16 / 5) ** 3 * sizes[5]
    assert sizes[16] < 50_000  # 617,540 unfused


def test_shapes_are_optional_and_only_make_programs_smaller():
    program = adcli.compile("x^2 exp(x) / (1 + x^2)").program
    with_shapes = nth_derivative_program(program, "x", 4, {"x": ()})
    without = nth_derivative_program(program, "x", 4)
    assert len(with_shapes.instructions) <= len(without.instructions)
    assert forward(with_shapes, {"x": 0.3})[with_shapes.output] == pytest.approx(
        forward(without, {"x": 0.3})[without.output], rel=1e-12)


# -- tangent sweeps agree with nested reverse sweeps (the definition) ------------------------

SMOOTH_UNARY = ["sin", "cos", "exp", "tanh", "atan", "sigmoid", "softplus", "erf", "asinh", "sinh"]


@st.composite
def smooth_programs(draw, depth: int = 3) -> str:
    """Random smooth expressions in x and y (defined everywhere), as text, built bottom-up."""
    terms = ["x", "y", "0.5", "x y", "2.5"]
    for _ in range(draw(st.integers(1, 4 * depth))):
        kind = draw(st.sampled_from(["unary", "binary", "quotient", "power"]))
        a, b = draw(st.sampled_from(terms)), draw(st.sampled_from(terms))
        if kind == "unary":
            terms.append(f"{draw(st.sampled_from(SMOOTH_UNARY))}({a})")
        elif kind == "binary":
            terms.append(f"({a}) {draw(st.sampled_from(['+', '-', '*']))} ({b})")
        elif kind == "quotient":
            terms.append(f"({a}) / (1 + ({b})^2)")
        else:
            terms.append(f"({a})^{draw(st.sampled_from(['2', '3']))}")
    return terms[-1]


def nested_reverse(program, name: str, order: int):
    """The definition: differentiate the recorded gradient program `order` times, reverse over reverse."""
    for _ in range(order):
        program = gradient_program(program, [name])
    return program


@example("(sin(x))^2", 1.0541913141496057e-27, 0.0, 4)  # the power's recurrence divided by sin(x): -16 for -8
@settings(max_examples=40, deadline=None)
@given(smooth_programs(), st.floats(-1.5, 1.5), st.floats(-1.5, 1.5), st.integers(2, 4))
def test_tangent_sweeps_match_nested_reverse_sweeps(text, x, y, order):
    program = adcli.compile(text).program
    inputs = {"x": np.float64(x), "y": np.float64(y)}
    expected_program = nested_reverse(program, "x", order)
    expected = forward(expected_program, inputs)[expected_program.output]
    got = adcli.compile(text).derivative("x", order, x=x, y=y)[1]
    if math.isfinite(expected):  # nested sweeps can make 0 * inf = nan (at x = 0 of x^2, say) where tangents do not
        assert got == pytest.approx(float(expected), rel=1e-8, abs=1e-8)


ARRAY_PROGRAMS = [
    ("sum(x^2)^2", {"x": np.array([1.0, -2.0, 0.5])}),
    ("prod(x) + norm(x)^3", {"x": np.array([0.5, 1.5, 2.0])}),
    ("sum(A @ x)^2 + x @ x", {"x": np.array([0.5, 1.5]), "A": np.array([[1.0, 2.0], [3.0, 4.0]])}),
    ("mean(exp(x)) * sum(x.T @ x)", {"x": np.array([[0.1, 0.2], [0.3, -0.4]])}),
    ("sum([x, 2x, x^2] * y)", {"x": 0.7, "y": np.array([1.0, 2.0, 3.0])}),
    ("sum(sin(x) * y, axis=0) @ [1, 2]", {"x": np.array([[0.1, 0.2], [0.3, 0.4]]), "y": np.array([2.0, 3.0])}),
]


@pytest.mark.parametrize("text, inputs", ARRAY_PROGRAMS, ids=[text for text, _ in ARRAY_PROGRAMS])
def test_array_programs_match_nested_reverse_sweeps(text, inputs):
    program = adcli.compile(text).program
    for order in (2, 3):
        expected_program = nested_reverse(program, "x", order)
        expected = forward(expected_program, inputs)[expected_program.output]
        got = adcli.compile(text).derivative("x", order, **inputs)[1]
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
        assert np.shape(got) == np.shape(inputs["x"])


def test_variable_the_program_does_not_use_has_derivative_zero():
    assert adcli.compile("y^3").derivative("x", 3, x=np.array([1.0, 2.0]), y=2.0)[1].tolist() == [0.0, 0.0]


# -- the command line -------------------------------------------------------------------------

def test_cli_json_shape(cli):
    run = cli("grad", "x^3 sin(x)", "--at", "x=1", "--wrt", "x", "--order", "4", "--format", "json")
    assert run.exit_code == 0, run.stderr
    record = run.json()
    assert list(record) == ["expr", "value", "wrt", "order", "derivative"]
    assert record["wrt"] == "x" and record["order"] == 4
    assert record["value"] == pytest.approx(math.sin(1.0))
    assert record["derivative"] == pytest.approx(power_times_sin(3, 1.0, 4), rel=RTOL)


def test_cli_wrt_may_be_left_out_for_one_variable(cli):
    run = cli("grad", "exp(x^2)", "--at", "x=0.5", "--order", "10", "--format", "plain")
    assert run.exit_code == 0, run.stderr
    value, derivative = map(float, run.stdout.split())
    assert value == pytest.approx(math.exp(0.25))
    assert derivative == pytest.approx(exp_square(0.5, 10), rel=RTOL)


def test_cli_text_and_csv(cli):
    text = cli("grad", "log(1+x)", "--at", "x=1", "--order", "3")
    assert text.stdout.splitlines() == [f"value     {math.log(2.0)!r}", "d^3/dx^3  0.25"]
    csv = cli("grad", "sin(x)", "--at", "x=[0, 1]", "--order", "2", "--format", "csv")
    assert csv.exit_code == 0, csv.stderr
    lines = csv.stdout.splitlines()
    assert lines[0] == "x,value,d^2/dx^2"
    assert [float(cell) for cell in lines[2].split(",")] == pytest.approx([1.0, math.sin(1.0), -math.sin(1.0)])


def test_cli_order_two_with_two_variables_suggests_hessian(cli):
    run = cli("grad", "x y", "--at", "x=1,y=2", "--wrt", "x,y", "--order", "2")
    assert run.exit_code == 1
    assert run.stderr.startswith("adcli: error: ") and "adcli hessian" in run.stderr
    assert run.stdout == ""


def test_cli_order_without_wrt_needs_one_variable(cli):
    run = cli("grad", "x y", "--at", "x=1,y=2", "--order", "3")
    assert run.exit_code == 1
    assert "--wrt" in run.stderr and "hessian" not in run.stderr


def test_without_shapes_programs_stay_small_and_hold_for_any_shape():
    """Each variable's shape stands for itself, so broadcasts between equal shapes vanish without knowing them."""
    compiled = adcli.compile("exp(sin(x))")
    program = compiled.derivative_program("x", 10)
    assert len(program.instructions) < 1000  # 13,839 when every broadcast stayed
    points = np.linspace(-1.0, 1.0, 5)
    at_once = forward(program, {"x": points})[program.output]
    one_by_one = [forward(program, {"x": float(point)})[program.output] for point in points]
    np.testing.assert_allclose(at_once, one_by_one, rtol=1e-12)


@pytest.mark.parametrize("text", ["(2 + x)^x", "(1 + x)^(2x)", "exp(x)^x", "(1 + x)^(x^2) + sin(x)"])
def test_at_a_zero_exponent_the_nth_derivative_keeps_pytorchs_masked_rule_as_the_hessian_does(text):
    """pow's base gradient is where(y == 0, 0, ...) in PyTorch: the Taylor sweep has no such mask and gave
    1.48 for (2 + x)^x at 0 where the Hessian (and PyTorch) give ln(2)^2 + 1/2 = 0.98."""
    compiled = adcli.compile(text)
    _, second = compiled.derivative("x", 2, x=0.0)
    _, _, hessian = compiled.hessian(x=0.0)
    assert second == hessian[0][0]
    assert compiled.derivative("x", 2, x=np.array([0.0]))[1][0] == second


def test_a_zero_among_an_array_exponents_entries_takes_the_nested_program_too():
    """The zero-exponent test once asked an array `== 0.0` for one truth value: an internal error."""
    value, second = adcli.compile("sum(x^[0, 1, 3])").derivative("x", 2, x=2.0)
    assert (value, second) == (11.0, 12.0)
