"""The command line: Click commands that read options and drive a command (commands/) over one program,
a file of programs or a points file; the one-shot driver prints its result here.

This is the only package that imports click. Exit codes: 0 success, 1 bad input, 2 misuse
of the command line (Click's own), 130 on Ctrl-C, 141 when the reader of our output
went away (`adcli ... | head -1`).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import shutil
import sys
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterator, NoReturn

import click
from click.shell_completion import CompletionItem

from .. import __version__
from ..api import Compiled, compile_stored
from ..language.bindings import parse_assignments, split_top_level
from ..errors import AdcliError, BindingError, unexpected
from .streams import GuardedStream, OutputFault, guard_standard_streams, release_standard_output
from ..commands import calculus, check
from ..commands.results import Result
from ..render.formats import FORMATS, LineStream, PointStream, render, render_progress

if TYPE_CHECKING:
    from ..drivers import batch

EXIT_BAD_INPUT = 1
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


def error(message: str) -> None:
    click.echo(f"adcli: error: {message}", err=True)


def warn(message: str) -> None:
    click.echo(f"adcli: warning: {message}", err=True)


class FiniteRange(click.FloatRange):
    """A FloatRange that also refuses nan and inf: nan passes every comparison a range makes, and a nan
    learning rate or tolerance only turns every answer into nan or every check into a failure."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if number != number or number in (float("inf"), float("-inf")):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


FINITE_AT_LEAST_0 = FiniteRange(min=0)


def _wrt_names(wrt: str | None) -> list[str] | None:
    if wrt is None:  # --wrt "" names no variable (an error), as --wrt "," does; it is not "every one"
        return None
    return [name.strip() for name in split_top_level(wrt) if name.strip()]


# -- shell completion (README, "Shell completion") --------------------------------------------

AT_FILE_TYPES = (".npy", ".csv", ".txt", ".json")


def complete_file(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The shell's own completion of file names."""
    return [CompletionItem(incomplete, type="file")]


def complete_at_file(ctx: click.Context, param: Any, incomplete: str) -> list[CompletionItem]:
    """After an '@' (`x=@da`, or `@da` where bash splits the word at '='): folders and the files @ reads."""
    head, at, partial = incomplete.rpartition("@")
    if not at:
        return []
    import glob

    prefix = head + at
    found = []
    for path in sorted(glob.glob(glob.escape(os.path.expanduser(partial)) + "*")):
        shown = partial + path[len(os.path.expanduser(partial)):]  # a leading ~ stays as typed
        if os.path.isdir(path):
            found.append(CompletionItem(f"{prefix}{shown}/"))
        elif path.lower().endswith(AT_FILE_TYPES):
            found.append(CompletionItem(f"{prefix}{shown}"))
    return found


def _previous_word() -> str:
    """The word before the one being completed, from what Click's completion script passes."""
    from click.shell_completion import split_arg_string

    words = split_arg_string(os.environ.get("COMP_WORDS", ""))
    position = int(os.environ.get("COMP_CWORD", "0") or 0)
    return words[position - 1] if 0 < position <= len(words) else ""


def value_options(command: Callable) -> Callable:
    """--at and --seed."""
    options = [
        click.option("--at", "at", multiple=True, metavar="NAME=VALUE", shell_complete=complete_at_file,
                     help="Bind a variable: a number, a constant expression (pi/4, [1, 2], linspace(0, 1, 5)) "
                          "or @file (.npy .csv .txt .json). Repeatable; NAME=V,NAME2=V2 also works."),
        click.option("--seed", type=click.IntRange(min=0), default=None, help="Seed for rand(...) and randn(...) in --at values."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def binding_options(command: Callable) -> Callable:
    """--at, --seed, --format and --digits, shared by every command that prints numbers."""
    for option in reversed(_binding_options()):
        command = option(command)
    return command


def _binding_options() -> list[Callable]:
    return [
        value_options,
        click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
                     help="text for people, json (one object per result), csv, plain (numbers only)."),
        click.option("--digits", type=click.IntRange(1, 17), default=None,
                     help="Significant digits to print (default: full round-trip precision)."),
    ]


def reports_errors(command: Callable) -> Callable:
    """Turn adcli's errors into `adcli: error: ...` and exit code 1, never a traceback."""
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            code = command(*args, **kwargs)
        except AdcliError as problem:
            error(problem.in_command_line_words().render())
            sys.exit(EXIT_BAD_INPUT)
        except BrokenPipeError:
            _quiet_broken_pipe()
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, OutputFault):
            raise  # Click's own, and output that fails: run() says what they mean
        except Exception as problem:  # noqa: BLE001 - a bug: said in one line, never a traceback
            error(unexpected(problem).render())
            sys.exit(EXIT_BAD_INPUT)
        sys.exit(code or 0)

    return wrapper


# -- the three drivers: one program, one program per line (EXPR `-`, --file), one program at many points --

Command = Callable[[Compiled, dict[str, Any]], Result]  # commands/: a compiled program and its bindings in, a result out


@dataclass
class Inputs:
    """What every computing command reads: its program or programs, points, bindings, output options
    and how a run of many goes."""

    expr: str | None
    program_file: str | None
    points_file: str | None
    at: tuple[str, ...]
    seed: int | None
    fmt: str
    digits: int | None
    run: Run


def command_inputs(points: bool = False) -> Callable:
    """EXPR as text, or `-` / --file PATH for one program per line (with points=True also --points PATH|-),
    the options of such runs and the binding options, handed to the decorated function as one
    `Inputs`, its first argument.

    The function turns its own options into a command (a plain function of a compiled program and
    its bindings, from commands/) and returns `drive(inputs, command)`.
    """
    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def collect(expr: str | None, program_file: str | None, jobs: int | None, output_path: str | None,
                    scheduler: str | None, at: tuple[str, ...], seed: int | None, fmt: str, digits: int | None,
                    points_file: str | None = None, **options: Any) -> Any:
            run = Run(jobs, output_path, scheduler)
            return function(Inputs(expr, program_file, points_file, at, seed, fmt, digits, run), **options)

        parameters = [
            click.argument("expr", required=False, shell_complete=complete_at_file),
            click.option("--file", "program_file", metavar="PATH", shell_complete=complete_file,
                         help="Read programs from PATH, one per line (EXPR '-' reads them from standard input)."),
            click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, metavar="N",
                         help="Processes for a file of programs or points (default: every core for a file of "
                              "32 KB or more of programs, 2 MB or more of points; else 1). Pipes, and CSV output of "
                              "programs, always take 1. At most 64: a larger N means 64."),
            click.option("--output", "-o", "output_path", metavar="PATH", shell_complete=complete_file,
                         help="Write the records to PATH instead of standard output: a Parquet table when PATH ends "
                              "in .parquet, else the --format. With --scheduler, a folder of part files."),
            click.option("--scheduler", metavar="ADDRESS", default=None,
                         help="Run on a Dask cluster: a scheduler's address, or local[:N] for N local workers "
                              "(default: $ADCLI_SCHEDULER; needs pip install 'adcli[dask]')."),
        ]
        if points:
            parameters.append(click.option(
                "--points", "points_file", metavar="PATH|-", shell_complete=complete_file,
                help="Points: a CSV (a header of variable names, then one row of numbers per point) or a "
                     ".parquet file (one numeric column per variable)."))
        for parameter in reversed(parameters + _binding_options()):
            collect = parameter(collect)
        return collect

    return decorate


def drive(inputs: Inputs, command: Command) -> Any:
    """Run the command on what the inputs name: one program, one per line, or one at many points."""
    command = InCommandLineWords(command)
    run = inputs.run
    if inputs.program_file is None and inputs.points_file is None and inputs.expr != "-":
        if inputs.expr is None:
            raise click.UsageError("Missing argument 'EXPR' (or '-' to read programs from standard input, "
                                   "or --file PATH).")
        if run.output_path is not None or run.scheduler is not None:
            raise click.UsageError("--output and --scheduler go with --file, '-' or --points.")
        return reports_errors(_one_shot)(inputs, command)
    if inputs.points_file is not None:
        if inputs.program_file is not None or inputs.expr in (None, "-"):
            raise click.UsageError("--points evaluates one EXPR, given as text, at many points.")
        return reports_errors(_run_points)(inputs, command)
    if inputs.program_file is not None and inputs.expr is not None:
        raise click.UsageError("Give EXPR, '-' or --file PATH: one of them.")
    return reports_errors(_run_programs)(inputs, command)


@dataclass(frozen=True)
class InCommandLineWords:
    """A command whose errors name the command line's options (--at, --wrt) where the library's name arguments;
    a dataclass of module-level parts, so a cluster's workers can be sent it."""

    command: Command

    def __call__(self, compiled: Compiled, bindings: dict[str, Any]) -> Result:
        try:
            return self.command(compiled, bindings)
        except AdcliError as problem:
            raise problem.in_command_line_words() from None


def _one_shot(inputs: Inputs, command: Command) -> int:
    compiled = compile_stored(inputs.expr)
    bindings = parse_assignments(inputs.at, inputs.seed)
    return _print(command(compiled, bindings), inputs.fmt, inputs.digits, bindings)


def _print(result: Result, fmt: str, digits: int | None, bindings: dict[str, Any] | None = None) -> int:
    """Write the result's warnings to standard error and the result to standard output; the exit code."""
    for warning in result.warnings:
        warn(warning)
    try:
        text = render(result, fmt, digits, bindings)
    except ValueError as problem:  # a shape this format cannot hold
        error(str(problem))
        return EXIT_BAD_INPUT
    click.echo(text)
    return EXIT_BAD_INPUT if result.failed() else 0


@dataclass(frozen=True)
class Run:
    """How a batch or points run goes: processes, where its records go, which cluster."""

    jobs: int | None
    output_path: str | None
    scheduler: str | None


def _run_programs(inputs: Inputs, command: Command) -> int:
    # batch, points and descend are imported where they are used: one-shot commands start sooner.
    from ..drivers import batch, cluster, workers

    run = inputs.run
    # Once: every line shares them. A partial of module functions, so a cluster's workers can be sent it.
    compute = functools.partial(command, bindings=parse_assignments(inputs.at, inputs.seed))
    address = cluster.scheduler_address(run.scheduler)
    parts = _part_folder(run, inputs.fmt, address)
    with _input(inputs.program_file, batch.TERMINAL_HINT) as stream, \
            _records_to(None if parts else run.output_path, inputs.fmt, stream, "json", parts,
                        inputs.program_file) as (output, fmt):
        line_stream = LineStream(fmt, inputs.digits)
        if address is not None:
            return cluster.write_programs(address, _file_path(inputs.program_file), compute, line_stream, output, parts)
        # CSV takes its header from the first result, so its lines depend on each other: one process.
        jobs = 1 if fmt == "csv" else workers.jobs_for(stream, run.jobs)
        if jobs > 1:
            return workers.write_results_in_parallel(stream, compute, line_stream, output, jobs)
        return batch.write_results(batch.results(batch.program_lines(stream), compute), line_stream, output)


def _run_points(inputs: Inputs, command: Command) -> int:
    from ..drivers import cluster, points, workers

    run = inputs.run
    bindings = parse_assignments(inputs.at, inputs.seed)
    compiled = compile_stored(inputs.expr)
    address = cluster.scheduler_address(run.scheduler)
    parts = _part_folder(run, inputs.fmt, address)
    with _points_input(inputs.points_file) as (stream, points_file), \
            _records_to(None if parts else run.output_path, inputs.fmt, stream, "csv", parts,
                        inputs.points_file) as (output, fmt):
        stream_format = PointStream(fmt, inputs.digits, points_file.names)
        if address is not None:
            return cluster.write_points(address, compiled, bindings, points_file, _file_path(inputs.points_file),
                                        command, stream_format, output, parts)
        jobs = 1 if stream is None else workers.jobs_for(stream, run.jobs, points.MIN_BYTES_FOR_JOBS)
        if stream is None and run.jobs:
            jobs = run.jobs
        return points.write_points(compiled, bindings, points_file, command, stream_format, output, jobs)


@contextlib.contextmanager
def _points_input(path: str) -> Iterator[tuple[BinaryIO | None, Any]]:
    """(the stream, the points) of a CSV, or (None, the points) of a Parquet file."""
    from ..drivers import parquet, points

    if parquet.is_parquet(path):
        yield None, parquet.ParquetPoints(path, points.CHUNK_ROWS)
        return
    with _input(path, points.TERMINAL_HINT) as stream:
        yield stream, points.PointsFile(stream)


def _file_path(path: str | None) -> str:
    if path is None or path == "-":
        raise BindingError("--scheduler reads a file (--file PATH or --points PATH): its workers read their own "
                           "parts of it, which standard input cannot give them")
    return os.path.abspath(path)


def _part_folder(run: Run, fmt: str, address: str | None) -> Any:
    """With --scheduler, an --output folder gets a part file per partition, written by the workers."""
    from ..drivers import cluster

    if address is None or not cluster.PartFolder.wanted(run.output_path):
        return None
    return cluster.PartFolder.for_output(run.output_path, fmt)


@contextlib.contextmanager
def _records_to(path: str | None, fmt: str, source: BinaryIO | None, parquet_kind: str, parts: Any = None,
                source_path: str | None = None) -> Iterator[tuple[batch.Output, str]]:
    """(where a run's records go, in which format): standard output, or the --output file, which
    is a Parquet table (written from `parquet_kind` records) when its name ends in .parquet. With
    `parts` the workers write the records, and standard output gets none of them."""
    from ..drivers import batch, parquet

    if parts is not None:
        fmt = parquet_kind if parts.suffix == ".parquet" else fmt
        yield batch.Output(io.StringIO(), sys.stderr, echo_errors=True, source=source), fmt
        return
    if path is None:
        yield batch.Output(sys.stdout, sys.stderr, echo_errors=fmt != "text", source=source), fmt
        return
    _refuse_the_input_as_output(path, source, source_path)
    if parquet.is_parquet(path):
        fmt = parquet_kind
        sink: Any = parquet.ParquetSink(path, parquet_kind)
    else:
        try:
            sink = GuardedStream(open(path, "w", encoding="utf-8", newline=""), escape=False)  # a full disk: OutputFault
        except OSError as problem:
            raise BindingError(f"cannot write '{path}': {problem.strerror or problem}") from None
    try:
        yield batch.Output(sink, sys.stderr, echo_errors=True, source=source), fmt
    finally:
        try:
            sink.close()
        except OSError as problem:  # the last block, flushed on closing, did not fit either
            raise OutputFault(problem) from None


def _refuse_the_input_as_output(path: str, source: BinaryIO | None, source_path: str | None) -> None:
    """--output naming the file being read would empty it before it is read (opening truncates it; a Parquet
    input, read a row group at a time, has no open stream to compare)."""
    try:
        written = os.stat(path)
    except OSError:  # no such file yet
        return
    read = []
    if source is not None:
        with contextlib.suppress(OSError, ValueError):  # an input without a descriptor
            read.append(os.fstat(source.fileno()))
    if source_path not in (None, "-"):
        with contextlib.suppress(OSError):
            read.append(os.stat(source_path))
    if any(os.path.samestat(written, each) for each in read):
        raise BindingError(f"--output '{path}' is the file being read: writing it would empty it first; "
                           "write to another file")


@contextlib.contextmanager
def _input(path: str | None, hint: str) -> Iterator[BinaryIO]:
    """The file at `path`, or standard input for None and '-' (with a hint when it is a terminal)."""
    if path is None or path == "-":
        if sys.stdin is None:  # closed when adcli started (`<&-`)
            raise BindingError("cannot read standard input: it is closed")
        stream = sys.stdin.buffer
        if stream.isatty():
            click.echo(hint, err=True)
        yield stream
        return
    try:
        file = open(path, "rb")
    except OSError as problem:
        raise BindingError(f"cannot read '{path}': {problem.strerror or problem}") from None
    with file:
        yield file


class Command(click.Command):
    """A command whose EXPR may start with '-' (`adcli eval "-x^2" --at x=3`, or `adcli eval -- "-x^2" --at x=3`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self._expressions_last(ctx, self._after_double_dash_first(ctx, args)))

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        """bash splits `--at x=@da` at '=' (and at '@' where COMP_WORDBREAKS has it): the word `@da`, or `da`
        after a word `=@`, then belongs to no parameter Click knows."""
        if "@" in incomplete:
            return complete_at_file(ctx, self, incomplete)
        if _previous_word().endswith("@"):  # readline still replaces from the '@' (one of its special prefixes)
            return complete_at_file(ctx, self, "@" + incomplete)
        return super().shell_complete(ctx, incomplete)

    def _after_double_dash_first(self, ctx: click.Context, args: list[str]) -> list[str]:
        """`-- EXPR OPTIONS...`: the word after '--' is EXPR, whatever it looks like, and options may follow it."""
        if "--" not in args or args[-1] == "--":
            return args
        split = args.index("--")
        expr, rest = args[split + 1], args[:split] + args[split + 2:]
        arranged = self._expressions_last(ctx, rest)
        if "--" not in arranged:
            return arranged + ["--", expr]
        split = arranged.index("--")
        return arranged[:split + 1] + [expr] + arranged[split + 1:]

    def _expressions_last(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Move words like '-x^2' (no option of ours, no option's value) behind '--', where Click takes them as EXPR."""
        if "--" in args:
            return args
        options = [param for param in self.get_params(ctx) if isinstance(param, click.Option)]
        names = {name for option in options for name in option.opts + option.secondary_opts}
        valued = {name for option in options if not option.is_flag for name in option.opts}
        kept: list[str] = []
        expressions: list[str] = []
        for arg in args:
            is_value = bool(kept) and kept[-1] in valued
            if arg.startswith("-") and not arg.startswith("--") and len(arg) > 1 and arg not in names and not is_value:
                expressions.append(arg)
            else:
                kept.append(arg)
        if not expressions or kept and kept[-1] in valued:  # nothing to move, or an option lacks its value
            return args
        return kept + ["--"] + expressions


class Commands(click.Group):
    command_class = Command


@click.group(cls=Commands, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="adcli")
@click.pass_context
def main(context: click.Context) -> None:
    """Exact derivatives of formulas, from the command line.

    \b
      adcli grad "(sqrt(x)+1)^3" --at x=2
      adcli grad "(x + 2y)^2" --at x=1,y=2 --format json
      adcli eval "sin(x)" --at "x=linspace(0,pi,5)"
      adcli grad "f(x) = x^2 sin x; f'(x) + |x - 1|" --at x=2
      adcli eval "diff(ln x/2 + sin²x, x)" --at x=1

    Values and gradients follow PyTorch float64. Run `adcli COMMAND --help` for each command.
    Without a command, on a terminal, adcli opens an interactive session (adcli repl).
    """
    # NumPy's own RuntimeWarnings ("Mean of empty slice") would bypass adcli's warnings.
    warnings.simplefilter("ignore", RuntimeWarning)
    if context.invoked_subcommand is None:
        if sys.stdin is not None and sys.stdin.isatty() and sys.stdout.isatty():
            from .repl import run as run_session
            context.exit(run_session(None, None, interactive=True))
        click.echo(context.get_help())
        context.exit(2)


@main.command("repl")
@click.option("--digits", type=click.IntRange(1, 17), default=None,
              help="Significant digits to print (default: full round-trip precision).")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Seed for rand(...) and randn(...) in values.")
@reports_errors
def repl_command(digits: int | None, seed: int | None) -> int:
    """Open an interactive session; fed a script on standard input, run its lines without prompts.

    A line is a definition (f(x) = x^2 sin(x), kept for later lines), a binding (x = 2),
    or an expression, optionally led by a command word (grad diff hessian jacobian check
    taylor limit plot) and followed by options (at x=1, wrt x, order 3); 'ans' is the last
    value. A replayed script exits 1 if any line failed.

    \b
      adcli repl
      printf 'f(x) = x^3\\ngrad f(x) at x=2\\n' | adcli repl
    """
    from .repl import run as run_session

    if sys.stdin is None:  # closed when adcli started (`<&-`)
        raise BindingError("cannot read standard input: it is closed")
    return run_session(digits, seed, interactive=sys.stdin.isatty())


@main.command("eval")
@command_inputs(points=True)
def eval_command(inputs: Inputs) -> int:
    """Print the value of EXPR.

    EXPR '-' (or --file PATH) reads one program per line and prints one record per
    line, in order; --points evaluates EXPR at every row of a CSV.

    \b
      adcli eval "w*x + b" --at x=1,w=2,b=3
      adcli eval "x^2 where x=3"
      adcli eval "sin²x + cos²x + √x + 30°" --at x=2
      adcli eval "where(x > 0, x, 0) + diff(x^3, x, 2)" --at x=3
      generate-formulas | adcli eval - --at x=2 --format json
      adcli eval "exp(-x^2) y" --points grid.csv --format csv
    """
    return drive(inputs, calculus.value)


@main.command("grad")
@command_inputs(points=True)
@click.option("--wrt", default=None, metavar="X,Y", help="Differentiate only with respect to these, in this order.")
@click.option("--order", type=click.IntRange(1, 64), default=1, show_default=True,
              help="The Nth derivative with respect to one variable (--wrt).")
def grad_command(inputs: Inputs, wrt: str | None, order: int) -> int:
    """Print the value of EXPR and its gradient.

    The gradient is taken with respect to every bound variable (or those named by
    --wrt). For an array-valued EXPR it is the gradient of the sum of its elements.
    EXPR '-' (or --file PATH) reads one program per line and prints one record per
    line, in order, errors in place; --points evaluates EXPR at every row of a CSV.

    \b
      adcli grad "(sqrt(x)+1)^3" --at x=2
      adcli grad "(x + 2y)^2" --at x=1 --at y=2 --wrt y
      adcli grad "x^3 sin(x)" --at x=1 --wrt x --order 3
      adcli grad "g(x, y) = x y + y; g(x, 2) |x - 1|" --at x=3
      adcli grad - --format json < formulas.txt | jq .grad
      adcli grad "(x + 2y)^2 tanh(x y)" --points points.csv --format csv

    A softmax regression's cross-entropy over a batch from .npy files (README,
    "Checking a hand-derived gradient"):

    \b
      adcli grad "z = X @ W + b; mean(logsumexp(z, axis=1) - sum(Y * z, axis=1))" \\
          --at X=@X.npy --at Y=@Y.npy --at W=@W.npy --at "b=zeros(4)" --wrt W,b
    """
    return drive(inputs, functools.partial(calculus.gradient, wrt=_wrt_names(wrt), order=order))


@main.command("diff")
@click.argument("expr")
@click.option("--at", "at", multiple=True, metavar="NAME=VALUE",
              help="A value for a variable that is not differentiated; it is substituted into the formula.")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Seed for rand(...) and randn(...) in --at values.")
@click.option("--wrt", default=None, metavar="X,Y", help="The variables to differentiate (default: every one without a value).")
@click.option("--order", type=click.IntRange(1, 16), default=1, show_default=True, help="The Nth derivative.")
@click.option("--format", "fmt", type=click.Choice(("text", "plain", "json", "latex")), default="text",
              show_default=True, help="text (d/dx  formula), plain (formulas alone), json, latex.")
@reports_errors
def diff_command(expr: str, at: tuple[str, ...], seed: int | None, wrt: str | None, order: int, fmt: str) -> int:
    """Print the derivative of EXPR as a formula, one line per variable.

    The formula is adcli input that evaluates to what `adcli grad` gives; --at values of
    variables that are not differentiated are substituted into it.

    \b
      adcli diff "(x - 4)(x^2 + 6)"                 # d/dx  3x^2 - 8x + 6
      adcli diff "(sqrt(x) + 1)^3" --format latex
      adcli diff "(x + 2y)^2" --wrt x,y --order 2
      adcli diff "a sin(b x)" --at a=2,b=3 --format plain
    """
    from ..commands.formulas import derivatives  # here: only this command needs the symbolic package
    from ..render.formulas import render_formulas

    compiled = compile_stored(expr)
    result = derivatives(compiled, parse_assignments(at, seed), _wrt_names(wrt), order)
    click.echo(render_formulas(result, fmt))
    return 0


@main.command("hessian")
@command_inputs()
@click.option("--wrt", default=None, metavar="X,Y", help="Variables of the Hessian, in this order.")
def hessian_command(inputs: Inputs, wrt: str | None) -> int:
    """Print the value, gradient and Hessian matrix of EXPR.

    Array variables are flattened in C order and concatenated in --wrt order.

    \b
      adcli hessian "x^2 y + sin(x y)" --at x=1,y=2
    """
    return drive(inputs, functools.partial(calculus.hessian, wrt=_wrt_names(wrt)))


@main.command("jacobian")
@command_inputs()
@click.option("--wrt", default=None, metavar="X,Y", help="Variables to differentiate with respect to.")
def jacobian_command(inputs: Inputs, wrt: str | None) -> int:
    """Print the Jacobian of an array-valued EXPR: one matrix per variable, of shape value.shape + variable.shape.

    All of it comes from one sweep: forward mode when the variables have fewer entries
    than the value, reverse mode otherwise.

    \b
      adcli jacobian "[x*y, x+y, sin(x)]" --at x=1,y=2
    """
    return drive(inputs, functools.partial(calculus.jacobian, wrt=_wrt_names(wrt)))


@main.command("check")
@command_inputs()
@click.option("--wrt", default=None, metavar="X,Y", help="Check only these variables, in this order.")
@click.option("--order", type=click.IntRange(1, 2), default=1, show_default=True,
              help="2 also checks the Hessian (against central differences of the gradient).")
@click.option("--rtol", type=FINITE_AT_LEAST_0, default=1e-6, show_default=True, help="Relative tolerance.")
@click.option("--atol", type=FINITE_AT_LEAST_0, default=1e-8, show_default=True, help="Absolute tolerance.")
def check_command(inputs: Inputs, wrt: str | None, order: int, rtol: float, atol: float) -> int:
    """Compare the AD gradient of EXPR with central finite differences; exit 1 when they disagree.

    Agreement means |ad - fd| <= atol + rtol * |fd| for every entry. The step is
    eps^(1/3) times each variable's scale. A point on a kink or domain edge of any
    operation (abs, relu, max/min ties, sqrt at 0, ...) gets a warning: finite
    differences mean nothing there.

    \b
      adcli check "x^2 y + sin(x y)" --at x=1,y=2
      adcli check "log(sum(exp(x)))" --at "x=[1,2,3]" --order 2
    """
    return drive(inputs, functools.partial(check.check, wrt=_wrt_names(wrt), order=order, rtol=rtol, atol=atol))


@main.command("taylor")
@command_inputs()
@click.option("--wrt", default=None, metavar="X", help="The variable to expand in (default: the formula's only one).")
@click.option("--order", type=click.IntRange(0, 10000), default=5, show_default=True,
              help="The highest power of (X - a) to give.")
def taylor_command(inputs: Inputs, wrt: str | None, order: int) -> int:
    """Print the Taylor coefficients c_k = f^(k)(a)/k!, k = 0..N, of EXPR at --at X=a, and its polynomial.

    All of them come from one sweep of truncated power series (Taylor mode), so orders in
    the thousands are quick. Where numerator and denominator both vanish, their leading
    zeros cancel (sin(x)/x at 0 starts 1, 0, -1/6). A pole, or a function that is not
    analytic at the point (sqrt or log at 0, abs where its operand changes sign), is an
    error that points at it.

    \b
      adcli taylor "sin(x)/x" --at x=0 --order 6
      adcli taylor "exp(sin(x))" --at x=0.5 --order 1000 --format json
    """
    from ..commands.expansions import taylor  # Taylor mode loads for its commands alone

    return drive(inputs, functools.partial(taylor, wrt=_wrt_names(wrt), order=order))


@main.command("limit")
@command_inputs()
@click.option("--wrt", default=None, metavar="X",
              help="The variable that tends to its --at value (default: the formula's only one).")
def limit_command(inputs: Inputs, wrt: str | None) -> int:
    """Print the limit of EXPR as X tends to its --at value, from the leading term of its power series.

    0/0 in analytic parts cancels (sin(x)/x, (1 - cos x)/x^2 at 0); at a pole the limit is
    inf or -inf, or does not exist when the two sides differ (1/x at 0), and then both sides
    are printed. Where a part is not analytic at the point (x log(x) or sqrt(x) at 0, abs,
    relu or floor at a kink) the method does not apply, and adcli says so.

    \b
      adcli limit "sin(x)/x" --at x=0
      adcli limit "(x^2 - 1)/(x - 1)" --at x=1 --format json
    """
    from ..commands.expansions import limit

    return drive(inputs, functools.partial(limit, wrt=_wrt_names(wrt)))


@main.command("descend")
@click.argument("expr")
@binding_options
@click.option("--wrt", required=True, metavar="W,B", help="The variables to update, in this order.")
@click.option("--lr", type=FINITE_AT_LEAST_0, required=True, help="Learning rate.")
@click.option("--steps", type=click.IntRange(min=0), default=1, show_default=True, help="Number of steps.")
@click.option("--momentum", type=FINITE_AT_LEAST_0, default=0.0, show_default=True,
              help="Momentum, as in torch.optim.SGD(momentum=...).")
@click.option("--every", type=click.IntRange(min=1), default=None, metavar="K",
              help="Print the step and the loss every K steps, on standard error.")
@reports_errors
def descend_command(expr: str, at: tuple[str, ...], seed: int | None, fmt: str, digits: int | None,
                    wrt: str, lr: float, steps: int, momentum: float, every: int | None) -> int:
    """Minimise the scalar EXPR by gradient descent over the --wrt variables (torch.optim.SGD's update).

    Prints the loss before the first step, the loss at the updated values and the
    updated variables. Ctrl-C stops after the current step, prints the latest values
    and exits with 130.

    \b
      adcli descend "(w - 3)^2" --at w=0 --wrt w --lr 0.1 --steps 100
      adcli descend "pred = x @ W.T + b; mean((pred - y)^2)" --at x=@x.npy,y=@y.csv \\
          --at "W=zeros(2,3),b=zeros(2)" --wrt W,b --lr 0.01 --steps 1000 --every 100
    """
    from ..commands.descend import descend
    from .terminal import InterruptFlag, ProgressBar

    compiled, bindings = compile_stored(expr), parse_assignments(at, seed)
    bar = ProgressBar(_with_controls(sys.stderr), steps)

    def on_step(step: int, loss: float) -> None:
        if every and step % every == 0:
            bar.clear()
            click.echo(render_progress(step, loss, fmt, digits, header=step == every), err=True)
        bar.update(step, loss)

    with InterruptFlag() as interrupted:
        result = descend(compiled, bindings, _wrt_names(wrt), lr, steps, momentum, on_step, interrupted)
    bar.clear()
    code = _print(result, fmt, digits)
    return EXIT_INTERRUPTED if interrupted.raised else code


@main.command("plot")
@click.argument("expr")
@value_options
@click.option("--order", type=click.IntRange(0, 6), default=1, show_default=True,
              help="Draw the derivatives up to this order beside f (0: f alone).")
@click.option("--output", "-o", metavar="FILE",
              help="Write the picture to FILE (.svg, .png or .pdf; needs pip install 'adcli[plot]').")
@click.option("--size", metavar="WxH", default=None,
              help="The chart's size in characters (default: the terminal's).")
@click.option("--color", "colour", type=click.Choice(("auto", "always", "never")), default="auto", show_default=True,
              help="Colours in the terminal: auto means on a terminal, unless NO_COLOR is set.")
@reports_errors
def plot_command(expr: str, at: tuple[str, ...], seed: int | None, order: int, output: str | None,
                 size: str | None, colour: str) -> int:
    """Draw EXPR and its derivatives, in the terminal or to an SVG, PNG or PDF file.

    The one variable without a value runs from -5 to 5 (or over --at "x=linspace(a,b,n)");
    the others take their --at values. Poles and nan stretches are gaps; kinks are marked.
    With two such variables it draws f as a heat map with arrows along the gradient (with
    --output: filled contours and the gradient's direction).

    \b
      adcli plot "tan(x)"
      adcli plot "x^3 - 2x" --order 2 --at "x=linspace(-2,2,401)"
      adcli plot "abs(x - 1) + relu(x)" --output kinks.svg
      adcli plot "(1 - x)^2 + 5(y - x^2)^2" --at "x=linspace(-2,2,101),y=linspace(-1,3,101)" -o landscape.png
    """
    from ..commands.plot import Landscape, plot  # plotting loads for `plot` alone

    picture = plot(compile_stored(expr), parse_assignments(at, seed), order)
    if output is not None:
        from ..render.figures import write_figure

        write_figure(picture, output)
        return 0
    from ..render.chart import chart, heatmap

    width, height = _chart_size(size)
    draw = heatmap if isinstance(picture, Landscape) else chart
    click.echo(draw(picture, width, height, _colour_wanted(colour)), file=_with_controls(sys.stdout),
               color=_colour_wanted(colour))
    return 0


def _chart_size(size: str | None) -> tuple[int, int]:
    """--size WxH, or the terminal's width and its height less the prompt's line."""
    from ..render.chart import MAX_HEIGHT, MAX_WIDTH, MIN_HEIGHT, MIN_WIDTH

    if size is None:
        columns, lines = shutil.get_terminal_size()
        return min(MAX_WIDTH, max(MIN_WIDTH, columns)), min(MAX_HEIGHT, max(MIN_HEIGHT, lines - 1))
    width, _, height = size.lower().partition("x")
    if not (width.isdigit() and height.isdigit() and MIN_WIDTH <= int(width) <= MAX_WIDTH
            and MIN_HEIGHT <= int(height) <= MAX_HEIGHT):
        raise click.BadParameter(f"{size!r} is not WIDTHxHEIGHT in characters, from {MIN_WIDTH}x{MIN_HEIGHT} "
                                 f"to {MAX_WIDTH}x{MAX_HEIGHT}", param_hint="'--size'")
    return int(width), int(height)


def _colour_wanted(choice: str) -> bool:
    if choice != "auto":
        return choice == "always"
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _with_controls(stream: Any) -> Any:
    """The console script's stream without the escaping of control characters, for adcli's own colours and
    progress bar (made of no input); outside the console script, the stream itself."""
    return getattr(stream, "unescaped", stream)


def _quiet_broken_pipe() -> None:
    """The reader left (`| head`): stop without a word, and keep Python quiet at exit too."""
    release_standard_output()
    sys.exit(EXIT_BROKEN_PIPE)


def run() -> NoReturn:
    """The console script: Click's main plus Unix manners for Ctrl-C, closed pipes and output that fails."""
    stderr = guard_standard_streams()
    try:
        code = main.main(prog_name="adcli", standalone_mode=False) or 0
        sys.stdout.flush()
    except SystemExit as exiting:
        code = 0 if exiting.code is None else exiting.code
    except click.exceptions.Abort:
        code = EXIT_INTERRUPTED
    except click.ClickException as problem:
        problem.show()
        code = problem.exit_code
    except BrokenPipeError:  # from a stream that is not guarded (adcli's own are)
        code = EXIT_BROKEN_PIPE
        release_standard_output()
    except OutputFault as fault:
        release_standard_output()
        if fault.reader_left:
            code = EXIT_BROKEN_PIPE
        else:
            error(f"cannot write output: {fault.reason}")
            code = EXIT_BAD_INPUT
    if stderr.failed and not code:  # a warning or message was lost: say so in the only way left
        code = EXIT_BAD_INPUT
    _exit_now(code if isinstance(code, int) else EXIT_BAD_INPUT)


def _exit_now(code: int) -> NoReturn:
    """Leave without tearing the interpreter down, a noticeable part of a one-shot command.

    Everything adcli writes is flushed first, and adcli registers no exit-time work.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, OutputFault):  # already reported, or nowhere left to report it
            pass
    os._exit(code)

