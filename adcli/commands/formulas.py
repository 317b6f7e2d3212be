"""`adcli diff`: each derivative of a scalar program as a formula (adcli.symbolic), as a typed result.

No Click here; the CLI and, later, the REPL's `diff` word call `derivatives`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..api import Compiled
from ..errors import NamingError


@dataclass(frozen=True)
class FormulaResult:
    """The derivatives of `expr`, one formula per variable in `wrt` (text, LaTeX, length)."""

    expr: str
    wrt: tuple[str, ...]
    order: int
    formulas: dict[str, Any]  # name -> symbolic.formula.Formula


def derivatives(compiled: Compiled, bindings: Mapping[str, Any], wrt: Sequence[str] | None,
                order: int = 1) -> FormulaResult:
    """d^order/d name^order for each name in `wrt` (default: every variable without a value)."""
    names = list(wrt) if wrt else [name for name in compiled.variables
                                    if name not in bindings and name not in compiled.program.where]
    if not names and not compiled.variables:
        raise NamingError("nothing to differentiate: the expression has no variable")
    if not names:
        raise NamingError("nothing to differentiate: every variable has a value; name one with wrt",
                          command_line="nothing to differentiate: every variable has a value; name one with --wrt")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise NamingError(f"wrt names '{repeated[0]}' more than once",
                          command_line=f"--wrt names '{repeated[0]}' more than once")
    formulas = {name: compiled.derivative_formula(name, order, **bindings) for name in names}
    return FormulaResult(compiled.text, tuple(names), order, formulas)
