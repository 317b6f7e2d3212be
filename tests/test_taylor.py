"""Taylor mode (engine/series.py, engine/taylor.py): truncated power series through the program.

Checked three ways:
  against the VJPs: coefficient k times k! is the nth derivative program's value (grad --order k),
      for every elementwise primitive of the table (a new one fails until it is listed here);
  against mpmath at 50 digits: closed forms of the coefficients, and mpmath.taylor, at orders
      5, 20, 64 and 1,000, at 0 and elsewhere;
  at the points where series matter: removable singularities, poles, kinks and jumps.
"""

from __future__ import annotations

import math

import mpmath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import adcli
from adcli.engine import series
from adcli.engine.derivatives import nth_derivative_program
from adcli.engine.primitives import PRIMITIVES
from adcli.engine.program import ProgramBuilder
from adcli.engine.tape import forward
from adcli.engine.taylor import limit, taylor_coefficients
from adcli.errors import SeriesError

mpmath.mp.dps = 50
ORDERS = range(1, 7)


def compiled_case(text: str):
    return adcli.compile(text).program


def built_case(build):
    """A program made with the builder, for the table's helpers the language does not spell."""
    builder = ProgramBuilder("helper")
    x = builder.var("x")
    output = build(builder, x)
    return builder.build((output,), ("x",))


def _unary(name):
    return lambda builder, x: builder.emit(name, (x,))


def _masked(name):
    """where(name(x, 0.5), sin(x), cos(x)): the mask picks a branch, and is itself a constant."""
    def build(builder, x):
        mask = builder.emit(name, (x, builder.const(0.5)))
        return builder.emit("add", (builder.emit("where", (mask, builder.emit("sin", (x,)), builder.emit("cos", (x,)))),
                                    mask))
    return build


# primitive -> (program, points inside its domain and away from its kinks)
CASES = {
    "add": ("x + exp(x)", (-0.7, 1.2)), "sub": ("x - exp(x)", (-0.7, 1.2)), "mul": ("x sin(x)", (-0.7, 1.2)),
    "div": ("exp(x) / (0.7 - 0.3x)", (-0.7, 1.2)), "neg": ("-sin(x)", (0.3,)),
    "pow": ("x^(0.7 - 0.3x) + x^2.5 + x^3 + x^-2 + 2^x", (0.4, 1.7)),
    "sin": ("sin(x)", (0.0, -1.3, 2.0)), "cos": ("cos(x)", (0.0, 2.0)), "tan": ("tan(x)", (0.0, -0.7, 1.1)),
    "asin": ("asin(x)", (0.0, -0.6, 0.4)), "acos": ("acos(x)", (-0.6, 0.4)), "atan": ("atan(x)", (0.0, 1.7)),
    "sinh": ("sinh(x)", (0.0, -1.3)), "cosh": ("cosh(x)", (0.5,)), "tanh": ("tanh(x)", (0.0, 1.1)),
    "asinh": ("asinh(x)", (0.0, -1.3)), "acosh": ("acosh(x)", (1.3, 3.0)), "atanh": ("atanh(x)", (0.0, -0.6)),
    "exp": ("exp(x)", (0.0, -1.3)), "expm1": ("expm1(x)", (0.0, 1.5)), "log": ("log(x)", (0.3, 2.5)),
    "log2": ("log2(x)", (0.3, 2.5)), "log10": ("log10(x)", (0.3, 2.5)), "log1p": ("log1p(x)", (0.0, -0.5, 2.0)),
    "sqrt": ("sqrt(x)", (0.3, 2.5)), "cbrt": ("cbrt(x)", (0.3, -2.5)),
    "abs": ("abs(x) sin(x)", (-1.5, 0.7)), "sign": ("sign(x) sin(x)", (-1.5, 0.7)),
    "floor": ("floor(x) + sin(x)", (-1.5, 0.7)), "ceil": ("ceil(x) x", (-1.3, 2.6)),
    "relu": ("relu(x) + relu(-x) + sin(x)", (-1.5, 0.7)), "sigmoid": ("sigmoid(x)", (0.0, -2.0, 1.5)),
    "softplus": ("softplus(x)", (0.0, -2.0, 25.0)), "erf": ("erf(x)", (0.0, -1.2, 0.8)),
    "gelu": ("gelu(x)", (0.0, -1.2, 0.8)), "silu": ("silu(x)", (0.0, -2.0, 1.5)),
    "elu": ("elu(x) + elu(x, alpha=0.5) + sin(x)", (-1.5, 0.7)),
    "leaky_relu": ("leaky_relu(x) + leaky_relu(x, slope=0.3) x", (-1.5, 0.7)),
    "clip": ("clip(x, -1, 1) + clip(sin(x), x - 2, 0.5)", (-1.5, 0.3, 2.0)),
    "atan2": ("atan2(x, 0.7 - 0.3x) + atan2(sin(x), -1) + atan2(2, x)", (0.4, 1.5)),
    "hypot": ("hypot(x, 0.7 - 0.3x) + hypot(x, 3)", (-0.7, 1.2)),
    "maximum": ("max(x, 0.7 - 0.3x) + max(sin(x), 0.1)", (-0.7, 1.2)),
    "minimum": ("min(x, 0.7 - 0.3x) + min(sin(x), 0.1)", (-0.7, 1.2)),
    "rsqrt": (_unary("rsqrt"), (0.3, 2.5)), "softplus_slope": (_unary("softplus_slope"), (-2.0, 0.5, 25.0)),
    "where": (_masked("greater"), (0.2, 1.1)), "greater": (_masked("greater"), (0.2, 1.1)),
    "greater_equal": (_masked("greater_equal"), (0.2, 1.1)), "equal": (_masked("equal"), (0.2, 1.1)),
    **{comparison: (_masked(comparison), (0.2, 1.1)) for comparison in ("lt", "le", "gt", "ge", "eq", "ne")},
    "logical_and": (lambda b, x: b.emit("add", (b.emit("logical_and", (b.const(1.0), b.const(0.0))), x)), (0.5,)),
    "broadcast_like": (lambda b, x: b.emit("broadcast_like", (b.emit("sin", (x,)), b.const(0.0))), (0.5,)),
    "sum_to_like": (lambda b, x: b.emit("sum_to_like", (b.emit("sin", (x,)), b.const(0.0))), (0.5,)),
}


def case_program(name):
    made = CASES[name][0]
    return compiled_case(made) if isinstance(made, str) else built_case(made)


def test_every_elementwise_primitive_has_a_rule_and_a_case():
    elementwise = {name for name, primitive in PRIMITIVES.items() if primitive.elementwise}
    assert {name for name in elementwise if PRIMITIVES[name].taylor is None} == set(), "give it a Taylor rule"
    assert elementwise - set(CASES) == set(), "add a case for the new primitive"


def test_array_primitives_have_no_rule():
    assert PRIMITIVES["sum"].taylor is None and PRIMITIVES["matmul"].taylor is None


@pytest.mark.parametrize("name", sorted(CASES))
def test_coefficient_k_times_k_factorial_is_the_kth_derivative(name):
    program = case_program(name)
    for point in CASES[name][1]:
        coefficients = taylor_coefficients(program, {"x": point}, "x", max(ORDERS))
        assert coefficients[0] == pytest.approx(forward(program, {"x": point})[program.output], rel=1e-12)
        for order in ORDERS:
            derivative = nth_derivative_program(program, "x", order)
            nested = forward(derivative, {"x": point})[derivative.output]
            assert coefficients[order] * math.factorial(order) == pytest.approx(nested, rel=1e-9, abs=1e-9), \
                (name, point, order)


# -- against mpmath at 50 digits --------------------------------------------------------------

def mp(value: float):
    return mpmath.mpf(value)  # the float itself, exactly: the point adcli expands at


def exp_coefficients(a, n):
    return [mpmath.exp(mp(a)) / mpmath.factorial(k) for k in range(n + 1)]


def sin_coefficients(a, n):
    return [mpmath.sin(mp(a) + k * mpmath.pi / 2) / mpmath.factorial(k) for k in range(n + 1)]


def log_coefficients(a, n):
    return [mpmath.log(mp(a))] + [(-1) ** (k + 1) / (k * mp(a) ** k) for k in range(1, n + 1)]


def sqrt_coefficients(a, n):
    return [mpmath.binomial(mpmath.mpf(1) / 2, k) * mp(a) ** (mpmath.mpf(1) / 2 - k) for k in range(n + 1)]


def lorentzian_coefficients(a, n):
    """1/(1 + x^2) = (1/(x - i) - 1/(x + i)) / 2i, each a geometric series in t."""
    return [mpmath.re((-1) ** k * ((mp(a) - 1j) ** -(k + 1) - (mp(a) + 1j) ** -(k + 1)) / 2j) for k in range(n + 1)]


def atan_coefficients(a, n):
    slope = lorentzian_coefficients(a, n - 1)
    return [mpmath.atan(mp(a))] + [slope[k - 1] / k for k in range(1, n + 1)]


def bernoulli_coefficients(n):
    """x/(e^x - 1) = sum B_k x^k / k!."""
    return [mpmath.bernoulli(k) / mpmath.factorial(k) for k in range(n + 1)]


def sinc_coefficients(n):
    return [(-1) ** (k // 2) / mpmath.factorial(k + 1) if k % 2 == 0 else mpmath.mpf(0) for k in range(n + 1)]


def versine_coefficients(n):
    """(1 - cos x)/x^2."""
    return [(-1) ** (k // 2) / mpmath.factorial(k + 2) if k % 2 == 0 else mpmath.mpf(0) for k in range(n + 1)]


def tan_coefficients(n):
    out = [mpmath.mpf(0)] * (n + 1)
    for m in range(1, (n + 1) // 2 + 1):
        out[2 * m - 1] = (-1) ** (m - 1) * 4 ** m * (4 ** m - 1) * mpmath.bernoulli(2 * m) / mpmath.factorial(2 * m)
    return out


def product(a, b):
    return [mpmath.fsum(a[j] * b[k - j] for j in range(k + 1)) for k in range(len(a))]


def cubic_sine_over_lorentzian(a, n):
    """x^3 sin(x) / (1 + x^2) as products of the closed forms."""
    cube = [mp(a) ** 3, 3 * mp(a) ** 2, 3 * mp(a), mpmath.mpf(1)] + [mpmath.mpf(0)] * n
    return product(product(cube[:n + 1], sin_coefficients(a, n)), lorentzian_coefficients(a, n))


def numeric(function):
    """mpmath.taylor: derivatives by mpmath's own high-precision differentiation."""
    return lambda a, n: mpmath.taylor(function, mp(a), n)


CLOSED_FORMS = [
    ("exp(x)", 0.0, exp_coefficients), ("exp(x)", 0.7, exp_coefficients),
    ("sin(x)", 0.0, sin_coefficients), ("sin(x)", 1.1, sin_coefficients),
    ("log(x)", 2.0, log_coefficients), ("sqrt(x)", 2.0, sqrt_coefficients),
    ("1/(1 + x^2)", 0.0, lorentzian_coefficients), ("1/(1 + x^2)", 0.5, lorentzian_coefficients),
    ("atan(x)", 0.5, atan_coefficients),
    ("x/(exp(x) - 1)", 0.0, lambda a, n: bernoulli_coefficients(n)),
    ("sin(x)/x", 0.0, lambda a, n: sinc_coefficients(n)),
    ("(1 - cos(x))/x^2", 0.0, lambda a, n: versine_coefficients(n)),
    ("tan(x)", 0.0, lambda a, n: tan_coefficients(n)),
    ("x^3 sin(x)/(1 + x^2)", 0.5, cubic_sine_over_lorentzian),
]

NUMERIC = [
    ("exp(sin(x))", 0.0), ("exp(sin(x))", 0.5), ("x^3 sin(x)/(1 + x^2)", -1.2), ("sqrt(1 + x^2) cos(x)", 0.8),
    ("log(2 + sin(x)) / (1 + x)", 0.3), ("erf(x) tanh(x)", 0.4), ("asin(x/2) + acosh(2 + x)", 0.2),
    ("sigmoid(x)^2 softplus(x)", -0.6), ("cbrt(1 + x) atan2(x, 2)", 0.9), ("x^x", 1.5), ("2^sinh(x) / cosh(x)", -0.4),
]
MPMATH_FUNCTIONS = {
    "exp(sin(x))": lambda x: mpmath.exp(mpmath.sin(x)),
    "x^3 sin(x)/(1 + x^2)": lambda x: x ** 3 * mpmath.sin(x) / (1 + x ** 2),
    "sqrt(1 + x^2) cos(x)": lambda x: mpmath.sqrt(1 + x ** 2) * mpmath.cos(x),
    "log(2 + sin(x)) / (1 + x)": lambda x: mpmath.log(2 + mpmath.sin(x)) / (1 + x),
    "erf(x) tanh(x)": lambda x: mpmath.erf(x) * mpmath.tanh(x),
    "asin(x/2) + acosh(2 + x)": lambda x: mpmath.asin(x / 2) + mpmath.acosh(2 + x),
    "sigmoid(x)^2 softplus(x)": lambda x: (1 / (1 + mpmath.exp(-x))) ** 2 * mpmath.log1p(mpmath.exp(x)),
    "cbrt(1 + x) atan2(x, 2)": lambda x: mpmath.cbrt(1 + x) * mpmath.atan2(x, 2),
    "x^x": lambda x: x ** x,
    "2^sinh(x) / cosh(x)": lambda x: 2 ** mpmath.sinh(x) / mpmath.cosh(x),
}


def assert_close_to(got, reference, tolerance=1e-12):
    """Each coefficient within `tolerance` of the largest reference coefficient beside it (a zero among
    nonzero neighbours is then measured on their scale; coefficients under 1e-300 underflow in float64)."""
    assert len(got) == len(reference)
    for k, (value, exact) in enumerate(zip(got, reference)):
        scale = max(abs(reference[j]) for j in range(max(0, k - 1), min(len(reference), k + 2)))
        if scale < mpmath.mpf(10) ** -300:
            assert abs(value) < 1e-290, k
            continue
        assert abs(value - exact) <= tolerance * scale, (k, value, exact)


@pytest.mark.parametrize("order", [5, 20, 64, 1000])
@pytest.mark.parametrize("text, point, coefficients", CLOSED_FORMS, ids=[f"{t} at {p}" for t, p, _ in CLOSED_FORMS])
def test_closed_forms_at_50_digits(text, point, coefficients, order):
    got = taylor_coefficients(compiled_case(text), {"x": point}, "x", order)
    assert_close_to(got, coefficients(point, order))


@pytest.mark.parametrize("order", [5, 20])
@pytest.mark.parametrize("text, point", NUMERIC, ids=[f"{t} at {p}" for t, p in NUMERIC])
def test_mpmath_taylor(text, point, order):
    got = taylor_coefficients(compiled_case(text), {"x": point}, "x", order)
    assert_close_to(got, numeric(MPMATH_FUNCTIONS[text])(point, order), tolerance=1e-11)


SYMPY = [("sin(x)/x", 0.0), ("x/(exp(x) - 1)", 0.0), ("exp(sin(x))", 0.0), ("log(1 + x) cos(x)", 0.5),
         ("(1 - cos(x))/x^2", 0.0), ("tan(x) / (2 - x)", -0.25)]


@pytest.mark.parametrize("text, point", SYMPY, ids=[f"{t} at {p}" for t, p in SYMPY])
def test_sympy_series(text, point):
    import sympy

    t = sympy.Symbol("t")
    expression = sympy.sympify(text.replace("^", "**").replace(") cos", ") * cos"), locals={"x": sympy.Symbol("x")})
    shifted = expression.subs(sympy.Symbol("x"), sympy.Rational(point) + t)
    expansion = sympy.series(shifted, t, 0, 6).removeO()
    reference = [mpmath.mpf(str(sympy.N(expansion.coeff(t, k), 50))) for k in range(6)]
    assert_close_to(coefficients_of(text, point, 5), reference)


def test_mpmath_taylor_at_order_64():
    text, point = "exp(sin(x))", 0.5
    got = taylor_coefficients(compiled_case(text), {"x": point}, "x", 64)
    assert_close_to(got, numeric(MPMATH_FUNCTIONS[text])(point, 64), tolerance=1e-11)


# -- removable singularities, poles, kinks -----------------------------------------------------

def coefficients_of(text: str, point: float, order: int = 6, **others: float) -> list[float]:
    return taylor_coefficients(compiled_case(text), {"x": point, **others}, "x", order)


@pytest.mark.parametrize("text, point, expected", [
    ("sin(x)/x", 0.0, [1.0, 0.0, -1 / 6, 0.0, 1 / 120]),
    ("(1 - cos(x))/x^2", 0.0, [0.5, 0.0, -1 / 24, 0.0, 1 / 720]),
    ("x/(exp(x) - 1)", 0.0, [1.0, -0.5, 1 / 12, 0.0, -1 / 720]),
    ("(x^2 - 1)/(x - 1)", 1.0, [2.0, 1.0, 0.0, 0.0, 0.0]),
    ("(exp(x) - 1)/x", 0.0, [1.0, 0.5, 1 / 6, 1 / 24, 1 / 120]),
    ("1/x - 1/sin(x)", 0.0, [0.0, -1 / 6, 0.0, -7 / 360, 0.0]),
    ("sin(x)^2/(1 - cos(x))", 0.0, [2.0, 0.0, -0.5, 0.0, 1 / 24]),
    ("(x - 2)^3 / ((x - 2) sin(x - 2)^2)", 2.0, [1.0, 0.0, 1 / 3, 0.0, 1 / 15]),
])
def test_removable_singularities_expand(text, point, expected):
    assert coefficients_of(text, point, 4) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("text, point, expected", [
    ("sin(x)/x", 0.0, (1.0, 1.0)), ("(1 - cos(x))/x^2", 0.0, (0.5, 0.5)), ("x/(exp(x) - 1)", 0.0, (1.0, 1.0)),
    ("(x^2 - 1)/(x - 1)", 1.0, (2.0, 2.0)), ("1/x - 1/sin(x)", 0.0, (0.0, 0.0)), ("x^2", 3.0, (9.0, 9.0)),
    ("1/x", 0.0, (-math.inf, math.inf)), ("1/x^2", 0.0, (math.inf, math.inf)), ("-3/x^4", 0.0, (-math.inf, -math.inf)),
    ("sin(x)/x^4", 0.0, (-math.inf, math.inf)), ("x^3/sin(x)^2", 0.0, (0.0, 0.0)), ("1/(x - 1)^2", 1.0, (math.inf, math.inf)),
    ("cos(x)/(x - 1)", 1.0, (-math.inf, math.inf)), ("x^200/x^200", 0.0, (1.0, 1.0)),
])
def test_limits_from_the_leading_term(text, point, expected):
    found = limit(compiled_case(text), {"x": point}, "x")
    assert (found.left, found.right) == pytest.approx(expected)


def test_limit_value_is_none_when_the_sides_differ():
    assert limit(compiled_case("1/x"), {"x": 0.0}, "x").value is None
    assert limit(compiled_case("1/x^2"), {"x": 0.0}, "x").value == math.inf


def test_a_pole_has_no_taylor_series():
    with pytest.raises(SeriesError, match="pole of order 2"):
        coefficients_of("1/x^2 + sin(x)", 0.0)


@pytest.mark.parametrize("text, point, culprit", [
    ("sqrt(x)", 0.0, "sqrt"), ("x log(x)", 0.0, "log"), ("abs(x)", 0.0, "abs"), ("relu(x)", 0.0, "relu"),
    ("floor(x)", 1.0, "floor"), ("ceil(x)", -2.0, "ceil"), ("sign(x)", 0.0, "sign"), ("max(x, 1 - x)", 0.5, "max"),
    ("min(x, 0)", 0.0, "min"), ("x^0.5", 0.0, "operator '^'"), ("x^x", 0.0, "operator '^'"), ("(-2)^x", 1.0, "operator '^'"),
    ("asin(x)", 1.0, "asin"), ("acosh(x)", 1.0, "acosh"), ("atanh(x)", -1.0, "atanh"), ("atan2(x, -1)", 0.0, "atan2"),
    ("atan2(x, x)", 0.0, "atan2"), ("hypot(x, x)", 0.0, "hypot"), ("cbrt(x)", 0.0, "cbrt"), ("exp(1/x)", 0.0, "exp"),
    ("sqrt(x^2)", 0.0, "sqrt"), ("log(x^2)", 0.0, "log"), ("abs(x^3)", 0.0, "abs"),
])
def test_not_analytic_is_reported_at_its_operation(text, point, culprit):
    with pytest.raises(SeriesError) as raised:
        coefficients_of(text, point)
    error = raised.value
    assert "not analytic" in error.message and error.message.startswith(culprit)
    assert text[error.span[0]:].startswith(culprit.replace("operator ", "").strip("'")[:3])


@pytest.mark.parametrize("text, point, expected", [
    ("abs(x^2)", 0.0, [0.0, 0.0, 1.0, 0.0]), ("abs(x)", -2.0, [2.0, -1.0, 0.0, 0.0]),
    ("relu(-x^2)", 0.0, [0.0, 0.0, 0.0, 0.0]), ("floor(1 + x^2)", 0.0, [1.0, 0.0, 0.0, 0.0]),
    ("floor(1 - x^2)", 0.0, [0.0, 0.0, 0.0, 0.0]), ("ceil(1 - x^2)", 0.0, [1.0, 0.0, 0.0, 0.0]),
    ("sign(-x^2)", 0.0, [-1.0, 0.0, 0.0, 0.0]), ("max(x^2, 0)", 0.0, [0.0, 0.0, 1.0, 0.0]),
    ("sqrt(x^4)", 0.0, [0.0, 0.0, 1.0, 0.0]), ("cbrt(x^3)", 0.0, [0.0, 1.0, 0.0, 0.0]), ("(x^4)^0.5", 0.0, [0.0, 0.0, 1.0, 0.0]),
    ("atan2(x^2, -1)", 0.0, [math.pi, 0.0, -1.0, 0.0]), ("x^0", 0.0, [1.0, 0.0, 0.0, 0.0]),
])
def test_pieces_expand_where_the_operand_keeps_its_side(text, point, expected):
    assert coefficients_of(text, point, 3) == pytest.approx(expected, abs=1e-15)


def test_other_variables_are_constants():
    assert coefficients_of("exp(a x)", 0.0, 3, a=2.0) == pytest.approx([1.0, 2.0, 2.0, 4 / 3])


def test_a_quantity_zero_to_every_term_is_refused_not_guessed():
    with pytest.raises(SeriesError, match="0 to all"):
        coefficients_of("1/(x - x)", 1.0)


def test_an_array_point_is_refused():
    with pytest.raises(adcli.AdcliError, match="one point"):
        taylor_coefficients(compiled_case("sin(x)"), {"x": [1.0, 2.0]}, "x", 3)


def test_array_operations_are_refused_with_their_place():
    with pytest.raises(SeriesError, match="scalar formulas") as raised:
        coefficients_of("sum([x, x^2])", 1.0)
    assert raised.value.span is not None


def test_nan_and_domain_edges_follow_the_forward_sweep():
    assert math.isnan(coefficients_of("sqrt(x)", -1.0, 2)[0])
    assert coefficients_of("log(x)", -1.0, 2)[1:] == pytest.approx([-1.0, -0.5])  # as PyTorch's gradient of log


def test_series_arithmetic_keeps_the_valuation():
    x = series.variable(0.0, 6)
    reciprocal = series.div(1.0, x)
    assert reciprocal.valuation == -1 and series.normalized(series.mul(reciprocal, x)).valuation == 0
    assert series.normalized(series.sub(x, x)).coefficients.size == 0


FUNCTIONS = ["sin", "cos", "exp", "atan", "tanh", "sigmoid", "erf", "asinh", "softplus"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(FUNCTIONS), min_size=1, max_size=4), st.floats(-1.5, 1.5),
       st.sampled_from(["+", "*", "/"]))
def test_random_compositions_agree_with_nested_derivatives(functions, point, operator):
    text = "x"
    for name in functions:
        text = f"{name}({text})"
    text = f"({text}) {operator} (2 + cos(x))"
    program = compiled_case(text)
    coefficients = taylor_coefficients(program, {"x": point}, "x", 4)
    for order in range(1, 5):
        derivative = nth_derivative_program(program, "x", order)
        nested = forward(derivative, {"x": point})[derivative.output]
        assert coefficients[order] * math.factorial(order) == pytest.approx(nested, rel=1e-8, abs=1e-10)


def test_grad_order_near_underflow_takes_the_nested_program(cli):
    """At a point near float64's underflow the series' terms drop out; the nested program answers (PyTorch: -6)."""
    run = cli("grad", "x + x/(1+x^2)", "--at", "x=2.2e-308", "--wrt", "x", "--order", "3", "--format", "json")
    assert run.json()["derivative"] == -6.0


def test_a_power_that_underflows_takes_the_nested_program():
    """x^2 at 9.37e-238 underflows to 0, and so would every term of its series; the nested program gives 2."""
    import adcli
    assert adcli.compile("(x)^2").derivative("x", 2, x=9.37e-238)[1] == 2.0


@pytest.mark.parametrize("text", ["clip(-1, 2, x)", "clip(3, 2, x)", "clip(0.5, x, 2)", "clip(2, 1, x) + x"])
def test_clip_of_a_constant_between_bounds_one_of_which_is_the_variable(text):
    """maximum(x, lo) of two constants inside clip's rule was an internal error (min() of an empty sequence)."""
    compiled = adcli.compile(text)
    coefficients = compiled.taylor("x", 1.0, order=2)
    value, gradient = compiled.grad(x=1.0)
    assert coefficients[:2] == [value, gradient["x"]]
