"""Expressions in a normal form: sums of terms collected, products of powers collected, constants folded.

An `Algebra` owns its expressions as numbered nodes, like a program owns its slots: a node
is (kind, data) and the same expression always gets the same number (hash-consing), so
equal expressions compare as equal integers and a node's operands always have smaller
numbers. Passes over an expression are then loops over node numbers in increasing
order, never recursion over its depth.

Kinds:
  NUM   a number: an exact Fraction, or a float when exactness was lost
  VAR   a variable's name; NAMED: the constants pi and e
  FN    a function call: (name, argument nodes)
  ADD   a linear combination: (constant, ((term node, coefficient), ...)); no term is a
        number or a sum, and a lone term with coefficient 1 is never wrapped
  MUL   a product of powers: ((base node, exponent node), ...) with bases that are not
        numbers or products (x^2 y^-1 sqrt(x + 1) is {x: 2, y: -1, x + 1: 1/2})
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Container, Iterator, Union

Number = Union[Fraction, float]

NUM, VAR, NAMED, FN, ADD, MUL = "num", "var", "named", "fn", "add", "mul"

EXACT_DENOMINATOR = 10 ** 6  # a float that is p/q with q below this (exactly) is taken as p/q
POWER_LIMIT = 64  # exact integer powers of rationals are folded up to this exponent


def exact(value: float) -> Number:
    """A float as the Fraction it most plausibly came from (2.0 -> 2, 0.1 -> 1/10), else the float."""
    if not math.isfinite(value):
        return value
    if value == int(value) and abs(value) < 2 ** 53:
        return Fraction(int(value))
    guess = Fraction(value).limit_denominator(EXACT_DENOMINATOR)
    return guess if float(guess) == value else value


def is_integer(value: Number) -> bool:
    return isinstance(value, Fraction) and value.denominator == 1


def _combine(a: Number, b: Number, result: Number) -> Number:
    """Exact arithmetic stays a Fraction; anything touched by a float is a float (normalised back when exact)."""
    return result if isinstance(a, Fraction) and isinstance(b, Fraction) else exact(float(result))


class Algebra:
    """The nodes of one set of expressions, and the constructors that keep them in normal form."""

    def __init__(self) -> None:
        self.nodes: list[tuple] = []
        self._numbers: dict[tuple, int] = {}
        self._memo: dict[tuple, int] = {}
        self.zero = self.num(Fraction(0))
        self.one = self.num(Fraction(1))

    # -- interning
    def _intern(self, kind: str, data: tuple) -> int:
        key = (kind, data)
        found = self._memo.get(key)
        if found is None:
            found = len(self.nodes)
            self.nodes.append(key)
            self._memo[key] = found
        return found

    def kind(self, node: int) -> str:
        return self.nodes[node][0]

    def data(self, node: int) -> tuple:
        return self.nodes[node][1]

    # -- leaves
    def num(self, value: Number) -> int:
        if isinstance(value, float):
            value = exact(value)
        if isinstance(value, int):
            value = Fraction(value)
        key = (type(value).__name__, value.hex() if isinstance(value, float) else value)
        found = self._numbers.get(key)
        if found is None:
            found = self._intern(NUM, (value, type(value).__name__))
            self._numbers[key] = found
        return found

    def var(self, name: str) -> int:
        return self._intern(VAR, (name,))

    def named(self, name: str) -> int:
        return self._intern(NAMED, (name,))

    def value(self, node: int) -> Number | None:
        """The number a NUM node holds, else None."""
        kind, data = self.nodes[node]
        return data[0] if kind == NUM else None

    # -- sums
    def linear_parts(self, node: int) -> tuple[Number, dict[int, Number]]:
        kind, data = self.nodes[node]
        if kind == NUM:
            return data[0], {}
        if kind == ADD:
            return data[0], dict(data[1])
        return Fraction(0), {node: Fraction(1)}

    def linear(self, constant: Number, terms: dict[int, Number]) -> int:
        """constant + sum of coefficient * term, in normal form."""
        kept = tuple(sorted((term, c) for term, c in terms.items() if c != 0))
        if not kept:
            return self.num(constant)
        if constant == 0 and len(kept) == 1 and kept[0][1] == 1:
            return kept[0][0]
        return self._intern(ADD, (constant if not isinstance(constant, float) else exact(constant), kept))

    def add(self, *operands: int) -> int:
        constant: Number = Fraction(0)
        terms: dict[int, Number] = {}
        for operand in operands:
            c, parts = self.linear_parts(operand)
            constant = _combine(constant, c, constant + c)
            for term, coefficient in parts.items():
                before = terms.get(term, Fraction(0))
                terms[term] = _combine(before, coefficient, before + coefficient)
        return self.linear(constant, terms)

    def scale(self, node: int, factor: Number) -> int:
        if factor == 0:
            return self.zero
        constant, terms = self.linear_parts(node)
        return self.linear(_combine(constant, factor, constant * factor),
                           {term: _combine(c, factor, c * factor) for term, c in terms.items()})

    def neg(self, node: int) -> int:
        return self.scale(node, Fraction(-1))

    def sub(self, a: int, b: int) -> int:
        return self.add(a, self.neg(b))

    # -- products
    def scalar_parts(self, node: int) -> tuple[Number, dict[int, int]]:
        """(coefficient, {base: exponent node}) of a node seen as a product."""
        kind, data = self.nodes[node]
        if kind == NUM:
            return data[0], {}
        if kind == ADD and data[0] == 0 and len(data[1]) == 1:
            term, coefficient = data[1][0]
            return coefficient, self.factors(term)
        return Fraction(1), self.factors(node)

    def factors(self, node: int) -> dict[int, int]:
        kind, data = self.nodes[node]
        if kind == MUL:
            return dict(data)
        return {node: self.one}

    def product(self, coefficient: Number, factors: dict[int, int]) -> int:
        """coefficient * product of base^exponent, in normal form."""
        if coefficient == 0:
            return self.zero
        kept = {base: exponent for base, exponent in factors.items() if exponent != self.zero}
        for base in [b for b in kept if self.kind(b) == NUM]:  # numbers to powers that come out exact
            power = self.value(self._power_of_number(self.value(base), self.value(kept[base]) or Fraction(1)))
            if power is not None and self.kind(kept[base]) == NUM:
                del kept[base]
                coefficient = _combine(coefficient, power, coefficient * power)
        if not kept:
            return self.num(coefficient)
        if len(kept) == 1:
            (base, exponent), = kept.items()
            core = base if exponent == self.one else self._intern(MUL, ((base, exponent),))
        else:
            core = self._intern(MUL, tuple(sorted(kept.items())))
        return core if coefficient == 1 else self.scale(core, coefficient)

    def mul(self, *operands: int) -> int:
        coefficient: Number = Fraction(1)
        factors: dict[int, int] = {}
        for operand in operands:
            c, parts = self.scalar_parts(operand)
            coefficient = _combine(coefficient, c, coefficient * c)
            for base, exponent in parts.items():
                factors[base] = self.add(factors[base], exponent) if base in factors else exponent
        return self.product(coefficient, factors)

    def div(self, a: int, b: int) -> int:
        return self.mul(a, self.power(b, self.num(Fraction(-1))))

    def power(self, base: int, exponent: int) -> int:
        """base^exponent, numbers folded where exact and integer powers distributed over products."""
        n = self.value(exponent)
        if n == 0:
            return self.one
        if n == 1:
            return base
        b = self.value(base)
        if b is not None and n is not None:
            return self._power_of_number(b, n)
        if n is not None and is_integer(n):  # (2 x^a y)^n = 2^n x^(a n) y^n
            if self.kind(base) == ADD:
                base, scale = self._whole_coefficients(base)
                if scale != 1:  # (x^2/4 + 1)^-1 = 4 (x^2 + 4)^-1
                    return self.mul(self._power_of_number(1 / scale, n), self.power(base, exponent))
            coefficient, factors = self.scalar_parts(base)
            scaled = {factor: self.mul(e, exponent) for factor, e in factors.items()}
            return self.mul(self._power_of_number(coefficient, n), self.product(Fraction(1), scaled))
        if self.kind(base) == MUL and len(self.data(base)) == 1 and n is not None:
            (inner, e), = self.data(base)
            m = self.value(e)
            if m is not None and isinstance(n, Fraction) and isinstance(m, Fraction) and m > 0 and \
                    (m.numerator % 2 == 1):  # (x^3)^(1/2) is x^(3/2) where both are real
                return self.product(Fraction(1), {inner: self.num(m * n)})
        return self.product(Fraction(1), {base: exponent})

    def _whole_coefficients(self, node: int) -> tuple[int, Number]:
        """(node * m, m) for the least m that makes a sum's coefficients whole numbers (m = 1 when they are)."""
        constant, terms = self.data(node)
        numbers = [constant, *(c for _, c in terms)]
        if any(isinstance(n, float) for n in numbers):
            return node, Fraction(1)
        multiple = math.lcm(*(n.denominator for n in numbers))
        return (node, Fraction(1)) if multiple == 1 else (self.scale(node, Fraction(multiple)), Fraction(multiple))

    def _power_of_number(self, b: Number, n: Number) -> int:
        """b^n as a number when that is exact (or a float), else as an unevaluated power."""
        if isinstance(b, Fraction) and isinstance(n, Fraction):
            if b == 0 and n < 0:
                return self.num(math.inf)  # IEEE: 0^-1 is inf
            if n.denominator == 1 and abs(n) <= POWER_LIMIT:
                return self.num(b ** int(n))
            root = _exact_root(b, n.denominator)
            if root is not None and abs(n.numerator) <= POWER_LIMIT and not (b == 0 and n < 0):
                return self.num(root ** n.numerator)
            return self._intern(MUL, ((self.num(b), self.num(n)),))
        try:
            return self.num(math.pow(float(b), float(n)))
        except (ValueError, OverflowError):
            return self._intern(MUL, ((self.num(b), self.num(n)),))

    # -- functions
    def fn(self, name: str, *arguments: int) -> int:
        folded = _fold_function(self, name, arguments)
        return folded if folded is not None else self._intern(FN, (name, tuple(arguments)))

    # -- traversal
    def reachable(self, root: int, known: Container[int] = ()) -> list[int]:
        """Every node the root depends on, itself included, in increasing order (operands first),
        not looking below the nodes in `known` (a pass's memo: they are done, and so is all below them)."""
        if root in known:
            return []
        seen = {root}
        stack = [root]
        while stack:
            node = stack.pop()
            for child in self.children(node):
                if child not in seen and child not in known:
                    seen.add(child)
                    stack.append(child)
        return sorted(seen)

    def children(self, node: int) -> Iterator[int]:
        kind, data = self.nodes[node]
        if kind == FN:
            yield from data[1]
        elif kind == ADD:
            for term, _ in data[1]:
                yield term
        elif kind == MUL:
            for base, exponent in data:
                yield base
                yield exponent

    def rebuild(self, node: int, mapped: dict[int, int]) -> int:
        """The node with every operand replaced by its image in `mapped`, put back in normal form."""
        kind, data = self.nodes[node]
        if kind == FN:
            return self.fn(data[0], *(mapped[a] for a in data[1]))
        if kind == ADD:
            return self.add(self.num(data[0]), *(self.scale(mapped[t], c) for t, c in data[1]))
        if kind == MUL:
            return self.mul(*(self.power(mapped[b], mapped[e]) for b, e in data))
        return node

    def variables(self, root: int) -> set[str]:
        return {self.data(n)[0] for n in self.reachable(root) if self.kind(n) == VAR}


def _exact_root(value: Fraction, degree: int) -> Fraction | None:
    if value < 0 and degree % 2 == 0:
        return None
    sign = -1 if value < 0 else 1
    roots = [_integer_root(abs(part), degree) for part in (value.numerator, value.denominator)]
    if None in roots:
        return None
    return sign * Fraction(roots[0], roots[1])


def _integer_root(n: int, degree: int) -> int | None:
    if n.bit_length() > 200:
        return None
    guess = round(n ** (1.0 / degree))
    for candidate in (guess - 1, guess, guess + 1):
        if candidate >= 0 and candidate ** degree == n:
            return candidate
    return None


# f(argument) that is exactly a number or a simpler expression
_AT_ZERO = {"sin": 0, "tan": 0, "sinh": 0, "tanh": 0, "asin": 0, "atan": 0, "asinh": 0, "atanh": 0, "erf": 0,
            "cos": 1, "cosh": 1, "exp": 1, "expm1": 0, "log1p": 0, "abs": 0, "sign": 0, "relu": 0, "cbrt": 0,
            "floor": 0, "ceil": 0}
_ODD = frozenset(("sin", "tan", "sinh", "tanh", "asin", "atan", "asinh", "atanh", "erf", "sign", "cbrt"))
_EVEN = frozenset(("cos", "cosh", "abs"))
_IDEMPOTENT = frozenset(("abs", "sign", "relu", "floor", "ceil"))
_INVERSES = {("exp", "log"), ("log", "exp")}


def _fold_function(algebra: Algebra, name: str, arguments: tuple[int, ...]) -> int | None:
    if name in ("gt", "ge") and algebra.value(arguments[1]) == 0 and algebra.kind(arguments[0]) == FN and \
            algebra.data(arguments[0])[0] == "relu":
        return algebra.fn(name, *algebra.data(arguments[0])[1], arguments[1]) if name == "gt" else None
    if name in ("gt", "ge") and algebra.value(arguments[0]) == 0 and algebra.kind(arguments[1]) == FN and \
            algebra.data(arguments[1])[0] == "relu":
        return algebra.fn(name, arguments[0], *algebra.data(arguments[1])[1]) if name == "ge" else None
    if len(arguments) != 1:
        return None
    argument, = arguments
    value = algebra.value(argument)
    if value == 0 and name in _AT_ZERO:
        return algebra.num(Fraction(_AT_ZERO[name]))
    if value == 1 and name in ("log", "log2", "log10"):
        return algebra.zero
    if value is not None and name in ("abs", "sign", "floor", "ceil", "relu") and isinstance(value, Fraction):
        folded = {"abs": abs(value), "sign": Fraction((value > 0) - (value < 0)), "relu": max(value, Fraction(0)),
                  "floor": Fraction(math.floor(value)), "ceil": Fraction(math.ceil(value))}[name]
        return algebra.num(folded)
    coefficient, _ = algebra.scalar_parts(argument)
    if coefficient < 0 and name in _ODD | _EVEN:  # sin(-x) = -sin(x), cos(-x) = cos(x)
        inner = algebra.fn(name, algebra.neg(argument))
        return inner if name in _EVEN else algebra.neg(inner)
    if algebra.kind(argument) == FN:
        inner_name, inner_arguments = algebra.data(argument)
        if inner_name == name and name in _IDEMPOTENT:
            return argument
        if (name, inner_name) in _INVERSES and len(inner_arguments) == 1:
            return inner_arguments[0]  # exp(log(u)) = u where log(u) is real; log(exp(u)) = u
        if name == "relu" and inner_name in ("abs", "relu"):
            return argument
    if name in ("abs", "sign") and algebra.kind(argument) == ADD:
        constant, terms = algebra.data(argument)
        if constant <= 0 and all(c < 0 for _, c in terms) and name == "abs":
            return algebra.fn(name, algebra.neg(argument))  # |-x - 1| as |x + 1|
    return None
