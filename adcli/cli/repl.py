"""`adcli repl`, and `adcli` alone on a terminal: the session driver at a prompt, or fed a script.

At a terminal: line editing and history (kept in $XDG_STATE_HOME/adcli/history) through the
standard library's readline, Tab completion of function names, the session's names and
command words; Ctrl-C cancels the line (or the computation), Ctrl-D leaves. Fed a script on
standard input, the same lines run without prompts and the exit code is 1 if any failed.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any, BinaryIO, Callable, Iterator

from ..drivers.session import COMMAND_WORDS, OPTION_WORDS, Reply, Session
from ..errors import AdcliError, unexpected
from .streams import OutputFault

PROMPT = "adcli> "
HISTORY_LINES = 1000
WELCOME = "adcli session: type help to see what a line can be; Ctrl-D leaves."
HELP = """Lines:
  f(x) = x^2 sin(x)        define a function (kept for later lines; redefine to replace)
  u = sqrt(x) + 1          define a name in terms of variables
  x = 2                    bind a variable to a value (a constant expression, as --at)
  f(2) + u                 evaluate; 'ans' is the last value
  grad f(x) at x=1         a command word, then the expression, then options:
                           at NAME=VALUE[, ...]   wrt X[,Y]   order N
Command words: eval grad diff hessian jacobian check taylor limit plot
Tab completes names; Up and Down recall history; Ctrl-C cancels; Ctrl-D leaves."""


def run(digits: int | None, seed: int | None, interactive: bool) -> int:
    """The session's loop; the exit code (1 when a replayed script had a failing line)."""
    from ..language.bindings import constructors, parse_value

    rng_state: list[Any] = []

    def generator() -> Any:
        from ..lazy_numpy import np
        if not rng_state:
            rng_state.append(np.random.default_rng(seed))
        return rng_state[0]

    table = constructors(generator)
    session = Session(lambda text: parse_value(text, table))
    lines = _prompted_lines(session) if interactive else _script_lines(sys.stdin.buffer)
    failed = False
    while True:
        try:
            line = next(lines, None)
            if line is None:
                return 1 if failed and not interactive else 0
            failed |= not _answer(session, line, digits, interactive)
        except KeyboardInterrupt:  # between lines: at a prompt it cancels, in a script it stops
            if not interactive:
                raise
            print()


def _answer(session: Session, line: str | AdcliError, digits: int | None, interactive: bool) -> bool:
    """Run one line (or report a script line that could not be read) and show what it gave; False when it failed."""
    if isinstance(line, AdcliError):
        print(f"adcli: error: {line.render()}", file=sys.stderr)
        return False
    if line.strip() in ("help", "?"):
        print(HELP)
        return True
    try:
        reply = session.run(line)
        _show(reply, digits, interactive)
    except AdcliError as problem:
        print(f"adcli: error: {problem.render()}", file=sys.stderr)
        return False
    except KeyboardInterrupt:  # at a prompt it stops the line; a replayed script stops, as any command does (130)
        if not interactive:
            raise
        print("adcli: error: interrupted", file=sys.stderr)
        return False
    except RecursionError:
        print("adcli: error: the line is nested too deeply", file=sys.stderr)
        return False
    except OutputFault:  # the output is gone (a closed pipe, a full disk): the CLI says so once and leaves
        raise
    except Exception as problem:  # noqa: BLE001 - a session goes on whatever a line does
        print(f"adcli: error: {unexpected(problem).render()}", file=sys.stderr)
        return False
    return True


def _show(reply: Reply, digits: int | None, interactive: bool) -> None:
    if reply.note is not None and interactive:
        print(reply.note)
    result = reply.result
    if result is None:
        return
    for warning in getattr(result, "warnings", ()):
        print(f"adcli: warning: {warning}", file=sys.stderr)
    print(_rendered(result, digits))


def _rendered(result: Any, digits: int | None) -> str:
    if type(result).__name__ not in ("Curves", "Landscape"):  # plotting loads for `plot` alone
        from ..render.formats import render
        if type(result).__name__ == "FormulaResult":
            from ..render.formulas import render_formulas
            return render_formulas(result, "text")
        plain_value = type(result).__name__ == "Value" and getattr(result.value, "ndim", 0) == 0  # NumPy scalars too
        return render(result, "plain" if plain_value else "text", digits)  # a calculator's answer: the number
    from ..commands import plot

    if isinstance(result, plot.Landscape):
        raise AdcliError(f"a function of two variables ({', '.join(result.variables)}) is drawn in a file: "
                         "use adcli plot ... --output landscape.png, or bind one of them")
    from ..render.chart import MIN_HEIGHT, MIN_WIDTH, chart

    columns, rows = shutil.get_terminal_size()
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    return chart(result, max(MIN_WIDTH, columns), max(MIN_HEIGHT, min(rows - 2, 30)), colour)


# -- where lines come from -------------------------------------------------------------------


def _script_lines(stream: BinaryIO) -> Iterator[str | AdcliError]:
    """A script's lines, read as batch mode reads programs: a UTF-8 byte-order mark dropped, a line that is not
    UTF-8 an error in its place, and a line past batch's limit the last one (`adcli repl < /dev/zero` has no end)."""
    from ..drivers.batch import program_lines

    for line in program_lines(stream):
        yield line.text if line.problem is None else line.problem


def _prompted_lines(session: Session) -> Iterator[str]:
    """Lines typed at the prompt, with readline's editing, history and completion when it is there."""
    history = _start_readline(session)
    print(WELCOME)
    try:
        while True:
            try:
                line = _read_line()
            except KeyboardInterrupt:  # Ctrl-C: a new line, a new prompt
                print()
                continue
            except EOFError:  # Ctrl-D
                print()
                return
            if line.strip() in ("exit", "quit"):
                return
            yield line
    finally:
        if history is not None:
            history()


def _read_line() -> str:
    """input() with readline: it edits only on the real standard streams, not on adcli's guarded stdout."""
    guarded = sys.stdout
    sys.stdout = sys.__stdout__ or guarded
    try:
        return input(PROMPT)
    finally:
        sys.stdout = guarded


def _start_readline(session: Session) -> Callable[[], None] | None:
    """Set up line editing and completion; returns what saves the history at the end (None without readline)."""
    try:
        import readline
    except ImportError:  # a Python without it: plain input() still works
        return None
    from ..engine.primitives import CONSTANTS, FUNCTIONS
    from ..locations import private_folder, state_folder

    words = set(FUNCTIONS) | set(CONSTANTS) | set(COMMAND_WORDS) | set(OPTION_WORDS) | {"ans", "help"}

    def complete(text: str, state: int) -> str | None:
        matches = [word for word in sorted(set(words) | set(session.names())) if word.startswith(text)]
        return matches[state] if state < len(matches) else None

    readline.set_completer(complete)
    readline.set_completer_delims(" \t\n()[],+-*/^=<>|;@'\"")
    readline.parse_and_bind("tab: complete")
    readline.parse_and_bind("set show-all-if-ambiguous on")  # one Tab lists the candidates
    folder = private_folder(state_folder())
    if folder is None:  # no private place for it: a session without history across runs
        return None
    path = os.path.join(folder, "history")
    try:
        readline.read_history_file(path)
    except (OSError, UnicodeDecodeError):
        pass
    readline.set_history_length(HISTORY_LINES)

    def save() -> None:
        try:
            readline.write_history_file(path)
            os.chmod(path, 0o600)
        except OSError:
            pass

    return save
