"""What each command computes, as a record for the formatters, plus its warnings.

Shared by the CLI's one-shot, batch and points modes; no Click here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..engine import derivatives
from ..api import Compiled
from ..engine.diagnostics import all_finite, nonfinite_warning
from ..errors import NamingError
from ..engine.tape import forward


@dataclass
class Outcome:
    record: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    ok: bool = True  # False when the result itself is a failure (check's disagreement)


def _warnings(program, values, grads) -> list[str]:
    warning = nonfinite_warning(program, values, grads)
    return [warning] if warning else []


def _warnings_if_nonfinite(program, inputs, value, grads=None) -> list[str]:
    """The nan/inf warning, re-running the forward sweep only when a result is not finite (rare)."""
    if all(all_finite(result) for result in (value, *(grads or {}).values())):
        return []
    return _warnings(program, forward(program, inputs), grads)


def eval_outcome(compiled: Compiled, bindings: Mapping[str, Any]) -> Outcome:
    inputs = compiled.inputs(bindings)
    values = forward(compiled.program, inputs)
    value = values[compiled.program.output]
    return Outcome({"expr": compiled.text, "value": value}, _warnings(compiled.program, values, None))


def grad_outcome(compiled: Compiled, bindings: Mapping[str, Any], wrt: Sequence[str] | None) -> Outcome:
    inputs = compiled.inputs(bindings)
    names = compiled.gradient_order(inputs, wrt)
    program = compiled.program
    value, grads = derivatives.value_and_gradients(program, inputs, names)  # chunked over many points
    record = {"expr": compiled.text, "value": value, "grad": grads}
    return Outcome(record, _warnings_if_nonfinite(program, inputs, value, grads))


def derivative_outcome(compiled: Compiled, bindings: Mapping[str, Any], wrt: Sequence[str] | None, order: int) -> Outcome:
    inputs = compiled.inputs(bindings)
    names = list(wrt) if wrt else list(compiled.variables)
    if len(names) != 1:
        hint = "; for second derivatives in several variables use 'adcli hessian'" if order == 2 else ""
        raise NamingError(f"--order {order} needs exactly one variable in --wrt, got {len(names)}{hint}")
    name = compiled.gradient_order(inputs, names)[0]
    value_values = forward(compiled.program, inputs)
    derivative, warnings = compiled.nth_derivative(inputs, value_values, name, order), []
    if derivative is None:
        program = compiled.derivative_program(name, order, derivatives.shapes_of(inputs))
        values = forward(program, inputs)
        derivative = values[program.output]
        warnings = _warnings(compiled.program, value_values, None) or _warnings(program, values, None)
    record = {"expr": compiled.text, "value": value_values[compiled.program.output], "wrt": name,
              "order": order, "derivative": derivative}
    return Outcome(record, warnings)


def _nonfinite(what: str, *values: Any) -> list[str]:
    finite = all(all_finite(value) for value in values)
    return [] if finite else [f"the {what} is not finite"]


def hessian_outcome(compiled: Compiled, bindings: Mapping[str, Any], wrt: Sequence[str] | None) -> Outcome:
    inputs = compiled.inputs(bindings)
    names = compiled.gradient_order(inputs, wrt)
    value, grads, matrix = derivatives.hessian(compiled.program, inputs, names)
    record = {"expr": compiled.text, "value": value, "grad": grads, "wrt": names, "hessian": matrix}
    warnings = _warnings_if_nonfinite(compiled.program, inputs, value, grads) or _nonfinite("Hessian", matrix)
    return Outcome(record, warnings)


def jacobian_outcome(compiled: Compiled, bindings: Mapping[str, Any], wrt: Sequence[str] | None) -> Outcome:
    inputs = compiled.inputs(bindings)
    names = compiled.gradient_order(inputs, wrt)
    value, matrices = derivatives.jacobian(compiled.program, inputs, names)
    warnings = _warnings_if_nonfinite(compiled.program, inputs, value) or _nonfinite("Jacobian", *matrices.values())
    return Outcome({"expr": compiled.text, "value": value, "jacobian": matrices}, warnings)


def check_outcome(compiled: Compiled, bindings: Mapping[str, Any], wrt: Sequence[str] | None, order: int = 1,
                  rtol: float = 1e-6, atol: float = 1e-8) -> Outcome:
    """AD beside central finite differences; not ok (exit 1) when they disagree beyond atol + rtol * |fd|."""
    inputs = compiled.inputs(bindings)
    names = compiled.gradient_order(inputs, wrt)
    from . import checking  # only `check` needs it: ~1 ms off every other command's start-up

    result = checking.check(compiled.program, inputs, names, order, rtol, atol)
    values = forward(compiled.program, inputs)
    warnings = [*_warnings(compiled.program, values, result.grad),
                *(f"{kink}: finite differences mean nothing there" for kink in result.kinks)]
    record: dict[str, Any] = {"expr": compiled.text, "ok": result.ok, "max_abs_err": result.max_abs_err,
                              "max_rel_err": result.max_rel_err, "grad": result.grad,
                              "finite_difference": result.finite_difference}
    if order == 2:
        record |= {"wrt": names, "hessian": result.hessian, "finite_difference_hessian": result.finite_difference_hessian}
    record["warnings"] = warnings
    return Outcome(record, warnings, ok=result.ok)
