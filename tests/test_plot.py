"""`adcli plot`: the sampled curves (derivatives, gaps at poles, kinks), the terminal chart, and the files."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import adcli
from adcli.commands.plot import (BISECTIONS, Curves, Landscape, find_jumps, orders_program, plot, swept_ranges,
                                 visible_range)
from adcli.render.chart import ARROWS, BRAILLE, SHADES, chart, clip_segment, heatmap, nice_ticks, tick_labels

from conftest import console_script


def curves_of(text: str, order: int = 1, **bindings) -> Curves:
    picture = plot(adcli.compile(text), bindings, order)
    assert isinstance(picture, Curves)
    return picture


def break_positions(curves: Curves, order: int = 0) -> np.ndarray:
    """The midpoints of the intervals where the series' line is broken."""
    x = curves.x
    cut = np.flatnonzero(curves.series[order].breaks)
    return 0.5 * (x[cut] + x[cut + 1])


# -- the sampled curves ------------------------------------------------------------------------

DERIVATIVES = [
    ("x^3 - 2x", [lambda x: x ** 3 - 2 * x, lambda x: 3 * x ** 2 - 2, lambda x: 6 * x, lambda x: 6 + 0 * x]),
    ("sin(x)", [np.sin, np.cos, lambda x: -np.sin(x), lambda x: -np.cos(x), np.sin]),
    ("exp(-x^2/2)", [lambda x: np.exp(-x ** 2 / 2), lambda x: -x * np.exp(-x ** 2 / 2),
                     lambda x: (x ** 2 - 1) * np.exp(-x ** 2 / 2)]),
    ("a x^2 + b", [lambda x: 3 * x ** 2 + 1, lambda x: 6 * x, lambda x: 6 + 0 * x]),
]


@pytest.mark.parametrize("text, closed_forms", DERIVATIVES)
def test_every_order_matches_its_closed_form(text, closed_forms):
    curves = curves_of(text, len(closed_forms) - 1, a=3.0, b=1.0)
    assert [series.order for series in curves.series] == list(range(len(closed_forms)))
    assert curves.variable == "x" and curves.x[0] == -5.0 and curves.x[-1] == 5.0 and len(curves.x) == 1001
    for series, closed_form in zip(curves.series, closed_forms):
        np.testing.assert_allclose(series.values, closed_form(curves.x), rtol=1e-12, atol=1e-12)
        assert not series.breaks.any()


def test_all_orders_come_from_one_program_that_shares_their_work():
    compiled = adcli.compile("exp(sin(x)) / (1 + x^2)")
    shapes = {"x": (1001,)}
    merged = orders_program(compiled, "x", 3, shapes)
    separate = [compiled.program] + [compiled.derivative_program("x", k, shapes) for k in (1, 2, 3)]
    assert len(merged.outputs) == 4
    assert len(merged.instructions) < sum(len(program.instructions) for program in separate)
    assert len(merged.instructions) < 1.2 * len(separate[-1].instructions)  # f, f' and f'' are mostly inside f'''


def test_a_range_from_at_is_used_sorted_and_once_each():
    curves = curves_of("x^2", 0, x=np.array([1.0, -1.0, 0.5, 0.5, 0.0]))
    assert curves.x.tolist() == [-1.0, 0.0, 0.5, 1.0]
    assert curves.series[0].values.tolist() == [1.0, 0.0, 0.25, 1.0]


def test_where_values_and_scalar_bindings_are_not_swept():
    compiled = adcli.compile("a sin(t) + c where c=2")
    ranges = swept_ranges(compiled, {"a": 2.0})
    assert list(ranges) == ["t"] and len(ranges["t"]) == 1001


@pytest.mark.parametrize("text, pole_count, poles", [
    ("tan(x)", 4, [-3 * math.pi / 2, -math.pi / 2, math.pi / 2, 3 * math.pi / 2]),
    ("1/(x - 0.123)", 1, [0.123]),
    ("1/x", 1, [0.0]),  # a sample at the pole itself: inf, so both of its intervals are broken
    ("x/(x^2 - 4)", 2, [-2.0, 2.0]),
])
def test_poles_break_the_line(text, pole_count, poles):
    curves = curves_of(text, 1)
    found = break_positions(curves)
    for pole in poles:
        assert np.min(np.abs(found - pole)) <= 0.01
    assert all(np.min(np.abs(pole - np.array(poles))) <= 0.01 for pole in found)
    assert len({round(pole, 1) for pole in found}) == pole_count


def test_nan_stretches_break_the_line_and_no_derivative_is_drawn_where_f_has_no_value():
    curves = curves_of("log(x)", 2)
    negative = curves.x < 0
    for series in curves.series:
        assert np.all(np.isnan(series.values[negative]))  # log's gradient 1/x exists there, but f does not
        assert np.all(np.isfinite(series.values[curves.x > 0]))
        assert series.breaks[:500].all() and not series.breaks[501:].any()


@pytest.mark.parametrize("text", ["sin(3x)", "exp(x)", "tanh(50x)", "x^2 - 3", "sqrt(x^2 + 1e-6)", "1/(1 + x^2)",
                                  "atan(x^3)"])
def test_continuous_curves_are_not_broken(text):
    curves = curves_of(text, 1)
    assert not any(series.breaks.any() for series in curves.series)


def test_a_step_is_a_gap_and_its_steps_are_marked_by_the_kink_predicate():
    curves = curves_of("floor(x)", 0)
    np.testing.assert_allclose(break_positions(curves), [k - 0.005 for k in range(-4, 6)], atol=1e-12)
    assert curves.kinks.tolist() == [float(k) for k in range(-5, 6)]


def test_find_jumps_keeps_the_half_that_rises_and_finds_where():
    def step(at):
        return np.where(at < 0.3, 0.0, 1.0)

    x = np.linspace(0, 1, 11)
    intervals, where = find_jumps(step, x, step(x))
    assert intervals.tolist() == [2] and abs(where[0] - 0.3) < 1e-9  # 0.1 / 2^30 wide at the end
    assert BISECTIONS >= 20


def test_kinks_between_samples_are_found_from_jumps_of_the_derivative():
    curves = curves_of("abs(x - 1.234) + relu(x)", 1)
    np.testing.assert_allclose(curves.kinks, [0.0, 1.234], atol=1e-9)
    np.testing.assert_allclose(curves.kink_values, [1.234, 1.234], atol=1e-8)
    assert not curves.series[0].breaks.any()  # a kink is not a gap in f ...
    np.testing.assert_allclose(break_positions(curves, 1), [0.005, 1.235], atol=1e-12)  # ... but one in f'


@pytest.mark.parametrize("text, kinks", [
    ("x^2", []), ("abs(x)", [0.0]), ("max(x, 2 - x)", [1.0]), ("sqrt(x)", [0.0]), ("relu(x)^2", [0.0]),
    ("abs(sin(x))", [-math.pi, 0.0, math.pi]),
])
def test_kinks(text, kinks):
    np.testing.assert_allclose(curves_of(text, 0).kinks, kinks, atol=1e-9)


def test_the_visible_range_cuts_poles_but_keeps_ordinary_curves_whole():
    assert visible_range([np.linspace(0, 25, 101)]) == pytest.approx((-1.0, 26.0))
    exp = curves_of("exp(x)", 0)
    bottom, top = exp.y_range()
    assert bottom < exp.series[0].values.min() and top > exp.series[0].values.max()
    bottom, top = curves_of("tan(x)", 0).y_range()
    assert 3 < top < 50 and -50 < bottom < -3
    bottom, top = curves_of("sin(10x)", 2).y_range()  # derivatives widen it, to three times f's at most
    assert top == pytest.approx(-bottom) and 2.5 < top < 3.5


@pytest.mark.parametrize("text, bindings, message", [
    ("2 + 3", {}, "no variable to sweep"),
    ("x + y + z", {}, "it sweeps 3: x, y, z"),
    ("sum(x)", {}, "sum combines the points of x"),
    ("x + w", {"w": np.ones((2, 2))}, "'w' has shape (2, 2)"),
    ("x", {"x": np.array([1.0])}, "2 or more finite values"),
    ("x", {"x": np.zeros(5)}, "'x' takes one value only"),  # an axis of width 0 was a ZeroDivisionError
    ("x", {"x": np.array([5e-324, 1e-323])}, "'x' spans 4.94e-324, a width the axis cannot be scaled to"),
    ("x", {"x": np.array([-1e308, 1e308])}, "'x' spans inf, a width the axis cannot be scaled to"),
    # values whose span is no float64 number: the axes' arithmetic was matplotlib's or the chart's error
    ("1e308 x", {"x": np.linspace(-1, 1, 20)}, "run from -1e+308 to 1e+308: too wide a span"),
    ("8e307 x", {"x": np.linspace(-1, 1, 20)}, "run from -8e+307 to 8e+307: too wide a span"),
    ("1e308 x y", {"x": np.linspace(-1, 1, 20), "y": np.linspace(-1, 1, 20)}, "too wide a span"),
])
def test_what_cannot_be_plotted_is_refused(text, bindings, message):
    with pytest.raises(adcli.AdcliError, match=re.escape(message)):
        plot(adcli.compile(text), bindings, 1)


def test_two_variables_give_a_landscape_of_value_and_gradient():
    picture = plot(adcli.compile("x^2 y + sin(y)"), {"x": np.linspace(-1, 1, 5)}, 1)
    assert isinstance(picture, Landscape) and picture.variables == ("x", "y")
    assert picture.x.tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0] and len(picture.y) == 101
    grid_x, grid_y = np.meshgrid(picture.x, picture.y)
    np.testing.assert_allclose(picture.value, grid_x ** 2 * grid_y + np.sin(grid_y), rtol=1e-14)
    np.testing.assert_allclose(picture.gradient[0], 2 * grid_x * grid_y, rtol=1e-14)
    np.testing.assert_allclose(picture.gradient[1], grid_x ** 2 + np.cos(grid_y), rtol=1e-14)


# -- the terminal chart --------------------------------------------------------------------------


def plot_cells(text: str) -> list[str]:
    """The chart's plot area: the rows between the title and the x axis, right of the y axis."""
    lines = text.split("\n")
    rows = lines[1:-3]
    axis = rows[0].index("│") if "│" in rows[0] else rows[0].index("┤")
    return [row[axis + 1:] for row in rows]


def dotted(cell: str) -> bool:
    return BRAILLE < ord(cell) <= BRAILLE + 0xFF


def column_heights(cells: list[str]) -> list[int]:
    width = max(len(row) for row in cells)
    padded = [row.ljust(width) for row in cells]
    return [sum(dotted(row[column]) for row in padded) for column in range(width)]


@pytest.mark.parametrize("width, height", [(60, 16), (100, 30), (24, 8)])
def test_the_chart_fills_the_size_it_is_given(width, height):
    text = chart(curves_of("x^3 - 2x", 2), width, height)
    lines = text.split("\n")
    assert len(lines) == height and max(len(line) for line in lines) <= width
    assert lines[0].strip() == "x^3 - 2x"  # the title is the formula
    assert "└" in lines[-3] and "┬" in lines[-3]  # the x axis and its ticks
    assert sum(line.count("┤") for line in lines) >= 2  # y ticks
    assert "f'" in lines[-1] and "f''" in lines[-1] and "f " in lines[-1]  # the legend
    assert "\x1b" not in text


def test_axes_carry_round_tick_labels():
    lines = chart(curves_of("x^3 - 2x", 0), 100, 30).split("\n")
    assert lines[-2].split() == ["-4", "-2", "0", "2", "4", "x"]
    y_labels = [line.split("┤")[0].strip() for line in lines if "┤" in line]
    assert y_labels == ["100", "50", "0", "-50", "-100"]
    zero_row = next(line for line in lines if line.split("┤")[0].strip() == "0")
    assert "┈" in zero_row  # the line y = 0


@pytest.mark.parametrize("text, sampled_at_the_pole", [
    ("tan(x)", False), ("1/(x - 0.123)", False), ("1/x", True), ("x/(x^2 - 4)", True)])
def test_poles_leave_gap_columns_not_vertical_lines(text, sampled_at_the_pole):
    curves = curves_of(text, 0)
    heights = column_heights(plot_cells(chart(curves, 100, 30)))
    rows = 30 - 4
    assert max(heights) < 0.75 * rows
    if sampled_at_the_pole:  # an inf there breaks the line anyway
        return
    joined = dataclasses.replace(curves, series=tuple(dataclasses.replace(series, breaks=series.breaks & False)
                                                      for series in curves.series))
    with np.errstate(all="ignore"):
        assert max(column_heights(plot_cells(chart(joined, 100, 30)))) >= rows - 1  # what the gaps prevent


@pytest.mark.parametrize("colour", [False, True])
def test_control_characters_of_the_formula_are_escaped_in_the_title(colour):
    """The title is the formula as typed: an ESC, a BEL or a right-to-left override in a comment must not
    reach the terminal (the chart is written past the escaping stream, for its own colours)."""
    title = chart(curves_of("x # \x1b[2J\x07\u202e", 1), 60, 12, colour).split("\n")[0]
    assert "x # \\x1b[2J\\x07\\u202e" in title
    assert "\x07" not in title and "\u202e" not in title and "\x1b[2J" not in title


def test_a_nan_stretch_is_empty_in_the_chart():
    cells = plot_cells(chart(curves_of("sqrt(x)", 0), 60, 16))
    heights = column_heights(cells)
    plot_width = len(heights)
    assert sum(heights[:plot_width // 2 - 1]) == 0 and min(heights[plot_width // 2 + 1:]) > 0


def test_kinks_are_marked_in_the_chart_and_the_legend():
    text = chart(curves_of("abs(x - 1) + relu(x)", 1), 80, 24)
    assert sum(row.count("◆") for row in plot_cells(text)) == 2
    assert text.split("\n")[-1].endswith("◆ kink")
    assert "kink" not in chart(curves_of("x^2", 1), 80, 24)


def test_series_differ_without_colour_and_take_colours_when_asked():
    curves = curves_of("sin(x)", 2)
    legend = chart(curves, 80, 24).split("\n")[-1]
    samples = [entry.split(" ")[0] for entry in legend.split("   ")]
    assert len(set(samples)) == 3  # solid, dashed, dotted
    coloured = chart(curves, 80, 24, colour=True)
    assert "\x1b[94m" in coloured and "\x1b[91m" in coloured and "\x1b[92m" in coloured and "\x1b[0m" in coloured
    assert _without_colour(coloured).split("\n")[0] == chart(curves, 80, 24).split("\n")[0]
    assert len(set(entry.split(" ")[0] for entry in _without_colour(coloured).split("\n")[-1].split("   "))) == 1


def _without_colour(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_a_long_formula_is_cut_to_the_width():
    text = "x + " * 40 + "x"
    title = chart(curves_of(text, 0), 40, 10).split("\n")[0]
    assert len(title) == 40 and title.endswith("…")


@pytest.mark.parametrize("width, height", [(20, 5), (24, 7), (1001, 8), (24, 1001)])
def test_too_small_or_too_large_a_chart_is_refused(width, height):
    with pytest.raises(ValueError, match="24x8 to 1000x1000"):
        chart(curves_of("x", 0), width, height)


def test_nice_ticks_and_their_labels():
    assert nice_ticks(-5.2, 5.2, 5) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert tick_labels(nice_ticks(0, 1, 5)) == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]
    assert tick_labels(nice_ticks(0, 1, 4)) == ["0.0", "0.5", "1.0"]
    assert tick_labels(nice_ticks(-1e7, 1e7, 4)) == ["-1e+07", "-5e+06", "0", "5e+06", "1e+07"]
    assert tick_labels([-0.0 + 1e-17, 0.5]) == ["0.0", "0.5"]  # never "-0.0"


@pytest.mark.parametrize("segment, expected", [
    ((0, 0, 10, 10), (0, 0, 10, 10)),
    ((-10, 5, 30, 5), (-0.5, 5, 19.5, 5)),
    ((5, -100, 5, 100), (5, -0.5, 5, 19.5)),
    ((-5, -5, -1, -1), None),
])
def test_clip_segment(segment, expected):
    clipped = clip_segment(*segment, 19.5, 19.5)
    assert clipped == (pytest.approx(expected) if expected else None)


def test_a_landscape_in_the_terminal_is_a_heat_map_with_gradient_arrows():
    landscape = plot(adcli.compile("x^2 + y^2"), {}, 1)
    lines = heatmap(landscape, 61, 25).split("\n")
    assert len(lines) == 25 and lines[0].strip() == "x^2 + y^2" and max(len(line) for line in lines) <= 61
    cells = plot_cells("\n".join(lines))
    middle_row, middle_column = len(cells) // 2, len(cells[0]) // 2
    assert cells[middle_row][middle_column] in (" ", *ARROWS)  # the lowest fifth is blank
    assert cells[0][0] == cells[-1][-1] == SHADES[-1]  # the corners are highest
    arrows = [(row, column, char) for row, line in enumerate(cells) for column, char in enumerate(line)
              if char in ARROWS]
    assert len(arrows) >= 12
    rows, columns = len(cells), len(cells[0])
    for row, column, char in arrows:  # the gradient of x^2 + y^2, (2x, 2y), points away from the middle
        x, y = -5 + 10 * column / (columns - 1), 5 - 10 * row / (rows - 1)
        eighths = math.atan2(y, x) / (math.pi / 4)
        assert (ARROWS.index(char) - eighths) % 8 < 0.5 + 0.2 or (eighths - ARROWS.index(char)) % 8 < 0.5 + 0.2
    assert lines[-1].startswith("f(x, y): 0") and "gradient" in lines[-1]


@pytest.mark.parametrize("text, bindings, expected", [
    ("x y", {"x": [0.0, 1.0], "y": [0.0, 1.0]}, {" ", SHADES[-1]}),  # three 0s, one 1: the top is still the darkest
    ("relu(x) relu(y)", {}, {" ", SHADES[-1]}),  # a plateau of 0 over three quarters: two bands
    ("3 + 0 x y", {}, {SHADES[len(SHADES) // 2]}),  # a constant is not the blank of no value
])
def test_a_heat_map_without_colour_spans_the_whole_scale(text, bindings, expected):
    landscape = plot(adcli.compile(text), {name: np.array(value) for name, value in bindings.items()}, 0)
    cells = {char for line in plot_cells(heatmap(landscape, 40, 12)) for char in line if char not in ARROWS}
    assert cells == expected


def test_a_heat_map_in_colour_uses_half_blocks():
    landscape = plot(adcli.compile("x y"), {}, 1)
    coloured = heatmap(landscape, 50, 16, colour=True)
    assert "▀" in coloured and "\x1b[38;5;" in coloured and ";48;5;" in coloured
    assert len(coloured.split("\n")) == 16


# -- the command line ------------------------------------------------------------------------------


def test_plot_prints_a_chart_of_the_requested_size(cli):
    run = cli("plot", "tan(x)", "--size", "70x20")
    assert run.exit_code == 0, run.stderr
    lines = run.stdout.rstrip("\n").split("\n")
    assert len(lines) == 20 and lines[0].strip() == "tan(x)" and "\x1b" not in run.stdout
    assert "f'" in lines[-1]


def test_plot_takes_the_terminal_size_from_the_environment(adcli_process, monkeypatch):
    monkeypatch.setenv("COLUMNS", "72")
    monkeypatch.setenv("LINES", "19")
    run = adcli_process("plot", "x^2", "--order", "0")
    assert run.exit_code == 0, run.stderr
    lines = run.stdout.rstrip("\n").split("\n")
    assert len(lines) == 18 and max(len(line) for line in lines) <= 72


def test_plot_of_two_variables_prints_a_heat_map(cli):
    run = cli("plot", "x^2 - y^2", "--size", "60x20")
    assert run.exit_code == 0 and len(run.stdout.rstrip("\n").split("\n")) == 20 and "↗ gradient" in run.stdout


def test_colour_always_and_never(cli):
    assert "\x1b[94m" in cli("plot", "x^2", "--size", "40x12", "--color", "always").stdout
    assert "\x1b" not in cli("plot", "x^2", "--size", "40x12", "--color", "never").stdout


def _in_a_terminal(*args: str, env: dict[str, str]) -> str:
    """adcli's output when its standard output is a terminal (a pseudo-terminal)."""
    import pty

    main, replica = pty.openpty()
    try:
        done = subprocess.run(console_script() + list(args), stdout=replica, stderr=subprocess.PIPE, timeout=120,
                              env={**os.environ, "TERM": "xterm", **env})
        os.close(replica)
        replica = -1
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal closed: all read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(main)
        if replica != -1:
            os.close(replica)
    assert done.returncode == 0, done.stderr
    return b"".join(chunks).decode()


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_colours_on_a_terminal_unless_no_color():
    plain_env = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    with_colour = _in_a_terminal("plot", "x^2", "--size", "40x12", env={**plain_env, "NO_COLOR": ""})
    without = _in_a_terminal("plot", "x^2", "--size", "40x12", env={"NO_COLOR": "1"})
    assert "\x1b[94m" in with_colour and "\x1b[" not in without
    assert "⠤⠤⠤⠤ f" in without


@pytest.mark.parametrize("args, message", [
    (("plot", "x", "-o", "picture.gif"), "must end in .svg, .png, .pdf"),
    (("plot", "sum(x)"), "combines the points"),
    (("plot", "sine(x)"), "did you mean"),
    (("plot", "x", "--at", "x=linspace(0, 1, 1)"), "2 or more"),
])
def test_plot_errors_are_adcli_errors(cli, args, message):
    run = cli(*args)
    assert run.exit_code == 1 and run.stderr.startswith("adcli: error:") and message in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("args", [("plot", "x", "--size", "10x4"), ("plot", "x", "--size", "wide"),
                                  ("plot", "x", "--size", "1001x8"), ("plot", "x", "--size", "24x1001"),
                                  ("plot", "x", "--order", "7")])
def test_plot_usage_errors(cli, args):
    run = cli(*args)
    assert run.exit_code == 2 and "Traceback" not in run.stderr


def test_an_unwritable_output_is_an_error(cli, tmp_path):
    run = cli("plot", "x", "-o", str(tmp_path / "no-such-folder" / "x.png"))
    assert run.exit_code == 1 and run.stderr.startswith("adcli: error: cannot write")


# -- files (matplotlib) -----------------------------------------------------------------------------

matplotlib = pytest.importorskip("matplotlib")


def test_png_is_a_picture_of_the_curves(cli, tmp_path):
    from matplotlib import image

    path = tmp_path / "tan.png"
    run = cli("plot", "tan(x)", "--output", str(path))
    assert run.exit_code == 0 and run.stdout == "", run.stderr
    pixels = image.imread(str(path))
    assert pixels.shape[0] >= 600 and pixels.shape[1] >= 1000 and pixels.shape[2] in (3, 4)
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    blue_line = (blue > 0.6) & (red < 0.3) & (green > 0.35) & (green < 0.6)  # tab:blue, f
    red_line = (red > 0.7) & (green < 0.25) & (blue < 0.25)  # tab:red, f'
    assert blue_line.sum() > 500 and red_line.sum() > 200
    white = (pixels[..., :3] > 0.98).all(axis=-1)
    assert white.mean() > 0.5


def test_svg_is_xml_with_the_formula_as_its_title(cli, tmp_path):
    path = tmp_path / "f.svg"
    assert cli("plot", "abs(x - 1) + relu(x)", "-o", str(path)).exit_code == 0
    root = ElementTree.parse(path).getroot()
    assert root.tag.endswith("svg")
    texts = ["".join(element.itertext()) for element in root.iter() if element.tag.endswith("text")]
    assert "abs(x - 1) + relu(x)" in texts and "kink" in texts and "f'" in texts and "x" in texts
    assert "abs(x - 1) + relu(x)" in path.read_text(encoding="utf-8").split("<dc:title>")[1]


def test_pdf_is_a_pdf_with_the_formula_as_its_title(cli, tmp_path):
    path = tmp_path / "f.pdf"
    assert cli("plot", "log(x)", "--order", "2", "-o", str(path)).exit_code == 0
    data = path.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 2000 and b"/Title (log\\(x\\))" in data


def test_the_lines_in_a_figure_have_gaps_at_the_poles():
    from adcli.render.figures import curve_figure

    curves = curves_of("tan(x)", 2)
    axes = curve_figure(curves).axes[0]
    lines = [line for line in axes.get_lines() if line.get_label() in ("f", "f'", "f''")]
    assert [line.get_label() for line in lines] == ["f", "f'", "f''"]
    f_line = lines[0]
    y = np.asarray(f_line.get_ydata(), dtype=float)
    x = np.asarray(f_line.get_xdata(), dtype=float)
    gaps = x[np.flatnonzero(np.isnan(y))] if np.isnan(x).any() else np.array([])
    assert np.isnan(y).sum() == 4 and np.isnan(x).sum() == 4
    pole_sides = [(x[i - 1], x[i + 1]) for i in np.flatnonzero(np.isnan(y))]
    for (before, after), pole in zip(pole_sides, [-3 * math.pi / 2, -math.pi / 2, math.pi / 2, 3 * math.pi / 2]):
        assert before < pole < after
    assert gaps.size == 4
    assert axes.get_title() == "tan(x)" and axes.get_xlabel() == "x"
    assert axes.get_ylim()[1] < 50  # the poles do not flatten the curve


@pytest.mark.parametrize("text, at", [("2e307 x", "x=linspace(-1,1,20)"), ("exp(x)", "x=linspace(0,709,50)"),
                                      ("exp(x) y", "x=linspace(0,709,50),y=linspace(-1,1,5)")])
def test_values_near_float64s_limit_still_draw(cli, tmp_path, text, at):
    run = cli("plot", text, "--at", at, "-o", str(tmp_path / "wide.png"))
    assert run.exit_code == 0 and (tmp_path / "wide.png").stat().st_size > 0


def test_a_landscape_png(cli, tmp_path):
    from matplotlib import image

    path = tmp_path / "landscape.png"
    run = cli("plot", "(1 - x)^2 + 5(y - x^2)^2", "--at", "x=linspace(-2,2,41),y=linspace(-1,3,41)", "-o", str(path))
    assert run.exit_code == 0, run.stderr
    pixels = image.imread(str(path))
    assert pixels.shape[0] >= 600 and pixels.shape[1] >= 600
    colours = np.unique((pixels[..., :3] * 15).round().reshape(-1, 3), axis=0)
    assert len(colours) > 50  # filled contours, arrows, a colour bar


def test_a_landscape_figure_has_contours_arrows_and_labels():
    from adcli.render.figures import landscape_figure

    picture = plot(adcli.compile("x^2 + 3y^2"), {}, 1)
    axes = landscape_figure(picture).axes[0]
    [arrows] = [child for child in axes.get_children() if type(child).__name__ == "Quiver"]
    u, v = np.asarray(arrows.U), np.asarray(arrows.V)
    np.testing.assert_allclose(np.hypot(u, v)[np.isfinite(u)], 1.0)  # directions
    assert axes.get_title(loc="left") == "x^2 + 3y^2" and (axes.get_xlabel(), axes.get_ylabel()) == ("x", "y")



@pytest.mark.parametrize("text, derivative", [("diff(x^3, x)", lambda x: 3 * x**2),
                                               ("f(x) = sin(x); f'(x)", np.cos),
                                               ("diff(sin x, x, 3)", lambda x: -np.cos(x))])
def test_a_derivative_written_in_the_formula_is_drawn(text, derivative):
    # diff() and primes compile to helpers such as broadcast_like, which are not elementwise yet combine no points
    curves = curves_of(text, 0, x=np.linspace(-2.0, 2.0, 41))
    np.testing.assert_allclose(curves.series[0].values, derivative(curves.x), atol=1e-12)


def test_a_long_formula_is_cut_to_fit_above_a_figure():
    from adcli.render.figures import (CURVES_TITLE_CHARACTERS, LANDSCAPE_TITLE_CHARACTERS, curve_figure,
                                      landscape_figure)

    long_sum = "+".join(f"sin({k}*x*y)" for k in range(300))
    curves_title = curve_figure(curves_of(long_sum, 0, y=np.array(1.0))).axes[0].get_title()
    landscape_title = landscape_figure(plot(adcli.compile(long_sum), {}, 0)).axes[0].get_title(loc="left")
    assert curves_title.startswith("sin(0*x*y)+") and curves_title.endswith("…")
    assert len(curves_title) == CURVES_TITLE_CHARACTERS and len(landscape_title) == LANDSCAPE_TITLE_CHARACTERS

MISSING_MATPLOTLIB = """
import sys
sys.modules["matplotlib"] = None  # as if adcli[plot] were not installed
from adcli.cli import run
sys.argv = ["adcli"] + sys.argv[1:]
run()
"""


@pytest.mark.parametrize("args", [("x^2", "-o", "f.png"), ("x y", "-o", "landscape.svg")])
def test_without_matplotlib_files_are_a_clear_error_and_the_terminal_chart_still_works(tmp_path, args):
    done = subprocess.run([sys.executable, "-c", MISSING_MATPLOTLIB, "plot", *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("adcli: error:") and "pip install 'adcli[plot]'" in done.stderr
    assert not (tmp_path / args[-1]).exists()
    chart_run = subprocess.run([sys.executable, "-c", MISSING_MATPLOTLIB, "plot", "x^2", "--size", "40x12"],
                               capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert chart_run.returncode == 0 and len(chart_run.stdout.strip("\n").split("\n")) == 12


def test_a_sample_on_a_kink_breaks_the_derivative_on_both_sides():
    curves = curves_of("abs(x^2 - 4) / (x - 1)", 1)  # f'(+-2) is 0 (abs'(0) = 0), between two other values
    slope_breaks = break_positions(curves, 1)
    for kink in (-2.0, 2.0):
        assert np.sum(np.abs(slope_breaks - kink) < 0.01) == 2
    np.testing.assert_allclose(curves.kinks, [-2.0, 2.0])
    assert np.min(np.abs(break_positions(curves, 0) - 1.0)) < 0.01  # the pole


@settings(max_examples=40, deadline=None)
@given(coefficients=st.lists(st.floats(-3, 3), min_size=1, max_size=5), frequency=st.floats(0.1, 8),
       phase=st.floats(-3, 3), order=st.integers(0, 2))
def test_smooth_curves_are_never_broken_and_have_no_kinks(coefficients, frequency, phase, order):
    polynomial = " + ".join(f"({c!r}) * x^{power}" for power, c in enumerate(coefficients))
    curves = curves_of(f"{polynomial} + sin(({frequency!r}) * x + ({phase!r}))", order)
    assert not any(series.breaks.any() for series in curves.series)
    assert curves.kinks.size == 0


@settings(max_examples=40, deadline=None)
@given(pole=st.floats(-4.5, 4.5), scale=st.floats(0.01, 100))
def test_every_pole_breaks_the_line_or_lies_off_the_chart(pole, scale):
    curves = curves_of(f"({scale!r}) / (x - ({pole!r})) + x", 2)
    bottom, top = curves.y_range()
    for order in range(3):
        found = break_positions(curves, order)
        assert np.all(np.abs(found - pole) <= 0.01)
        if order % 2 == 0:  # a sign change: the line would cross the whole chart
            assert found.size in (1, 2)
        elif found.size == 0:  # f' = 1 - scale/(x - pole)^2 has a peak, and may have no jump between two samples
            beside = np.flatnonzero(np.abs(curves.x - pole) <= 0.01)
            assert np.all(curves.series[1].values[beside] < bottom)  # so it runs below the chart
