"""adcli diff through the CLI (Click's runner) and the installed console script."""

from __future__ import annotations

import json

import pytest


@pytest.mark.parametrize("args, expected", [
    (["(x - 4)(x^2 + 6)"], "d/dx  3x^2 - 8x + 6\n"),
    (["(x - 4)(x^2 + 6)", "--order", "2"], "d2/dx2  6x - 8\n"),
    (["(sqrt(x) + 1)^3"], "d/dx  3(sqrt(x) + 1)^2/(2sqrt(x))\n"),
    (["(x + 2y)^2"], "d/dx  2x + 4y\nd/dy  4x + 8y\n"),
    (["(x + 2y)^2", "--wrt", "y"], "d/dy  4x + 8y\n"),
    (["(x + 2y)^2", "--at", "y=2"], "d/dx  2x + 8\n"),
    (["a sin(b x)", "--at", "a=2,b=3"], "d/dx  6cos(3x)\n"),
    (["w*x + b", "--wrt", "w,x,b"], "d/dw  x\nd/dx  w\nd/db  1\n"),
    (["x1^2 + x", "--wrt", "x1,x"], "d/dx1  2x1\nd/dx   1\n"),
    (["-x^3"], "d/dx  -3x^2\n"),
])
def test_text(cli, args, expected):
    run = cli("diff", *args)
    assert (run.exit_code, run.stdout, run.stderr) == (0, expected, "")


def test_plain_is_the_formulas_alone(cli):
    run = cli("diff", "(x + 2y)^2", "--format", "plain")
    assert run.stdout == "2x + 4y\n4x + 8y\n"


def test_latex_lines(cli):
    run = cli("diff", "(sqrt(x) + 1)^3", "--format", "latex")
    assert run.stdout == "\\frac{d}{dx} = \\frac{3 \\left(\\sqrt{x} + 1\\right)^{2}}{2 \\sqrt{x}}\n"
    run = cli("diff", "x^3", "--order", "2", "--format", "latex")
    assert run.stdout == "\\frac{d^{2}}{dx^{2}} = 6 x\n"


def test_json(cli):
    run = cli("diff", "(x + 2y)^2", "--format", "json")
    assert json.loads(run.stdout) == {"expr": "(x + 2y)^2", "wrt": ["x", "y"], "order": 1,
                                      "derivative": {"x": "2x + 4y", "y": "4x + 8y"},
                                      "latex": {"x": "2 x + 4 y", "y": "4 x + 8 y"}}


@pytest.mark.parametrize("fmt", ["text", "plain", "json", "latex"])
def test_every_format_from_the_console_script(adcli_process, fmt):
    run = adcli_process("diff", "(x - 4)(x^2 + 6)", "--format", fmt)
    assert run.exit_code == 0 and run.stderr == ""
    expected = {"text": "d/dx  3x^2 - 8x + 6\n", "plain": "3x^2 - 8x + 6\n", "latex": "\\frac{d}{dx} = 3 x^{2} - 8 x + 6\n"}
    if fmt == "json":
        assert json.loads(run.stdout)["derivative"] == {"x": "3x^2 - 8x + 6"}
    else:
        assert run.stdout == expected[fmt]


@pytest.mark.parametrize("expression, point", [
    ("x^2 sin(x) + exp(-x) y", "x=0.7,y=-1.3"),
    ("(sqrt(x) + 1)^3 / (1 + y^2)", "x=2,y=0.5"),
    ("atan2(y, x) + log(x^2 + y^2)", "x=0.3,y=1.1"),
])
def test_the_printed_formula_evaluates_to_grads_numbers(cli, expression, point):
    grads = json.loads(cli("grad", expression, "--at", point, "--format", "json").stdout)["grad"]
    formulas = json.loads(cli("diff", expression, "--format", "json").stdout)["derivative"]
    for name, formula in formulas.items():
        value = json.loads(cli("eval", formula, "--at", point, "--format", "json").stdout)["value"]
        assert value == pytest.approx(grads[name], rel=1e-12)


@pytest.mark.parametrize("args, message", [
    (["sum([x, 2x])"], "adcli diff prints formulas of scalar programs; for arrays use 'adcli grad' (at column 5)"),
    (["a x", "--at", "a=[1, 2]"], "'a' is an array"),
    (["x^2", "--wrt", "z"], "cannot differentiate with respect to 'z': the expression does not use it"),
    (["x^2", "--wrt", "xx"], "did you mean 'x'?"),
    (["x^2", "--wrt", "x,x"], "--wrt names 'x' more than once"),
    (["x^2 y", "--at", "x=1,y=2"], "nothing to differentiate: every variable has a value; name one with --wrt"),
    (["2 + 3"], "nothing to differentiate: the expression has no variable"),
    (["x^2 +"], "(at column"),
    (["x^2 + pi", "--wrt", "pi"], "it is a constant"),
])
def test_errors(cli, args, message):
    run = cli("diff", *args)
    assert run.exit_code == 1
    assert run.stderr.startswith("adcli: error: ") and message in run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""


def test_array_error_has_a_caret(adcli_process):
    run = adcli_process("diff", "sum([x, 2x])")
    assert run.exit_code == 1
    assert run.stderr.splitlines()[1:] == ["  sum([x, 2x])", "      ^"]


@pytest.mark.parametrize("args", [["x^2", "--order", "0"], ["x^2", "--order", "17"], ["x^2", "--format", "csv"]])
def test_misuse_is_click_usage(cli, args):
    assert cli("diff", *args).exit_code == 2


def test_the_command_is_a_plain_function():
    import adcli
    from adcli.commands.formulas import derivatives

    result = derivatives(adcli.compile("(x + 2y)^2"), {"y": 2.0}, None, 1)
    assert (result.wrt, result.order, result.formulas["x"].text) == (("x",), 1, "2x + 8")
