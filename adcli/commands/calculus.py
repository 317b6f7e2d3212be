"""eval, grad, hessian and jacobian: a compiled program and its bindings in, a typed result out."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..api import Compiled
from ..engine import derivatives
from ..engine.diagnostics import all_finite, nonfinite_warning
from ..engine.tape import forward
from ..errors import NamingError
from .results import Derivative, Gradient, Hessian, Jacobian, Value


def nonfinite_warnings(program, values, grads=None) -> list[str]:
    warning = nonfinite_warning(program, values, grads)
    return [warning] if warning else []


def _warnings_if_nonfinite(program, inputs, value, grads=None) -> list[str]:
    """The nan/inf warning, re-running the forward sweep only when a result is not finite (rare)."""
    if all(all_finite(result) for result in (value, *(grads or {}).values())):
        return []
    return nonfinite_warnings(program, forward(program, inputs), grads)


def _nonfinite(what: str, *values: Any) -> list[str]:
    finite = all(all_finite(value) for value in values)
    return [] if finite else [f"the {what} is not finite"]


def value(compiled: Compiled, bindings: Mapping[str, Any]) -> Value:
    inputs = compiled.inputs(bindings)
    values = forward(compiled.program, inputs)
    return Value(compiled.text, values[compiled.program.output], warnings=nonfinite_warnings(compiled.program, values))


def gradient(compiled: Compiled, bindings: Mapping[str, Any], wrt: Sequence[str] | None = None,
             order: int = 1) -> Gradient | Derivative:
    """The value and gradient; with order > 1, the nth derivative in one variable."""
    if order > 1:
        return derivative(compiled, bindings, wrt, order)
    inputs = compiled.inputs(bindings)
    names = compiled.gradient_order(inputs, wrt)
    program = compiled.program
    value, grads = derivatives.value_and_gradients(program, inputs, names)  # chunked over many points
    return Gradient(compiled.text, value, grads, warnings=_warnings_if_nonfinite(program, inputs, value, grads))


def derivative(compiled: Compiled, bindings: Mapping[str, Any], wrt: Sequence[str] | None, order: int) -> Derivative:
    inputs = compiled.inputs(bindings)
    names = list(wrt) if wrt else list(compiled.variables)
    if len(names) != 1:
        hint = "; for second derivatives in several variables use {}" if order == 2 else ""
        raise NamingError(f"order {order} needs exactly one variable in wrt, got {len(names)}{hint.format('hessian')}",
                          command_line=f"--order {order} needs exactly one variable in --wrt, got {len(names)}"
                                       f"{hint.format(repr('adcli hessian'))}")
    name = compiled.gradient_order(inputs, names)[0]
    value_values = forward(compiled.program, inputs)
    derivative, warnings = compiled.nth_derivative(inputs, value_values, name, order), []
    if derivative is None:
        program = compiled.derivative_program(name, order, derivatives.shapes_of(inputs))
        values = forward(program, inputs)
        derivative = values[program.output]
        warnings = nonfinite_warnings(compiled.program, value_values) or nonfinite_warnings(program, values)
    return Derivative(compiled.text, value_values[compiled.program.output], name, order, derivative,
                      warnings=warnings)


def hessian(compiled: Compiled, bindings: Mapping[str, Any], wrt: Sequence[str] | None = None) -> Hessian:
    inputs = compiled.inputs(bindings)
    names = compiled.gradient_order(inputs, wrt)
    value, grads, matrix = derivatives.hessian(compiled.program, inputs, names)
    warnings = _warnings_if_nonfinite(compiled.program, inputs, value, grads) or _nonfinite("Hessian", matrix)
    return Hessian(compiled.text, value, grads, names, matrix, warnings=warnings)


def jacobian(compiled: Compiled, bindings: Mapping[str, Any], wrt: Sequence[str] | None = None) -> Jacobian:
    inputs = compiled.inputs(bindings)
    names = compiled.gradient_order(inputs, wrt)
    value, matrices = derivatives.jacobian(compiled.program, inputs, names)
    warnings = _warnings_if_nonfinite(compiled.program, inputs, value) or _nonfinite("Jacobian", *matrices.values())
    return Jacobian(compiled.text, value, matrices, warnings=warnings)
