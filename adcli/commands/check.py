"""check: the AD gradient (and Hessian) beside central finite differences, as a typed result."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..api import Compiled
from ..engine.tape import forward
from .calculus import nonfinite_warnings
from .results import Check


def check(compiled: Compiled, bindings: Mapping[str, Any], wrt: Sequence[str] | None = None, order: int = 1,
          rtol: float = 1e-6, atol: float = 1e-8) -> Check:
    """AD beside central finite differences; failed (exit 1) when they disagree beyond atol + rtol * |fd|."""
    inputs = compiled.inputs(bindings)
    names = compiled.gradient_order(inputs, wrt)
    from . import checking  # only `check` needs it: the other commands start sooner

    compared = checking.check(compiled.program, inputs, names, order, rtol, atol)
    values = forward(compiled.program, inputs)
    warnings = [*nonfinite_warnings(compiled.program, values, compared.grad),
                *(f"{kink}: finite differences mean nothing there" for kink in compared.kinks)]
    result = Check(compiled.text, compared.ok, compared.max_abs_err, compared.max_rel_err, compared.grad,
                   compared.finite_difference, warnings=warnings)
    if order == 2:
        result.wrt, result.hessian = names, compared.hessian
        result.finite_difference_hessian = compared.finite_difference_hessian
    return result
