"""How each kind of result reads as labelled values: the lines of text output, the numbers of plain
output and the columns of CSV, in order. One function per kind, looked up by the result's type."""

from __future__ import annotations

from typing import Any, Callable, Iterator

from ..commands.results import (Check, Derivative, Descent, Gradient, Hessian, Jacobian, Limit, Result, TaylorSeries,
                               Value)

Entries = Iterator[tuple[str, Any]]


def _per_variable(prefix: str, by_name: dict[str, Any]) -> Entries:
    for name, item in by_name.items():
        yield f"{prefix}{name}", item


def _value(result: Value) -> Entries:
    yield "value", result.value


def _gradient(result: Gradient) -> Entries:
    yield "value", result.value
    yield from _per_variable("d/d", result.grad)


def _derivative(result: Derivative) -> Entries:
    yield "value", result.value
    yield f"d^{result.order}/d{result.wrt}^{result.order}", result.derivative


def _hessian(result: Hessian) -> Entries:
    yield from _gradient(result)  # type: ignore[arg-type]
    yield "hessian", result.hessian  # rows and columns labelled by the wrt entries (matrix_labels)


def _jacobian(result: Jacobian) -> Entries:
    yield "value", result.value
    yield from _per_variable("jacobian d/d", result.jacobian)


def _check(result: Check) -> Entries:
    yield "ok", result.ok
    yield "max_abs_err", result.max_abs_err
    yield "max_rel_err", result.max_rel_err
    yield from _per_variable("d/d", result.grad)
    yield from _per_variable("fd d/d", result.finite_difference)
    if result.hessian is not None:
        yield "hessian", result.hessian
        yield "fd hessian", result.finite_difference_hessian
    yield "warnings", result.warnings


def _descent(result: Descent) -> Entries:
    yield "steps", result.steps
    yield "lr", result.lr
    if result.momentum is not None:
        yield "momentum", result.momentum
    yield "loss_before", result.loss_before
    yield "loss", result.loss
    yield from _per_variable("", result.values)


def _taylor(result: TaylorSeries) -> Entries:
    yield from _per_variable("c", dict(enumerate(result.coefficients)))  # wrt, at and order show in the polynomial
    yield "polynomial", result.polynomial


def _limit(result: Limit) -> Entries:
    if result.limit is not None:
        yield "limit", result.limit
        return
    yield "limit", "does not exist: the sides differ"
    yield "left", result.left
    yield "right", result.right


ENTRIES: dict[type, Callable[[Any], Entries]] = {
    Value: _value, Gradient: _gradient, Derivative: _derivative, Hessian: _hessian, Jacobian: _jacobian,
    Check: _check, Descent: _descent, TaylorSeries: _taylor, Limit: _limit,
}


def entries(result: Result) -> list[tuple[str, Any]]:
    """The result's (label, value) pairs, in order."""
    return list(ENTRIES[type(result)](result))
