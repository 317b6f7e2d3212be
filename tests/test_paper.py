"""SPEC section 6, first half: the language written as on paper. Every form compiles to the same
program as its spelled-out equivalent (compared as graphs, slot numbers and spans aside)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adcli
from adcli import AdcliError, NamingError, ParseError
from adcli.engine.program import COMMUTATIVE, Program
from adcli.language.parser import compile_program


def structure(program: Program, table: dict) -> tuple:
    """The program's outputs as ids of a hash-consed graph shared through `table`: two programs that
    compute the same operations on the same operands get the same ids, whatever their slot order."""
    ids: list[int] = []
    for op, args, params, _ in program.instructions:
        operands = tuple(ids[arg] for arg in args)
        key = (op, tuple(sorted(operands)) if op in COMMUTATIVE else operands, repr(params))
        ids.append(table.setdefault(key, len(table)))
    return tuple(ids[slot] for slot in program.outputs)


def same_program(paper: str, spelled: str) -> None:
    table: dict = {}
    written, expected = compile_program(paper), compile_program(spelled)
    assert structure(written, table) == structure(expected, table), (paper, spelled)
    assert written.variables == expected.variables


def evaluate(text: str, **bindings) -> float:
    return adcli.evaluate(text, **bindings)


# -- one table: what you type -> what it means ---------------------------------------------

SAME = [
    # ln and the reciprocal functions
    ("ln(x)", "log(x)"), ("ln x", "log(x)"), ("sec(x)", "1/cos(x)"), ("csc(x)", "1/sin(x)"), ("cot(x)", "1/tan(x)"),
    ("sech(x)", "1/cosh(x)"), ("csch(x)", "1/sinh(x)"), ("coth(x)", "1/tanh(x)"), ("sec x tan x", "sec(x) tan(x)"),
    # bars
    ("|x - 1|", "abs(x - 1)"), ("||x| - 1|", "abs(abs(x) - 1)"), ("2|x|", "2 abs(x)"), ("|x|y", "abs(x) y"),
    ("|x| |y|", "abs(x) abs(y)"), ("|x|^2", "abs(x)^2"), ("|-x|", "abs(-x)"), ("|x| + |y|", "abs(x) + abs(y)"),
    ("x|y|", "x abs(y)"), ("|x - |y||", "abs(x - abs(y))"), ("[|x|, |y|]", "[abs(x), abs(y)]"),
    ("max(|x|, 1)", "max(abs(x), 1)"), ("|x y|", "abs(x y)"), ("|sin x|", "abs(sin(x))"),
    # powers of functions
    ("sin^2(x)", "sin(x)^2"), ("sin^2 x", "sin(x)^2"), ("sin^2(x) y", "sin(x)^2 y"), ("cos^3 2x", "cos(2x)^3"),
    ("sin^2 x + cos^2 x", "sin(x)^2 + cos(x)^2"), ("2 sin^2(x)", "2 sin(x)^2"), ("sin**2 x", "sin(x)^2"),
    # bare application: the argument is the run of juxtaposed factors that follows
    ("sin x", "sin(x)"), ("sin 2x", "sin(2x)"), ("sin x^2", "sin(x^2)"), ("sin x cos x", "sin(x) cos(x)"),
    ("ln x/2", "ln(x)/2"), ("sqrt 2 pi", "sqrt(2pi)"), ("sin x y", "sin(x y)"), ("sin x + 1", "sin(x) + 1"),
    ("2 sin x", "2 sin(x)"), ("-sin x", "-sin(x)"), ("x sin x", "x sin(x)"), ("sin sin x", "sin(sin(x))"),
    ("e^x sin x", "e^x sin(x)"), ("sin x * 2", "sin(x) * 2"),
    ("sin(x) cos x", "sin(x) cos(x)"), ("sin x^2 cos x", "sin(x^2) cos(x)"), ("sin 2 x y", "sin(2 x y)"),
    ("tanh x - 1", "tanh(x) - 1"), ("log x^2", "log(x^2)"), ("sin (x) y", "sin(x) y"), ("sin x.T", "sin(x.T)"),
    ("sin 30°", "sin(30°)"), ("abs x - 1", "abs(x) - 1"), ("sin x < 1", "sin(x) < 1"), ("sin |x|", "sin(abs(x))"),
    # Unicode
    ("π x", "pi x"), ("2π", "2pi"), ("x × y", "x * y"), ("x · y", "x * y"), ("x ⋅ y", "x * y"), ("x∙y", "x * y"), ("x ÷ y", "x / y"), ("x − y", "x - y"),
    ("x²", "x^2"), ("x⁻¹", "x^-1"), ("x³ + y²", "x^3 + y^2"), ("2x²", "2x^2"), ("(x + 1)²", "(x + 1)^2"),
    ("sin²x", "sin(x)^2"), ("sin²(x)", "sin(x)^2"), ("√x", "sqrt(x)"), ("√(x + 1)", "sqrt(x + 1)"),
    ("√(x + 1) y", "sqrt(x + 1) y"), ("√2 x", "sqrt(2 x)"), ("∛x", "cbrt(x)"), ("2√x", "2 sqrt(x)"),
    ("√√x", "sqrt(sqrt(x))"), ("ｘ + x", "x + x"), ("ｓｉｎ(ｘ)", "sin(x)"), ("x ≤ y", "x <= y"), ("x ≠ y", "x != y"),
    ("x ≥ y", "x >= y"), ("|x|²", "abs(x)^2"), ("x²³", "x^23"),
    # user functions, inlined
    ("f(x) = x^2 sin(x); f(2) + f(3)", "2^2 sin(2) + 3^2 sin(3)"), ("g(x, y) = x y + y; g(2, z)", "2 z + z"),
    ("f(t) = t^2; f(x + 1)", "(x + 1)^2"), ("a = 3; f(t) = w + a t; f(x)", "w + 3x"),
    ("f(x) = x^2; g(x) = f(x) + 1; g(y)", "y^2 + 1"), ("f(x) = x^2\nf(y) f(y)", "y^2 y^2"),
    ("f(x) = sin x; f x + f 2x", "sin(x) + sin(2x)"), ("f(x) = x + 1; f(x)^2", "(x + 1)^2"),
    ("f(x) = 2; x + f(x)", "x + 2"), ("f(u, v) = u - v; f(v, u)", "v - u"), ("f(x) = |x|; f(y - 1)", "abs(y - 1)"),
    ("f(x) = x^2; f(f(y))", "(y^2)^2"), ("h(θ) = cos θ; h(x)", "cos(x)"), ("f(x) = x w; f(2) where w = 3", "2 w where w = 3"),
    # comparisons and where
    ("x < 1", "x<1"), ("x^2 >= 2x", "(x^2) >= (2*x)"), ("where(x > 0, x, 0)", "where((x > 0), x, 0)"),
]


@pytest.mark.parametrize("paper, spelled", SAME, ids=lambda text: text)
def test_written_as_on_paper_is_the_spelled_out_program(paper, spelled):
    same_program(paper, spelled)


@pytest.mark.parametrize("text, expected", [
    ("30°", math.pi / 6), ("45°", math.pi / 4), ("90°", math.pi / 2), ("180°", math.pi), ("60°", math.pi / 3),
    ("sin 30°", math.sin(math.pi / 6)), ("cos(60°)", math.cos(math.pi / 3)), ("2 × 3", 6.0), ("7 ÷ 2", 3.5),
    ("5 − 7", -2.0), ("2·3", 6.0), ("2³", 8.0), ("2⁻¹", 0.5), ("π", math.pi), ("√16", 4.0),
    ("∛(-8)", -2.0), ("|3 - 5|", 2.0), ("||-3| - 5|", 2.0), ("ln e", 1.0), ("sec 0", 1.0), ("cot(1)", 1 / math.tan(1)),
])
def test_values(text, expected):
    assert evaluate(text) == pytest.approx(expected, rel=1e-15, abs=0)


def test_degrees_are_exact_fractions_of_pi():
    assert evaluate("30°") == math.pi / 6 and evaluate("45°") == math.pi / 4 and evaluate("180°") == math.pi


@pytest.mark.parametrize("name, reciprocal", [("sec", math.cos), ("csc", math.sin), ("cot", math.tan),
                                              ("sech", math.cosh), ("csch", math.sinh), ("coth", math.tanh)])
def test_reciprocal_functions_have_the_gradient_of_the_quotient(name, reciprocal):
    x, step = 0.7, 1e-6
    value, grads = adcli.grad(f"{name}(x)", x=x)
    assert value == 1 / reciprocal(x)
    expected = (1 / reciprocal(x + step) - 1 / reciprocal(x - step)) / (2 * step)
    assert grads["x"] == pytest.approx(expected, rel=1e-8)


# -- user functions -----------------------------------------------------------------------

def test_user_functions_broadcast_over_arrays():
    program = adcli.compile("f(x) = x^2 sin(x); f(t) + 1")
    t = np.array([0.5, 1.0, 2.0])
    np.testing.assert_array_equal(program.eval(t=t), t ** 2 * np.sin(t) + 1)
    value, grads = program.grad(t=t)
    np.testing.assert_allclose(grads["t"], 2 * t * np.sin(t) + t ** 2 * np.cos(t), rtol=1e-14)


def test_parameters_are_local_and_free_variables_are_the_programs():
    program = adcli.compile("f(x) = x + a; f(2) + x")
    assert program.variables == ("a", "x")  # the body's free variable, then the final expression's
    assert program.eval(a=10.0, x=1.0) == 13.0
    assert program.grad(a=10.0, x=1.0)[1] == {"a": 1.0, "x": 1.0}


def test_a_call_leaves_no_call_behind():
    program = compile_program("f(x) = x^2 sin(x); f(2) + f(3)")
    assert {instruction.op for instruction in program.instructions} <= {"const", "pow", "sin", "mul", "add"}
    assert all("parameter" not in repr(instruction.params) for instruction in program.instructions)


@pytest.mark.parametrize("text, message, column", [
    ("sin(x) = x^2; sin(1)", "cannot define 'sin': it is a function", 1),
    ("ln(x) = x; 1", "cannot define 'ln': it is a function", 1),
    ("pi(x) = x; 1", "cannot define 'pi': it is a constant", 1),
    ("f(x) = x; f(1, 2)", "f takes 1 argument, got 2", 11),
    ("g(x, y) = x y; g(1)", "g takes 2 arguments, got 1", 16),
    ("f(x) = f(x - 1) + 1; f(2)", "recursion: 'f' calls itself", 8),
    ("f(x) = x f x; f(2)", "recursion: 'f' calls itself", 10),
    ("f(x) = f'(x); f(2)", "recursion: 'f' calls itself", 8),
    ("f(x) = g(x) + 1; g(x) = f(x) - 1; f(1)", "recursion: 'f' calls 'g', which calls 'f'", 8),
    ("f(x) = g(x); g(x) = x; f(1)", "'g' is used before its definition", 8),
    ("f(x) = x; f(x) = 2x; f(1)", "'f' is defined twice", 11),
    ("f = 2; f(x) = x; 1", "'f' is defined twice", 8),
    ("f(x, x) = x; f(1, 2)", "'x' is a parameter of 'f' twice", 6),
    ("f(pi) = pi; f(1)", "'pi' cannot be a parameter: it is a constant", 3),
    ("f(sin) = 1; f(1)", "'sin' cannot be a parameter: it is a function", 3),
    ("f(x) = x; f(1, axis=0)", "f takes no keyword arguments", 16),
    ("f(x) = x; f + 1", "'f' is a function: call it as f(...)", 11),
    ("g(x, y) = x; g + 1", "'g' is a function: call it as g(...)", 14),
    ("f(x) = x; 1 where f = 2", "cannot bind 'f': it is a function", 19),
])
def test_user_function_errors_name_the_function_and_its_column(cli, text, message, column):
    run = cli("eval", text)
    assert run.exit_code == 1 and run.stdout == ""
    first, source, caret = run.stderr.splitlines()
    assert first == f"adcli: error: {message} (at column {column})" or (
        first.startswith(f"adcli: error: {message}") and first.endswith(f"(at column {column})")), first
    assert caret.index("^") - 2 == column - 1


# -- derivatives inside the language ----------------------------------------------------------

def test_the_spec_example(cli):
    run = cli("eval", "diff(x^2 sin(x), x)", "--at", "x=1", "--format", "plain")
    assert run.exit_code == 0
    assert float(run.stdout) == pytest.approx(2 * math.sin(1) + math.cos(1), rel=1e-15)


def test_grad_of_diff_is_a_second_derivative(cli):
    run = cli("grad", "diff(x^2 sin(x), x)", "--at", "x=1", "--format", "json")
    import json
    record = json.loads(run.stdout)
    assert record["value"] == pytest.approx(2 * math.sin(1) + math.cos(1), rel=1e-15)
    assert record["grad"]["x"] == pytest.approx(2 * math.sin(1) + 4 * math.cos(1) - math.sin(1), rel=1e-14)


def test_a_builtin_prime_is_its_derivative():
    assert evaluate("sin'(x)", x=0.3) == math.cos(0.3)
    assert evaluate("cos''(x)", x=0.3) == -math.cos(0.3)
    assert evaluate("ln'(x)", x=4.0) == 0.25
    assert evaluate("exp'''(x)", x=1.0) == math.e


def test_unicode_primes_count_as_textbooks_write_them():
    assert evaluate("f(x) = x^4; f′(2)") == 32.0
    assert evaluate("f(x) = x^4; f″(2)") == 48.0 == evaluate("f(x) = x^4; f''(2)")
    assert evaluate("f(x) = x^4; f‴(2)") == 48.0 == evaluate("f(x) = x^4; f" + "'" * 3 + "(2)")
    assert evaluate("sin′(0)") == 1.0


def test_primes_and_diff_share_the_programs_slots():
    # f'(x) and f(x) share sin(x), cos(x) and x^2: the derivative adds only what is new
    alone = len(compile_program("f(x) = x^2 sin(x); f(x)").instructions)
    both = len(compile_program("f(x) = x^2 sin(x); f(x) + f'(x)").instructions)
    derivative = len(compile_program("f(x) = x^2 sin(x); f'(x)").instructions)
    assert both < alone + derivative


def test_derivatives_of_user_functions_with_free_variables():
    program = adcli.compile("f(t) = a t^3; f''(x)")
    assert program.eval(a=2.0, x=1.5) == pytest.approx(2 * 6 * 1.5, rel=1e-15)
    assert program.grad(a=2.0, x=1.5)[1] == pytest.approx({"a": 9.0, "x": 12.0}, rel=1e-15)


def test_diff_with_respect_to_a_parameter_inside_a_function():
    assert evaluate("f(x) = diff(x^3, x); f(2)") == 12.0
    assert evaluate("f(x) = diff(x^3 y, y); f(2) where y = 5") == 8.0


def test_diff_over_arrays_is_each_points_derivative():
    t = np.linspace(0, 1, 5)
    np.testing.assert_allclose(adcli.compile("diff(sin(t^2), t)").eval(t=t), 2 * t * np.cos(t ** 2), rtol=1e-14)


def test_nested_diff_and_order():
    assert evaluate("diff(diff(x^4, x), x)", x=2.0) == 48.0
    assert evaluate("diff(x^4, x, 2)", x=2.0) == 48.0
    assert evaluate("diff(x^4, x, 4)", x=2.0) == 24.0
    assert evaluate("diff(x^4 y^2, y)", x=1.0, y=3.0) == 6.0


@pytest.mark.parametrize("text, message, column", [
    ("diff(x^2)", "diff takes 2 or 3 arguments, got 1", 1),
    ("diff(x^2, 2)", "diff(expr, x): x must be a variable", 11),
    ("diff(x^2, x + 1)", "diff(expr, x): x must be a variable", 11),
    ("diff(x^2, x, 0)", "diff(expr, x, n): n must be a whole number of at least 1", 14),
    ("diff(x^2, x, 1.5)", "diff(expr, x, n): n must be a whole number of at least 1", 14),
    ("diff(x^2, x, 65)", "derivatives go up to order 64, not 65", 14),
    ("diff(x^2, x, y)", "diff's order must be a constant (no variables)", 14),
    ("f(x, y) = x y; f'(1)", "'f' has 2 parameters: a prime needs one", 16),
    ("sum'(x)", "'sum' is not a function of one number: write diff(sum(...), x)", 1),
    ("atan2'(x)", "'atan2' is not a function of one number", 1),
    ("sine'(x)", "unknown function 'sine'; did you mean 'sin'?", 1),
    ("sin'(x, y)", "sin' takes 1 argument, got 2", 1),
    ("sin' x", "unexpected character \"'\"; a prime is written on a call: f'(x)", 4),
])
def test_derivative_errors(cli, text, message, column):
    run = cli("eval", text, "--at", "x=1,y=2")
    assert run.exit_code == 1, run.stdout
    first = run.stderr.splitlines()[0]
    assert first.startswith(f"adcli: error: {message}") and first.endswith(f"(at column {column})"), first


# SymPy's derivatives, at several points and orders, for primes and diff alike.
SYMPY_CASES = [
    ("x^2 sin(x)", "x**2*sin(x)"), ("exp(-x^2)", "exp(-x**2)"), ("ln(1 + x^2)", "log(1 + x**2)"),
    ("sec(x)", "sec(x)"), ("cot x", "cot(x)"), ("csch(x)", "csch(x)"), ("sqrt(1 + x) / (2 + x)", "sqrt(1+x)/(2+x)"),
    ("atan(x) tanh x", "atan(x)*tanh(x)"), ("x^x", "x**x"), ("|x - 3| x", "Abs(x - 3)*x"), ("sin^2 x cos x", "sin(x)**2*cos(x)"),
]


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("text, reference", SYMPY_CASES)
def test_diff_and_primes_match_sympy(text, reference, order):
    x = sympy.Symbol("x", real=True)
    derivative = sympy.diff(sympy.sympify(reference, locals={"x": x}), x, order)
    through_diff = adcli.compile(f"diff({text}, x, {order})")
    through_primes = adcli.compile(f"f(x) = {text}; f{chr(39) * order}(x)")
    for point in (0.3, 1.1, 2.0):
        expected = float(derivative.subs(x, point).evalf(30))
        assert through_diff.eval(x=point) == pytest.approx(expected, rel=1e-11, abs=1e-13), (text, order, point)
        assert through_primes.eval(x=point) == pytest.approx(expected, rel=1e-11, abs=1e-13), (text, order, point)


@pytest.mark.parametrize("name", ["sin", "cos", "tan", "exp", "log", "ln", "sqrt", "atan", "tanh", "sinh", "cosh",
                                  "asin", "acos", "asinh", "atanh", "erf", "sigmoid", "sec", "csc", "cot", "coth",
                                  "log2", "log10", "log1p", "expm1", "cbrt"])
def test_builtin_primes_match_sympy(name):
    x = sympy.Symbol("x", real=True)
    spelled = {"ln": "log", "log2": "log(x, 2)", "log10": "log(x, 10)", "log1p": "log(1 + x)", "expm1": "exp(x) - 1",
               "cbrt": "x**(1/3)", "sigmoid": "1/(1 + exp(-x))"}
    function = sympy.sympify(spelled.get(name, f"{name}(x)") if name in spelled and "x" in spelled[name]
                             else f"{spelled.get(name, name)}(x)", locals={"x": x})
    for order in (1, 2):
        derivative = sympy.diff(function, x, order)
        assert evaluate(f"{name}{chr(39) * order}(x)", x=0.4) == pytest.approx(
            float(derivative.subs(x, 0.4).evalf(30)), rel=1e-12), (name, order)


# -- comparisons and where --------------------------------------------------------------------

@pytest.mark.parametrize("operator, expected", [("<", [1.0, 0.0, 0.0]), ("<=", [1.0, 1.0, 0.0]), (">", [0.0, 0.0, 1.0]),
                                                (">=", [0.0, 1.0, 1.0]), ("==", [0.0, 1.0, 0.0]), ("!=", [1.0, 0.0, 1.0])])
def test_comparisons_give_one_or_zero_and_no_gradient(operator, expected):
    program = adcli.compile(f"x {operator} 2")
    assert [program.eval(x=v) for v in (1.0, 2.0, 3.0)] == expected
    np.testing.assert_array_equal(program.eval(x=np.array([1.0, 2.0, 3.0])), expected)
    assert program.grad(x=1.0)[1] == {"x": 0.0}


def test_comparisons_are_loosest_and_do_not_chain():
    assert evaluate("1 + 1 < 3 * 1") == 1.0  # (1 + 1) < (3 * 1)
    assert evaluate("-1 < 0") == 1.0
    assert evaluate("x < 1 where x = 0") == 1.0
    with pytest.raises(ParseError, match="comparisons do not chain"):
        adcli.compile("0 < x < 1")


def test_where_selects_and_sends_the_gradient_to_the_chosen_branch_only():
    program = adcli.compile("where(x > 0, x^2, -x)")
    assert program.grad(x=3.0) == (9.0, {"x": 6.0})
    assert program.grad(x=-3.0) == (3.0, {"x": -1.0})
    x = np.array([-2.0, 0.0, 2.0])
    value, grads = program.grad(x=x)
    np.testing.assert_array_equal(value, [2.0, -0.0, 4.0])
    np.testing.assert_array_equal(grads["x"], [-1.0, -1.0, 4.0])


def test_where_keeps_a_nan_of_the_branch_not_taken_as_torch_where_does():
    # torch.where(x > 0, x.sqrt(), 0) at x = -1: the zero cotangent meets sqrt's local derivative,
    # 1 / (2 sqrt(-1)) = nan, so the gradient is nan (PyTorch's known where-nan behaviour)
    value, grads = adcli.grad("where(x > 0, sqrt(x), 0)", x=-1.0)
    assert value == 0.0 and math.isnan(grads["x"])
    assert adcli.grad("where(x > 0, sqrt(x), 0)", x=4.0) == (2.0, {"x": 0.25})


# -- suggestions --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("arcsin(x)", "unknown function 'arcsin'; did you mean 'asin'?"),
    ("arctan(x)", "unknown function 'arctan'; did you mean 'atan'?"),
    ("SIN(x)", "unknown function 'SIN'; did you mean 'sin'?"),
    ("Sin(x)", "unknown function 'Sin'; did you mean 'sin'?"),
    ("LN(x)", "unknown function 'LN'; did you mean 'ln'?"),
    ("Cot(x)", "unknown function 'Cot'; did you mean 'cot'?"),
    ("sgn(x)", "unknown function 'sgn'; did you mean 'sign'?"),
    ("ARCCOS(x)", "unknown function 'ARCCOS'; did you mean 'acos'?"),
    ("sine(x)", "unknown function 'sine'; did you mean 'sin'?"),
    ("y(x)", "'y' is not a function; for a product write 'y*(...)'"),
])
def test_unknown_functions_suggest_the_closest_known_one_before_a_product(text, message):
    with pytest.raises(NamingError) as caught:
        adcli.compile(text)
    assert caught.value.message == message


def test_once_unknown_names_now_work():
    for text in ("ln(x)", "sec(x)", "cot(x)", "csc x", "coth x", "sech x", "csch x"):
        adcli.compile(text)


# -- parse errors with carets --------------------------------------------------------------------

@pytest.mark.parametrize("text, message, column", [
    ("|x", "unclosed '|': add the '|' that closes it", 1),
    ("|x - |y|", "unclosed '|': add the '|' that closes it", 1),
    ("(|x)", "unclosed '|': add the '|' that closes it", 2),
    ("[|x, 1]", "unclosed '|': add the '|' that closes it", 2),
    ("x|", "unclosed '|': add the '|' that closes it", 2),
    ("|x|y|z|", "ambiguous '|'", 5),
    ("|a| b |c|", "ambiguous '|'", 7),
    ("||", "unclosed '|': add the '|' that closes it", 2),
    ("sin^-1(x)", "'sin^-1' has two meanings: write asin(x) for the inverse function or sin(x)^-1 for the reciprocal", 1),
    ("sin⁻¹ x", "'sin⁻¹' has two meanings: write asin(x) for the inverse function or sin(x)^-1 for the reciprocal", 1),
    ("sin^(-1)(x)", "'sin^(-1)' has two meanings: write asin(x) for the inverse function or sin(x)^-1", 1),
    ("tan^(-1) x", "'tan^(-1)' has two meanings: write atan(x) for the inverse function or tan(x)^-1", 1),
    ("sqrt^-1(x)", "a power written on a function is a positive whole number; for this one write sqrt(x)^-1", 1),
    ("sin^x y", "a power written on a function is a positive whole number (sin^2 x)", 5),
    ("sin^0 x", "a power written on a function is a positive whole number (sin^2 x)", 5),
    ("sin^2.5 x", "a power written on a function is a positive whole number (sin^2 x)", 5),
    ("sin", "'sin' is a function: call it as sin(...)", 1),
    ("2 + sin", "'sin' is a function: call it as sin(...)", 5),
    ("sin -x", "'sin' is a function: write sin(-...) for a negative argument", 1),
    ("sin + 1", "'sin' is a function: call it as sin(...)", 1),
    ("x° ", "unexpected '°'", 2),
    ("x < 1 < 2", "comparisons do not chain", 7),
    ("x = = 1", "unexpected '='", 5),
])
def test_parse_errors_have_a_caret(cli, text, message, column):
    run = cli("eval", text, "--at", "x=1,y=2,z=3,a=1,b=2,c=3")
    assert run.exit_code == 1, run.stdout
    first, source, caret = run.stderr.splitlines()
    assert first.startswith(f"adcli: error: {message}") and first.endswith(f"(at column {column})"), first
    assert caret.index("^") - 2 == column - 1


def test_the_grammar_is_lalr_without_conflicts(caplog):
    """Lark resolves a shift/reduce conflict silently (as a shift); this grammar must have none."""
    import logging

    from lark import Lark, logger
    from adcli.language.parser import _grammar_text

    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG, logger="lark"):
            Lark(_grammar_text(), parser="lalr", lexer="basic", debug=True)
    finally:
        logger.setLevel(level)
    assert [record.message for record in caplog.records if "onflict" in record.message] == []


# -- Unicode names --------------------------------------------------------------------------------

def test_unicode_names_and_nfkc_in_at(cli):
    run = cli("grad", "θ^2 + α_1 ｘ", "--at", "θ=2,α_1=3,x=5", "--format", "json")
    import json
    assert json.loads(run.stdout)["grad"] == {"θ": 4.0, "α_1": 5.0, "x": 3.0}
    run = cli("eval", "x^2", "--at", "ｘ=3", "--format", "plain")
    assert (run.exit_code, run.stdout.strip()) == (0, "9.0")
    assert cli("eval", "x", "--at", "π=3").exit_code == 1


# -- depth: bars and bare functions nest like parentheses ------------------------------------------

def test_deep_bars():
    depth = 100_000
    assert adcli.grad("|" * depth + "x - 3" + "|" * depth, x=1.0) == (2.0, {"x": -1.0})


def test_deep_bare_functions():
    depth = 100_000
    value, grads = adcli.grad("abs " * depth + "x", x=-2.0)
    assert (value, grads["x"]) == (2.0, -1.0)
    assert adcli.grad("√" * 1000 + "x", x=1.0)[0] == 1.0


def test_deep_bars_through_the_cli(cli):
    depth = 100_000
    run = cli("grad", "|" * depth + "x" + "|" * depth, "--at", "x=-2", "--format", "plain")
    assert (run.exit_code, run.stdout.split()) == (0, ["2.0", "-1.0"])


def test_deep_user_function_calls():
    program = adcli.compile("f(x) = x + 1; " + "f(" * 2000 + "y" + ")" * 2000)
    assert program.grad(y=1.0) == (2001.0, {"y": 1.0})


# -- a property: random programs printed on paper parse to the spelled-out program -----------------

FUNCTIONS = ["sin", "cos", "exp", "tanh", "atan", "ln", "sqrt"]


def _leaf() -> st.SearchStrategy[tuple[str, str]]:
    names = st.sampled_from(["x", "y", "w"]).map(lambda n: (n, n))
    numbers = st.sampled_from(["2", "3", "0.5"]).map(lambda n: (n, n))
    return st.one_of(names, numbers)


def _node(children: st.SearchStrategy[tuple[str, str]]) -> st.SearchStrategy[tuple[str, str]]:
    function = st.sampled_from(FUNCTIONS)
    atom = _leaf()
    power = st.sampled_from([("2", "²"), ("3", "³")])
    return st.one_of(
        children.map(lambda c: (f"|{c[0]}|", f"abs({c[1]})")),
        st.tuples(function, atom).map(lambda t: (f"({t[0]} {t[1][0]})", f"{t[0]}({t[1][1]})")),
        st.tuples(function, st.sampled_from(["2", "3"]), st.sampled_from(["x", "y"])).map(
            lambda t: (f"({t[0]} {t[1]}{t[2]})", f"{t[0]}({t[1]}*{t[2]})")),
        st.tuples(function, children).map(lambda t: (f"{t[0]}|{t[1][0]}|", f"{t[0]}(abs({t[1][1]}))")),
        st.tuples(function, power, children).map(
            lambda t: (f"({t[0]}^{t[1][0]} ({t[2][0]}))", f"({t[0]}(({t[2][1]}))^{t[1][0]})")),
        st.tuples(function, power, atom).map(lambda t: (f"({t[0]}{t[1][1]}{t[2][0]})", f"({t[0]}({t[2][1]})^{t[1][0]})")),
        st.tuples(children, power).map(lambda t: (f"({t[0][0]}){t[1][1]}", f"({t[0][1]})^{t[1][0]}")),
        st.tuples(children, st.sampled_from([("×", "*"), ("·", "*"), ("÷", "/"), ("−", "-"), ("+", "+")]), children).map(
            lambda t: (f"({t[0][0]} {t[1][0]} {t[2][0]})", f"({t[0][1]} {t[1][1]} {t[2][1]})")),
        st.tuples(children, children).map(lambda t: (f"f({t[0][0]}, {t[1][0]})", f"(({t[0][1]})^2 - ({t[1][1]}))")),
        children.map(lambda c: (f"g({c[0]})", f"(2 * ({c[1]}))")),
        children.map(lambda c: (f"(g |{c[0]}|)", f"(2 * abs({c[1]}))")),
        children.map(lambda c: (f"√({c[0]})", f"sqrt({c[1]})")),
        children.map(lambda c: (f"(({c[0]}) π)", f"(({c[1]}) * pi)")),
    )


PAPER_PROGRAMS = st.recursive(_leaf(), _node, max_leaves=12)
DEFINITIONS = "f(a, b) = a^2 - b; g(t) = 2 t\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PAPER_PROGRAMS)
def test_random_programs_on_paper_are_their_spelled_out_forms(pair):
    paper, spelled = pair
    written = compile_program(DEFINITIONS + paper)
    expected = compile_program(spelled)
    table: dict = {}
    assert structure(written, table) == structure(expected, table), (paper, spelled)
    point = {"x": 0.7, "y": 1.3, "w": -0.4}
    with np.errstate(all="ignore"):
        got = adcli.Compiled(written).eval(**{n: point[n] for n in written.variables})
        want = adcli.Compiled(expected).eval(**{n: point[n] for n in expected.variables})
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("text, hint", [("arcsin x", "asin"), ("SIN x", "sin"), ("sgn(x) + sgn x", "sign")])
def test_a_variable_named_as_a_function_elsewhere_says_which_function(cli, text, hint):
    run = cli("eval", text, "--at", "x=0.5")
    assert run.exit_code == 1
    assert f"has no value; if the function is meant, write '{hint}'" in run.stderr or \
        f"did you mean '{hint}'?" in run.stderr
