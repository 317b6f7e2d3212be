"""The derivative of a scalar program as a formula: record it, read it as an expression, print the shortest form."""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

from ..engine.derivatives import nth_derivative_program
from ..engine.primitives import CONSTANTS, FUNCTIONS
from ..engine.program import Program
from ..errors import NamingError, suggestion
from .algebra import Algebra
from .convert import ARRAY_HINT, ArrayProgram, check_scalar, to_expression
from .printing import MeasureStyle, Printer, write
from .simplify import Simplifier

MAX_ORDER = 16  # nth derivatives grow with n; past this a formula is no longer something to read


class Formula(NamedTuple):
    text: str  # adcli input that evaluates to the derivative
    latex: str
    length: int  # operators + operands, as printed


def derivative_formula(program: Program, name: str, order: int = 1, values: Mapping[str, Any] | None = None) -> Formula:
    """d^order/d name^order of a scalar program, the variables in `values` (other than `name`) replaced by them."""
    values = {variable: value for variable, value in (values or {}).items() if variable != name}
    values.update({variable: value for variable, value in program.where.items() if variable != name})
    check_formula_request(program, name, order, values)
    shapes = {variable: () for variable in program.variables}
    recorded = nth_derivative_program(program, name, order, shapes)
    algebra = Algebra()
    expression = to_expression(algebra, recorded, recorded.output, values)
    shortest = Simplifier(algebra, Printer(algebra, MeasureStyle())).shortest(expression)
    taken = set(program.variables) | set(FUNCTIONS) | set(CONSTANTS)
    return Formula(*write(algebra, shortest, taken))


def check_formula_request(program: Program, name: str, order: int, values: Mapping[str, Any]) -> None:
    check_scalar(program)
    if name in CONSTANTS:
        raise NamingError(f"cannot differentiate with respect to '{name}': it is a constant")
    if name not in program.variables:
        free = [variable for variable in program.variables if variable not in values]
        raise NamingError(f"cannot differentiate with respect to '{name}': the expression does not use it"
                          f"{suggestion(name, free)}")
    if not 1 <= order <= MAX_ORDER:
        raise NamingError(f"the order of a formula must be 1 to {MAX_ORDER}, got {order}")
    for variable, value in values.items():
        if getattr(value, "ndim", 0):
            raise ArrayProgram(f"'{variable}' is an array: {ARRAY_HINT}")
