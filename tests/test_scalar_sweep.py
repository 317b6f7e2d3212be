"""The scalar sweep (Python floats and `math`) against the NumPy sweep it stands in for."""

from __future__ import annotations

import itertools
import math
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import adcli
from adcli.engine.primitives import FUNCTIONS, PRIMITIVES
from adcli.engine.tape import scalar_forward, scalar_gradients
from test_properties import RandomProgram, points, programs

SCALAR_FORMS = sorted(name for name, primitive in PRIMITIVES.items() if primitive.scalar is not None)

# Forms that compute exactly what NumPy computes, bit for bit (IEEE operations, selections, or
# the same code: erf is math.erf in both). The others are libm against NumPy's SIMD functions.
EXACT = {"add", "sub", "mul", "div", "neg", "sqrt", "abs", "sign", "floor", "ceil", "maximum", "minimum",
         "relu", "where", "sum_to_like", "broadcast_like", "equal", "greater", "greater_equal",
         "logical_and", "erf", "rsqrt", "leaky_relu", "clip"}
ROUNDING = 1e-15  # libm and NumPy's SIMD functions differ by an ulp or two

OPERANDS = [-3.5, -1.0, -0.5, -0.0, 0.0, 1e-300, 0.3, 0.5, 1.0, 2.0, 7.25, 30.0, 800.0]


def test_every_elementwise_primitive_has_a_scalar_form():
    missing = {name for name, primitive in PRIMITIVES.items() if primitive.elementwise and primitive.scalar is None}
    assert missing == ({"cbrt"} if sys.version_info < (3, 11) else set())  # math.cbrt is new in 3.11


def _numpy_result(name: str, operands: tuple[float, ...]) -> float:
    with np.errstate(all="ignore"):
        return float(PRIMITIVES[name].forward(*[np.float64(operand) for operand in operands]))


@pytest.mark.parametrize("name", SCALAR_FORMS)
def test_scalar_form_agrees_with_numpy_or_hands_over(name):
    primitive = PRIMITIVES[name]
    for operands in itertools.product(OPERANDS, repeat=primitive.arity):
        expected = _numpy_result(name, operands)
        try:
            found = float(primitive.scalar(*operands))
        except (ArithmeticError, ValueError):
            assert not math.isfinite(expected), (name, operands)  # raising is for NumPy's nan and inf only
            continue
        if not math.isfinite(found):
            assert found == expected or math.isnan(found) and math.isnan(expected), (name, operands)
        elif name in EXACT:
            assert found == expected and math.copysign(1, found) == math.copysign(1, expected), (name, operands)
        else:
            assert abs(found - expected) <= ROUNDING * abs(expected), (name, operands, found, expected)


def _spellings() -> list[str]:
    unary = [f"{name}(x)" for name, arities in FUNCTIONS.items() if 1 in arities and name not in ("sum", "mean", "prod",
                                                                                                  "norm", "max", "min")]
    return unary + ["x + y", "x - y", "x y", "x / y", "x ^ y", "-x", "atan2(x, y)", "hypot(x, y)", "max(x, y)",
                    "min(x, y)", "log(x, y)", "x ^ 3", "(x - y)^0.5"]


def _numpy_grad(compiled: adcli.Compiled, point: dict[str, float]) -> tuple[float, dict[str, float]]:
    return compiled.grad(**{name: np.float64(value) for name, value in point.items()})  # NumPy scalars: NumPy sweep


def _same(found: float, expected: float) -> bool:
    if not math.isfinite(expected):
        return found == expected or math.isnan(found) and math.isnan(expected)
    return abs(found - expected) <= 1e-14 * max(1.0, abs(expected))


@pytest.mark.parametrize("text", _spellings())
def test_value_and_gradient_match_the_numpy_sweep_including_edges(text):
    compiled = adcli.compile(text)
    for x, y in itertools.product([-2.0, -1.0, -0.0, 0.0, 0.5, 1.0, 3.0, 25.0], [-1.5, 0.0, 1.0, 2.0]):
        point = {"x": x, "y": y}
        value, grads = compiled.grad(**point)
        expected_value, expected_grads = _numpy_grad(compiled, point)
        assert type(value) is float and _same(value, expected_value), (text, point)
        for name in grads:
            assert _same(grads[name], expected_grads[name]), (text, point, name)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=programs(), point=points)
def test_random_programs_give_the_numpy_sweeps_results(program: RandomProgram, point):
    compiled = adcli.compile(program.text)
    value, grads = compiled.grad(**point)
    expected_value, expected_grads = _numpy_grad(compiled, point)
    assert _same(value, expected_value)
    assert all(_same(grads[name], expected_grads[name]) for name in grads)


def test_gradient_of_an_unused_variable_is_a_float_zero():
    value, grads = adcli.grad("x^2", x=3.0, y=1.0)
    assert (value, grads) == (9.0, {"x": 6.0, "y": 0.0}) and type(grads["y"]) is float


def test_negative_zero_survives_the_scalar_sweep():
    value, grads = adcli.grad("-x", x=0.0)
    assert math.copysign(1, value) == -1 and grads == {"x": -1.0}


@pytest.mark.parametrize("text, point", [("(sqrt(x)+1)^3", {"x": 2.0}), ("(x+2y)^2", {"x": 1.0, "y": 2.0}),
                                         ("(x-4)(x^2+6)", {"x": 0.0}), ("w*x + b", {"x": 1.0, "w": 2.0, "b": 3.0})])
def test_scalar_programs_take_the_scalar_sweep(text, point):
    compiled = adcli.compile(text)
    inputs = compiled.inputs(point)
    values = scalar_forward(compiled.program, inputs)
    assert values is not None and all(type(value) is float for value in values)
    grads = scalar_gradients(compiled.program, values, list(point), compiled.program.output)
    assert grads == compiled.grad(**point)[1]


@pytest.mark.parametrize("text", ["log(x)", "1/x", "sqrt(x)", "x^-1", "atan2(x, x)"])
def test_edges_leave_the_scalar_sweep(text):
    compiled = adcli.compile(text)
    inputs = compiled.inputs({"x": 0.0})
    values = scalar_forward(compiled.program, inputs)
    assert values is None or scalar_gradients(compiled.program, values, ["x"], compiled.program.output) is None
