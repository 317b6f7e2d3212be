"""The command line: Click commands that read options, call the engine and print records.

This is the only module that imports click. Exit codes: 0 success, 1 bad input, 2 misuse
of the command line (Click's own), 130 on Ctrl-C, 141 when the reader of our output
went away (`adcli ... | head -1`).
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any, Callable

import click

from . import __version__
from .api import Compiled, compile
from .bindings import parse_assignments, split_top_level
from .errors import AdcliError
from .formats import FORMATS, render
from .records import Outcome, derivative_outcome, eval_outcome, grad_outcome, hessian_outcome, jacobian_outcome

EXIT_BAD_INPUT = 1
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


def error(message: str) -> None:
    click.echo(f"adcli: error: {message}", err=True)


def warn(message: str) -> None:
    click.echo(f"adcli: warning: {message}", err=True)


def _wrt_names(wrt: str | None) -> list[str] | None:
    if not wrt:
        return None
    return [name.strip() for name in split_top_level(wrt) if name.strip()]


def binding_options(command: Callable) -> Callable:
    """--at, --seed, --format and --digits, shared by every command."""
    options = [
        click.option("--at", "at", multiple=True, metavar="NAME=VALUE",
                     help="Bind a variable: a number, a constant expression (pi/4, [1, 2], linspace(0, 1, 5)) "
                          "or @file (.npy .csv .txt .json). Repeatable; NAME=V,NAME2=V2 also works."),
        click.option("--seed", type=int, default=None, help="Seed for rand(...) and randn(...) in --at values."),
        click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
                     help="text for people, json (one object per result), csv, plain (numbers only)."),
        click.option("--digits", type=click.IntRange(1, 17), default=None,
                     help="Significant digits to print (default: full round-trip precision)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def reports_errors(command: Callable) -> Callable:
    """Turn adcli's errors into `adcli: error: ...` and exit code 1, never a traceback."""
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            code = command(*args, **kwargs)
        except AdcliError as problem:
            error(problem.render())
            sys.exit(EXIT_BAD_INPUT)
        except BrokenPipeError:
            _quiet_broken_pipe()
        sys.exit(code or 0)

    return wrapper


def _emit(outcome: Outcome, fmt: str, digits: int | None, inputs: dict | None = None) -> int:
    for warning in outcome.warnings:
        warn(warning)
    try:
        text = render(outcome.record, fmt, digits, inputs if fmt == "csv" else None)
    except ValueError as problem:  # a shape this format cannot hold
        error(str(problem))
        return EXIT_BAD_INPUT
    click.echo(text)
    return 0 if outcome.ok else EXIT_BAD_INPUT


def _prepare(expr: str, at: tuple[str, ...], seed: int | None) -> tuple[Compiled, dict[str, Any]]:
    compiled = compile(expr)
    return compiled, parse_assignments(at, seed)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="adcli")
def main() -> None:
    """Exact derivatives of formulas, from the command line.

    \b
      adcli grad "(sqrt(x)+1)^3" --at x=2
      adcli grad "(x + 2y)^2" --at x=1,y=2 --format json
      adcli eval "sin(x)" --at x=linspace(0,pi,5)

    Values and gradients follow PyTorch float64. Run `adcli COMMAND --help` for each command.
    """


@main.command("eval")
@click.argument("expr")
@binding_options
@reports_errors
def eval_command(expr: str, at: tuple[str, ...], seed: int | None, fmt: str, digits: int | None) -> int:
    """Print the value of EXPR.

    \b
      adcli eval "w*x + b" --at x=1,w=2,b=3
      adcli eval "x^2 where x=3"
    """
    compiled, bindings = _prepare(expr, at, seed)
    return _emit(eval_outcome(compiled, bindings), fmt, digits, bindings)


@main.command("grad")
@click.argument("expr")
@binding_options
@click.option("--wrt", default=None, metavar="X,Y", help="Differentiate only with respect to these, in this order.")
@click.option("--order", type=click.IntRange(1, 64), default=1, show_default=True,
              help="The Nth derivative with respect to one variable (--wrt).")
@reports_errors
def grad_command(expr: str, at: tuple[str, ...], seed: int | None, fmt: str, digits: int | None,
                 wrt: str | None, order: int) -> int:
    """Print the value of EXPR and its gradient.

    The gradient is taken with respect to every bound variable (or those named by
    --wrt). For an array-valued EXPR it is the gradient of the sum of its elements.

    \b
      adcli grad "(sqrt(x)+1)^3" --at x=2
      adcli grad "(x + 2y)^2" --at x=1 --at y=2 --wrt y
      adcli grad "x^3 sin(x)" --at x=1 --wrt x --order 3
    """
    compiled, bindings = _prepare(expr, at, seed)
    names = _wrt_names(wrt)
    if order > 1:
        return _emit(derivative_outcome(compiled, bindings, names, order), fmt, digits, bindings)
    return _emit(grad_outcome(compiled, bindings, names), fmt, digits, bindings)


@main.command("hessian")
@click.argument("expr")
@binding_options
@click.option("--wrt", default=None, metavar="X,Y", help="Variables of the Hessian, in this order.")
@reports_errors
def hessian_command(expr: str, at: tuple[str, ...], seed: int | None, fmt: str, digits: int | None,
                    wrt: str | None) -> int:
    """Print the value, gradient and Hessian matrix of EXPR.

    Array variables are flattened in C order and concatenated in --wrt order.

    \b
      adcli hessian "x^2 y + sin(x y)" --at x=1,y=2
    """
    compiled, bindings = _prepare(expr, at, seed)
    return _emit(hessian_outcome(compiled, bindings, _wrt_names(wrt)), fmt, digits)


@main.command("jacobian")
@click.argument("expr")
@binding_options
@click.option("--wrt", default=None, metavar="X,Y", help="Variables to differentiate with respect to.")
@reports_errors
def jacobian_command(expr: str, at: tuple[str, ...], seed: int | None, fmt: str, digits: int | None,
                     wrt: str | None) -> int:
    """Print the Jacobian of an array-valued EXPR: one matrix per variable, of shape value.shape + variable.shape.

    \b
      adcli jacobian "[x*y, x+y, sin(x)]" --at x=1,y=2
    """
    compiled, bindings = _prepare(expr, at, seed)
    return _emit(jacobian_outcome(compiled, bindings, _wrt_names(wrt)), fmt, digits)


def _quiet_broken_pipe() -> None:
    """The reader left (`| head`): stop without a word, and keep Python quiet at exit too."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(EXIT_BROKEN_PIPE)


def run() -> None:
    """The console script: Click's main plus Unix manners for Ctrl-C and closed pipes."""
    try:
        code = main.main(prog_name="adcli", standalone_mode=False)
        sys.stdout.flush()
    except click.exceptions.Abort:
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as problem:
        problem.show()
        sys.exit(problem.exit_code)
    except BrokenPipeError:
        _quiet_broken_pipe()
    sys.exit(code or 0)
