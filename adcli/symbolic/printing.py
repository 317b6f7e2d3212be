"""Expressions as adcli text (which the parser reads back) or as LaTeX, the way a person writes them.

`3(sqrt(x) + 1)^2/(2sqrt(x))`: a term's number in front, negative powers below the line, a
square root as sqrt, juxtaposition for products, no `*1`, `+0`, `^1` or `+ -`. Every node is
printed once, from its operands' printed forms (nodes in increasing order, no recursion),
together with its length: the count of operators and operands a reader sees, which is
what simplification minimises.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import NamedTuple

from .algebra import ADD, FN, MUL, NAMED, NUM, VAR, Algebra, Number

COMPARISONS = {"gt": ">", "ge": ">=", "eq": "==", "ne": "!="}  # 1 or 0, as the language's operators give
MIRRORED = {">": "<", ">=": "<=", "==": "==", "!=": "!="}
SUM, PRODUCT, POWER, ATOM = 1, 2, 3, 4  # how tightly a printed form binds; below what an operand needs, parentheses
DECIMAL_DIGITS = 8  # a fraction p/(2^a 5^b) with a 5 in it prints as a decimal when that is this short


class Printed(NamedTuple):
    text: str
    level: int
    count: int  # operators + operands


_NAME_AT_END = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_EXPONENT_START = re.compile(r"[eE][0-9+-]")


class MeasureStyle:
    """No text at all: what the simplifier needs is lengths, and texts of nested expressions grow quadratically."""

    def number(self, value: Number) -> str:
        return ""

    def name(self, name: str) -> str:
        return ""

    def call(self, name: str, arguments: list[str]) -> str:
        return ""

    def sqrt(self, argument: str) -> str:
        return ""

    def power(self, base: str, exponent: str, exponent_atomic: bool) -> str:
        return ""

    def parens(self, text: str) -> str:
        return ""

    def quotient(self, numerator: str, denominator: str, denominator_items: int) -> str:
        return ""

    def juxtapose(self, before: str, after: str) -> str:
        return ""

    def comparison(self, left: str, relation: str, right: str) -> str:
        return ""


class TextStyle:
    """adcli's own syntax: what the parser reads back."""

    def number(self, value: Number) -> str:
        return number_text(value)

    def name(self, name: str) -> str:
        return name

    def call(self, name: str, arguments: list[str]) -> str:
        return f"{name}({', '.join(arguments)})"

    def sqrt(self, argument: str) -> str:
        return f"sqrt({argument})"

    def power(self, base: str, exponent: str, exponent_atomic: bool) -> str:
        return f"{base}^{exponent if exponent_atomic else f'({exponent})'}"

    def parens(self, text: str) -> str:
        return f"({text})"

    def quotient(self, numerator: str, denominator: str, denominator_items: int) -> str:
        return f"{numerator}/{denominator if denominator_items == 1 else f'({denominator})'}"

    def comparison(self, left: str, relation: str, right: str) -> str:
        return f"({left} {relation} {right})"

    def juxtapose(self, before: str, after: str) -> str:
        """Two factors side by side as the grammar reads them: `2x`, `x y`, `x*(x + 1)`, `(x + 1)^2 exp(x)`."""
        if after[0].isdigit() or after[0] == ".":
            return f"{before}*{after}"  # 3*2^x: juxtaposed, 32^x; and only names and brackets may follow a factor
        if after.startswith("("):
            return before + ("*" if _NAME_AT_END.search(before) else "") + after
        if before[-1].isdigit() and not _NAME_AT_END.search(before) and not _EXPONENT_START.match(after) \
                and "^" not in before:
            return before + after  # a leading number: 2x, 3sqrt(x)
        return f"{before} {after}"


_LATEX_FUNCTIONS = {"sin": r"\sin", "cos": r"\cos", "tan": r"\tan", "sinh": r"\sinh", "cosh": r"\cosh",
                    "tanh": r"\tanh", "exp": r"\exp", "log": r"\ln", "asin": r"\arcsin", "acos": r"\arccos",
                    "atan": r"\arctan", "max": r"\max", "min": r"\min"}


class LatexStyle(TextStyle):
    def number(self, value: Number) -> str:
        if isinstance(value, float) and not math.isfinite(value):
            return r"\mathrm{NaN}" if math.isnan(value) else r"\infty" if value > 0 else r"-\infty"
        text = number_text(value)
        if "/" in text:
            sign = "-" if text.startswith("-") else ""
            p, q = text.lstrip("-").split("/")
            return rf"{sign}\frac{{{p}}}{{{q}}}"
        if "e" in text:
            mantissa, exponent = text.split("e")
            return rf"{mantissa} \times 10^{{{int(exponent)}}}"
        return text

    def name(self, name: str) -> str:
        if name == "pi":
            return r"\pi"
        head, _, tail = name.partition("_")
        head = head if len(head) == 1 else rf"\mathrm{{{head}}}"
        return f"{head}_{{{tail}}}" if tail else head

    def call(self, name: str, arguments: list[str]) -> str:
        if name == "abs":
            return rf"\left|{arguments[0]}\right|"
        command = _LATEX_FUNCTIONS.get(name, rf"\operatorname{{{name}}}")
        return rf"{command}\left({', '.join(arguments)}\right)"

    def sqrt(self, argument: str) -> str:
        return rf"\sqrt{{{argument}}}"

    def power(self, base: str, exponent: str, exponent_atomic: bool) -> str:
        return f"{base}^{{{exponent}}}"

    def parens(self, text: str) -> str:
        return rf"\left({text}\right)"

    def quotient(self, numerator: str, denominator: str, denominator_items: int) -> str:
        return rf"\frac{{{_unwrapped(numerator)}}}{{{_unwrapped(denominator)}}}"

    def comparison(self, left: str, relation: str, right: str) -> str:
        symbol = {">": ">", ">=": r"\geq", "<": "<", "<=": r"\leq", "==": "=", "!=": r"\neq"}[relation]
        return rf"\left[{left} {symbol} {right}\right]"  # Iverson's bracket: 1 where it holds, else 0

    def juxtapose(self, before: str, after: str) -> str:
        if before[-1].isdigit() and after[0].isdigit():
            return rf"{before} \cdot {after}"
        return f"{before} {after}"


def _unwrapped(text: str) -> str:
    """`a + b` for `\\left(a + b\\right)`: a fraction's bar already groups (but not `\\left(a\\right) \\left(b\\right)`)."""
    opening, closing = r"\left(", r"\right)"
    if not (text.startswith(opening) and text.endswith(closing)):
        return text
    depth, position = 0, 0
    while position < len(text):
        if text.startswith(opening, position):
            depth, position = depth + 1, position + len(opening)
        elif text.startswith(closing, position):
            depth, position = depth - 1, position + len(closing)
            if depth == 0:
                return text[len(opening):-len(closing)] if position == len(text) else text
        else:
            position += 1
    return text


def number_text(value: Number) -> str:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "1e999" if value > 0 else "-1e999" if value < 0 else \
            "(1e999 - 1e999)"  # what adcli reads as inf and nan
    if value.denominator == 1:
        return str(value.numerator)
    decimal = _decimal(value)
    return decimal if decimal is not None else f"{value.numerator}/{value.denominator}"


def _decimal(value: Fraction) -> str | None:
    """0.3 for 3/10: a fraction whose denominator is 2^a 5^b with a 5 reads better as a decimal (1/2 stays 1/2)."""
    q, fives, twos = value.denominator, 0, 0
    while q % 5 == 0:
        q, fives = q // 5, fives + 1
    while q % 2 == 0:
        q, twos = q // 2, twos + 1
    if q != 1 or fives == 0 or max(fives, twos) > DECIMAL_DIGITS:
        return None
    text = f"{float(value):.{max(fives, twos)}f}"
    return text if Fraction(text) == value else None


class Printer:
    """Prints the nodes of one algebra in one style, remembering every node it printed."""

    def __init__(self, algebra: Algebra, style: TextStyle | MeasureStyle | None = None, names: dict[int, str] | None = None):
        self.algebra = algebra
        self.style = style or TextStyle()
        self.names = names if names is not None else {}  # nodes printed by a name defined before the formula
        self._printed: dict[int, Printed] = {}

    def text(self, root: int) -> str:
        return self.formula(root).text

    def length(self, root: int) -> int:
        return self.formula(root).count

    def printed(self, root: int) -> Printed:
        found = self._printed.get(root)
        if found is None:
            for node in self.algebra.reachable(root, self._printed):
                self._printed[node] = self._print(node)
            found = self._printed[root]
        return found

    def _print(self, node: int) -> Printed:
        kind, data = self.algebra.nodes[node]
        style = self.style
        if kind == NUM:
            return self._number(data[0])
        if kind in (VAR, NAMED):
            return Printed(style.name(data[0]), ATOM, 1)
        if kind == FN:
            name, arguments = data
            printed = [self.operand(a) for a in arguments]
            if name in COMPARISONS:
                left, right = printed
                relation = COMPARISONS[name]
                if self.algebra.kind(arguments[0]) == NUM and self.algebra.kind(arguments[1]) != NUM:
                    left, right, relation = right, left, MIRRORED[relation]  # (x <= 0), not (0 >= x)
                return Printed(style.comparison(left.text, relation, right.text), ATOM, 1 + left.count + right.count)
            return Printed(style.call(name, [p.text for p in printed]), ATOM, 1 + sum(p.count for p in printed))
        if kind == MUL:
            return self.term(Fraction(1), dict(data))
        return self._sum(data[0], data[1])

    def operand(self, node: int) -> Printed:
        """How a node prints inside another: its name when it has one."""
        name = self.names.get(node)
        return self.printed(node) if name is None else Printed(self.style.name(name), ATOM, 1)

    def _factors(self, term: int) -> dict[int, int]:
        return {term: self.algebra.one} if term in self.names else self.algebra.factors(term)

    def _number(self, value: Number) -> Printed:
        text = self.style.number(abs(value))
        count = 3 if "/" in number_text(abs(value)) else 1
        level = PRODUCT if count == 3 else ATOM
        if value < 0:
            return Printed("-" + text, SUM, count + 1)
        return Printed(text, level, count)

    # -- sums
    def _sum(self, constant: Number, terms: tuple, strict: bool = False) -> Printed:
        """Terms by descending degree, the constant last, but a positive term leads (1 - tanh(x)^2), except in a
        whole formula that is a polynomial (`strict`), which keeps descending degree: -3x^2 + 1."""
        ordered = sorted((self._term_key(term), self.term(abs(coefficient), self._factors(term)), coefficient < 0)
                         for term, coefficient in terms)
        entries = [(p, negative) for _, p, negative in ordered]
        if constant != 0:
            entries.append((self._number(abs(constant)), constant < 0))
        if strict and all(key[3] for key, _, _ in ordered):
            pass  # a polynomial formula keeps descending degree: -240j^3 + 180j^2
        elif entries[0][1] and not entries[-1][1] and len(entries) > 1:  # 1 - tanh(x)^2, 16 - 136t^2 + 240t^4
            entries.reverse()
        elif entries[0][1]:
            first_positive = next((i for i, (_, negative) in enumerate(entries) if not negative), None)
            if first_positive is not None:
                entries.insert(0, entries.pop(first_positive))
        pieces, count = [], len(entries) - 1
        for index, (p, negative) in enumerate(entries):
            sign = (" - " if negative else " + ") if index else ("-" if negative else "")
            pieces.append(sign + p.text)
            count += p.count + (1 if negative and not index else 0)
        return Printed("".join(pieces), SUM, count)

    def formula(self, root: int) -> Printed:
        """The printed root: as `printed`, but a sum's common number comes out when that is shorter:
        2(x + y), not 2x + 2y; (sign(x - y) + 1)/2, not sign(x - y)/2 + 1/2."""
        kind, data = self.algebra.nodes[root]
        self.printed(root)
        if kind != ADD:
            return self.printed(root)
        plain = self._sum(data[0], data[1], strict=True)
        content = _content([data[0]] * (data[0] != 0) + [c for _, c in data[1]])
        if content == 1:
            return plain
        inner = self.algebra.scale(root, 1 / content)
        if self.algebra.kind(inner) != ADD:
            return plain
        pulled = self.term(content, {inner: self.algebra.one})
        return pulled if pulled.count < plain.count else plain

    def _term_key(self, term: int) -> tuple:
        """Descending total degree in the variables, then by variable (x^2, x y, y^2), then descending degree
        in anything else (tanh(x)^4 before tanh(x)^2), then by text."""
        degrees: dict[str, Number] = {}
        polynomial = True
        other = 0
        for base, exponent in self.algebra.factors(term).items():
            value = self.algebra.value(exponent)
            other += value if value is not None and self.algebra.kind(base) != VAR else 0
            if self.algebra.kind(base) == VAR and value is not None:
                degrees[self.algebra.data(base)[0]] = value
                polynomial = polynomial and value > 0 and value.denominator == 1 if isinstance(value, Fraction) \
                    else False
            else:
                polynomial = False
        names = sorted(degrees)
        return (-sum(degrees.values()), tuple((name, -degrees[name]) for name in names), -other, polynomial,
                self.printed(term).text)

    # -- products
    def term(self, coefficient: Number, factors: dict[int, int]) -> Printed:
        """coefficient * product of base^exponent, with negative powers and the coefficient's denominator below."""
        algebra, style = self.algebra, self.style
        above: list[tuple[tuple, Printed]] = []
        below: list[tuple[tuple, Printed]] = []
        for base, exponent in factors.items():
            value = algebra.value(exponent)
            if value is not None and value < 0:
                below.append((self._factor_key(base, exponent), self.power(base, algebra.num(-value))))
            else:
                above.append((self._factor_key(base, exponent), self.power(base, exponent)))
        above.sort(key=lambda item: item[0])
        below.sort(key=lambda item: item[0])
        magnitude = abs(coefficient)
        numerator_number, denominator_number = _split_coefficient(magnitude)
        top = self._juxtaposed(numerator_number, [p for _, p in above])
        bottom = self._juxtaposed(denominator_number, [p for _, p in below])
        if bottom is None:
            result = top if top is not None else self._number(magnitude)
        else:
            top = top if top is not None else Printed(style.number(Fraction(1)), ATOM, 1)
            items = (1 if denominator_number is not None else 0) + len(below)
            single = items == 1 and bottom.level > PRODUCT
            text = style.quotient(top.text if top.level >= PRODUCT else style.parens(top.text), bottom.text,
                                  1 if single else 2)
            result = Printed(text, PRODUCT, top.count + bottom.count + 1)
        if coefficient < 0:
            return Printed("-" + result.text, SUM, result.count + 1)
        return result

    def _juxtaposed(self, number: Number | None, factors: list[Printed]) -> Printed | None:
        items = ([self._number(number)] if number is not None else []) + factors
        if not items:
            return None
        if len(items) == 1:
            return items[0]
        text = items[0].text
        for item in items[1:]:
            text = self.style.juxtapose(text, item.text)
        return Printed(text, PRODUCT, sum(item.count for item in items) + len(items) - 1)

    def _factor_key(self, base: int, exponent: int) -> tuple:
        """Named constants, then variables, then powers with symbolic exponents (y x^(y - 1)), then
        parenthesised sums, then function calls."""
        kind = self.algebra.kind(base)
        rank = {NAMED: 0, NUM: 0, VAR: 1, ADD: 2, MUL: 2}.get(kind, 3)
        if self.algebra.value(exponent) is None:
            rank = max(rank, 1.5)
        return rank, self.printed(base).text

    def power(self, base: int, exponent: int) -> Printed:
        """base^exponent as one factor: x, x^2, sqrt(x + 1), (x + 1)^(3/2), 2^x."""
        style = self.style
        b = self.operand(base)
        value = self.algebra.value(exponent)
        if value == 1:
            return b if b.level > SUM else Printed(style.parens(b.text), ATOM, b.count)
        if value == Fraction(1, 2):
            return Printed(style.sqrt(b.text), ATOM, b.count + 1)
        e = self.operand(exponent)
        base_text = b.text if b.level == ATOM and not b.text.startswith("-") else style.parens(b.text)
        return Printed(style.power(base_text, e.text, e.level == ATOM and not e.text.startswith("-")), POWER,
                       b.count + e.count + 1)


def _content(numbers: list[Number]) -> Number:
    """The largest rational dividing every number (gcd of numerators over lcm of denominators), negative
    when they all are; 1 when any is a float."""
    if any(not isinstance(n, Fraction) for n in numbers):
        return Fraction(1)
    numerator, denominator = 0, 1
    for n in numbers:
        numerator = math.gcd(numerator, n.numerator)
        denominator = math.lcm(denominator, n.denominator)
    content = Fraction(max(numerator, 1), denominator)
    return -content if all(n < 0 for n in numbers) else content


def _split_coefficient(magnitude: Number) -> tuple[Number | None, Number | None]:
    """A positive coefficient as (number above the line or None for 1, number below or None)."""
    if isinstance(magnitude, float) or magnitude.denominator == 1 or _decimal(magnitude) is not None:
        return (None if magnitude == 1 else magnitude), None
    p, q = magnitude.numerator, magnitude.denominator
    return (None if p == 1 else Fraction(p)), Fraction(q)


class Written(NamedTuple):
    text: str
    latex: str
    length: int


NAME_CANDIDATES = ("u", "v", "w")
NAMED_SIZE = 5  # operators + operands: smaller subexpressions (x^2, sin(x)) read better written out


def write(algebra: Algebra, root: int, taken: set[str]) -> Written:
    """The root as text and LaTeX, with a subexpression that appears several times named first
    (`u = sqrt(x) + 1; 3u^2/(2sqrt(x))`) when that makes the whole shorter."""
    names: dict[int, str] = {}
    printer, latex = Printer(algebra, TextStyle(), names), Printer(algebra, LatexStyle(), names)
    order = algebra.reachable(root)
    uses, inside = _tree_uses(algebra, order)
    fresh = _fresh_names(taken)
    for node in order[:-1]:
        if algebra.kind(node) in (NUM, VAR, NAMED) or inside[node] != order[-1] and inside[node] is not None:
            continue  # x^2 + 1 only ever inside sqrt(x^2 + 1): name the square root, if anything
        k = uses[node]
        size = printer.printed(node).count
        if k >= 2 and size >= NAMED_SIZE and (k - 1) * size > k + 2:  # k copies against one definition and k names
            names[node] = next(fresh)
    final, final_latex = printer.formula(root), latex.formula(root)
    definitions = sorted(names)
    text = "; ".join([f"{names[n]} = {printer.printed(n).text}" for n in definitions] + [final.text])
    latex_text = r",\quad ".join([f"{latex.style.name(names[n])} = {latex.printed(n).text}" for n in definitions]
                                  + [final_latex.text])
    length = final.count + sum(printer.printed(n).count + 2 for n in definitions)
    return Written(text, latex_text, length)


def _tree_uses(algebra: Algebra, order: list[int]) -> tuple[dict[int, int], dict[int, int | None]]:
    """How many times each node appears when the root is written out without names, and for each
    node the one parent all those appearances are inside of (None when there are several)."""
    uses = dict.fromkeys(order, 0)
    uses[order[-1]] = 1
    inside: dict[int, int | None] = {}
    for node in reversed(order):
        for child in algebra.children(node):
            uses[child] += uses[node]
            inside[child] = node if inside.get(child, node) == node else None
    return uses, inside


def _fresh_names(taken: set[str]):
    for name in NAME_CANDIDATES:
        if name not in taken:
            yield name
    number = 1
    while True:
        for name in NAME_CANDIDATES:
            candidate = f"{name}{number}"
            if candidate not in taken:
                yield candidate
        number += 1
