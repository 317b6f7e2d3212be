"""A recorded scalar program -> one expression of an Algebra, in one loop over its instructions.

The reverse sweep's recordings carry masks that keep PyTorch's values at edges (where(y == 0,
0, ...) in pow's rule, relu's threshold). A formula keeps what matters away from such edges:
an equality test is taken as false (it holds only on a set of measure zero, where the
formula may give nan or a limit instead of PyTorch's convention), while an inequality stays
exact as sign(relu(a - b)), which is 1 where a > b and 0 elsewhere.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Mapping

from ..engine.primitives import LN10, LN2, PRIMITIVES, TWO_OVER_SQRT_PI
from ..engine.program import CONST, VAR, Program
from ..errors import ShapeError
from .algebra import Algebra

# primitives that are the language's functions of the same name
_SAME_NAME = frozenset(("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh",
                        "atanh", "exp", "expm1", "log", "log2", "log10", "log1p", "cbrt", "abs", "sign", "floor",
                        "ceil", "sigmoid", "relu", "softplus", "erf", "atan2", "hypot"))
_RENAMED = {"maximum": "max", "minimum": "min", "softplus_slope": "sigmoid"}  # softplus' slope is sigmoid below 20
_PASS_FIRST = frozenset(("broadcast_like", "sum_to_like"))  # on scalars they return their first operand

ARRAY_HINT = "adcli diff prints formulas of scalar programs; for arrays use 'adcli grad'"


class ArrayProgram(ShapeError):
    """A program that works on arrays: it has no formula here."""


def to_expression(algebra: Algebra, program: Program, output: int, values: Mapping[str, Any]) -> int:
    """The expression of one output slot, with the variables in `values` replaced by their numbers."""
    nodes: list[int] = []
    for op, args, params, span in program.instructions:
        if op == CONST:
            node = constant(algebra, params[0][1], program, span)
        elif op == VAR:
            name = params[0][1]
            node = constant(algebra, values[name], program, span) if name in values else algebra.var(name)
        else:
            node = _apply(algebra, op, [nodes[a] for a in args], program, span)
        nodes.append(node)
    return nodes[output]


def check_scalar(program: Program) -> None:
    """Refuse an array program before any recording: point at its first array operation or literal."""
    for op, _, params, span in program.instructions:
        if op == CONST and not isinstance(params[0][1], (float, int)) and getattr(params[0][1], "ndim", 0):
            raise ArrayProgram(ARRAY_HINT, program.text, span)
        if op not in (CONST, VAR) and op not in _SCALAR_OPERATIONS:
            raise ArrayProgram(ARRAY_HINT, program.text, span)


def constant(algebra: Algebra, value: Any, program: Program, span: tuple[int, int]) -> int:
    """A scalar as a number, or as the constant it is (pi, e, log 2, 2/sqrt(pi))."""
    if not isinstance(value, (float, int)):
        try:
            value = float(value)  # a NumPy scalar
        except (TypeError, ValueError):
            raise ArrayProgram(ARRAY_HINT, program.text, span) from None
    value = float(value)
    if math.isfinite(value):
        for known, build in _KNOWN_CONSTANTS:
            if abs(value) == known:
                node = build(algebra)
                return node if value > 0 else algebra.neg(node)
    return algebra.num(value)


_KNOWN_CONSTANTS = (
    (math.pi, lambda a: a.named("pi")),
    (math.e, lambda a: a.named("e")),
    (LN2, lambda a: a.fn("log", a.num(Fraction(2)))),
    (LN10, lambda a: a.fn("log", a.num(Fraction(10)))),
    (TWO_OVER_SQRT_PI, lambda a: a.mul(a.num(Fraction(2)), a.power(a.named("pi"), a.num(Fraction(-1, 2))))),
)


def _apply(algebra: Algebra, op: str, operands: list[int], program: Program, span: tuple[int, int]) -> int:
    a = algebra
    if op == "add":
        return a.add(*operands)
    if op == "sub":
        return a.sub(*operands)
    if op == "mul":
        return a.mul(*operands)
    if op == "div":
        return a.div(*operands)
    if op == "neg":
        return a.neg(operands[0])
    if op == "pow":
        return a.power(*operands)
    if op == "sqrt":
        return a.power(operands[0], a.num(Fraction(1, 2)))
    if op == "rsqrt":
        return a.power(operands[0], a.num(Fraction(-1, 2)))
    if op in _PASS_FIRST:
        return operands[0]
    if op in _SAME_NAME or op in _RENAMED:
        return a.fn(_RENAMED.get(op, op), *operands)
    if op in _CONDITIONS:
        return _CONDITIONS[op](a, *operands)
    if op == "where":
        condition, chosen, other = operands
        value = a.value(condition)
        if value is not None:
            return chosen if value != 0 else other
        return a.add(a.mul(condition, chosen), a.mul(a.sub(a.one, condition), other))
    raise ArrayProgram(ARRAY_HINT, program.text, span)


def _greater(a: Algebra, left: int, right: int) -> int:
    """1 where left > right, else 0: exact for finite values."""
    difference = a.sub(left, right)
    value = a.value(difference)
    if value is not None:
        return a.one if value > 0 else a.zero
    return a.fn("sign", a.fn("relu", difference))


def _equal(a: Algebra, left: int, right: int) -> int:
    difference = a.value(a.sub(left, right))
    if difference is not None:
        return a.one if difference == 0 else a.zero
    return a.zero  # generically false: see the module's docstring


_CONDITIONS = {
    "greater": _greater,
    "greater_equal": lambda a, left, right: a.sub(a.one, _greater(a, right, left)),
    "equal": _equal,
    "logical_and": lambda a, p, q: a.mul(p, q),
}

_SCALAR_OPERATIONS = frozenset(("add", "sub", "mul", "div", "neg", "pow", "sqrt", "rsqrt", "where")) | _SAME_NAME | \
    set(_RENAMED) | _PASS_FIRST | set(_CONDITIONS)

assert all(name in PRIMITIVES for name in _SAME_NAME | set(_RENAMED) | _PASS_FIRST | set(_CONDITIONS))
