"""A recorded scalar program -> one expression of an Algebra, in one loop over its instructions.

The reverse sweep's recordings carry masks that keep PyTorch's values at edges (where(y == 0,
0, ...) in pow's rule, relu's threshold). A formula keeps what matters away from such edges:
a choice made by an equality test is taken as not made (the test holds only at a point, where
the formula may give nan or a limit instead of PyTorch's convention), while an inequality stays exact as
the comparison (a > b), which is 1 or 0, and max/min's rule is exact too,
ties included.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Mapping

from ..engine.primitives import FUNCTIONS, LN10, LN2, PRIMITIVES, TWO_OVER_SQRT_PI
from ..engine.program import CONST, VAR, Instruction, Program
from ..errors import NamingError, ShapeError
from .algebra import FN, Algebra

_RENAMED = {"maximum": "max", "minimum": "min", "softplus_slope": "sigmoid"}  # softplus' slope is sigmoid below 20
_SPELLED_OTHERWISE = frozenset(("add", "sub", "mul", "div", "neg", "pow", "sqrt", "where"))


def _functions() -> dict[str, str]:
    """Each elementwise primitive the language calls by a name (without keyword parameters): that name."""
    names = {}
    for name, overloads in FUNCTIONS.items():
        for primitive in overloads.values():
            entry = PRIMITIVES.get(primitive)
            if entry is not None and entry.elementwise and not entry.params and primitive not in _SPELLED_OTHERWISE:
                names.setdefault(primitive, name)
    return names


_SAME_NAME = _functions()  # sin -> sin, maximum -> max, and any function the table gains later
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
        elif op == "where":
            node = _where(algebra, program, args, nodes)
        else:
            node = _apply(algebra, op, [nodes[a] for a in args], program, span)
        nodes.append(node)
    return nodes[output]


def _holds_at_a_point(program: Program, test: Instruction) -> bool:
    """An equality, or one anded with another condition (pow's 0^y, atan2's origin); clip's rule ands two
    inequalities, an interval, which stays the product of its comparisons."""
    if test.op == "logical_and":
        return any(program.instructions[arg].op == "equal" for arg in test.args)
    return test.op == "equal"


def _where(a: Algebra, program: Program, args: tuple[int, ...], nodes: list[int]) -> int:
    """where(c, x, y) as c x + (1 - c) y, but y where c is an equality test (it holds only at a point), and
    max/min's rule (0 where the other is greater, half at a tie) read as what it is: g (1 + sign(this - other))/2."""
    condition, chosen, other = (nodes[arg] for arg in args)
    value = a.value(condition)
    if value is not None:
        return chosen if value != 0 else other
    test = program.instructions[args[0]]
    if _holds_at_a_point(program, test):
        return other  # elsewhere, where(c, x, y) is y
    inner = program.instructions[args[2]]
    if test.op == "greater" and a.value(chosen) == 0 and inner.op == "where" and \
            program.instructions[inner.args[0]].op == "equal":
        high, low = (nodes[arg] for arg in test.args)
        half = a.mul(a.num(Fraction(1, 2)), a.add(a.one, a.fn("sign", a.sub(low, high))))
        return a.mul(nodes[inner.args[2]], half)
    return a.add(a.mul(condition, chosen), a.mul(negation(a, condition), other))


def check_scalar(program: Program) -> None:
    """Refuse an array program before any recording: point at its first array operation or literal."""
    for op, _, params, span in program.instructions:
        if op == CONST and not isinstance(params[0][1], (float, int)) and getattr(params[0][1], "ndim", 0):
            raise ArrayProgram(ARRAY_HINT, program.text, span)
        if op not in (CONST, VAR) and op not in _SCALAR_OPERATIONS:
            entry = PRIMITIVES.get(op)
            if entry is not None and entry.elementwise:  # leaky_relu(x, 0.2): a scalar function, with no formula here
                raise NamingError(f"adcli diff has no formula for {op}; 'adcli grad' gives its derivative at a point",
                                  program.text, span)
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
    # what the recorder folds constant expressions of pi and e into
    (math.pi ** 2, lambda a: a.power(a.named("pi"), a.num(Fraction(2)))),
    (math.e ** 2, lambda a: a.power(a.named("e"), a.num(Fraction(2)))),
    (2 * math.pi, lambda a: a.scale(a.named("pi"), Fraction(2))),
    (math.pi / 2, lambda a: a.scale(a.named("pi"), Fraction(1, 2))),
    (math.pi / 4, lambda a: a.scale(a.named("pi"), Fraction(1, 4))),
    (math.sqrt(math.pi), lambda a: a.power(a.named("pi"), a.num(Fraction(1, 2)))),
    (math.sqrt(2.0), lambda a: a.power(a.num(Fraction(2)), a.num(Fraction(1, 2)))),
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
    if op in _CONDITIONS:
        return _CONDITIONS[op](a, *operands)
    if op in _SAME_NAME or op in _RENAMED:
        return a.fn(_RENAMED.get(op) or _SAME_NAME[op], *operands)
    raise ArrayProgram(ARRAY_HINT, program.text, span)


def _compare(a: Algebra, relation: str, left: int, right: int) -> int:
    """1 where `left relation right` holds, else 0, as a comparison the language reads: (x > 0)."""
    difference = a.value(a.sub(left, right))
    if difference is not None:
        holds = {"gt": difference > 0, "ge": difference >= 0, "eq": difference == 0, "ne": difference != 0}
        return a.one if holds[relation] else a.zero
    constant, terms = a.linear_parts(left)
    if a.value(right) is not None and constant != 0 and terms:  # (x - 1 > 0) is (x > 1)
        left, right = a.linear(0, terms), a.num(a.value(right) - constant)
    coefficient, _ = a.scalar_parts(left)
    if a.value(right) is not None and coefficient != 1 and not isinstance(coefficient, float):
        left, right = a.scale(left, 1 / coefficient), a.num(a.value(right) / coefficient)  # (-2x > 4) is (x < -2)
        if coefficient < 0 and relation in ("gt", "ge"):
            left, right = right, left
    return a.fn(relation, left, right)


def negation(a: Algebra, condition: int) -> int:
    """1 - condition, as the opposite comparison where there is one: 1 - (0 >= x) is (x > 0)."""
    if a.kind(condition) == FN and a.data(condition)[0] in _OPPOSITES:
        relation, (left, right) = a.data(condition)
        opposite, swap = _OPPOSITES[relation]
        return _compare(a, opposite, *((right, left) if swap else (left, right)))
    return a.sub(a.one, condition)


_OPPOSITES = {"gt": ("ge", True), "ge": ("gt", True), "eq": ("ne", False), "ne": ("eq", False)}


def _greater(a: Algebra, left: int, right: int) -> int:
    return _compare(a, "gt", left, right)


def _equal(a: Algebra, left: int, right: int) -> int:
    """1 where left == right (as a mask to zero, `_where` drops it: see the module's docstring)."""
    return _compare(a, "eq", left, right)


def _at_least(a: Algebra, left: int, right: int) -> int:
    return _compare(a, "ge", left, right)


_CONDITIONS = {
    "greater": _greater,
    "greater_equal": _at_least,
    "equal": _equal,
    "logical_and": lambda a, p, q: a.mul(p, q),
    # the language's comparisons, 1 or 0 (where(x > 0, ...)): exact, ties included
    "gt": _greater,
    "lt": lambda a, left, right: _greater(a, right, left),
    "ge": _at_least,
    "le": lambda a, left, right: _at_least(a, right, left),
    "eq": _equal,
    "ne": lambda a, left, right: _compare(a, "ne", left, right),
}

_SCALAR_OPERATIONS = frozenset(("add", "sub", "mul", "div", "neg", "pow", "sqrt", "rsqrt", "where")) | set(_SAME_NAME) | \
    set(_RENAMED) | _PASS_FIRST | set(_CONDITIONS)
