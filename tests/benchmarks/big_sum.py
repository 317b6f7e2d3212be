"""A long sum: compile + grad of a 100,000-term program against Lark's own parse of the same text."""

from __future__ import annotations

import math
import time

from batch_rate import grammar_text
from harness import Row, alternate

X = 0.5


def sum_text(terms: int) -> str:
    return " + ".join(f"{k}*sin(x + {k})" for k in range(1, terms + 1))


def _python_outcome(terms: int) -> str:
    """What eval-based frameworks meet: Python's compiler on the same sum."""
    text = sum_text(terms).replace("sin", "f")
    try:
        compile(text, "<sum>", "eval")
    except (RecursionError, MemoryError, SyntaxError) as error:
        return f"eval: {type(error).__name__}; a Python loop instead"
    return "eval works"


def run(quick: bool) -> list[Row]:
    import adcli
    from lark import Lark

    terms = 10_000 if quick else 100_000
    text = sum_text(terms)
    lark = Lark(grammar_text(), parser="lalr")
    # Each round takes tens of seconds at 100,000 terms: no warm-up round, and the median of three.
    seconds = alternate({"adcli": lambda: adcli.compile(text).grad(x=X), "Lark": lambda: lark.parse(text)}, 3,
                        warmup=0)
    rows = [Row(f"sum of {terms:,} terms: compile + grad", "s", seconds["adcli"], "Lark parse alone",
                seconds["Lark"], ("<=", 1.2), {label: _python_outcome(terms) for label in ("PyTorch", "autograd", "JAX")})]
    if not quick:  # that it works, and in how long; Lark's own parse of it would take as long again
        million = sum_text(1_000_000)
        start = time.perf_counter()
        adcli.compile(million).grad(x=X)
        elapsed = time.perf_counter() - start
        rows.append(Row("sum of 1,000,000 terms: compile + grad, once", "s", elapsed, "", math.nan, None,
                        note="works: no RecursionError; timed once, no target"))
    return rows
