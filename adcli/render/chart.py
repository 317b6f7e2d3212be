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

from ..commands.plot import Curves, Landscape
from ..errors import printable

BRAILLE = 0x2800
# The bit of each dot in a Braille cell, [row][column], rows top to bottom (Unicode's dot numbering).
DOT_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
# ANSI colours of f, f', f'', ... (bright blue, red, green, magenta, cyan, yellow, white).
COLOURS = ("94", "91", "92", "95", "96", "33", "97")
# Which dots along a line are drawn: f solid, each derivative its own dashes.
DASHES = ((1,), (1, 1, 1, 1, 0, 0), (1, 0), (1, 1, 1, 1, 0, 0, 1, 0, 0), (1, 1, 0, 0), (1, 0, 0), (1, 1, 1, 0))
KINK = "◆"
# Heat maps: shades of f without colour, low to high; colour bands; viridis' stops (red, green, blue in 0..1).
SHADES = " ░▒▓█"
HEAT_LEVELS = 16
VIRIDIS = ((0.27, 0.0, 0.33), (0.23, 0.32, 0.55), (0.13, 0.57, 0.55), (0.37, 0.79, 0.38), (0.99, 0.91, 0.14))
ARROWS = "→↗↑↖←↙↓↘"  # by the gradient's angle, in eighths of a turn from the x axis
ARROW_EVERY = (8, 4)  # an arrow every this many columns and rows
KINK_COLOUR = "1;33"
AXIS_COLOUR = "2"  # dim: the frame recedes behind the curves
MIN_WIDTH, MIN_HEIGHT = 24, 8
# A cap well beyond any screen: 30000x30000 took 8 GB before it was stopped.
MAX_WIDTH, MAX_HEIGHT = 1000, 1000
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
    _check_size(width, height)
    bottom, top = curves.y_range()
    frame = _Frame(curves.expr, (float(curves.x[0]), float(curves.x[-1])), (bottom, top), width, height, colour)
    canvas = _Canvas(frame.columns, frame.rows)
    x_to_dot = _scale(frame.left, frame.right, 0, canvas.dot_width - 1)
    y_to_dot = _scale(top, bottom, 0, canvas.dot_height - 1)
    for index in reversed(range(len(curves.series))):  # f last: on top where lines cross
        series = curves.series[index]
        _draw_series(canvas, x_to_dot(curves.x), y_to_dot(series.values), series.breaks, index, _dashes(index, colour))
    for x, y in zip(curves.kinks.tolist(), curves.kink_values.tolist()):
        column, row = round(float(x_to_dot(x))), round(float(y_to_dot(y)))
        if 0 <= column < canvas.dot_width and 0 <= row < canvas.dot_height:
            canvas.marks[(row // 4, column // 2)] = KINK
    zero_row = round(float(y_to_dot(0.0))) // 4 if bottom < 0.0 < top else None
    body = [_cells(canvas, row, frame.paint, row == zero_row) for row in range(frame.rows)]
    return frame.around(body, curves.variable, _legend(curves, frame.paint, width))


def _check_size(width: int, height: int) -> None:
    if not (MIN_WIDTH <= width <= MAX_WIDTH and MIN_HEIGHT <= height <= MAX_HEIGHT):
        raise ValueError(f"a chart needs {MIN_WIDTH}x{MIN_HEIGHT} to {MAX_WIDTH}x{MAX_HEIGHT} characters, not {width}x{height}")


class _Frame:
    """The title above the plot, y tick labels left of it, the x axis, its labels and a legend below it."""

    def __init__(self, title: str, x_range: tuple[float, float], y_range: tuple[float, float], width: int,
                 height: int, colour: bool, dots: tuple[int, int] = (2, 4)):
        self.title, self.width, self.paint = title, width, _Painter(colour)
        self.dots_across, self.dots_down = dots  # a cell's points: Braille has 2 x 4, half blocks 1 x 2
        self.left, self.right = x_range
        self.bottom, self.top = y_range
        self.rows = height - TITLE_ROWS - FOOTER_ROWS
        self.y_ticks = nice_ticks(self.bottom, self.top, max(2, self.rows // 3))
        self.y_labels = tick_labels(self.y_ticks)
        self.margin = max(len(label) for label in self.y_labels)
        self.columns = width - self.margin - 1

    def around(self, body: list[str], x_name: str, legend: str) -> str:
        paint = self.paint
        row_of = _scale(self.top, self.bottom, 0, self.rows * self.dots_down - 1)
        tick_rows = {round(float(row_of(tick))) // self.dots_down: label
                     for tick, label in zip(self.y_ticks, self.y_labels)}
        lines = [paint.bold(one_line(self.title, self.width).center(self.width).rstrip())]
        for row, cells in enumerate(body):
            axis = "┤" if row in tick_rows else "│"
            lines.append(tick_rows.get(row, "").rjust(self.margin) + paint(AXIS_COLOUR, axis) + cells)
        column_of = _scale(self.left, self.right, 0, self.columns * self.dots_across - 1)
        x_ticks = nice_ticks(self.left, self.right, max(2, self.columns // 12))
        x_columns = [round(float(column_of(tick))) // self.dots_across for tick in x_ticks]
        lines.append(" " * self.margin + paint(AXIS_COLOUR, _x_axis(self.columns, x_columns)))
        lines.append(_x_labels(x_columns, tick_labels(x_ticks), self.margin + 1, self.width, x_name))
        lines.append(legend)
        return "\n".join(line.rstrip() for line in lines)


def _scale(source_start: float, source_end: float, target_start: float, target_end: float):
    ratio = (target_end - target_start) / (source_end - source_start)

    def scale(value):
        with np.errstate(all="ignore"):
            return target_start + (np.asarray(value, dtype=np.float64) - source_start) * ratio

    return scale


def heatmap(landscape: Landscape, width: int, height: int, colour: bool = False) -> str:
    """f over two variables as coloured half blocks (two points a cell) or, without colour, shades (one);
    arrows show the gradient's direction at every few cells."""
    _check_size(width, height)
    x_name, y_name = landscape.variables
    x, y = landscape.x, landscape.y
    frame = _Frame(landscape.expr, (float(x[0]), float(x[-1])), (float(y[0]), float(y[-1])), width, height, colour,
                   dots=(1, 2 if colour else 1))
    columns = _nearest(x, np.linspace(x[0], x[-1], frame.columns))
    rows = _nearest(y, np.linspace(y[-1], y[0], frame.rows * frame.dots_down))  # top row first
    levels = landscape.levels(len(SHADES) if not colour else HEAT_LEVELS)
    with np.errstate(invalid="ignore"):
        band = np.clip(np.searchsorted(levels, landscape.value[np.ix_(rows, columns)], side="right") - 1,
                       0, len(levels) - 2)
    band = np.where(np.isfinite(landscape.value[np.ix_(rows, columns)]), band, -1)  # -1: no value
    arrows = _arrows(landscape, rows[::frame.dots_down], columns, frame.rows, frame.columns)
    paint = frame.paint
    body = []
    for row in range(frame.rows):
        cells = []
        for column in range(frame.columns):
            arrow = arrows.get((row, column))
            if colour:
                upper, lower = band[2 * row, column], band[2 * row + 1, column]
                cells.append(_half_block(upper, lower, len(levels) - 1, arrow))
            else:
                shade = band[row, column]
                cells.append(arrow or (" " if shade < 0 else SHADES[_shade_index(shade, len(levels) - 1)]))
        body.append("".join(cells))
    low, high = (tick_labels([float(levels[0]), float(levels[-1])]) if levels[-1] - levels[0] >= 1e-4
                 else [f"{levels[0]:.4g}", f"{levels[-1]:.4g}"])
    scale = ("".join(_half_block(band, band, HEAT_LEVELS, None) for band in range(0, HEAT_LEVELS, 2))
             if colour else SHADES)
    legend = f"f({x_name}, {y_name}): {low} {scale} {high}   ↗ gradient   {x_name} across, {y_name} up"
    return frame.around(body, x_name, legend)


def _nearest(grid: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The index of the grid value nearest each of `at` (the grid ascending)."""
    index = np.clip(np.searchsorted(grid, at), 1, len(grid) - 1)
    return np.where(np.abs(at - grid[index - 1]) <= np.abs(grid[index] - at), index - 1, index)


def _arrows(landscape: Landscape, rows: np.ndarray, columns: np.ndarray, row_count: int,
            column_count: int) -> dict[tuple[int, int], str]:
    """An arrow along the gradient at every ARROW_EVERY cells (the grid's top row first), none where it is 0 or nan."""
    arrows = {}
    across, down = ARROW_EVERY
    for row in range(down // 2, row_count, down):
        for column in range(across // 2, column_count, across):
            along_x = landscape.gradient[0][rows[row], columns[column]]
            along_y = landscape.gradient[1][rows[row], columns[column]]
            if np.isfinite(along_x) and np.isfinite(along_y) and (along_x or along_y):
                arrows[(row, column)] = ARROWS[round(math.atan2(along_y, along_x) / (math.pi / 4)) % 8]
    return arrows


def _shade_index(band: int, bands: int) -> int:
    """A band's shade, stretched over the whole scale: levels at quantiles merge where f has plateaus, and the
    highest band must still be the darkest shade; a constant f takes the middle one, not the blank of no value."""
    if bands == 1:
        return len(SHADES) // 2
    return round(band * (len(SHADES) - 1) / (bands - 1))


def _half_block(upper: int, lower: int, bands: int, arrow: str | None) -> str:
    """One cell in 256-colour ANSI: '▀' with the upper point's colour over the lower's (an arrow on their mean)."""
    if arrow is not None:
        background = _heat_colour((upper + lower) / 2, bands) if min(upper, lower) >= 0 else None
        return f"\x1b[1;97{'' if background is None else f';48;5;{background}'}m{arrow}\x1b[0m"
    if upper < 0 and lower < 0:
        return " "
    if upper < 0 or lower < 0:
        char, band = ("▄", lower) if upper < 0 else ("▀", upper)
        return f"\x1b[38;5;{_heat_colour(band, bands)}m{char}\x1b[0m"
    return f"\x1b[38;5;{_heat_colour(upper, bands)};48;5;{_heat_colour(lower, bands)}m▀\x1b[0m"


def _heat_colour(band: float, bands: int) -> int:
    """A band's colour on the 256-colour cube, from dark blue (low) through green to yellow (high), as viridis."""
    position = min(1.0, max(0.0, band / max(1, bands - 1))) * (len(VIRIDIS) - 1)
    start = min(int(position), len(VIRIDIS) - 2)
    part = position - start
    red, green, blue = (a + part * (b - a) for a, b in zip(VIRIDIS[start], VIRIDIS[start + 1]))
    return 16 + 36 * round(red * 5) + 6 * round(green * 5) + round(blue * 5)


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


def one_line(text: str, width: int) -> str:
    """A title on one line of at most `width` characters, cut with '…' when longer."""
    text = printable(" ".join(text.split()))  # a program over several lines, on one; an ESC in it shown as \x1b
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
