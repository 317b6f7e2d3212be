"""SPEC section 4: every error path (message, caret column, exit code), warnings, limits and Unix manners."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest

import adcli

from conftest import console_script


def expect_error(run, message: str, column: int | None = None, source: str | None = None) -> None:
    """Exit 1, nothing on stdout, `adcli: error: MESSAGE` (with its caret when there is a column)."""
    assert run.exit_code == 1, (run.stdout, run.stderr)
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    if column is None:
        assert lines == [f"adcli: error: {message}"]
        return
    assert lines[0] == f"adcli: error: {message} (at column {column})"
    if source is not None:
        assert lines[1] == f"  {source}"
    assert lines[2].index("^") - 2 == column - 1  # the caret sits under the column
    assert len(lines) == 3


# -- parse errors ----------------------------------------------------------------------

PARSE_ERRORS = [
    ("x +", "expected a value, found the end of the text", 4),
    ("x + # comment", "expected a value, found the end of the text", 4),
    ("* x", "expected a value, found '*'", 1),
    ("1 +* 2", "expected a value, found '*'", 4),
    ("x***2", "expected a value, found '*'", 4),
    ("2 ^ ^ 2", "expected a value, found '^'", 5),
    ("sin(,x)", "expected a value, found ','", 5),
    ("x = ; x", "expected a value, found ';'", 5),
    ("(x+1", "missing ')'", 5),
    ("sin(x", "missing ')'", 6),
    ("((x)", "missing ')'", 5),
    ("sin(x;", "missing ')'", 6),
    ("[1, 2", "missing ']'", 6),
    ("x+1)", "unmatched ')'", 4),
    ("(x))", "unmatched ')'", 4),
    ("[1, 2]]", "unmatched ']'", 7),
    ("x)", "unmatched ')'", 2),
    ("(x]", "']' does not match the '(' at column 1", 3),
    ("sum([x, 2)", "')' does not match the '[' at column 5", 10),
    ("[x, (1]", "']' does not match the '(' at column 5", 7),
    ("()", "expected a value before ')'", 2),
    ("sin()", "expected a value before ')'", 5),
    ("sin(x,)", "expected a value before ')'", 7),
    ("[1,]", "expected a value before ']'", 4),
    ("2 3", "unexpected number '3': write '*' between a value and a number that follows it", 3),
    ("(x+1)2", "unexpected number '2': write '*' between a value and a number that follows it", 6),
    ("2..5", "'2..5' is not a number: a number has at most one '.'", 3),
    ("1.2.3", "'1.2.3' is not a number: a number has at most one '.'", 4),
    (".", "unexpected character '.'; numbers look like 2, 2.5, .5 or 1e-3", 1),
    ("x ! 2", "unexpected character '!'", 3),
    ("__import__('os')", "unexpected character \"'\"", 12),
    ("1,2", "unexpected ','; expected ';', 'where', a new line or the end of the text", 2),
    ("x y = 3; x", "unexpected '='; a definition is NAME = EXPR, before the final expression", 5),
    ("x where x=1 where y=2", "unexpected 'where'; expected ',', ';', a new line or the end of the text", 13),
    ("a = 1", "missing the final expression: end the definition with ';' or a new line, then write the expression", 6),
    ("x = 1;", "missing the final expression: a program ends with an expression after its definitions", 7),
    (";;", "missing the final expression: a program ends with an expression after its definitions", 3),
]


@pytest.mark.parametrize("expr, message, column", PARSE_ERRORS)
def test_parse_error_has_message_and_caret(cli, expr, message, column):
    expect_error(cli("eval", expr, "--at", "x=1"), message, column, source=expr)


def test_parse_error_on_a_later_line_names_line_and_column(cli):
    run = cli("eval", "a = 1\nb = a +\nb")
    assert run.exit_code == 1
    assert run.stderr.splitlines() == [
        "adcli: error: expected a value, found a new line (at line 2, column 8)",
        "  b = a +",
        "         ^",
    ]


@pytest.mark.parametrize("expr, message, place", [
    ("a = (x +\n1\na", "missing ')' to close the '(' at line 1, column 5", "line 3, column 2"),
    ("a = [(x +\n1)\na", "missing ']' to close the '[' at line 1, column 5", "line 3, column 2"),
    ("a = (x +\n1\nb = 2\na", "unexpected '='; a definition is NAME = EXPR, before the final expression; "
                              "the '(' at line 1, column 5 is not closed", "line 3, column 3"),
    ("(x +\n1 where x = 2", "unexpected 'where'; expected ')'; the '(' at line 1, column 1 is not closed",
     "line 2, column 3"),
    ("sin(\nx\n+)", "expected a value before ')'", "line 3, column 2"),
    ("[x,\n(1\n]", "']' does not match the '(' at line 2, column 1", "line 3, column 1"),
])
def test_a_bracket_left_open_across_lines_is_named(cli, expr, message, place):
    run = cli("eval", expr, "--at", "x=1")
    assert run.exit_code == 1
    assert run.stderr.splitlines()[0] == f"adcli: error: {message} (at {place})"


def test_a_warning_after_a_wrapped_line_names_its_line(cli):
    run = cli("eval", "(x +\n  log(x - 3))", "--at", "x=1")
    assert run.exit_code == 0
    assert run.stderr == "adcli: warning: log at line 2, column 3 gives nan\n"


def test_long_line_is_shown_around_the_caret(cli):
    expr = "x+" * 5000 + "*"
    lines = cli("eval", expr, "--at", "x=1").stderr.splitlines()
    assert lines[0] == "adcli: error: expected a value, found '*' (at column 10001)"
    assert len(lines[1]) < 200 and lines[1].startswith("  ...") and lines[1].endswith("*")
    assert lines[2].index("^") == lines[1].index("*", len(lines[1]) - 1)


def test_control_characters_are_shown_escaped_with_the_caret_under_them(cli):
    run = cli("eval", "x\x00+1", "--at", "x=1")
    expect_error(run, "unexpected character '\\x00'", 2, source="x\\x00+1")
    assert run.stderr.splitlines()[2] == "   ^^^^"


# -- names -----------------------------------------------------------------------------

@pytest.mark.parametrize("expr, message, column", [
    ("sine(x)", "unknown function 'sine'; did you mean 'sin'?", 1),
    ("1 + exq(x)", "unknown function 'exq'; did you mean 'exp'?", 5),
    ("Sqrt(x)", "unknown function 'Sqrt'; did you mean 'sqrt'?", 1),
    ("x(2)", "'x' is not a function; for a product write 'x*(...)'", 1),
    ("2 + y (x)", "'y' is not a function; for a product write 'y*(...)'", 5),
    ("eval(x)", "'eval' is not a function; for a product write 'eval*(...)'", 1),
    ("sin", "'sin' is a function: call it as sin(...)", 1),
    ("x + exp", "'exp' is a function: call it as exp(...)", 5),
    ("sin(1, 2)", "sin takes 1 argument, got 2", 1),
    ("atan2(1)", "atan2 takes 2 arguments, got 1", 1),
    ("log(x, 2, 3)", "log takes 1 or 2 arguments, got 3", 1),
    ("sum(x, foo=1)", "sum has no keyword 'foo'; sum takes axis= and keepdims=", 8),
    ("sin(x, axis=0)", "sin has no keyword 'axis'", 8),
    ("sum(x, axis=y)", "axis must be a constant (no variables)", 13),
    ("sum(x, axis=1.5)", "axis must be a whole number", 13),
    ("a = 1; a = 2; a", "'a' is defined twice", 8),
    ("pi = 3; pi", "cannot define 'pi': it is a constant", 1),
    ("sin = 3; sin", "cannot define 'sin': it is a function", 1),
    ("x where pi=1", "cannot bind 'pi': it is a constant", 9),
    ("x where x=1, x=2", "'x' is bound twice", 14),
    ("x where y=x", "the value of 'y' must be a constant (no variables)", 11),
])
def test_naming_errors(cli, expr, message, column):
    expect_error(cli("eval", expr, "--at", "x=1"), message, column, source=expr)


def test_unbound_variable_is_named(cli):
    expect_error(cli("eval", "x + y", "--at", "x=1"),
                 "variable 'y' has no value; bind it with --at y=VALUE or 'where y=...'")
    run = cli("grad", "x + why", "--at", "x=1,wyh=2")
    assert run.exit_code == 1 and "variable 'why' has no value; did you mean 'wyh'?" in run.stderr


@pytest.mark.parametrize("at, message", [
    ("pi=3", "cannot bind 'pi': it is a constant"),
    ("e=3", "cannot bind 'e': it is a constant"),
    ("sin=1", "cannot bind 'sin': it is a function"),
])
def test_binding_a_constant_or_function_is_an_error(cli, at, message):
    expect_error(cli("eval", "x", "--at", "x=1", "--at", at), message)


@pytest.mark.parametrize("options", [["--at", "x=1", "--at", "x=2"], ["--at", "x=1,x=2"]])
def test_binding_a_name_twice_is_an_error(cli, options):
    expect_error(cli("eval", "x", *options), "'x' is bound twice with --at")


@pytest.mark.parametrize("expr", ["", "   ", "# just a comment", "\n\n"])
def test_empty_program(cli, expr):
    expect_error(cli("eval", expr), "empty program")


@pytest.mark.parametrize("at, message", [
    ("x", "--at takes NAME=VALUE, got 'x'"),
    ("=1", "--at takes NAME=VALUE, got '=1'"),
    ("1x=2", "--at takes NAME=VALUE, got '1x=2'"),
    ("x=", "--at x= needs a value"),
    ("x=@values.xyz", "--at x: cannot read 'values.xyz': unknown file type '.xyz' (use .npy, .csv, .txt or .json)"),
])
def test_bad_at_syntax(cli, at, message):
    expect_error(cli("eval", "x", "--at", at), message)


@pytest.mark.parametrize("at, message, column", [
    ("x=[1,2", "--at x: missing ']'", 5),
    ("x=y", "--at x: a value cannot use the variable 'y'", 1),
    ("x=1+", "--at x: expected a value, found the end of the text", 3),
])
def test_bad_at_value_points_into_the_value(cli, at, message, column):
    expect_error(cli("eval", "x", "--at", at), message, column, source=at[2:])


def test_missing_file_is_named(cli, tmp_path):
    missing = tmp_path / "absent.npy"
    run = cli("eval", "x", "--at", f"x=@{missing}")
    expect_error(run, f"--at x: cannot read '{missing}': No such file or directory")


# -- shapes ----------------------------------------------------------------------------

@pytest.mark.parametrize("expr, message, column", [
    ("[1, 2] + [1, 2, 3]", "operator '+': operands of shapes (2,) and (3,) do not fit together", 8),
    ("x * [[1, 2], [3, 4]] - [1, 2, 3]", "operator '-': operands of shapes (2, 2) and (3,) do not fit together", 22),
    ("[1, 2] @ [1, 2, 3]", "operator '@': operands of shapes (2,) and (3,) do not fit together", 8),
    ("sum([1, 2], axis=3)", "sum: axis 3 is out of bounds for an array of dimension 1", 1),
])
def test_shape_errors_name_operator_and_column(cli, expr, message, column):
    expect_error(cli("eval", expr, "--at", "x=1"), message, column, source=expr)


# -- non-finite results: a warning, exit 0 --------------------------------------------------

@pytest.mark.parametrize("command, expr, at, warning", [
    ("eval", "log(x)", "x=-1", "log at column 1 gives nan"),
    ("eval", "1 + 1/x", "x=0", "operator '/' at column 6 gives inf"),
    ("grad", "x + log(x - 1)", "x=1", "log at column 5 gives -inf"),  # log(0) is -inf
    ("grad", "sqrt(x)", "x=0", "the derivative of sqrt at column 1 is inf here"),
    ("eval", "exp(x)^2", "x=710", "exp at column 1 gives inf"),
    ("eval", "exp(x)^2", "x=400", "operator '^' at column 7 gives inf"),
    ("eval", "log(x)", "x=0", "log at column 1 gives -inf"),
    ("eval", "-exp(x)", "x=1000", "exp at column 2 gives inf"),
    ("eval", "[log(x), 1/x]", "x=0", "log at column 2 gives -inf"),
    ("eval", "x * [1, -1] / 0", "x=1", "operator '/' at column 13 gives inf and -inf"),
    ("eval", "1e99999999999999999999 + x", "x=1",
     "the number 1e99999999999999999999 at column 1 is too large for float64: it is inf"),
    ("eval", "x - 1e999", "x=1", "the number 1e999 at column 5 is too large for float64: it is inf"),
])
def test_nonfinite_result_warns_once(cli, command, expr, at, warning):
    run = cli(command, expr, "--at", at)
    assert run.exit_code == 0
    assert run.stderr.splitlines() == [f"adcli: warning: {warning}"]
    assert "nan" in run.stdout or "inf" in run.stdout


def test_nonfinite_json_is_strict(cli):
    run = cli("grad", "log(x)", "--at", "x=-1", "--format", "json")
    assert run.exit_code == 0
    assert run.json()["value"] == "nan"


def test_finite_results_print_no_warning(cli):
    run = cli("grad", "log(x)", "--at", "x=2")
    assert (run.exit_code, run.stderr) == (0, "")


@pytest.mark.parametrize("args", [["-x^2", "--at", "x=3"], ["--at", "x=3", "-x^2"], ["-x^2 where x=3"]])
def test_an_expression_may_start_with_a_minus(cli, args):
    run = cli("eval", *args, "--format", "plain")
    assert (run.exit_code, run.stdout.split()) == (0, ["-9.0"])


# -- command-line misuse, version and help -------------------------------------------------

@pytest.mark.parametrize("args", [
    [], ["eval"], ["frobnicate", "x"], ["eval", "x", "--format", "xml"], ["eval", "x", "--digits", "0"],
    ["eval", "x", "--at"], ["eval", "x", "--bogus"], ["grad", "x", "--at", "x=1", "--order", "0"],
])
def test_click_misuse_exits_2(cli, args):
    run = cli(*args)
    assert run.exit_code == 2
    assert "adcli: error" not in run.stderr and "Traceback" not in run.stderr


def test_version(cli):
    run = cli("--version")
    assert (run.exit_code, run.stdout.strip()) == (0, f"adcli, version {adcli.__version__}")


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["grad", "--help"], ["eval", "--help"]])
def test_help_has_examples(cli, args):
    run = cli(*args)
    assert run.exit_code == 0
    assert "adcli grad \"(sqrt(x)+1)^3\" --at x=2" in run.stdout or "adcli eval \"" in run.stdout


# -- limits: nothing recursive over user input ----------------------------------------------

def test_deep_parentheses():
    depth = 100_000
    program = adcli.compile("(" * depth + "x^2" + ")" * depth)
    assert program.grad(x=3.0) == (9.0, {"x": 6.0})


def test_deep_unary_minus_and_power_tower():
    assert adcli.grad("-" * 100_000 + "x", x=2.0) == (2.0, {"x": 1.0})
    tower = "^".join(["x"] * 20_000)  # right-assoc: x^(x^(...)) = 1 at x = 1
    value, grads = adcli.grad(tower, x=1.0)
    assert (value, grads["x"]) == (1.0, 1.0)


def test_deep_parentheses_through_the_cli(cli):
    depth = 100_000
    run = cli("grad", "(" * depth + "x" + ")" * depth, "--at", "x=2", "--format", "plain")
    assert (run.exit_code, run.stdout.split()) == (0, ["2.0", "1.0"])


def test_a_missing_paren_deep_inside_is_still_a_clean_error(cli):
    depth = 100_000
    run = cli("eval", "(" * depth + "x" + ")" * (depth - 1), "--at", "x=2")
    assert run.exit_code == 1
    assert run.stderr.startswith(f"adcli: error: missing ')' (at column {2 * depth + 1})")


def test_million_term_sum():
    terms = 1_000_000
    value, grads = adcli.grad("+".join(["x"] * terms), x=0.5)
    assert (value, grads["x"]) == (terms * 0.5, float(terms))


# -- real processes: closed pipes and Ctrl-C ------------------------------------------------

def test_closed_pipe_ends_quietly(tmp_path):
    # 200,000 numbers are far more than a pipe buffer holds, so the writer meets a closed pipe.
    process = subprocess.Popen(console_script() + ["eval", "x", "--at", "x=linspace(0,1,200000)", "--format", "json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    process.stdout.read(10)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    code = process.wait(timeout=60)
    assert stderr == ""
    assert code in (0, 141, -signal.SIGPIPE)


def test_ctrl_c_exits_130_without_a_traceback(tmp_path):
    # A program too long for a command line (1M terms), run through the console script's own entry point.
    script = ("import sys\nfrom adcli.cli.app import run\n"
              "sys.argv = ['adcli', 'grad', '+'.join(['x'] * 1_000_000), '--at', 'x=1']\n"
              "print('ready', flush=True)\nrun()\n")
    # Ctrl-C as at a terminal, even when the tests run as a background job (which ignores SIGINT).
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               cwd=tmp_path, text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert process.stdout.readline() == "ready\n"
    time.sleep(1.0)
    assert process.poll() is None, "the program finished before it could be interrupted"
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in stderr and stdout == ""


# -- malformed and hostile input ------------------------------------------------------------

HOSTILE = [
    # unbalanced brackets
    "(", ")", "((", "))", "(()", "())", "[", "]", "[[1]", "[1]]", "(]", "[)", "sin(x]", "[x)", "((((((((((x",
    # stray operators
    "+", " -", "-+", "*", "/", "^", "**", "@", "x*", "x/", "x^", "x**", "x@", "*x", "/x", "^x", "x + * y", "x ^^ 2",
    "x */ 2", "x..", "x.", ".T", "x .T .", "=", "x =", "= x", "x = = 1", "x += 1",
    # separators and definitions
    ";", ";;", ";\n;", "x=", "x = 1", "a = 1; b = 2", "x; y = 1", "x = 1; x = 2; x", "1 = x; x", "(x) = 1; x",
    # where misuse
    "where", "where x=1", "x where", "x where x", "x where x=", "x where =1", "x where x=1,", "x where x=y",
    "x where 1=2", "x where x=1; y", "x where x=1 where x=2", "x where sin=1", "x where (x)=1",
    # calls and keywords
    "()", "[]", "sin()", "sin(,)", "sin(x,)", "sum(x, axis=y)", "sum(x, foo=1)", "sum(x, axis=)", "sum(axis=1)",
    "sin(x)(", "f(x)", "__import__('os')", "eval(x)", "exec('1')", "open('/etc/passwd')", "os.system('ls')",
    "lambda: 1", "x if x else y", "x[0]", "x.real", "sin.T(x)", "import os", "'1'", "\"x\"", "`ls`", "$(ls)",
    # numbers
    ".", "..", "2..5", "1.2.3", "2 3", "(x+1)2", "e1e", "0x10", "1_000", "1e+", "٣ + 1",
    # characters outside the language
    "x & y", "x | y", "x % 2", "x ! 1", "x ~ y", "x ? y : z", "{x}", "x \\ y", "x,", ",x",
    "é", "²x", "√", "x ⨯ y", "x – y", "１+2", "x\u00a0+ 1", "x\u200b", "\u202ex", "x\x00", "\x00", "x\x1b[31m",
    "\ud800", "x\udcff", "\ufeffx",
    # very long
    "a" * 100_000 + "(x)", "sin(" * 5000, "x" * 100_000 + "+", "(" * 50_000, ")" * 50_000,
]


def short_id(expr: str) -> str:
    return ascii(expr)[:30] + (f"...({len(expr)})" if len(expr) > 30 else "")


@pytest.mark.parametrize("expr", HOSTILE, ids=short_id)
def test_hostile_input_is_a_clean_error(cli, expr):
    run = cli("grad", expr, "--at", "x=1,y=2,z=3")
    assert run.exit_code == 1, (run.stdout, run.stderr)
    assert run.stderr.startswith("adcli: error: ")
    assert "Traceback" not in run.stderr
    assert len(run.stderr) < 2_000  # a long input is shown around the caret, not in full


@pytest.mark.parametrize("expr", [
    "2^99999", "9^9^9^9", "0^-1", "exp(exp(exp(x)))", "1e-999999", "0^0", "x" + "*x" * 5000,
    "0." + "0" * 5000 + "1", "x^-1e400",
    # comparisons and Unicode forms that once were errors
    "x == 1", "x < 3", "x > 3", "x²", "√x", "x × x", "x − x",
], ids=short_id)
def test_hostile_but_valid_input_runs(cli, expr):
    run = cli("grad", expr, "--at", "x=2", "--format", "plain")
    assert run.exit_code == 0, run.stderr
    finite = all(math.isfinite(float(number)) for number in run.stdout.split())
    # a non-finite value or gradient comes with exactly one warning; finite numbers with none
    assert len(run.stderr.splitlines()) == (0 if finite else 1)
    assert finite or run.stderr.startswith("adcli: warning: ")


@pytest.mark.parametrize("expr", ["1e999999999", "9" * 5000, "-1e400 x"], ids=short_id)
def test_overflowing_literals_are_infinite(cli, expr):
    run = cli("eval", expr, "--at", "x=1", "--format", "plain")
    assert run.exit_code == 0 and "Traceback" not in run.stderr
    assert math.isinf(float(run.stdout))


def test_hostile_input_through_a_real_process(tmp_path):
    for expr in ["__import__('os').system('echo owned')", "x\udcff", "(" * 1000, "sine(x)"]:
        done = subprocess.run(console_script() + ["eval", expr, "--at", "x=1"], capture_output=True,
                              cwd=tmp_path, timeout=60, errors="surrogateescape",
                              env={**os.environ, "PYTHONIOENCODING": ""})
        assert done.returncode == 1
        assert done.stderr.startswith("adcli: error: ") and "Traceback" not in done.stderr
        assert "owned" not in done.stdout


@pytest.mark.parametrize("axis, message", [
    ("1/0", "axis must be a whole number"), ("0/0", "axis must be a whole number"),
    ("1e999", "axis must be a whole number"), ("1.5", "axis must be a whole number"),
    ("1e300", "axis 1e+300 is out of range: arrays have at most 64 axes"),
    ("-65", "axis -65 is out of range"),
])
def test_an_axis_that_is_no_whole_number_of_range_is_an_error(cli, axis, message):
    run = cli("eval", f"sum(x, axis={axis})", "--at", "x=[1,2]")
    assert run.exit_code == 1 and message in run.stderr and "Traceback" not in run.stderr
    assert run.stderr.splitlines()[2].index("^") == len("  sum(x, axis=")


def test_an_axis_out_of_bounds_in_a_derivative_program_is_located(cli):
    run = cli("grad", "sum(y, axis=0)", "--at", "y=1", "--wrt", "y", "--order", "2")
    assert run.exit_code == 1 and "sum: axis 0 is out of bounds" in run.stderr


def test_the_library_says_its_own_words_and_the_command_line_names_its_options(cli):
    with pytest.raises(adcli.NamingError) as unbound:
        adcli.compile("x + y").eval(x=1)
    assert unbound.value.message == "variable 'y' has no value; give it one (y=...) or write 'where y=...'"
    with pytest.raises(adcli.NamingError) as no_names:
        adcli.compile("x").grad([], x=1.0)
    assert no_names.value.message == "wrt names no variable"
    batch = cli("eval", "-", "--at", "x=1", "--format", "json", input="x + y\n")
    assert json.loads(batch.stdout)["error"]["message"] == \
        "variable 'y' has no value; bind it with --at y=VALUE or 'where y=...'"
    run = cli("grad", "x y", "--at", "x=1,y=2", "--order", "2")
    assert "--order 2 needs exactly one variable in --wrt, got 2; for second derivatives in several variables use " \
           "'adcli hessian'" in run.stderr


LIBRARY_MISUSE = [
    (lambda: adcli.compile(None), adcli.ParseError, "a program is text (a str), got NoneType"),
    (lambda: adcli.compile(b"x"), adcli.ParseError, "a program is text (a str), got bytes"),
    (lambda: adcli.evaluate("x^2", x=None), adcli.BindingError, "cannot bind 'x': None is not a number or an array of numbers"),
    (lambda: adcli.evaluate("x^2", x="1.5"), adcli.BindingError, "cannot bind 'x': '1.5' is not a number or an array of numbers"),
    (lambda: adcli.evaluate("x^2", x=[1, [2]]), adcli.BindingError, "cannot bind 'x': its lists are ragged: every row must have the same length"),
    (lambda: adcli.evaluate("x^2", x=1j), adcli.BindingError, "cannot bind 'x': it holds complex128 values, not real numbers"),
    (lambda: adcli.evaluate("x^2", x={}), adcli.BindingError, "cannot bind 'x': a value of type dict is not a number or an array of numbers"),
    (lambda: adcli.evaluate("x^2", x=10 ** 400), adcli.BindingError, "cannot bind 'x': a whole number too large for float64"),
    (lambda: adcli.grad("x^2", wrt=5, x=1.0), adcli.NamingError, "variables are named by strings, got 5"),
    (lambda: adcli.grad("x^2", wrt=[None], x=1.0), adcli.NamingError, "variables are named by strings, got None"),
    (lambda: adcli.compile("[x, y]").jacobian(wrt="xy", x=1.0, y=2.0), adcli.NamingError,
     "cannot differentiate with respect to 'xy': it has no value; did you mean 'y'?"),
    (lambda: adcli.compile("x^3").derivative("x", 0, x=1.0), adcli.BindingError, "the order must be a whole number, 1 or more, got 0"),
    (lambda: adcli.compile("x^3").derivative("x", 1.5, x=1.0), adcli.BindingError, "the order must be a whole number, 1 or more, got 1.5"),
    (lambda: adcli.compile("sin(x)").taylor("x", 0.0, order=-1), adcli.BindingError, "the order must be a whole number, 0 or more, got -1"),
    (lambda: adcli.compile("sin(x)").taylor(None, 0.0), adcli.NamingError, "variables are named by strings, got None"),
]


@pytest.mark.parametrize("call, kind, message", LIBRARY_MISUSE)
def test_library_misuse_raises_adclis_own_errors(call, kind, message):
    """Not NumPy's TypeError or ValueError from deep inside, nor a None read as nan or a string as a number."""
    with pytest.raises(kind) as caught:
        call()
    assert caught.value.message == message


def test_library_names_may_be_one_string_as_wrt_takes_them():
    assert adcli.grad("x y", wrt="y", x=2.0, y=3.0) == (6.0, {"y": 2.0})
    assert adcli.grad("x y", wrt="y, x", x=2.0, y=3.0) == (6.0, {"y": 2.0, "x": 3.0})
