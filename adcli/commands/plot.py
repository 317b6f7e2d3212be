"""`plot`: f and its derivatives along one variable, or f and its gradient over two, as arrays for the renderers.

One variable gives `Curves`: f, f', ..., f^(N) at every point from ONE forward sweep of one
program whose outputs are all the orders (the derivative programs merged, their common work
shared by hash-consing). Where a series jumps between two samples (a pole, a step) its line
is broken; where f' jumps and f does not, f has a kink, which is marked, as are the samples
where a primitive's kink predicate holds. Two variables give a `Landscape`: f and its
gradient on a grid, from the chunked value-and-gradient sweep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..lazy_numpy import np

from ..api import Compiled
from ..engine import derivatives
from ..engine.primitives import COMBINING_POINTS, PRIMITIVES
from ..engine.program import LEAVES, Program, ProgramBuilder
from ..engine.tape import depends_on, describe, forward
from ..errors import BindingError, NamingError, ShapeError

DEFAULT_RANGE = (-5.0, 5.0)
# A step of 0.01 over the default range: 0 and the integers are samples, where kinks often sit.
CURVE_POINTS = 1001
LANDSCAPE_POINTS = 101
# Halvings of a suspect interval: a continuous series' rise shrinks ~10^9-fold, a jump's does not.
BISECTIONS = 30
# An interval that rises this many times more than a neighbour may hold a jump: smooth series rise
# evenly from one sample to the next, except within a couple of samples of an extremum.
SUSPECT_RISE = 1.5
# Rises below this share of a series' whole range are no jumps a picture could show (tanh(50x) saturating
# steps by one rounding unit, and keeps that step however small the interval).
TINY_RISE = 1e-9
MAX_ORDER = 6
# A series whose largest magnitude is this many times its 90th percentile's has a pole: its far values are cut.
FAR_OUT = 20.0


@dataclass(frozen=True)
class Series:
    """One line of a curve plot: f (order 0) or a derivative, and where its line must not join sample i to i + 1."""

    order: int
    values: np.ndarray
    breaks: np.ndarray  # bool, one per interval (len(values) - 1): a pole, a step or a nan between the samples

    @property
    def label(self) -> str:
        return "f" + "'" * self.order if self.order <= 3 else f"f^({self.order})"


@dataclass(frozen=True)
class Curves:
    """f and its derivatives along one variable."""

    expr: str
    variable: str
    x: np.ndarray
    series: tuple[Series, ...]
    kinks: np.ndarray  # where f has a kink or a domain edge: x values, ascending
    kink_values: np.ndarray  # f there

    def y_range(self) -> tuple[float, float]:
        return visible_range([series.values for series in self.series])


@dataclass(frozen=True)
class Landscape:
    """f and its gradient on a grid of two variables: `value[i, j]` is f at (x[j], y[i])."""

    expr: str
    variables: tuple[str, str]
    x: np.ndarray
    y: np.ndarray
    value: np.ndarray
    gradient: tuple[np.ndarray, np.ndarray]

    def levels(self, count: int) -> np.ndarray:
        """`count` + 1 levels at quantiles of f: a loss's narrow valley shows as well as its steep walls."""
        finite = self.value[np.isfinite(self.value)]
        if not finite.size:
            return np.array([-1.0, 1.0])
        levels = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, count + 1)))
        return levels if levels.size >= 2 else np.array([levels[0] - 1.0, levels[0] + 1.0])


def plot(compiled: Compiled, bindings: Mapping[str, Any], order: int = 1) -> Curves | Landscape:
    """What `adcli plot` draws: curves for one swept variable, a landscape for two.

    A variable is swept when it has no value or a 1-D array of values (`linspace(a, b, n)`);
    an unbound one runs over DEFAULT_RANGE. Every other variable keeps its one value.
    """
    if not 0 <= order <= MAX_ORDER:
        raise BindingError(f"plot draws derivatives up to order {MAX_ORDER}, not {order}")
    ranges = swept_ranges(compiled, bindings)
    _check_pointwise(compiled.program, list(ranges))
    if len(ranges) == 1:
        [(name, x)] = ranges.items()
        return _drawable(curves(compiled, bindings, name, x, order))
    return _drawable(landscape(compiled, bindings, ranges))


def _drawable(result: Curves | Landscape) -> Curves | Landscape:
    """The result, when the span of values it would draw is a float64 number, which an axis' arithmetic (its
    margins, ticks, colour scale) needs: 1e308 x over [-1, 1] spans 2e308, which is inf."""
    drawn = [series.values for series in result.series] if isinstance(result, Curves) else [result.value]
    finite = np.concatenate([np.ravel(values)[np.isfinite(np.ravel(values))] for values in drawn])
    if not finite.size:
        return result
    low, high = finite.min(), finite.max()
    with np.errstate(over="ignore", invalid="ignore"):
        room = np.isfinite(float(high) - float(low)) and (not isinstance(result, Curves) or
                                                          np.isfinite(np.subtract(*result.y_range()[::-1]) * 4))
    if not room:
        raise BindingError(f"the values to draw run from {float(low):.3g} to {float(high):.3g}: too wide a span "
                           "for an axis in float64; scale the formula down (divide it by a power of 10)",
                           result.expr, None)
    return result


def swept_ranges(compiled: Compiled, bindings: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Each swept variable's values, in the program's order of first appearance."""
    where = compiled.program.where
    ranges = {}
    for name in compiled.variables:
        if name in where:
            continue
        if name not in bindings:
            ranges[name] = None
            continue
        shape = np.shape(bindings[name])
        if len(shape) > 1:
            raise BindingError(f"plot sweeps a variable over a 1-D range such as linspace(-5, 5, 1001), "
                               f"but '{name}' has shape {shape}")
        if len(shape) == 1:
            ranges[name] = _ordered(name, bindings[name])
    if not 1 <= len(ranges) <= 2:
        raise NamingError(f"plot draws a function of one or two variables, but {_count(ranges)}; "
                          "give the others one value each with --at NAME=VALUE")
    points = CURVE_POINTS if len(ranges) == 1 else LANDSCAPE_POINTS
    return {name: np.linspace(*DEFAULT_RANGE, points) if values is None else values
            for name, values in ranges.items()}


def _count(ranges: Mapping[str, Any]) -> str:
    if not ranges:
        return "it has no variable to sweep"
    return f"it sweeps {len(ranges)}: " + ", ".join(ranges)


def _ordered(name: str, values: Any) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2 or not np.all(np.isfinite(x)):
        raise BindingError(f"'{name}' must run over 2 or more finite values, such as linspace(-5, 5, 1001)")
    x = np.unique(x)  # ascending, each value once: the lines go left to right
    with np.errstate(all="ignore"):
        width = x[-1] - x[0]
        drawable = x.size >= 2 and np.isfinite(width) and np.isfinite(1.0 / width)  # a scale the axes can divide by
    if not drawable:
        spread = "takes one value only" if width == 0 else f"spans {width:.3g}, a width the axis cannot be scaled to"
        raise BindingError(f"'{name}' {spread}: let it run over a range such as linspace(-5, 5, 1001)")
    return x


def _check_pointwise(program: Program, names: list[str]) -> None:
    """Refuse programs whose value at one point depends on other points (sum, mean, @, array literals)."""
    per_point = depends_on(program, names)
    for slot, instruction in enumerate(program.instructions):
        if per_point[slot] and instruction.op in COMBINING_POINTS:
            raise ShapeError(f"{describe(program, instruction)} combines the points of {' and '.join(names)}: plot "
                             "draws a function of numbers, one point at a time", program.text, instruction.span)


# -- one variable: curves --------------------------------------------------------------------


def curves(compiled: Compiled, bindings: Mapping[str, Any], name: str, x: np.ndarray, order: int) -> Curves:
    inputs = compiled.inputs({**bindings, name: x})
    program = orders_program(compiled, name, max(order, 1), derivatives.shapes_of(inputs))

    def evaluate(at: np.ndarray) -> np.ndarray:
        """Every order at the points `at`: an array of shape (orders, len(at))."""
        with np.errstate(all="ignore"):
            values = forward(program, {**inputs, name: at})
        return np.stack([np.broadcast_to(np.asarray(values[slot], dtype=np.float64), at.shape)
                         for slot in program.outputs])

    table = evaluate(x)
    table[1:, np.isnan(table[0])] = np.nan  # no derivative where f has no value (log over the negatives)
    jumps = [find_jumps(lambda at, k=k: evaluate(at)[k], x, row) for k, row in enumerate(table)]
    series = tuple(Series(k, table[k], _breaks(table[k], jumps[k][0])) for k in range(order + 1))
    kinks = _kinks(compiled, inputs, name, x, table[0], jumps)
    return Curves(compiled.text, name, x, series, kinks, evaluate(kinks)[0] if kinks.size else kinks)


def orders_program(compiled: Compiled, name: str, order: int, shapes: Mapping[str, tuple[int, ...]]) -> Program:
    """One program whose outputs are f and its first `order` derivatives along `name`.

    The derivative programs are copied into one builder, whose hash-consing makes the work
    they share (f itself, and each order inside the next) one set of instructions.
    """
    programs = [compiled.program] + [compiled.derivative_program(name, k, shapes) for k in range(1, order + 1)]
    builder = ProgramBuilder(compiled.text, shapes)
    outputs = []
    for program in programs:
        slots: list[int] = []
        for op, args, params, span in program.instructions:
            slots.append(builder.emit(op, tuple(slots[a] for a in args), params, span))
        outputs.append(slots[program.output])
    return builder.build(tuple(outputs), compiled.variables, compiled.program.where)


def find_jumps(evaluate: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
               y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The intervals (i, i + 1) across which y jumps (a pole, a step, a nan inside), and where.

    A suspect is an interval that rises more than SUSPECT_RISE times one of its neighbours
    (not both: a sample on a kink, f'(0) = 0 for abs, makes two jumps side by side), or one
    whose ends are both larger in size than their outer neighbours (a pole of even order,
    which need not rise at all from one side to the other). Each is
    halved BISECTIONS times, keeping the half that rises more: across a jump the rise stays
    (a step) or grows (a pole); a continuous series' rise shrinks with the interval.
    Returns (interval indices, the x of each jump).
    """
    with np.errstate(over="ignore"):  # a rise past float64's range (1e308 x) is inf, a jump as any other
        rise = np.abs(np.diff(y))
        finite_y = y[np.isfinite(y)]
        least = TINY_RISE * (float(np.ptp(finite_y)) if finite_y.size else 0.0)  # rounding, not a jump
    finite = np.isfinite(rise)
    rise = np.where(finite, rise, np.inf)
    left = np.concatenate([[np.inf], rise[:-1]])
    right = np.concatenate([rise[1:], [np.inf]])
    magnitude = np.abs(y)
    with np.errstate(invalid="ignore"):
        # Both ends above their outer neighbours: a peak of |y| between two samples, as 1/x^2 has at 0.
        peak = np.zeros_like(finite)
        peak[1:-1] = (magnitude[1:-2] > magnitude[:-3]) & (magnitude[2:-1] > magnitude[3:])
    steep = (rise > least) & (rise > SUSPECT_RISE * np.minimum(left, right))
    suspects = np.flatnonzero(finite & (steep | peak))
    lo, hi = x[suspects], x[suspects + 1]
    y_lo, y_hi = y[suspects], y[suspects + 1]
    for _ in range(BISECTIONS):
        if not suspects.size:
            break
        middle = 0.5 * (lo + hi)
        y_middle = evaluate(middle)
        with np.errstate(invalid="ignore"):
            rise_left = np.nan_to_num(np.abs(y_middle - y_lo), nan=np.inf)
            rise_right = np.nan_to_num(np.abs(y_hi - y_middle), nan=np.inf)
        keep_left = rise_left >= rise_right
        hi, y_hi = np.where(keep_left, middle, hi), np.where(keep_left, y_middle, y_hi)
        lo, y_lo = np.where(keep_left, lo, middle), np.where(keep_left, y_lo, y_middle)
    with np.errstate(invalid="ignore"):
        last_rise = np.abs(y_hi - y_lo)
        jumped = ~np.isfinite(last_rise) | (last_rise > 0.5 * rise[suspects])
    return suspects[jumped], (0.5 * (lo + hi))[jumped]


def _breaks(y: np.ndarray, jumps: np.ndarray) -> np.ndarray:
    finite = np.isfinite(y)
    breaks = ~(finite[:-1] & finite[1:])
    breaks[jumps] = True
    return breaks


def _kinks(compiled: Compiled, inputs: Mapping[str, Any], name: str, x: np.ndarray, f: np.ndarray,
           jumps: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Where f has a kink: samples where a primitive's kink predicate holds, and jumps of f' where f does not jump."""
    at_samples = x[kink_points(compiled.program, inputs, len(x)) & np.isfinite(f)]
    f_jumps, slope_jumps = jumps[0], jumps[1]
    continuous = ~np.isin(slope_jumps[0], f_jumps[0])
    found = np.sort(np.concatenate([at_samples, slope_jumps[1][continuous]]))
    if found.size < 2:
        return found
    spacing = np.min(np.diff(x))
    return found[np.concatenate([[True], np.diff(found) > 0.5 * spacing])]  # one mark per kink


def kink_points(program: Program, inputs: Mapping[str, Any], count: int) -> np.ndarray:
    """Which of `count` points sit on a kink or domain edge of some operation (the primitive table's predicates)."""
    with np.errstate(all="ignore"):
        values = forward(program, inputs)
    hit = np.zeros(count, dtype=bool)
    for instruction in program.instructions:
        kink = None if instruction.op in LEAVES else PRIMITIVES[instruction.op].kink
        if kink is not None:
            with np.errstate(all="ignore"):
                on_kink = kink(*(values[a] for a in instruction.args), **instruction.param_dict)
            hit |= np.broadcast_to(on_kink, (count,))
    isolated = hit & ~(np.concatenate([[False], hit[:-1]]) & np.concatenate([hit[1:], [False]]))
    return isolated  # a predicate that holds along a stretch (atan2's branch cut) marks no single point


def visible_range(rows: list[np.ndarray]) -> tuple[float, float]:
    """The y range to draw: f's, widened for its derivatives up to three times f's height.

    Each series counts with all its values, or, when a few are far out (near a pole), with
    its middle 80% and half as much again on each side, so that tan(x) is not a flat line.
    """
    ranges = [_series_range(row[np.isfinite(row)]) for row in rows]
    ranges = [found for found in ranges if found is not None]
    if not ranges:
        return -1.0, 1.0
    bottom, top = ranges[0]
    floor, ceiling = bottom - (top - bottom), top + (top - bottom)
    for low, high in ranges[1:]:
        bottom, top = min(bottom, max(low, floor)), max(top, min(high, ceiling))
    if top - bottom <= 1e-12 * max(1.0, abs(top), abs(bottom)):
        pad = 0.5 * max(1.0, abs(top))
        return bottom - pad, top + pad
    margin = 0.04 * (top - bottom)
    return bottom - margin, top + margin


def _series_range(values: np.ndarray) -> tuple[float, float] | None:
    if not values.size:
        return None
    smallest, largest = float(values.min()), float(values.max())
    low, high = (float(q) for q in np.quantile(values, [0.1, 0.9]))
    typical = max(abs(low), abs(high))
    if max(abs(smallest), abs(largest)) <= FAR_OUT * typical:
        return smallest, largest
    spread = high - low
    return max(smallest, low - 0.5 * spread), min(largest, high + 0.5 * spread)


# -- two variables: a landscape --------------------------------------------------------------


def landscape(compiled: Compiled, bindings: Mapping[str, Any], ranges: Mapping[str, np.ndarray]) -> Landscape:
    (x_name, x), (y_name, y) = ranges.items()
    grid_x, grid_y = np.meshgrid(x, y)
    inputs = compiled.inputs({**bindings, x_name: grid_x, y_name: grid_y})
    with np.errstate(all="ignore"):
        value, grads = derivatives.value_and_gradients(compiled.program, inputs, [x_name, y_name])
    shape = grid_x.shape
    gradient = tuple(np.broadcast_to(np.asarray(grads[n], dtype=np.float64), shape) for n in (x_name, y_name))
    return Landscape(compiled.text, (x_name, y_name), x, y, np.broadcast_to(np.asarray(value, dtype=np.float64), shape),
                     gradient)
