"""Gradient checking: the AD gradient (and Hessian) beside finite differences extrapolated to a zero step.

Finite differences are the independent witness: they use only forward evaluations, so
they share no code with the reverse or tangent sweeps they check. One fixed step cannot
serve every point: eps^(1/3) is wider than x itself at x = 1e-6 (log(x) then crosses its
domain edge) and spans a sixth of a period of sin(1000x). So each entry gets a ladder of
steps scaled to its own magnitude, from a tenth of it down, halving each time, and
Ridders' method (Richardson extrapolation in a Neville tableau) extrapolates the
differences to a zero step, keeping the estimate whose error estimate is smallest: the
ladder goes on until the extrapolation has converged and rounding starts to take over.

A step that crosses a domain edge gives nan and drops out of the tableau; a point on the
edge itself gets one-sided differences from the side where the function is defined. At a
kink the two one-sided slopes differ and any value between them is a valid (sub)gradient:
the AD value is accepted when it lies between them, as PyTorch's conventions (relu'(0) = 0,
abs'(0) = 0, ties sharing) always do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from ..lazy_numpy import np

from ..engine import derivatives
from ..engine.diagnostics import kinks
from ..engine.program import Program
from ..engine.tape import forward

FIRST_STEP = 0.1  # of the entry's magnitude (1 for an entry that is 0)
SHRINK = 2.0  # each step of the ladder is half the one before
LEVELS = 64  # steps on the ladder at most (sin(x) at 1e10 needs ~40 before its period shows)
BOTTOM = 1e-13  # of the magnitude: below this step only rounding is left
SETTLED = 0.1  # three raw differences this close (relative): the steps resolve the function, extrapolation may start
SHRINKING = 0.75  # or each change of the raw differences at most this much of the one before
CONVERGED = 1e-6  # an error estimate this small (relative): the ladder may stop once rounding takes over
SAFE = 2.0  # the tableau's newest estimate this much worse than the best: rounding has taken over
LOST = 1e-3  # the point survives a step to this relative precision, or the step says nothing about it
FLOOR = 1e-12  # the scale of slopes of a function that is 0 at the point (x - sin(x) at 0)
KINK = 1e-3  # one-sided slopes further apart than this (relative) meet at a kink, not just within their errors


@dataclass
class Comparison:
    """AD results beside finite differences, and how far apart they are."""

    grad: dict[str, Any]
    finite_difference: dict[str, Any]
    hessian: np.ndarray | None
    finite_difference_hessian: np.ndarray | None
    max_abs_err: float
    max_rel_err: float
    ok: bool
    kinks: list[str]


@dataclass
class Slopes:
    """The derivative along one entry, for every output component: extrapolated central differences, and
    (where those are missing or disagree with AD) the slopes from the left and from the right."""

    central: np.ndarray
    left: np.ndarray | None = None
    right: np.ndarray | None = None


def first_step(value: float) -> float:
    """The ladder's first step for an entry: a tenth of its magnitude (of 1 for 0, or for a non-finite entry)."""
    magnitude = abs(float(value))
    return FIRST_STEP * (magnitude if 0.0 < magnitude < np.inf else 1.0)


def extrapolated(difference: Callable[[float], np.ndarray], step: float, power: int, scale: float,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Ridders' method: `difference(h)` down the ladder from `step`, extrapolated to h = 0; (estimates, errors).

    `power` is the order of the difference's error (2 central, 1 one-sided), which sets the
    Neville tableau's factors. Extrapolation starts once three raw differences in a row agree
    to 10% (before that the steps are too coarse for the function, and a tableau of them can
    agree by accident), and starts again when a finer difference leaves that agreement (sin(1000x)
    at x = 1 seems to have slope -2.986 on steps 0.1 / 2^k up to k = 4: 100 is nearly 32 pi); each
    component keeps the estimate whose error estimate (its change from the tableau's neighbours)
    is smallest. A component whose differences never settle
    (a jump, a step across a domain edge at every size) is nan, with an infinite error.
    `scale` is a magnitude of the slopes, for components whose slope is 0.
    """
    bottom, recent, previous = step * BOTTOM / FIRST_STEP, [], None
    best = error = None
    with np.errstate(all="ignore"):
        for _ in range(LEVELS):
            if step < bottom:
                break
            raw = np.asarray(difference(step), dtype=np.float64)
            step /= SHRINK
            recent = [*recent[-2:], raw]
            if previous is not None and not _settled(recent, scale):
                previous, best, recent = None, None, [raw]  # the coarser steps only seemed to agree (aliasing): again
            if previous is None:
                if len(recent) == 3 and _settled(recent, scale):
                    previous, best, error = [raw], raw.copy(), np.full(raw.shape, np.inf)
                continue
            column, factor = [raw], SHRINK ** power
            for order in range(1, len(previous) + 1):
                column.append((column[order - 1] * factor - previous[order - 1]) / (factor - 1.0))
                factor *= SHRINK ** power
                estimate = np.maximum(np.abs(column[order] - column[order - 1]),
                                      np.abs(column[order] - previous[order - 1]))
                better = estimate < error  # False for nan
                best, error = np.where(better, column[order], best), np.where(better, estimate, error)
            converged = np.all(error <= CONVERGED * (np.abs(best) + scale))
            if converged and np.all(np.abs(column[-1] - previous[-1]) >= SAFE * error):
                break
            previous = column
    if best is None:
        shape = np.shape(recent[-1]) if recent else ()
        return np.full(shape, np.nan), np.full(shape, np.inf)
    return best, error


def _settled(raws: list[np.ndarray], scale: float) -> bool:
    """Whether the raw differences agree to SETTLED, or (three of them) close in on a limit: each change at
    most SHRINKING of the one before (a slope tending to 0 at a point where the function is 0, x^2.5 at 0)."""
    low, high = np.fmin.reduce(raws), np.fmax.reduce(raws)
    spread = np.max(np.abs(np.stack(raws)), axis=0)
    agree = high - low <= SETTLED * spread + scale * CONVERGED
    if len(raws) == 3:
        agree |= np.abs(raws[2] - raws[1]) <= SHRINKING * np.abs(raws[1] - raws[0])
    return bool(np.all(np.isfinite(low) & np.isfinite(high) & agree))


def slopes_along(function: Callable[[Mapping[str, Any]], np.ndarray], inputs: Mapping[str, Any], name: str,
                 index: tuple[int, ...], one_sided: bool, scaled: bool = False) -> Slopes:
    """The derivative of `function` (flattened) along entry `index` of variable `name`.

    The ladder starts at a tenth of the entry's magnitude, or of 1 for a smaller entry, where
    the function may still move (1/(1 + x^2) at x = 1e-8 does not move on steps of 1e-9);
    when no difference settles on that ladder (a domain edge or a pole nearer than its last
    step: log(x) at 1e-300), the ladder scaled to the entry itself; `scaled` starts there.
    """
    base = np.asarray(inputs[name], dtype=np.float64)
    at = base[index]

    def moved(offset: float) -> tuple[np.ndarray, float]:
        point = base.copy()
        point[index] = at + offset
        return np.ravel(function({**inputs, name: point[()] if point.ndim == 0 else point})), point[index]

    center, _ = moved(0.0)

    def central(step: float) -> np.ndarray:
        if abs((at + step) - step - at) > LOST * abs(at):
            return np.full(center.shape, np.nan)  # the step swallows the point (0.1 + 1e-50 is 0.1): f(h) - f(-h)
        (up, right), (down, left) = moved(step), moved(-step)
        return (up - down) / (right - left)  # the step as represented, not 2h

    def side(sign: float) -> Callable[[float], np.ndarray]:
        def difference(step: float) -> np.ndarray:
            value, where = moved(sign * step)
            return (value - center) / (where - at)
        return difference

    with np.errstate(all="ignore"):
        finite = np.abs(center[np.isfinite(center)])
    size = float(finite.max()) if finite.size else 0.0
    magnitude = abs(float(at)) if np.isfinite(at) else 1.0
    starts = (first_step(at),) if scaled else (FIRST_STEP * max(1.0, magnitude), first_step(at))
    slopes = Slopes(np.full(center.shape, np.nan))  # no ladder at all (a tenth of 5e-324 is 0): no slope
    for step in dict.fromkeys(starts):
        if step == 0.0:  # a tenth of the smallest subnormals (5e-324) is 0: no ladder starts there
            continue
        scale = size * FIRST_STEP / step or FLOOR
        slopes = Slopes(extrapolated(central, step, 2, scale)[0])
        if one_sided:
            slopes.left, slopes.right = (extrapolated(side(sign), step, 1, scale)[0] for sign in (-1.0, 1.0))
        if not np.all(np.isnan(reference(slopes))):
            break
    return slopes


def differences(function: Callable[[Mapping[str, Any]], np.ndarray], inputs: Mapping[str, Any], wrt: Sequence[str],
                ad_columns: Sequence[np.ndarray], rtol: float, atol: float) -> list[Slopes]:
    """Slopes along every entry of every wrt variable, in C order, concatenated; one-sided ones only for
    the entries whose central slopes are missing or disagree with the AD column given for them."""
    found = []
    columns = iter(ad_columns)
    for name in wrt:
        for index in np.ndindex(np.shape(inputs[name])):
            ad = next(columns)
            slopes = slopes_along(function, inputs, name, index, one_sided=False)
            if not _agrees(ad, slopes, rtol, atol):
                slopes = slopes_along(function, inputs, name, index, one_sided=True)
            if not _agrees(ad, slopes, rtol, atol):
                # a kink nearer than the ladder's last step (relu(x) at 1e-9): every step crosses it, and the
                # differences settle on the average slope; the ladder scaled to the entry stays on its side
                near = slopes_along(function, inputs, name, index, one_sided=True, scaled=True)
                slopes = near if _agrees(ad, near, rtol, atol) else slopes
            found.append(slopes)
    return found


def _agrees(ad: np.ndarray, slopes: Slopes, rtol: float, atol: float) -> bool:
    return bool(np.all(_distance(ad, slopes) <= atol + rtol * np.abs(slopes.central)))


def reference(slopes: Slopes) -> np.ndarray:
    """What the record shows as the finite difference: the central slope, else (at a domain edge) a one-sided one."""
    if slopes.left is None:
        return slopes.central
    one_side = np.where(np.isnan(slopes.right), slopes.left, slopes.right)
    return np.where(np.isnan(slopes.central), one_side, slopes.central)


def _distance(ad: np.ndarray, slopes: Slopes) -> np.ndarray:
    """How far AD is from the finite differences: from the central slope; at a domain edge (no central slope)
    from the one-sided one; at a kink (one-sided slopes further apart than KINK of their size) from the
    nearest point between them, when that is nearer. nan beside nan and equal infinities are 0 apart."""
    ad = np.asarray(ad, dtype=np.float64)
    distance, _ = errors(ad, slopes.central)
    if slopes.left is None:
        return distance
    with np.errstate(invalid="ignore"):
        low, high = np.fmin(slopes.left, slopes.right), np.fmax(slopes.left, slopes.right)  # one side alone: a point
        kink = high - low > KINK * (np.abs(low) + np.abs(high))
        usable = kink | np.isnan(slopes.central)
        between = np.where(ad < low, low - ad, np.where(ad > high, ad - high, 0.0))
        between = np.where((ad == low) | (ad == high), 0.0, between)  # equal infinities
        between = np.where(np.isnan(between) | np.isnan(low) | ~usable, np.inf, between)
    return np.fmin(distance, between)


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
          rtol: float = 1e-6, atol: float = 1e-8) -> Comparison:
    """Compare AD with finite differences of the (summed) value, and with --order 2 the Hessian with
    finite differences of the AD gradient. ok when every entry has |ad - fd| <= atol + rtol * |fd|, or
    lies between the one-sided slopes (a kink)."""
    values = forward(program, inputs)
    _, grads = derivatives.value_and_gradients(program, inputs, wrt)

    def total(point: Mapping[str, Any]) -> np.ndarray:
        return np.sum(forward(program, point)[program.output])

    ad_gradient = [np.ravel(grads[name]) for name in wrt]
    gradient_slopes = differences(total, inputs, wrt, _entries(ad_gradient), rtol, atol)
    fd_grads = _reshaped([reference(slopes)[0] for slopes in gradient_slopes], inputs, wrt)
    judged = [(np.concatenate(ad_gradient) if ad_gradient else np.zeros(0), gradient_slopes)]
    hessian = fd_hessian = None
    if order == 2:
        _, _, hessian = derivatives.hessian(program, inputs, wrt)

        def gradient(point: Mapping[str, Any]) -> np.ndarray:
            _, at_point = derivatives.value_and_gradients(program, point, wrt)
            return np.concatenate([np.ravel(at_point[name]) for name in wrt])

        hessian_slopes = differences(gradient, inputs, wrt, list(np.asarray(hessian).T), rtol, atol)
        fd_hessian = np.array([reference(slopes) for slopes in hessian_slopes], dtype=np.float64)
        fd_hessian = fd_hessian.reshape(hessian.shape).T
        judged.append((np.asarray(hessian).T, hessian_slopes))
    absolute, relative, tolerance = [], [], []
    for ad_columns, slopes_list in judged:
        for ad, slopes in zip(ad_columns, slopes_list):
            fd = reference(slopes)
            distance = _distance(np.atleast_1d(ad), slopes)
            absolute.append(distance)
            relative.append(np.where(distance == 0.0, 0.0, errors(np.atleast_1d(ad), fd)[1]))
            tolerance.append(atol + rtol * np.abs(fd))
    absolute_all, relative_all, tolerance_all = (np.concatenate(parts) if parts else np.zeros(0)
                                                 for parts in (absolute, relative, tolerance))
    with np.errstate(invalid="ignore"):
        ok = bool(np.all(absolute_all <= tolerance_all))
    return Comparison(grads, fd_grads, hessian, fd_hessian, _largest(absolute_all), _largest(relative_all), ok,
                 kinks(program, values))


def _entries(columns: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The AD gradient entry by entry (each a one-component column: the summed value is one output)."""
    return [np.array([entry]) for column in columns for entry in column]


def _reshaped(columns: list[Any], inputs: Mapping[str, Any], wrt: Sequence[str]) -> dict[str, Any]:
    grads, start = {}, 0
    for name in wrt:
        shape = np.shape(inputs[name])
        size = int(np.prod(shape, dtype=int))
        grads[name] = np.reshape(np.array(columns[start:start + size], dtype=np.float64), shape)
        start += size
    return grads


def _largest(errors_: np.ndarray) -> float:
    return float(np.max(errors_)) if errors_.size else 0.0
