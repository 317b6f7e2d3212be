"""Curves and landscapes as SVG, PNG or PDF files, through matplotlib (the optional extra `adcli[plot]`).

Only `adcli plot --output` imports this module, and matplotlib loads when a figure is made.
Figures are made without pyplot: no GUI backend, and no global figure state left behind
for a library user.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..lazy_numpy import np

from ..commands.plot import Curves, Landscape, Series
from ..errors import AdcliError, BindingError
from .chart import one_line

FILE_FORMATS = ("svg", "png", "pdf")
INSTALL_HINT = "pip install 'adcli[plot]'"
# Line colours of f, f', f'', ... (matplotlib's default cycle) and their dashes, as in the terminal.
COLOURS = ("tab:blue", "tab:red", "tab:green", "tab:purple", "tab:cyan", "tab:olive", "tab:gray")
LINE_STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3)), (0, (8, 2)))
ARROWS_PER_SIDE = 21
CONTOUR_LEVELS = 24
DPI = 150
# Characters of the formula that fit above the axes (a 12-point title on 8 and 7 inch figures, the latter beside
# the gradient key); a longer formula is cut with an ellipsis, as in the terminal.
CURVES_TITLE_CHARACTERS, LANDSCAPE_TITLE_CHARACTERS = 72, 38


class MissingExtra(AdcliError):
    """An optional dependency is not installed."""


def file_format(path: str) -> str:
    """'svg', 'png' or 'pdf', from the file name's suffix."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FILE_FORMATS:
        formats = ", ".join(f".{name}" for name in FILE_FORMATS)
        raise BindingError(f"--output {path!r}: the file name must end in {formats} (the picture's format)")
    return suffix


def write_figure(picture: Curves | Landscape, path: str) -> None:
    """Draw the curves (or the landscape) into the file at `path`, in the format its suffix names."""
    kind = file_format(path)
    matplotlib = _matplotlib()
    figure = curve_figure(picture) if isinstance(picture, Curves) else landscape_figure(picture)
    metadata: dict[str, Any] = {"Title": picture.expr}
    if kind in ("svg", "pdf"):
        metadata["Date"] = None  # the same picture makes the same file
    try:
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "adcli"}):  # text stays text in SVG
            figure.savefig(path, format=kind, dpi=DPI, metadata=metadata)
    except OSError as problem:
        raise BindingError(f"cannot write '{path}': {problem.strerror or problem}") from None


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise MissingExtra(f"writing a picture needs matplotlib, which is not installed: {INSTALL_HINT}") from None
    return matplotlib


def broken_line(x: np.ndarray, series: Series) -> tuple[np.ndarray, np.ndarray]:
    """The series' points with a nan between the samples its line must not join: matplotlib leaves a gap there."""
    cut = np.flatnonzero(series.breaks) + 1
    return np.insert(x, cut, np.nan), np.insert(series.values, cut, np.nan)


def curve_figure(curves: Curves) -> Any:
    """f and its derivatives as lines, kinks as rings, the formula as the title (a matplotlib Figure)."""
    _matplotlib()
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5), layout="constrained")
    axes = figure.add_subplot()
    axes.axhline(0.0, color="0.75", linewidth=0.8, zorder=0)
    for index, series in enumerate(curves.series):
        axes.plot(*broken_line(curves.x, series), label=series.label, color=COLOURS[index % len(COLOURS)],
                  linestyle=LINE_STYLES[index % len(LINE_STYLES)], linewidth=1.8 if index == 0 else 1.3)
    if curves.kinks.size:
        axes.plot(curves.kinks, curves.kink_values, linestyle="none", marker="o", markersize=7,
                  markerfacecolor="white", markeredgecolor="black", label="kink", zorder=3)
    axes.set_xlim(float(curves.x[0]), float(curves.x[-1]))
    axes.set_ylim(*curves.y_range())
    axes.set_title(one_line(curves.expr, CURVES_TITLE_CHARACTERS), parse_math=False)
    axes.set_xlabel(curves.variable, parse_math=False)
    axes.set_ylabel("f and its derivatives" if len(curves.series) > 1 else "f", parse_math=False)
    axes.grid(alpha=0.3)
    axes.legend()
    return figure


def landscape_figure(landscape: Landscape) -> Any:
    """Filled contours of f with its gradient's direction as arrows (a loss landscape; a matplotlib Figure)."""
    _matplotlib()
    from matplotlib.figure import Figure

    from matplotlib.colors import BoundaryNorm

    x_name, y_name = landscape.variables
    figure = Figure(figsize=(7, 6), layout="constrained")
    axes = figure.add_subplot()
    value = np.ma.masked_invalid(landscape.value)
    levels = landscape.levels(CONTOUR_LEVELS)
    filled = axes.contourf(landscape.x, landscape.y, value, levels=levels, cmap="viridis",
                           norm=BoundaryNorm(levels, 256))
    axes.contour(landscape.x, landscape.y, value, levels=levels, colors="black", linewidths=0.4, alpha=0.4)
    figure.colorbar(filled, ax=axes, label=f"f({x_name}, {y_name})")
    rows = slice(None, None, max(1, len(landscape.y) // ARROWS_PER_SIDE))
    columns = slice(None, None, max(1, len(landscape.x) // ARROWS_PER_SIDE))
    along_x, along_y = (np.asarray(part)[rows, columns] for part in landscape.gradient)
    with np.errstate(all="ignore"):
        length = np.hypot(along_x, along_y)
        unit = np.where((length > 0) & np.isfinite(length), 1.0 / length, np.nan)
    arrows = axes.quiver(landscape.x[columns], landscape.y[rows], along_x * unit, along_y * unit,
                         color="white", alpha=0.85, pivot="mid", angles="xy", scale=ARROWS_PER_SIDE * 1.6,
                         width=0.004)
    axes.quiverkey(arrows, 0.98, 1.02, 1.0, "gradient (direction)", labelpos="W", coordinates="axes",
                   color="black")
    axes.set_title(one_line(landscape.expr, LANDSCAPE_TITLE_CHARACTERS), parse_math=False, loc="left")
    axes.set_xlabel(x_name, parse_math=False)
    axes.set_ylabel(y_name, parse_math=False)
    return figure
