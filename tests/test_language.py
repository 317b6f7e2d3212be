"""SPEC section 1, the expression language, rule by rule; and the order of variables (section 3)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import adcli
from adcli import NamingError, ParseError


def value(text: str, **bindings: float) -> float:
    return adcli.evaluate(text, **bindings)


# -- numbers ---------------------------------------------------------------------------

@pytest.mark.parametrize("literal", ["2", "2.5", ".5", "1e-3", "2.5E+4", "2.", "0.125e2", "7E3", "00012", "1e+0"])
def test_number_forms(literal):
    assert value(literal) == float(literal)


def test_numbers_are_float64():
    assert value("1/3") == 1 / 3
    assert value("2^0.5") == math.sqrt(2)
    assert value("9007199254740993") == 9007199254740992.0  # rounds as float64 does


@pytest.mark.parametrize("text", ["2..5", "1.2.3", "2.5.", "..5"])
def test_two_dots_are_an_error(text):
    with pytest.raises(ParseError):
        adcli.compile(text)


def test_an_exponent_needs_digits():
    assert value("2e") == 2 * math.e
    assert value("2e-1") == 0.2
    assert value("2e+1") == 20.0
    assert value("2e x", x=3) == 2 * math.e * 3
    assert value("2E", E=5) == 10.0  # only lower-case e is the constant


def test_constants():
    assert value("pi") == math.pi
    assert value("e") == math.e
    assert adcli.compile("pi e + x").variables == ("x",)


# -- precedence and associativity --------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("-x^2", -9.0),
    ("-x**2", -9.0),
    ("2^-1", 0.5),
    ("2^-x", 2.0 ** -3),
    ("2^3^2", 2.0 ** 9),
    ("2**3**2", 2.0 ** 9),
    ("2^3**2", 2.0 ** 9),
    ("(2^3)^2", 64.0),
    ("2^-x^2", 2.0 ** -9),
    ("-2^2", -4.0),
    ("(-2)^2", 4.0),
    ("1/2x", 1.5),
    ("1/2 x", 1.5),
    ("x/2/3", 0.5),
    ("12/x*2", 8.0),
    ("x - 1 - 1", 1.0),
    ("x -1", 2.0),
    ("x - -1", 4.0),
    ("x--1", 4.0),
    ("+x", 3.0),
    ("-+-x", 3.0),
    ("2 + 3 * x", 11.0),
    ("(2 + 3) * x", 15.0),
    ("2 + x^2 * 3", 29.0),
    ("x.T", 3.0),
])
def test_precedence(text, expected):
    assert value(text, x=3) == expected


def test_x_minus_y_is_a_subtraction():
    assert value("x -y", x=5, y=2) == 3.0
    assert value("x - y", x=5, y=2) == 3.0
    assert value("x +y", x=5, y=2) == 7.0


@pytest.mark.parametrize("text, expected", [
    ("2x", lambda x, y: 2 * x),
    ("2 x", lambda x, y: 2 * x),
    ("2x^2", lambda x, y: 2 * x ** 2),
    ("2 sin(x)", lambda x, y: 2 * math.sin(x)),
    ("(x-4)(x^2+6)", lambda x, y: (x - 4) * (x ** 2 + 6)),
    ("3(x+1)", lambda x, y: 3 * (x + 1)),
    ("x y", lambda x, y: x * y),
    ("x y^2", lambda x, y: x * y ** 2),
    ("x^2 y", lambda x, y: x ** 2 * y),
    ("-x y", lambda x, y: -x * y),
    ("sin(x)(y)", lambda x, y: math.sin(x) * y),
    ("sin(x)(x+1)", lambda x, y: math.sin(x) * (x + 1)),
    ("cos(x) sin(y)", lambda x, y: math.cos(x) * math.sin(y)),
    ("x(y)", None),
    ("2 pi x", lambda x, y: 2 * math.pi * x),
    ("x/2y", lambda x, y: x / 2 * y),
    ("x y / 2 y", lambda x, y: x * y / 2 * y),
])
def test_implicit_multiplication(text, expected):
    if expected is None:  # `name (` is always a call, so a variable before `(` is an error
        with pytest.raises(NamingError, match=r"'x\*\(\.\.\.\)'"):
            adcli.compile(text)
        return
    assert value(text, x=1.25, y=-0.75) == pytest.approx(expected(1.25, -0.75), rel=1e-15)


@pytest.mark.parametrize("text", ["sin (x)", "sin\t(x)", "sin  ( x )"])
def test_name_then_paren_is_a_call_whatever_the_space(text):
    assert value(text, x=0.5) == math.sin(0.5)


@pytest.mark.parametrize("text, name", [("x (2)", "x"), ("pi(2)", "pi"), ("a = 2; a(3)", "a"), ("f(a)(b)", "f")])
def test_call_of_a_non_function_suggests_a_product(text, name):
    with pytest.raises(NamingError) as error:
        adcli.compile(text)
    assert f"'{name}*(...)'" in error.value.message


@pytest.mark.parametrize("text", ["2 3", "(x+1)2", "x 2", "sin(x) 2", "2 -x y 3", "[1, 2] 3"])
def test_a_juxtaposed_number_is_an_error(text):
    with pytest.raises(ParseError, match="write '\\*'"):
        adcli.compile(text)


# -- functions -------------------------------------------------------------------------

def test_log_with_a_base():
    assert value("log(8, 2)") == pytest.approx(3.0, rel=1e-15)
    assert value("log(x, 10)", x=1000) == pytest.approx(3.0, rel=1e-15)
    _, grads = adcli.grad("log(x, 2)", x=3.0)
    assert grads["x"] == pytest.approx(1 / (3.0 * math.log(2)), rel=1e-15)
    _, grads = adcli.grad("log(8, b)", b=2.0)
    assert grads["b"] == pytest.approx(-math.log(8) / (2.0 * math.log(2) ** 2), rel=1e-14)


def test_cbrt_is_the_real_root_and_fractional_power_of_a_negative_is_nan():
    assert value("cbrt(-8)") == -2.0
    assert math.isnan(value("x^(1/3)", x=-8))


def test_calls_that_differ_only_in_the_sign_of_a_zero_parameter_are_two_calls():
    """-1 * -0.0 is 0.0 and -1 * 0.0 is -0.0: the slopes are equal floats, but the calls are not the same."""
    compiled = adcli.compile("1/leaky_relu(x, 0) + 1/leaky_relu(x, -0)")
    assert sum(instruction.op == "leaky_relu" for instruction in compiled.program.instructions) == 2
    assert math.isnan(compiled.eval(x=-1.0))  # -inf + inf


def test_two_argument_max_and_min_are_elementwise():
    assert value("max(x, 2)", x=3) == 3.0
    assert value("min(x, 2)", x=3) == 2.0
    assert list(value("max([1, 5], [4, 2])")) == [4.0, 5.0]


# -- programs --------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "a = x^2; b = a + 1; 2b",
    "a = x^2\nb = a + 1\n2b",
    "a = x^2;\n\n  b = a + 1 ;\n2b\n",
    "\n# squares\na = x^2 # the square\nb = a + 1; # one more\n2b  # twice",
    "a = x^2\r\nb = a + 1\r\n2b\r\n",
    ";a = x^2;;b = a + 1;2b;",
])
def test_definitions(text):
    assert value(text, x=3) == 20.0
    assert adcli.compile(text).variables == ("x",)


def test_a_definition_is_not_a_variable():
    _, grads = adcli.grad("a = x y; a + a", x=2.0, y=5.0)
    assert grads == {"x": 10.0, "y": 4.0}


@pytest.mark.parametrize("text, message", [
    ("a = 1; a = 2; a", "'a' is defined twice"),
    ("pi = 3; pi", "cannot define 'pi': it is a constant"),
    ("e = 3; e", "cannot define 'e': it is a constant"),
    ("sin = 3; sin", "cannot define 'sin': it is a function"),
    ("max = 3; 1", "cannot define 'max': it is a function"),
    ("y = x; x = 2; y", "'x' is used before its definition"),
])
def test_bad_definitions(text, message):
    with pytest.raises(NamingError) as error:
        adcli.compile(text)
    assert error.value.message == message


def test_where_clause():
    assert value("w*x + b where x=1, w=2, b=3") == 5.0
    assert value("x^2 where x = pi/4") == (math.pi / 4) ** 2
    assert value("sum(x) where x=[1, 2, 3]") == 6.0
    assert value("a = x + 1; a^2 where x=2") == 9.0


def test_where_wins_over_bindings(cli):
    assert value("x where x=3", x=5) == 3.0
    run = cli("eval", "x + y where x=3", "--at", "x=5,y=1", "--format", "plain")
    assert (run.exit_code, run.stdout.split()) == (0, ["4.0"])


@pytest.mark.parametrize("text, kind", [
    ("x where y=x", adcli.BindingError),
    ("x where x=1, x=2", NamingError),
    ("x where pi=1", NamingError),
    ("a = 1; a where a=2", NamingError),
    ("x where", ParseError),
    ("x where x", ParseError),
    ("x where x=1 where y=2", ParseError),
])
def test_where_misuse(text, kind):
    with pytest.raises(kind):
        adcli.compile(text)


def test_comments():
    assert value("x^2 # the square", x=3) == 9.0
    assert value("# a comment line\nx + 1", x=1) == 2.0
    assert value("x #) unbalanced ( in a comment", x=1) == 1.0
    assert value("a = x # sin(\na + 1", x=1) == 2.0


@pytest.mark.parametrize("text", ["", "   ", "# only a comment", "\n\n# two\n"])
def test_empty_program_is_an_error(text):
    with pytest.raises(ParseError, match="empty program"):
        adcli.compile(text)


def test_whitespace_is_free():
    assert value(" \t( x\t+1 ) ^ 2 ", x=1) == 4.0


@pytest.mark.parametrize("text, one_line", [
    ("(x\n+ 1)^2", "(x + 1)^2"),
    ("sin(\n  x\n)", "sin(x)"),
    ("a = (x +\n     1)\na^2", "a = (x + 1); a^2"),
    ("sum([x,\n     2x,\r\n     3x])", "sum([x, 2x, 3x])"),
    ("max(x, # the larger (of two\n    2)", "max(x, 2)"),
    ("atan2(\n  x,\n  (1 +\n   x)\n)", "atan2(x, (1 + x))"),
    ("a = x # (\nb = a\nb + x", "a = x; b = a; b + x"),
])
def test_a_new_line_inside_brackets_is_whitespace(text, one_line):
    """As in Python: inside () or [] a line break is space; outside, it still ends a definition."""
    assert value(text, x=1.5) == value(one_line, x=1.5)
    assert adcli.compile(text).grad(x=1.5) == adcli.compile(one_line).grad(x=1.5)


def test_a_wrapped_line_keeps_its_place_in_messages():
    compiled = adcli.compile("(x +\n  log(x - 3))")
    assert compiled.program.text == "(x +\n  log(x - 3))"
    with pytest.raises(NamingError, match=r"\(at line 2, column 3\)"):
        adcli.compile("(x +\n  sine(x))")


# -- the order of variables (SPEC section 3) ----------------------------------------------

@pytest.mark.parametrize("text, order", [
    ("b + a*c", ("b", "a", "c")),
    ("u = z*y; u + x", ("z", "y", "x")),
    ("u = z; v = y; x + v + u", ("z", "y", "x")),
    ("b + a where a=1, b=2", ("b", "a")),
    ("y^2 + x y + y", ("y", "x")),
])
def test_variables_in_order_of_first_appearance(text, order):
    assert adcli.compile(text).variables == order


def test_gradient_order_puts_unused_bindings_last_in_binding_order(cli):
    _, grads = adcli.grad("b + a", q=1.0, a=2.0, p=3.0, b=4.0)
    assert list(grads) == ["b", "a", "q", "p"]
    run = cli("grad", "b + a where a=1", "--at", "p=3", "--at", "b=4", "--format", "json")
    assert run.exit_code == 0, run.stderr
    assert list(run.json()["grad"]) == ["b", "a", "p"]


def test_unused_bound_variable_has_gradient_zero():
    _, grads = adcli.grad("x^2", x=3.0, y=7.0)
    assert grads == {"x": 6.0, "y": 0.0}
    _, grads = adcli.grad("x^2", x=3.0, v=[1.0, 2.0, 3.0])
    assert np.array_equal(grads["v"], np.zeros(3))


def test_wrt_chooses_and_orders():
    _, grads = adcli.grad("x y", wrt=["y", "x"], x=2.0, y=3.0)
    assert list(grads.items()) == [("y", 2.0), ("x", 3.0)]


@pytest.mark.parametrize("text, column, char", [("½x", 1, "½"), ("x½ + 1", 2, "½"), ("1 + ①", 5, "①"),
                                                ("f(½) = 1; f(2)", 3, "½")])
def test_a_character_that_normalises_to_no_name_is_an_error(text, column, char):
    # NFKC turns '½x' into '1⁄2x' and '①' into '1': variables that --at could never bind
    with pytest.raises(ParseError) as caught:
        adcli.compile(text)
    assert caught.value.span == (column - 1, column) and repr(char) in caught.value.message
    assert "not a letter or digit of a name" in caught.value.message


def test_full_width_and_subscript_names_still_normalise():
    assert adcli.evaluate("ｘ + x₁", x=1.0, x1=2.0) == 3.0
