"""Gradient checking: the AD gradient (and Hessian) beside central finite differences.

Finite differences are the independent witness: they use only forward evaluations, so
they share no code with the reverse or tangent sweeps they check. Their own error is
about h^2 (truncation) plus eps/h (rounding), smallest near h = eps^(1/3) times the
variable's scale, which is the step used here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from ..lazy_numpy import np

from ..engine import derivatives
from ..engine.diagnostics import kinks
from ..engine.program import Program
from ..engine.tape import forward

STEP_FACTOR = sys.float_info.epsilon ** (1.0 / 3.0)


@dataclass
class Check:
    """AD results beside finite differences, and how far apart they are."""

    grad: dict[str, Any]
    finite_difference: dict[str, Any]
    hessian: np.ndarray | None
    finite_difference_hessian: np.ndarray | None
    max_abs_err: float
    max_rel_err: float
    ok: bool
    kinks: list[str]


def step_for(value: Any) -> float:
    """The central-difference step of one variable: eps^(1/3) times its scale (largest finite magnitude, at least 1)."""
    magnitudes = np.abs(np.asarray(value, dtype=np.float64))
    finite = magnitudes[np.isfinite(magnitudes)]
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    return STEP_FACTOR * scale


def central_differences(function: Callable[[Mapping[str, Any]], np.ndarray], inputs: Mapping[str, Any],
                        wrt: Sequence[str]) -> list[np.ndarray]:
    """(f(x + h e_i) - f(x - h e_i)) / (2h) for every entry i of every wrt variable, in C order, concatenated.

    The divisor is the step as actually represented, (x + h) - (x - h), not 2h.
    """
    columns = []
    for name in wrt:
        base = np.asarray(inputs[name], dtype=np.float64)
        step = step_for(base)
        for index in np.ndindex(base.shape):
            up, down = base.copy(), base.copy()
            up[index] += step
            down[index] -= step
            width = up[index] - down[index]
            rise = function({**inputs, name: _as_binding(up)}) - function({**inputs, name: _as_binding(down)})
            columns.append(rise / width)
    return columns


def _as_binding(array: np.ndarray) -> Any:
    return array[()] if array.ndim == 0 else array


def errors(ad: np.ndarray, fd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Absolute and relative differences entry by entry; equal entries (also equal infinities, nan beside nan) differ by 0."""
    ad, fd = np.asarray(ad, dtype=np.float64), np.asarray(fd, dtype=np.float64)
    with np.errstate(all="ignore"):
        same = (ad == fd) | (np.isnan(ad) & np.isnan(fd))
        absolute = np.where(same, 0.0, np.abs(ad - fd))
        absolute = np.where(np.isnan(absolute), np.inf, absolute)  # nan beside a number: as far apart as it gets
        scale = np.maximum(np.abs(ad), np.abs(fd))
        relative = np.where(absolute == 0.0, 0.0, absolute / np.where(scale == 0.0, 1.0, scale))
        relative = np.where(np.isinf(absolute), np.inf, relative)
    return absolute, relative


def check(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str], order: int = 1,
          rtol: float = 1e-6, atol: float = 1e-8) -> Check:
    """Compare AD with central differences of the (summed) value, and with --order 2 the Hessian with
    central differences of the AD gradient. ok when every entry has |ad - fd| <= atol + rtol * |fd|."""
    values = forward(program, inputs)
    _, grads = derivatives.value_and_gradients(program, inputs, wrt)

    def total(point: Mapping[str, Any]) -> np.ndarray:
        return np.sum(forward(program, point)[program.output])

    fd_grads = _reshaped(central_differences(total, inputs, wrt), inputs, wrt)
    pairs = [(np.ravel(grads[name]), np.ravel(fd_grads[name])) for name in wrt]
    hessian = fd_hessian = None
    if order == 2:
        _, _, hessian = derivatives.hessian(program, inputs, wrt)

        def gradient(point: Mapping[str, Any]) -> np.ndarray:
            _, at_point = derivatives.value_and_gradients(program, point, wrt)
            return np.concatenate([np.ravel(at_point[name]) for name in wrt])

        fd_hessian = np.array(central_differences(gradient, inputs, wrt), dtype=np.float64).reshape(hessian.shape).T
        pairs.append((np.ravel(hessian), np.ravel(fd_hessian)))
    ad_all = np.concatenate([ad for ad, _ in pairs]) if pairs else np.zeros(0)
    fd_all = np.concatenate([fd for _, fd in pairs]) if pairs else np.zeros(0)
    absolute, relative = errors(ad_all, fd_all)
    with np.errstate(invalid="ignore"):
        ok = bool(np.all(absolute <= atol + rtol * np.abs(fd_all)))
    return Check(grads, fd_grads, hessian, fd_hessian, _largest(absolute), _largest(relative), ok,
                 kinks(program, values))


def _reshaped(columns: list[np.ndarray], inputs: Mapping[str, Any], wrt: Sequence[str]) -> dict[str, Any]:
    grads, start = {}, 0
    for name in wrt:
        shape = np.shape(inputs[name])
        size = int(np.prod(shape, dtype=int))
        grads[name] = np.reshape(np.array(columns[start:start + size], dtype=np.float64), shape)
        start += size
    return grads


def _largest(errors_: np.ndarray) -> float:
    return float(np.max(errors_)) if errors_.size else 0.0
