"""taylor and limit: a program's power series at a point, from one sweep of Taylor mode."""

from __future__ import annotations

import math
from typing import Any, Mapping

from ..api import Compiled
from ..engine import taylor as taylor_mode
from ..engine.diagnostics import nonfinite_value_origin
from ..engine.tape import forward
from ..errors import BindingError, NamingError
from ..language.unparse import polynomial
from .results import Limit, TaylorSeries


def expansion_variable(compiled: Compiled, inputs: Mapping[str, Any], wrt: list[str] | None, command: str) -> str:
    """The one variable to expand in: wrt's, or the program's only variable."""
    names = wrt if wrt else list(compiled.variables)
    if len(names) != 1:
        listed = ", ".join(names) if names else "none"
        message = (f"{command} works in one variable: name it with {{wrt}} (the formula's variables: {listed})"
                   if not wrt else f"{command} works in one variable, and {{wrt}} names {len(names)}")
        raise NamingError(message.format(wrt="wrt"), command_line=message.format(wrt="--wrt"))
    return compiled.gradient_order(inputs, names)[0]


def taylor(compiled: Compiled, bindings: Mapping[str, Any], wrt: list[str] | None, order: int) -> TaylorSeries:
    inputs = compiled.inputs(bindings)
    name = expansion_variable(compiled, inputs, wrt, "taylor")
    _finite_point(name, inputs, "taylor expands at a finite point")
    coefficients = taylor_mode.taylor_coefficients(compiled.program, inputs, name, order)
    point = float(inputs[name])
    warnings = [] if all(map(math.isfinite, coefficients)) else \
        _nonfinite_warnings(compiled, inputs, "some coefficients are not finite")
    return TaylorSeries(compiled.text, name, point, order, coefficients, polynomial(coefficients, name, point),
                        warnings=warnings)


def limit(compiled: Compiled, bindings: Mapping[str, Any], wrt: list[str] | None) -> Limit:
    inputs = compiled.inputs(bindings)
    name = expansion_variable(compiled, inputs, wrt, "limit")
    _finite_point(name, inputs, "limit approaches a finite point (limits at infinity are not supported)")
    sides = taylor_mode.limit(compiled.program, inputs, name)
    warnings = _nonfinite_warnings(compiled, inputs, "the limit is nan") if math.isnan(sides.right) else []
    if sides.without_rounding is not None:
        warnings.append("the pole rests on a leading coefficient tiny beside the next one, as rounding leaves where "
                        "exact arithmetic gives 0 (a float64 point such as pi is not exactly pi); if it is 0, the limit "
                        f"is {_spoken(sides.without_rounding)}")
    return Limit(compiled.text, name, float(inputs[name]), sides.value, sides.left, sides.right, warnings=warnings)


def _finite_point(name: str, inputs: Mapping[str, Any], what: str) -> None:
    """A series about nan or inf has no terms to speak of: (x - inf)^k printed as if it had."""
    point = inputs[name]
    if getattr(point, "ndim", 0) == 0 and not math.isfinite(float(point)):
        raise BindingError(f"{what}; {name} is {float(point)!r}")


def _spoken(sides: taylor_mode.Limit) -> str:
    value = sides.value
    return repr(value) if value is not None else f"{sides.left!r} from the left and {sides.right!r} from the right"


def _nonfinite_warnings(compiled: Compiled, inputs: Mapping[str, Any], otherwise: str) -> list[str]:
    """Where the forward sweep first made a nan or inf, else `otherwise`."""
    return [nonfinite_value_origin(compiled.program, forward(compiled.program, inputs)) or otherwise]
