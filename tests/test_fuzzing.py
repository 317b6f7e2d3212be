"""Fuzzing: whatever a user types or feeds in, adcli answers or says `adcli: error: ...`, never a traceback.

Programs come from the grammar (numbers at the edges of float64, every function with right and
wrong argument counts, axis keywords, arrays, transposes, definitions, where clauses, comments)
and then, half the time, through byte mutations (inserted, deleted and replaced characters,
some of them not ASCII). They run through the library (every method of a compiled program) and
through the CLI in-process (every command and format, `--at` in every form, batch mode), and the
test fails on any exception that is not an AdcliError, and on any `internal error` the CLI's
last-resort net reports.

The suite runs a modest number of examples; ADCLI_FUZZ_EXAMPLES=20000 runs more, to hunt.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adcli
from adcli import AdcliError
from adcli.cli.app import main
from adcli.engine.primitives import FUNCTIONS

EXAMPLES = int(os.environ.get("ADCLI_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 60,
                suppress_health_check=list(HealthCheck))

NAMES = ["x", "y", "A", "v"]  # x, y scalars; A a 2x2 matrix; v a 2-vector (in the bindings below)
NUMBERS = ["0", "1", "2", "0.5", "3", "1e308", "1e-320", "1e999", "0.0", "10", "1e-170", ".5", "7e22", "100"]
FUNCTION_NAMES = sorted(FUNCTIONS)
AXES = ["0", "1", "-1", "2", "1/0", "0/0", "1e300", "0.5", "[0]", "x", "-3"]

# -- programs from the grammar ------------------------------------------------------------------


def leaves() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(NAMES), st.sampled_from(NUMBERS), st.sampled_from(["pi", "e"]))


REDUCING = ["sum", "mean", "prod", "norm", "max", "min"]


def calls(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Mostly a function with an argument count it takes (and axis= for reductions), sometimes not."""
    @st.composite
    def call(draw) -> str:
        name = draw(st.sampled_from(FUNCTION_NAMES))
        count = draw(st.sampled_from(sorted(FUNCTIONS[name]))) if draw(st.integers(0, 9)) else draw(st.integers(1, 3))
        arguments = [draw(inner) for _ in range(count)]
        if draw(st.integers(0, 9)) < (5 if name in REDUCING else 1):
            arguments.append(f"axis={draw(st.sampled_from(AXES))}")
        return f"{name}({', '.join(arguments)})"
    return call()


def compounds(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    operator = st.sampled_from([" + ", " - ", " * ", " / ", "^", " ** ", " @ ", " ", "*-"])
    return st.one_of(
        st.builds(lambda a, op, b: f"{a}{op}{b}", inner, operator, inner),
        st.builds(lambda a: f"-{a}", inner),
        st.builds(lambda a: f"({a})", inner),
        st.builds(lambda a: f"({a}).T", inner),
        st.builds(lambda items: f"[{', '.join(items)}]", st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda rows: "[" + ", ".join(f"[{r}, {r}]" for r in rows) + "]", st.lists(inner, min_size=1, max_size=2)),
        calls(inner),
    )


EXPRESSIONS = st.recursive(leaves(), compounds, max_leaves=8)


@st.composite
def programs(draw) -> str:
    """An expression, maybe after definitions and before a where clause, maybe with a comment."""
    text = draw(EXPRESSIONS)
    if draw(st.booleans()):
        name = draw(st.sampled_from(["a", "b", "a", "b", "x", "sin"]))
        text = f"{name} = {draw(EXPRESSIONS)}{draw(st.sampled_from(['; ', chr(10)]))}{text} + {name}"
    if draw(st.booleans()):
        bound = draw(st.sampled_from(["x", "y", "v", "x", "y", "v", "pi"]))
        text = f"{text} where {bound} = {draw(EXPRESSIONS)}"
    if draw(st.integers(0, 5)) == 0:
        text += "  # a comment"
    return text


# -- byte mutations ------------------------------------------------------------------------------

ALPHABET = list("()[],;=+-*/^@.T#xyAv0123456789eE ") + ["\n", "\t", "\r", "where", "axis=", "**", "\x00", "\x1b",
                                                          "é", "π", "√", "·", "²", "∑", "|", "'", "\ud800", "\u202e"]


@st.composite
def mutated(draw, texts: st.SearchStrategy[str]) -> str:
    text = draw(texts)
    for _ in range(draw(st.integers(0, 4))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "repeat"]))
        piece = draw(st.sampled_from(ALPHABET))
        if action == "insert":
            text = text[:position] + piece + text[position:]
        elif action == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 3)):]
        elif action == "replace":
            text = text[:position] + piece + text[position + 1:]
        else:
            text = text[:position] + text[position:position + 4] * draw(st.integers(2, 30)) + text[position:]
    return text


TEXTS = st.one_of(programs(), mutated(programs()))

# -- bindings ----------------------------------------------------------------------------------------

VALUES = {
    "x": [0.0, 1.0, -1.0, 2.5, 1e-300, 1e300, math.inf, math.nan, -0.0],
    "y": [0.0, 2.0, -3.0, 0.5, math.inf],
    "A": [np.array([[1.0, 2.0], [3.0, 4.0]]), np.zeros((2, 2)), np.array([[0.0, -1.0], [math.inf, 2.0]])],
    "v": [np.array([1.0, -2.0]), np.zeros(2), np.array([0.0, math.nan])],
}


@st.composite
def bindings(draw) -> dict:
    return {name: draw(st.sampled_from(options)) for name, options in VALUES.items()}


def call_library(text: str, values: dict, method: str) -> None:
    compiled = adcli.compile(text)
    used = {name: value for name, value in values.items() if name in compiled.variables}
    if method == "eval":
        compiled.eval(**used)
    elif method == "grad":
        compiled.grad(**used)
    elif method == "hessian":
        compiled.hessian(**used)
    elif method == "jacobian":
        compiled.jacobian(**used)
    else:
        for name in compiled.variables[:1]:
            compiled.derivative(name, 3, **used)


@FUZZ
@given(text=TEXTS, values=bindings(), method=st.sampled_from(["eval", "grad", "hessian", "jacobian", "derivative"]))
def test_the_library_raises_only_adcli_errors(text, values, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            call_library(text, values, method)
        except AdcliError:
            pass


# -- the command line ------------------------------------------------------------------------------

AT_FORMS = [
    "x=1", "x=0", "x=-2.5", "x=1e308", "x=nan", "x=inf", "x=-inf", "y=2", "x=1,y=2", "v=[1,2]", "v=[1, nan]",
    "A=[[1,2],[3,4]]", "x=pi/4", "v=linspace(0,1,2)", "A=zeros(2,2)", "A=ones(2, 2)", "v=rand(2)", "v=randn(2)",
    "x=[1,2,3]", "x=", "=1", "x", "x=1=2", "x=(", "x=y", "x=[[1],[2,3]]", "x=1e999", "x=sin(1)", "v=arange(2)",
    "x=linspace(0,1,1e12)", "v=zeros(-1)", "x=@missing.csv", "x=@", "x=1;y=2", "x=1 where y=2", "A=[[1,2],[3,4]].T",
]
COMMANDS = [
    [], ["--wrt", "x"], ["--wrt", "x,y"], ["--order", "2"], ["--order", "3", "--wrt", "x"],
]
FORMATS = ["text", "json", "csv", "plain"]


@st.composite
def command_lines(draw) -> list[str]:
    command = draw(st.sampled_from(["eval", "grad", "hessian", "jacobian", "check", "descend", "plot"]))
    arguments = [command, draw(TEXTS)]
    for form in draw(st.lists(st.sampled_from(AT_FORMS), max_size=3)):
        arguments += ["--at", form]
    if command == "grad":
        arguments += draw(st.sampled_from(COMMANDS))
    elif command == "check":
        arguments += draw(st.sampled_from([[], ["--order", "2"], ["--rtol", "1e-3"]]))
    elif command == "descend":
        arguments += ["--lr", draw(st.sampled_from(["0.1", "10", "nan", "-1", "0"])), "--steps",
                      draw(st.sampled_from(["1", "3"]))]
        arguments += draw(st.sampled_from([[], ["--wrt", "x"], ["--momentum", "0.9"]]))
    if command == "plot":
        return arguments + ["--size", draw(st.sampled_from(["40x10", "20x5", "2x1"])), "--order",
                            draw(st.sampled_from(["0", "1", "2"])), "--color", "never"]
    arguments += ["--format", draw(st.sampled_from(FORMATS))]
    if draw(st.booleans()):
        arguments += ["--digits", draw(st.sampled_from(["1", "5", "17"]))]
    return arguments


def run_cli(arguments: list[str], stdin: str | None = None):
    """In-process; stdin as the bytes a file would hold (a lone surrogate as the bytes that are not UTF-8)."""
    data = None if stdin is None else stdin.encode("utf-8", "surrogatepass")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CliRunner().invoke(main, arguments, input=data, catch_exceptions=True)


def assert_no_traceback(result, arguments) -> None:
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback would have reached the user
    assert result.exit_code in (0, 1, 2), (arguments, result.exit_code, result.stderr)
    assert "internal error" not in result.stderr, (arguments, result.stderr)
    if result.exit_code == 1 and result.stderr:
        assert "adcli: error: " in result.stderr or "adcli: warning: " in result.stderr, (arguments, result.stderr)


@FUZZ
@given(arguments=command_lines())
def test_every_command_and_format_answers_or_says_error(arguments):
    assert_no_traceback(run_cli(arguments), arguments)


@FUZZ
@given(lines=st.lists(TEXTS, min_size=1, max_size=5), command=st.sampled_from(["eval", "grad", "hessian", "check"]),
       fmt=st.sampled_from(FORMATS), at=st.sampled_from(["x=1", "v=[1,2]", "A=[[1,2],[3,4]]"]))
def test_batch_mode_reports_every_line(lines, command, fmt, at):
    stdin = "\n".join(line.replace("\n", " ") for line in lines) + "\n"
    arguments = [command, "-", "--at", at, "--format", fmt]
    result = run_cli(arguments, stdin)
    assert_no_traceback(result, arguments)
    if fmt == "json":
        programs = [line for line in stdin.splitlines() if line.strip() and not line.strip().startswith("#")]
        assert len(result.stdout.splitlines()) == len(programs), (stdin, result.stdout)


@FUZZ
@given(rows=st.lists(st.lists(st.sampled_from(["1", "0", "-2.5", "nan", "inf", "1e999", "", "x", "1,2", " 3 ", "\ud800",
                                                "0x10", "1e-320"]), min_size=1, max_size=3), max_size=6),
       text=st.sampled_from(["x^2 + y", "log(x) * y", "erf(x) - sqrt(y)", "atan2(y, x)", "x / y", "sum(x)"]),
       command=st.sampled_from(["eval", "grad"]), fmt=st.sampled_from(FORMATS))
def test_points_mode_reports_every_row(rows, text, command, fmt):
    stdin = "x,y\n" + "".join(",".join(row) + "\n" for row in rows)
    arguments = [command, text, "--points", "-", "--format", fmt]
    assert_no_traceback(run_cli(arguments, stdin), arguments)


@pytest.mark.parametrize("text", ["x^2", "sum(v * v)", "A @ v", "log(x) + 1/y"])
def test_the_fuzzers_own_bindings_work(text):
    """The fuzzers would find nothing if every program failed to bind: these run through."""
    call_library(text, {name: options[0] for name, options in VALUES.items()}, "grad")
