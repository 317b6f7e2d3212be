"""Names as people write them: Unicode spellings, aliases, functions made of others, and suggestions.

The grammar reads names; this module says what a name means before the compiler looks it up
in the primitive table, and what to suggest when it means nothing.
"""

from __future__ import annotations

from typing import Iterable

from ..engine.primitives import FUNCTIONS

# Other spellings of a function the table has: `ln x` is `log x`, `√x` is `sqrt x`.
ALIASES = {"ln": "log", "√": "sqrt", "∛": "cbrt"}

# Functions written as 1 / another (their gradients are those of the quotient).
RECIPROCALS = {"sec": "cos", "csc": "sin", "cot": "tan", "sech": "cosh", "csch": "sinh", "coth": "tanh"}

# Named constants in other notations.
CONSTANT_ALIASES = {"π": "pi"}

# Functions the compiler builds itself from table primitives (not one primitive each).
DERIVATIVE_FUNCTIONS = {"diff": (2, 3)}

# What other tools call our functions: suggested for an unknown name, never accepted silently.
OTHER_TOOLS = {
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh", "arccosh": "acosh",
    "arctanh": "atanh", "arsinh": "asinh", "arcosh": "acosh", "artanh": "atanh", "arctan2": "atan2",
    "sgn": "sign", "signum": "sign", "lg": "log10", "ld": "log2", "lb": "log2",
    "exponential": "exp", "ceiling": "ceil", "absolute": "abs", "fabs": "abs", "logistic": "sigmoid",
    "expit": "sigmoid", "power": "pow", "root": "sqrt", "cosec": "csc", "cotan": "cot", "ctg": "cot",
    "tg": "tan", "arctg": "atan", "amax": "max", "amin": "min", "maximum": "max", "minimum": "min",
    "average": "mean", "product": "prod", "total": "sum", "derivative": "diff",
    "differentiate": "diff", "deriv": "diff", "if": "where", "ifelse": "where", "select": "where",
}

# The inverse functions `sin^-1(x)` might mean.
INVERSES = {"sin": "asin", "cos": "acos", "tan": "atan", "sinh": "asinh", "cosh": "acosh", "tanh": "atanh"}


def normal(name: str) -> str:
    """The name compared for identity: NFKC-normalised (a full-width `ｘ` is `x`), aliases resolved."""
    if not name.isascii():
        import unicodedata  # only for non-ASCII names: one-shot commands with plain names never load it

        name = unicodedata.normalize("NFKC", name)
        name = CONSTANT_ALIASES.get(name, name)
    return name


def builtin_arities(name: str) -> tuple[int, ...]:
    """The numbers of positional arguments a built-in function takes (empty: no such function)."""
    name = ALIASES.get(name, name)
    if name in RECIPROCALS:
        return (1,)
    if name in DERIVATIVE_FUNCTIONS:
        return DERIVATIVE_FUNCTIONS[name]
    return tuple(sorted(FUNCTIONS.get(name, ())))


BUILTIN_FUNCTIONS = frozenset(name for name in (*FUNCTIONS, *RECIPROCALS, *ALIASES, *DERIVATIVE_FUNCTIONS)
                              if builtin_arities(name))
BARE_FUNCTIONS = frozenset(name for name in BUILTIN_FUNCTIONS if 1 in builtin_arities(name))


def is_builtin_function(name: str) -> bool:
    return name in BUILTIN_FUNCTIONS


def known_functions(extra: Iterable[str] = ()) -> set[str]:
    """Every function name a suggestion may offer (ASCII spellings)."""
    return {name for name in (*FUNCTIONS, *RECIPROCALS, *DERIVATIVE_FUNCTIONS, "ln", *extra) if name.isascii()}


def suggest_function(name: str, known: Iterable[str]) -> str:
    """`; did you mean 'asin'?` for an unknown function: another tool's name for it, the same name in
    other letter case, or the closest spelling (compared case-insensitively); else an empty string."""
    known = set(known)
    folded = name.casefold()
    for table in (OTHER_TOOLS, {key.casefold(): value for key, value in OTHER_TOOLS.items()}):
        target = table.get(name if table is OTHER_TOOLS else folded)
        if target in known:
            return f"; did you mean '{target}'?"
    by_case = {candidate.casefold(): candidate for candidate in sorted(known)}
    if folded in by_case:
        return f"; did you mean '{by_case[folded]}'?"
    import difflib  # here, not at the top: only errors need it, and every start would pay for it

    close = difflib.get_close_matches(folded, list(by_case), n=1, cutoff=0.6)
    return f"; did you mean '{by_case[close[0]]}'?" if close else ""


def function_hint(name: str) -> str:
    """`; if the function is meant, write 'asin'` for a variable named as another tool names a function
    (`arcsin x` reads as the product of two variables), else an empty string."""
    target = OTHER_TOOLS.get(name) or OTHER_TOOLS.get(name.casefold())
    if target is None and name != name.casefold() and is_builtin_function(name.casefold()):
        target = name.casefold()  # SIN x
    return f"; if the function is meant, write '{target}'" if target else ""
