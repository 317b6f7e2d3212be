"""Curves drawn in the terminal with Unicode Braille dots: axes, tick labels, a legend, ANSI colours when wanted.

Each character cell holds 2 x 4 dots, so a W x H chart has twice and four times as many
points as characters. Lines run between consecutive samples and stop where the curve is
broken (a pole, a step, a nan), so a pole is a gap rather than a vertical line. Without
colour the series still differ: f is solid and each derivative has its own dash pattern
(in colour every line is solid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

from ..lazy_numpy import np

from ..commands.plot import Curves

BRAILLE = 0x2800
# The bit of each dot in a Braille cell, [row][column], rows top to bottom (Unicode's dot numbering).
DOT_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
# ANSI colours of f, f', f'', ... (bright blue, red, green, magenta, cyan, yellow, white).
COLOURS = ("94", "91", "92", "95", "96", "33", "97")
# Which dots along a line are drawn: f solid, each derivative its own dashes.
DASHES = ((1,), (1, 1, 1, 1, 0, 0), (1, 0), (1, 1, 1, 1, 0, 0, 1, 0, 0), (1, 1, 0, 0), (1, 0, 0), (1, 1, 1, 0))
KINK = "◆"
KINK_COLOUR = "1;33"
AXIS_COLOUR = "2"  # dim: the frame recedes behind the curves
MIN_WIDTH, MIN_HEIGHT = 24, 8
# Rows above and below the plot: the title; the x axis, its tick labels and the legend.
TITLE_ROWS, FOOTER_ROWS = 1, 3


@dataclass
class _Canvas:
    """Braille cells: the dots set in each, and which series drew last there (its colour)."""

    columns: int
    rows: int
    bits: list[list[int]] = field(init=False)
    owner: list[list[int]] = field(init=False)
    marks: dict[tuple[int, int], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bits = [[0] * self.columns for _ in range(self.rows)]
        self.owner = [[-1] * self.columns for _ in range(self.rows)]

    @property
    def dot_width(self) -> int:
        return 2 * self.columns

    @property
    def dot_height(self) -> int:
        return 4 * self.rows

    def set(self, column: int, row: int, series: int) -> None:
        cell_row, cell_column = row // 4, column // 2
        self.bits[cell_row][cell_column] |= DOT_BITS[row % 4][column % 2]
        self.owner[cell_row][cell_column] = series


def chart(curves: Curves, width: int, height: int, colour: bool = False) -> str:
    """The whole chart as text, `height` lines of at most `width` characters (not counting colour codes)."""
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        raise ValueError(f"a chart needs at least {MIN_WIDTH}x{MIN_HEIGHT} characters, not {width}x{height}")
    bottom, top = curves.y_range()
    left, right = float(curves.x[0]), float(curves.x[-1])
    rows = height - TITLE_ROWS - FOOTER_ROWS
    y_ticks = nice_ticks(bottom, top, max(2, rows // 3))
    y_labels = tick_labels(y_ticks)
    margin = max(len(label) for label in y_labels)
    canvas = _Canvas(width - margin - 1, rows)
    x_to_dot = _scale(left, right, 0, canvas.dot_width - 1)
    y_to_dot = _scale(top, bottom, 0, canvas.dot_height - 1)
    for index in reversed(range(len(curves.series))):  # f last: on top where lines cross
        series = curves.series[index]
        _draw_series(canvas, x_to_dot(curves.x), y_to_dot(series.values), series.breaks, index, _dashes(index, colour))
    for x, y in zip(curves.kinks.tolist(), curves.kink_values.tolist()):
        column, row = round(float(x_to_dot(x))), round(float(y_to_dot(y)))
        if 0 <= column < canvas.dot_width and 0 <= row < canvas.dot_height:
            canvas.marks[(row // 4, column // 2)] = KINK
    paint = _Painter(colour)
    tick_rows = {round(float(y_to_dot(tick))) // 4: label for tick, label in zip(y_ticks, y_labels)}
    zero_row = round(float(y_to_dot(0.0))) // 4 if bottom < 0.0 < top else None
    lines = [paint.bold(_fit(curves.expr, width).center(width).rstrip())]
    for row in range(rows):
        axis = "┤" if row in tick_rows else "│"
        lines.append(tick_rows.get(row, "").rjust(margin) + paint(AXIS_COLOUR, axis) +
                     _cells(canvas, row, paint, row == zero_row))
    x_ticks = nice_ticks(left, right, max(2, canvas.columns // 12))
    x_columns = [round(float(x_to_dot(tick))) // 2 for tick in x_ticks]
    lines.append(" " * margin + paint(AXIS_COLOUR, _x_axis(canvas.columns, x_columns)))
    lines.append(_x_labels(x_columns, tick_labels(x_ticks), margin + 1, width, curves.variable))
    lines.append(_legend(curves, paint, width))
    return "\n".join(line.rstrip() for line in lines)


def _scale(source_start: float, source_end: float, target_start: float, target_end: float):
    ratio = (target_end - target_start) / (source_end - source_start)

    def scale(value):
        with np.errstate(all="ignore"):
            return target_start + (np.asarray(value, dtype=np.float64) - source_start) * ratio

    return scale


# -- drawing lines -----------------------------------------------------------------------------


def _dashes(series: int, colour: bool) -> tuple[int, ...]:
    """Solid lines in colour (dashes along a steep line read as noise); without colour, dashes tell the series apart."""
    return DASHES[0] if colour else DASHES[series % len(DASHES)]


def _draw_series(canvas: _Canvas, xs: np.ndarray, ys: np.ndarray, breaks: np.ndarray, series: int,
                 dashes: Sequence[int]) -> None:
    """Lines between consecutive samples, except across breaks; a sample alone between two breaks is a dot."""
    finite = np.isfinite(ys)
    joined = ~breaks & finite[:-1] & finite[1:]
    drawn = [0, None]  # dots drawn so far (the dash phase), the last dot
    for start in np.flatnonzero(joined).tolist():
        _draw_line(canvas, xs[start], ys[start], xs[start + 1], ys[start + 1], series, dashes, drawn)
    alone = finite & ~np.concatenate([[False], joined]) & ~np.concatenate([joined, [False]])
    for index in np.flatnonzero(alone).tolist():
        _draw_line(canvas, xs[index], ys[index], xs[index], ys[index], series, (1,), drawn)


def _draw_line(canvas: _Canvas, x0: float, y0: float, x1: float, y1: float, series: int,
               dashes: Sequence[int], drawn: list) -> None:
    clipped = clip_segment(x0, y0, x1, y1, canvas.dot_width - 0.5, canvas.dot_height - 0.5)
    if clipped is None:
        drawn[1] = None
        return
    x0, y0, x1, y1 = clipped
    steps = max(1, math.ceil(max(abs(x1 - x0), abs(y1 - y0))))
    for step in range(steps + 1):
        t = step / steps
        dot = (min(canvas.dot_width - 1, max(0, round(x0 + t * (x1 - x0)))),
               min(canvas.dot_height - 1, max(0, round(y0 + t * (y1 - y0)))))
        if dot == drawn[1]:
            continue
        if dashes[drawn[0] % len(dashes)]:
            canvas.set(dot[0], dot[1], series)
        drawn[0] += 1
        drawn[1] = dot


def clip_segment(x0: float, y0: float, x1: float, y1: float, right: float,
                 bottom: float) -> tuple[float, float, float, float] | None:
    """The part of the segment inside [-0.5, right] x [-0.5, bottom] (Liang-Barsky), or None."""
    start, end = 0.0, 1.0
    dx, dy = x1 - x0, y1 - y0
    for step, room in ((-dx, x0 + 0.5), (dx, right - x0), (-dy, y0 + 0.5), (dy, bottom - y0)):
        if step == 0:
            if room < 0:
                return None
            continue
        t = room / step
        if step < 0:
            start = max(start, t)
        else:
            end = min(end, t)
        if start > end:
            return None
    return x0 + start * dx, y0 + start * dy, x0 + end * dx, y0 + end * dy


# -- text around the plot -----------------------------------------------------------------------


class _Painter:
    """ANSI colour codes around text, or the text alone."""

    def __init__(self, colour: bool):
        self.colour = colour

    def __call__(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour and text.strip() else text

    def bold(self, text: str) -> str:
        return self("1", text)


def _cells(canvas: _Canvas, row: int, paint: _Painter, zero_row: bool) -> str:
    """One row of cells, each run of one colour painted at once."""
    runs: list[tuple[str, str]] = []
    for column in range(canvas.columns):
        bits, owner = canvas.bits[row][column], canvas.owner[row][column]
        if (row, column) in canvas.marks:
            char, code = canvas.marks[(row, column)], KINK_COLOUR
        elif bits:
            char, code = chr(BRAILLE + bits), COLOURS[owner % len(COLOURS)]
        elif zero_row:
            char, code = "┈", AXIS_COLOUR
        else:
            char, code = " ", ""
        if runs and runs[-1][1] == code:
            runs[-1] = (runs[-1][0] + char, code)
        else:
            runs.append((char, code))
    return "".join(paint(code, text) if code else text for text, code in runs)


def _x_axis(columns: int, tick_columns: list[int]) -> str:
    axis = ["─"] * columns
    for column in tick_columns:
        if 0 <= column < columns:
            axis[column] = "┬"
    return "└" + "".join(axis)


def _x_labels(columns: list[int], labels: list[str], offset: int, width: int, variable: str) -> str:
    """Each tick's label centred under it, dropping those that would touch the one before; the variable's name last."""
    line = [" "] * width
    end = 0
    for column, label in zip(columns, labels):
        start = min(max(offset + column - len(label) // 2, 0), width - len(label))
        if start < end + 1 and end:
            continue
        line[start:start + len(label)] = label
        end = start + len(label)
    name_start = width - len(variable)
    if name_start > end + 1:
        line[name_start:] = variable
    return "".join(line)


def _legend(curves: Curves, paint: _Painter, width: int) -> str:
    """Each series' dash sample and name, then the kink mark: shorter samples and gaps when the width is tight."""
    for sample_cells, gap in ((4, "   "), (2, "  "), (1, " ")):
        entries = [(_dash_sample(_dashes(index, paint.colour), sample_cells), COLOURS[index % len(COLOURS)], series.label)
                   for index, series in enumerate(curves.series)]
        if curves.kinks.size:
            entries.append((KINK, KINK_COLOUR, "kink"))
        if sum(len(sample) + 1 + len(label) for sample, _, label in entries) + len(gap) * (len(entries) - 1) <= width:
            break
    return gap.join(paint(code, sample) + " " + label for sample, code, label in entries)


def _dash_sample(dashes: Sequence[int], cells: int) -> str:
    """A few cells of a horizontal line in a dash pattern."""
    canvas = _Canvas(cells, 1)
    _draw_line(canvas, 0.0, 2.0, 2.0 * cells - 1.0, 2.0, 0, dashes, [0, None])
    return "".join(chr(BRAILLE + bits) for bits in canvas.bits[0])


def _fit(text: str, width: int) -> str:
    text = " ".join(text.split())  # a program over several lines, on one
    return text if len(text) <= width else text[:width - 1] + "…"


# -- ticks ----------------------------------------------------------------------------------------


def nice_ticks(low: float, high: float, most: int) -> list[float]:
    """Round numbers (1, 2 or 5 times a power of ten apart) from low to high: the closest spacing that gives at
    most `most` + 1 of them."""
    if not high > low:
        return [low]
    power = 10.0 ** math.floor(math.log10((high - low) / max(1, most)))
    for step in (factor * power for factor in (1.0, 2.0, 5.0, 10.0, 20.0)):
        first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
        if last - first <= most:
            break
    return [index * step for index in range(first, last + 1)]


def tick_labels(ticks: list[float]) -> list[str]:
    """Labels as short as their spacing allows: 0.5, 1, 1.5 or 2e+06, never -0."""
    if len(ticks) < 2:
        return [f"{tick:.4g}" for tick in ticks]
    step = ticks[1] - ticks[0]
    largest = max(abs(tick) for tick in ticks)
    if largest >= 1e5 or step < 1e-4:
        return [f"{0.0 if abs(tick) < 1e-9 * step else tick:.3g}" for tick in ticks]
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return [f"{0.0 if abs(tick) < 1e-9 * step else tick:.{decimals}f}" for tick in ticks]
