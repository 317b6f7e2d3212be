"""Taylor mode: one forward sweep of truncated power series gives a program's Taylor coefficients.

Each slot holds its value's series in t = x - a (series.Series), or a plain float where it
does not depend on x, and each instruction applies its primitive's Taylor rule from the
table. Orders 0..N come out of one sweep at O(N^2) operations per instruction, where
nested differentiation records a program per order.

A quotient whose numerator and denominator both vanish at the point cancels their leading
zeros, which costs terms: the sweep runs again with as many more as the output lacked.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple

from ..lazy_numpy import np

from ..errors import BindingError, SeriesError
from . import series
from .diagnostics import all_finite, kinks
from .primitives import PRIMITIVES
from .program import Instruction, Program
from .sweeps import Interpreter, evaluate
from .tape import describe

MORE_TERMS_LIMIT = 256  # a zero operand is looked into up to this many terms (or 4x the order asked for)


class SeriesInterpreter(Interpreter):
    """What Taylor mode makes of each instruction: constants as floats, x as a + t, the rest by the table's rules."""

    def __init__(self, program: Program, name: str, point: float, terms: int):
        self.program = program
        self.name = name
        self.point = point
        self.terms = terms
        self.instruction: Instruction | None = None  # the one being applied, for errors

    def constant(self, value: Any) -> float:
        return value

    def variable(self, name: str, inputs: Mapping[str, Any]) -> series.Operand:
        return series.variable(self.point, self.terms) if name == self.name else inputs[name]

    def forward(self, instruction: Instruction, operands: list[series.Operand]) -> series.Operand:
        self.instruction = instruction
        op, _, params, _ = instruction
        primitive = PRIMITIVES[op]
        if not any(isinstance(operand, series.Series) for operand in operands):
            with np.errstate(all="ignore"):
                value = primitive.forward(*operands, **dict(params))
            if np.ndim(value) != 0:
                raise self._error("is an array: taylor and limit expand scalar formulas")
            return float(value)
        if primitive.taylor is None:
            raise self._error("has no power series rule: taylor and limit expand scalar formulas")
        try:
            with np.errstate(all="ignore"):
                result = primitive.taylor(*operands, **dict(params))
        except series.NotAnalytic as reason:
            raise self._error(f"is not analytic at {self.name}={self.point!r} ({reason}), so power series do not apply")
        return series.capped(result, self.terms) if isinstance(result, series.Series) else float(result)

    def _error(self, problem: str) -> SeriesError:
        instruction = self.instruction
        return SeriesError(f"{describe(self.program, instruction)} {problem}", self.program.text, instruction.span)


def expand(program: Program, inputs: Mapping[str, Any], name: str, precision: int) -> series.Series:
    """The output's series in t = name - inputs[name], exact up to O(t^precision) at least.

    The sweep runs again with more terms when quotients used some up cancelling zeros, or
    when an operand was zero as far as its terms went.
    """
    scalars = _scalar_inputs(program, inputs, name)
    point = scalars[name]
    terms, limit = precision, max(4 * precision, MORE_TERMS_LIMIT)
    while True:
        interpreter = SeriesInterpreter(program, name, point, terms)
        try:
            output = evaluate(program, scalars, interpreter)[program.output]
        except series.NeedsMoreTerms:
            if terms >= limit:
                raise interpreter._error(f"meets an operand that is 0 to all {terms} terms at {name}={point!r}: "
                                         "Taylor mode cannot tell what it does there") from None
            terms = min(2 * terms, limit)
            continue
        if not isinstance(output, series.Series):
            return series.constant(output, precision)
        if output.precision >= precision:
            return series.capped(output, precision)
        terms += precision - output.precision


def _scalar_inputs(program: Program, inputs: Mapping[str, Any], name: str) -> dict[str, float]:
    scalars = {}
    for name in dict.fromkeys((*program.variables, name)):
        value = inputs[name]
        if np.ndim(value) != 0:
            raise BindingError(f"'{name}' is an array of shape {np.shape(value)}: taylor and limit expand at one point")
        scalars[name] = float(value)
    return scalars


def taylor_coefficients(program: Program, inputs: Mapping[str, Any], name: str, order: int) -> list[float]:
    """c_k = f^(k)(a) / k! for k = 0..order: the Taylor coefficients of the output at name = a."""
    expansion = series.normalized(expand(program, inputs, name, order + 1))
    if expansion.valuation < 0:
        instruction = program.instructions[program.output]
        raise SeriesError(f"the formula has a pole of order {-expansion.valuation} at {name}={float(inputs[name])!r}: "
                          "there is no Taylor series there (adcli limit tells how it grows)",
                          program.text, instruction.span)
    return series.taylor_part(expansion, order + 1).tolist()


class Limit(NamedTuple):
    left: float
    right: float
    # At a pole whose leading coefficient is tiny beside the next one (rounding error, as sin(x)
    # at the float64 nearest pi): the limit if that coefficient were 0.
    without_rounding: Limit | None = None

    @property
    def value(self) -> float | None:
        """The limit, when both sides agree (nan compares unequal, so a nan limit is its own value)."""
        if self.left == self.right or (math.isnan(self.left) and math.isnan(self.right)):
            return self.left
        return None


ROUNDING = 64 * 2.0 ** -52  # a leading coefficient this small beside the next one may be a rounded 0


def limit(program: Program, inputs: Mapping[str, Any], name: str) -> Limit:
    """The output's limits from the left and from the right as name -> a, from the leading term of its series."""
    return _leading_limit(series.normalized(expand(program, inputs, name, 1)), doubt=True)


def _leading_limit(expansion: series.Series, doubt: bool) -> Limit:
    coefficients, valuation = expansion
    if len(coefficients) == 0 or valuation > 0:
        return Limit(0.0, 0.0)
    leading = float(coefficients[0])
    if valuation == 0:
        return Limit(leading, leading)
    right = math.copysign(math.inf, leading)  # a pole: c t^-m grows without bound, its sign set by c and m
    alternative = None
    if doubt and len(coefficients) > 1 and abs(leading) <= ROUNDING * abs(coefficients[1]):
        alternative = _leading_limit(series.normalized(series.Series(coefficients[1:], valuation + 1)), doubt=False)
    return Limit(right if valuation % 2 == 0 else -right, right, alternative)


SMALLEST_TRUSTED = 1e-280  # a coefficient this close to float64's underflow has lost digits


def _zero_exponent(program: Program, values: list[Any]) -> bool:
    """A power whose exponent is 0 here: PyTorch's base gradient is where(y == 0, 0, y x^(y-1)), so where the
    exponent varies (x^x, (2 + x)^x) its higher derivatives lack the masked term, as the nested program's do;
    the series has no mask (d2/dx2 of (2 + x)^x at 0: 1.48 by series, 0.98 by PyTorch's rule)."""
    return any(instruction.op == "pow" and bool(np.any(np.asarray(values[instruction.args[1]]) == 0.0))
               for instruction in program.instructions)  # an array exponent too: sum(x^[0, 1])


def derivative_at(program: Program, inputs: Mapping[str, Any], values: list[Any], name: str, order: int) -> float | None:
    """d^order/d name^order at a scalar point as order! c_order from one Taylor sweep, or None where the
    nested derivative program must answer instead.

    That is: an array, a nan or inf anywhere in the forward `values`, a point on a kink or domain
    edge of some primitive (there PyTorch's conventions, which the nested program follows, are
    the contract), a part that is not analytic, or a coefficient near underflow. Elsewhere both
    agree to rounding, and one sweep is much faster from order 2 on.
    """
    if not all(np.ndim(value) == 0 for value in inputs.values()) or not all(map(all_finite, values)):
        return None
    if any(np.ndim(value) == 0 and 0.0 < abs(float(value)) < SMALLEST_TRUSTED for value in values):  # terms drop out
        return None
    if kinks(program, values) or _zero_exponent(program, values):
        return None
    try:
        coefficient = taylor_coefficients(program, inputs, name, order)[order]
    except SeriesError:
        return None
    derivative = coefficient * math.factorial(order)
    if coefficient != 0.0 and abs(coefficient) < SMALLEST_TRUSTED or not math.isfinite(derivative):
        return None
    return derivative
