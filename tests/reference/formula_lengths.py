"""adcli diff's formulas beside SymPy's simplify(diff(f)): the length table, and helpers the tests share.

Length is the count of operators and operands as printed: numbers, names, + - * / ^ (unary
minus too), each function call, and each implicit multiplication (`2x` is 2, *, x). The
same count is taken of both sides, SymPy's printed with `**` read as `^`.

    python tests/reference/formula_lengths.py     # prints the table (needs sympy)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_TOKEN = re.compile(r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<op>\*\*|[-+*/^(),]))")

# (adcli expression, the same function for SymPy): textbook exercises, first-year calculus
TEXTBOOK = [
    ("x^2 sin(x)", "x**2*sin(x)"),
    ("sin(x)/x", "sin(x)/x"),
    ("exp(x)/(1 + x^2)", "exp(x)/(1 + x**2)"),
    ("log(x^2 + 1)", "log(x**2 + 1)"),
    ("sqrt(1 + x^2)", "sqrt(1 + x**2)"),
    ("x exp(x)", "x*exp(x)"),
    ("tan(x)", "tan(x)"),
    ("asin(x)", "asin(x)"),
    ("atan(x)", "atan(x)"),
    ("x^x", "x**x"),
    ("sin(x)^2", "sin(x)**2"),
    ("cos(x)^3", "cos(x)**3"),
    ("sin(2x) cos(3x)", "sin(2*x)*cos(3*x)"),
    ("exp(sin(x))", "exp(sin(x))"),
    ("log(sin(x))", "log(sin(x))"),
    ("x/(x + 1)", "x/(x + 1)"),
    ("log((1 + x)/(1 - x))", "log((1 + x)/(1 - x))"),
    ("(x^2 + 1)^5", "(x**2 + 1)**5"),
    ("1/(1 + exp(-x))", "1/(1 + exp(-x))"),
    ("atan(1/x)", "atan(1/x)"),
    ("x log(x) - x", "x*log(x) - x"),
    ("exp(-x^2)", "exp(-x**2)"),
    ("x^2 exp(-x)", "x**2*exp(-x)"),
    ("sqrt(x)/(1 + sqrt(x))", "sqrt(x)/(1 + sqrt(x))"),
    ("(x - 1)/(x + 1)", "(x - 1)/(x + 1)"),
    ("1/sqrt(1 - x^2)", "1/sqrt(1 - x**2)"),
    ("sin(x) cos(x)", "sin(x)*cos(x)"),
    ("tanh(x)", "tanh(x)"),
    ("log(log(x))", "log(log(x))"),
    ("x^3 - 3x^2 + 2x - 7", "x**3 - 3*x**2 + 2*x - 7"),
    ("(2x + 1)^3", "(2*x + 1)**3"),
    ("x sqrt(x)", "x*sqrt(x)"),
    ("1/x^2", "1/x**2"),
    ("exp(x) sin(x)", "exp(x)*sin(x)"),
    ("x/sqrt(x^2 + 1)", "x/sqrt(x**2 + 1)"),
    ("log(x)/x", "log(x)/x"),
    ("sin(x^2)", "sin(x**2)"),
    ("cos(sqrt(x))", "cos(sqrt(x))"),
    ("(x^2 - 1)/(x^2 + 1)", "(x**2 - 1)/(x**2 + 1)"),
    ("x^2 atan(x)", "x**2*atan(x)"),
    ("exp(x)/x", "exp(x)/x"),
    ("sinh(x) cosh(x)", "sinh(x)*cosh(x)"),
    ("sin(x)/(1 + cos(x))", "sin(x)/(1 + cos(x))"),
    ("cos(x)/(1 - sin(x))", "cos(x)/(1 - sin(x))"),
    ("atan(x/2)", "atan(x/2)"),
    ("exp(x)/(exp(x) + 1)", "exp(x)/(exp(x) + 1)"),
    ("x^2/(x^2 + 1)", "x**2/(x**2 + 1)"),
    ("log(cos(x))", "log(cos(x))"),
]

# The tutorial adcli grew from: (expression, variable, its hand-written derivative in adcli syntax)
TUTORIAL = [
    ("w*x + b", "x", "w"),
    ("w*x + b", "w", "x"),
    ("w*x + b", "b", "1"),
    ("x^2", "x", "2x"),
    ("exp(x)", "x", "exp(x)"),
    ("sin(x)", "x", "cos(x)"),
    ("(x - 4)(x^2 + 6)", "x", "3x^2 - 8x + 6"),
    ("(sqrt(x) + 1)^3", "x", "3(sqrt(x) + 1)^2/(2sqrt(x))"),
    ("(x + 2y)^2", "x", "2(x + 2y)"),
    ("(x + 2y)^2", "y", "4(x + 2y)"),
]


def length(text: str) -> int:
    """Operators and operands of a printed formula (adcli's or SymPy's)."""
    count = 0
    previous: str | None = None  # 'operand', 'call', 'open', 'close', 'op'
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ValueError(f"cannot count {text!r} at {position}")
        position = match.end()
        if match["number"] or match["name"]:
            called = match["name"] and text[position:].lstrip().startswith("(")
            if previous in ("operand", "close"):
                count += 1  # implicit multiplication
            count += 1
            previous = "call" if called else "operand"
        elif match["op"] == "(":
            if previous in ("operand", "close"):
                count += 1
            previous = "open"
        elif match["op"] == ")":
            previous = "close"
        elif match["op"] == ",":
            previous = "op"
        else:
            count += 1
            previous = "op"
    return count


def to_sympy(text: str):
    """An adcli formula (definitions `u = ...;` included) as a SymPy expression."""
    import sympy
    from sympy.parsing.sympy_parser import (convert_xor, implicit_multiplication_application, parse_expr,
                                            standard_transformations)

    transformations = standard_transformations + (implicit_multiplication_application, convert_xor)
    names = {"e": sympy.E, "pi": sympy.pi, "sigmoid": lambda u: 1 / (1 + sympy.exp(-u)), "cbrt": sympy.cbrt,
             "log10": lambda u: sympy.log(u, 10), "log2": lambda u: sympy.log(u, 2), "sign": sympy.sign,
             "relu": lambda u: sympy.Max(u, 0), "expm1": lambda u: sympy.exp(u) - 1, "log1p": lambda u: sympy.log(1 + u)}
    text = re.sub(r"(?<![A-Za-z_0-9.])(\d+\.?\d*)(?=[A-Za-z_(])", r"\1*", text)  # 2j is 2*j, not a complex number
    *definitions, final = [part.strip() for part in re.split(r"[;\n]", text) if part.strip()]
    for definition in definitions:
        name, body = definition.split("=", 1)
        names[name.strip()] = parse_expr(body, local_dict=dict(names), transformations=transformations)
    return parse_expr(final, local_dict=dict(names), transformations=transformations)


def sympy_reference(function: str) -> str:
    """SymPy's simplify(diff(f, x)), printed."""
    import sympy

    x = sympy.Symbol("x")
    return str(sympy.simplify(sympy.diff(sympy.sympify(function), x)))


def table() -> list[tuple[str, str, int, str, int]]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import adcli

    rows = []
    for expression, function in TEXTBOOK:
        ours = adcli.compile(expression).derivative_text("x")
        theirs = sympy_reference(function)
        rows.append((expression, ours, length(ours), theirs, length(theirs)))
    return rows


if __name__ == "__main__":
    rows = table()
    print(f"| f | adcli diff | length | SymPy simplify(diff(f)) | length | ratio |")
    print("|---|---|---|---|---|---|")
    for expression, ours, ours_length, theirs, theirs_length in rows:
        print(f"| `{expression}` | `{ours}` | {ours_length} | `{theirs}` | {theirs_length} | "
              f"{ours_length / theirs_length:.2f} |")
    total_ours = sum(row[2] for row in rows)
    total_theirs = sum(row[4] for row in rows)
    print(f"\n{len(rows)} functions; total length {total_ours} against {total_theirs} "
          f"({total_ours / total_theirs:.2f}); worst ratio {max(row[2] / row[4] for row in rows):.2f}")
