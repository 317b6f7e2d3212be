"""The shortest natural form of an expression, chosen among a few rewritings by printed length.

A derivative as recorded is "gathered": the chain rule's factors stay products,
3(sqrt(x) + 1)^2/(2sqrt(x)). Each sum in it may also be written with a common factor
pulled out (x^2 cos(x) + 2x sin(x) -> x*(x cos(x) + 2sin(x))) or over a common denominator
with the numerator expanded and cancelled (1/(x + 1) - x/(x + 1)^2 -> 1/(x + 1)^2); a pass
from the leaves up keeps, at every sum, the shortest of these. A polynomial is printed
expanded (3x^2 - 8x + 6) unless a factored form is much shorter (10(x + 1)^9).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Callable

from .algebra import ADD, FN, MUL, NUM, VAR, Algebra, Number, is_integer
from .printing import Printer

EXPANSION_LIMIT = 400  # terms: a product or power of sums that would expand to more stays as it is
EXPAND_POWER_LIMIT = 16  # (a + b)^n is expanded for n up to this
DIVISION_STEPS = 2000  # a polynomial division that takes more steps is abandoned
FACTORED_POLYNOMIAL_RATIO = Fraction(2, 3)  # a factored polynomial beats the expanded one when this much shorter

Monomial = tuple  # ((base node, exponent), ...) sorted


class Simplifier:
    def __init__(self, algebra: Algebra, printer: Printer | None = None):
        self.algebra = algebra
        self.printer = printer or Printer(algebra)
        self._expanded: dict[int, int] = {}
        self._best: dict[int, int] = {}
        self._together: dict[int, int] = {}

    def length(self, node: int) -> int:
        return self.printer.length(node)

    # -- the choice
    def shortest(self, root: int) -> int:
        a = self.algebra
        expanded = self.expand(root)
        candidates = [self.gather(root), self.gather(expanded), root]
        factored = min(candidates, key=self.length)  # min keeps the first of equals: the gathered form
        if self.is_polynomial(expanded):
            if self.length(factored) < FACTORED_POLYNOMIAL_RATIO * self.length(expanded):
                return factored
            return expanded
        return factored if self.length(factored) <= self.length(expanded) else expanded

    def is_polynomial(self, node: int) -> bool:
        a = self.algebra
        if a.kind(node) == NUM:
            return True
        _, terms = a.linear_parts(node)
        for term in terms:
            for base, exponent in a.factors(term).items():
                e = a.value(exponent)
                if a.kind(base) != VAR or e is None or not is_integer(e) or e < 0:
                    return False
        return True

    # -- passes from the leaves up
    def _map(self, root: int, visit: Callable[[int], int], memo: dict[int, int]) -> int:
        a = self.algebra
        for node in a.reachable(root, memo):
            memo[node] = visit(a.rebuild(node, memo))
        return memo[root]

    def expand(self, root: int) -> int:
        """Products and positive integer powers of sums multiplied out (within EXPANSION_LIMIT)."""
        return self._map(root, self._expand_node, self._expanded)

    def _expand_node(self, node: int) -> int:
        a = self.algebra
        if a.kind(node) != MUL and not (a.kind(node) == ADD and len(a.data(node)[1]) == 1):
            return node
        coefficient, factors = a.scalar_parts(node)
        result = a.num(coefficient)
        rest: dict[int, int] = {}
        for base, exponent in factors.items():
            e = a.value(exponent)
            if a.kind(base) == ADD and e is not None and is_integer(e) and 0 < e <= EXPAND_POWER_LIMIT:
                for _ in range(int(e)):
                    result = self._multiply_out(result, base)
                    if result is None:
                        return node
            else:
                rest[base] = exponent
        result = self._multiply_out(result, a.product(Fraction(1), rest))
        return node if result is None else result

    def _multiply_out(self, x: int | None, y: int) -> int | None:
        a = self.algebra
        if x is None:
            return None
        cx, tx = a.linear_parts(x)
        cy, ty = a.linear_parts(y)
        left = [(a.one, cx)] * (cx != 0) + list(tx.items())
        right = [(a.one, cy)] * (cy != 0) + list(ty.items())
        if len(left) * len(right) > EXPANSION_LIMIT:
            return None
        return a.add(*(a.scale(a.mul(p, q), c * d) for p, c in left for q, d in right))

    def gather(self, root: int) -> int:
        """At every sum, the shortest of: as it is, a common factor pulled out, one common denominator.

        A sum's common-denominator form is also remembered when it is not the shortest on its
        own, for the product around it: x^2 (1/x^2 + 1) cancels only once its sum is one fraction.
        """
        a = self.algebra
        best, over_one_denominator = self._best, self._together
        for node in a.reachable(root, best):
            rebuilt = a.rebuild(node, best)
            kind = a.kind(node)
            if kind == ADD and a.kind(rebuilt) == ADD:
                rebuilt = self._squares(rebuilt) or rebuilt
            if kind == ADD and a.kind(rebuilt) == ADD:
                options = [rebuilt, self.pull_common(rebuilt), self._linearized(rebuilt)]
                combined = self.together(rebuilt)
                if combined is not None:
                    over_one_denominator[node] = combined
                    options.append(combined)
            elif kind == MUL:
                options = [self._trigonometric(rebuilt)]
                if any(child in over_one_denominator for child in a.children(node)):
                    alternative = a.rebuild(node, {**best, **over_one_denominator})
                    options.append(self._trigonometric(alternative))
            else:
                options = [rebuilt]
            best[node] = min((option for option in options if option is not None), key=self.length)
        return best[root]

    # -- common factors
    def pull_common(self, node: int) -> int | None:
        """c t1 + c t2 as c (t1 + t2), for the bases every term has (at the lowest power) and the numbers' content."""
        a = self.algebra
        constant, terms = a.data(node)
        maps = [self._split_powers(term) for term, _ in terms]
        common: dict[tuple[int, int], Number] = {}  # (base, symbolic part of the exponent) -> lowest numeric part
        if constant == 0 and maps:
            shared = set(maps[0]).intersection(*maps[1:])
            common = {key: min(m[key] for m in maps) for key in shared}
        content = _content([constant] + [c for _, c in terms] if constant != 0 else [c for _, c in terms])
        if not common and content == 1:
            return None
        divisor = a.mul(a.num(content), *(a.power(b, a.add(rest, a.num(e))) for (b, rest), e in common.items()))
        inverse = a.mul(a.num(1 / content), *(a.power(b, a.neg(a.add(rest, a.num(e)))) for (b, rest), e in common.items()))
        inner = a.add(*(a.mul(part, inverse) for part in ([a.num(constant)] + [a.scale(t, c) for t, c in terms])))
        inner = min((inner, self.expand(inner)), key=self.length)
        inner = (self._squares(inner) or inner) if a.kind(inner) == ADD else inner
        if a.kind(inner) == ADD:
            inner = self._polynomial_power(inner) or inner
        return a.mul(divisor, inner)

    def _split_powers(self, term: int) -> dict[tuple[int, int], Number]:
        """x^(x - 1) as {(x, x): -1}, x^2 as {(x, 0): 2}: so x^x and x^(x - 1) share the factor x^(x - 1)."""
        a = self.algebra
        split = {}
        for base, exponent in a.factors(term).items():
            constant, parts = a.linear_parts(exponent)
            if isinstance(constant, float):
                continue
            split[(base, a.linear(Fraction(0), parts))] = constant
        return split

    def _numeric_powers(self, term: int) -> dict[int, Number]:
        a = self.algebra
        return {base: a.value(e) for base, e in a.factors(term).items() if a.value(e) is not None}

    # -- one denominator
    def together(self, node: int) -> int | None:
        """A sum over its least common denominator, the numerator expanded and cancelled against it."""
        a = self.algebra
        constant, terms = a.data(node)
        denominator: dict[int, Number] = {}
        for term, _ in terms:
            for base, e in self._numeric_powers(term).items():
                if e < 0:
                    denominator[base] = max(denominator.get(base, Fraction(0)), -e)
        if not denominator:
            return None
        lifted = a.product(Fraction(1), {base: a.num(e) for base, e in denominator.items()})
        parts = [a.num(constant)] + [a.scale(term, c) for term, c in terms]
        numerator = a.add(*(self.expand(a.mul(part, lifted)) for part in parts))  # each part cancels before expanding
        if a.kind(numerator) == ADD:
            numerator = self._squares(numerator) or numerator  # cos(x)(cos(x) + 1) + sin(x)^2 = cos(x) + 1
        for base in list(denominator):
            cancelled = 0
            while cancelled < denominator[base] and cancelled < 16:
                quotient = self.divide(numerator, base)
                if quotient is None:
                    break
                numerator, cancelled = quotient, cancelled + 1
            denominator[base] -= cancelled
        if a.kind(numerator) == ADD:
            numerator = min((numerator, self.pull_common(numerator) or numerator,
                             self._polynomial_power(numerator) or numerator), key=self.length)
        return a.mul(numerator, a.product(Fraction(1), {base: a.num(-e) for base, e in denominator.items()}))

    def divide(self, dividend: int, divisor: int) -> int | None:
        """dividend / divisor when the division of their expanded forms is exact, else None."""
        a = self.algebra
        if a.value(divisor) is not None:
            return None
        top, bottom = self._polynomial(dividend), self._polynomial(self.expand(divisor))
        if top is None or bottom is None or not bottom:
            return None
        if len(bottom) == 1:  # a monomial: divide where every term has it
            (monomial, c), = bottom.items()
            quotient = {}
            for m, d in top.items():
                divided = _monomial_quotient(m, monomial)
                if divided is None:
                    return None
                quotient[divided] = d / c
            return self._from_polynomial(quotient)
        bases = sorted({base for m in (*top, *bottom) for base, _ in m})
        key = lambda m: _exponent_vector(m, bases)  # noqa: E731 - lexicographic order over the bases
        lead = max(bottom, key=key)
        lead_coefficient = bottom[lead]
        remainder, quotient = dict(top), {}
        for _ in range(DIVISION_STEPS):
            if not remainder:
                return self._from_polynomial(quotient)
            head = max(remainder, key=key)
            factor = _monomial_quotient(head, lead)
            if factor is None:
                return None
            c = remainder[head] / lead_coefficient
            quotient[factor] = quotient.get(factor, 0) + c
            for m, d in bottom.items():
                product = _monomial_product(factor, m)
                value = remainder.get(product, 0) - c * d
                if value == 0:
                    remainder.pop(product, None)
                else:
                    remainder[product] = value
        return None

    def _polynomial(self, node: int) -> dict[Monomial, Number] | None:
        """An expanded expression as {monomial: coefficient}, or None when a power is not numeric."""
        a = self.algebra
        constant, terms = a.linear_parts(node)
        polynomial: dict[Monomial, Number] = {(): constant} if constant != 0 else {}
        for term, coefficient in terms.items():
            powers = self._numeric_powers(term)
            if len(powers) != len(a.factors(term)) or any(a.kind(b) == ADD and e > 0 for b, e in powers.items()):
                return None
            polynomial[tuple(sorted(powers.items()))] = coefficient
        return polynomial

    def _from_polynomial(self, polynomial: dict[Monomial, Number]) -> int:
        a = self.algebra
        return a.add(*(a.product(c, {base: a.num(e) for base, e in m}) for m, c in polynomial.items() if c != 0))

    def _polynomial_power(self, node: int) -> int | None:
        """c (x + b)^n for a polynomial in one variable that is one: x^2 - 2x + 1 -> (x - 1)^2."""
        a = self.algebra
        polynomial = self._polynomial(node)
        if polynomial is None or len(polynomial) < 3:
            return None
        bases = {base for m in polynomial for base, _ in m}
        if len(bases) != 1:
            return None
        x, = bases
        degrees = {dict(m).get(x, 0): c for m, c in polynomial.items()}
        n = max(degrees)
        if not all(is_integer(Fraction(d)) and d >= 0 for d in degrees) or not isinstance(degrees[n], Fraction) or n > 32:
            return None
        n = int(n)
        leading, below = degrees[n], degrees.get(n - 1, Fraction(0))
        if not isinstance(below, Fraction) or below == 0:
            return None
        shift = below / (n * leading)
        for k in range(n + 1):  # leading (x + shift)^n has coefficient leading C(n, k) shift^(n-k) at x^k
            if degrees.get(k, 0) != leading * math.comb(n, k) * shift ** (n - k):
                return None
        return a.scale(a.power(a.add(x, a.num(shift)), a.num(Fraction(n))), leading)

    # -- identities
    def _trigonometric(self, node: int) -> int:
        """sin(u)^k / cos(u)^k as tan(u)^k, and sin(u)^k cos(u)^k as sin(2u)^k / 2^k (sinh, cosh likewise)."""
        a = self.algebra
        coefficient, factors = a.scalar_parts(node)
        changed = False
        for base in list(factors):
            if base not in factors or a.kind(base) != FN or a.data(base)[0] not in _PARTNERS:
                continue
            name, arguments = a.data(base)
            partner = a.fn(_PARTNERS[name], *arguments)
            if partner not in factors:
                continue
            s, c = a.value(factors[base]), a.value(factors[partner])
            if s is None or c is None or abs(s) != abs(c) or not is_integer(s):
                continue
            factors.pop(base)
            factors.pop(partner)
            if s == -c and name == "sin":
                factors[a.fn("tan", *arguments)] = a.num(s)
            elif s == c and s > 0:  # sin u cos u = sin(2u)/2, sinh u cosh u = sinh(2u)/2
                odd = "sin" if name in ("sin", "cos") else "sinh"
                factors[a.fn(odd, a.scale(arguments[0], 2))] = a.num(s)
                coefficient = coefficient / 2 ** int(s)
            else:
                factors[base], factors[partner] = a.num(s), a.num(c)
                continue
            changed = True
        return a.product(coefficient, factors) if changed else node

    def _squares(self, node: int) -> int | None:
        """c sin(u)^2 + c cos(u)^2 as c; c cos(u)^2 - c sin(u)^2 as c cos(2u) (and cosh, sinh likewise)."""
        a = self.algebra
        constant, terms = a.linear_parts(node)
        squares = {}
        for term, c in terms.items():
            powers = a.factors(term)
            if len(powers) == 1:
                (base, e), = powers.items()
                if a.value(e) == 2 and a.kind(base) == FN and a.data(base)[0] in _PARTNERS:
                    squares[base] = (term, c)
        changed = False
        for base, (term, c) in list(squares.items()):
            name, arguments = a.data(base)
            if name not in _SQUARE_RULES:
                continue
            partner = a.fn(_PARTNERS[name], *arguments)
            if term not in terms or partner not in squares or squares[partner][0] not in terms:
                continue
            other, d = squares[partner]
            for sign, result in _SQUARE_RULES[name]:
                if d == sign * c:
                    terms.pop(term)
                    terms.pop(other)
                    if result is None:
                        constant += c
                    else:
                        twice = a.fn(result, a.scale(arguments[0], 2))
                        terms[twice] = terms.get(twice, 0) + c
                    changed = True
                    break
        return a.linear(constant, terms) if changed else None


    def _linearized(self, node: int) -> int | None:
        """Products of two sines or cosines as sums: 2cos(2x) cos(3x) = cos(x) + cos(5x)."""
        a = self.algebra
        constant, terms = a.linear_parts(node)
        parts, changed = [a.num(constant)], False
        for term, c in terms.items():
            powers = a.factors(term)
            pair = [base for base, e in powers.items()
                    if a.value(e) == 1 and a.kind(base) == FN and a.data(base)[0] in ("sin", "cos")]
            if len(pair) != 2 or len(powers) != 2:
                parts.append(a.scale(term, c))
                continue
            (f, (u,)), (g, (v,)) = sorted(a.data(base) for base in pair)  # cos before sin
            total, difference = a.add(u, v), a.sub(u, v)
            half = c / 2
            if (f, g) == ("cos", "sin"):  # cos u sin v = (sin(u + v) - sin(u - v))/2
                parts += [a.scale(a.fn("sin", total), half), a.scale(a.fn("sin", difference), -half)]
            else:  # cos cos: (cos(u - v) + cos(u + v))/2; sin sin: (cos(u - v) - cos(u + v))/2
                sign = 1 if f == "cos" else -1
                parts += [a.scale(a.fn("cos", difference), half), a.scale(a.fn("cos", total), sign * half)]
            changed = True
        return a.add(*parts) if changed else None


_PARTNERS = {"sin": "cos", "cos": "sin", "sinh": "cosh", "cosh": "sinh"}
# name of the first square -> ((sign of the partner's coefficient, what c (f^2 + sign g^2) is: None for c, or c h(2u)))
_SQUARE_RULES = {"sin": ((1, None),), "cos": ((-1, "cos"), (1, None)), "cosh": ((1, "cosh"), (-1, None))}


def _content(numbers: list[Number]) -> Number:
    """The largest rational dividing all of them (sign of the first), 1 when any is a float."""
    if not numbers or any(isinstance(n, float) for n in numbers):
        return Fraction(1)
    numerator = 0
    denominator = 1
    for n in numbers:
        numerator = math.gcd(numerator, n.numerator)
        denominator = denominator * n.denominator // math.gcd(denominator, n.denominator)
    content = Fraction(numerator, denominator)
    return -content if all(n < 0 for n in numbers) else content


def _exponent_vector(monomial: Monomial, bases: list[int]) -> tuple:
    powers = dict(monomial)
    return tuple(powers.get(base, 0) for base in bases)


def _monomial_quotient(m: Monomial, d: Monomial) -> Monomial | None:
    powers = dict(m)
    for base, e in d:
        left = powers.get(base, 0) - e
        if left < 0:
            return None
        powers[base] = left
    return tuple(sorted((b, e) for b, e in powers.items() if e != 0))


def _monomial_product(m: Monomial, d: Monomial) -> Monomial:
    powers = dict(m)
    for base, e in d:
        powers[base] = powers.get(base, 0) + e
    return tuple(sorted((b, e) for b, e in powers.items() if e != 0))
