"""The interactive session: replayed scripts (piped lines, no prompts) and a real pseudo-terminal
(prompt, history recall across sessions, Tab completion, Ctrl-C, Ctrl-D)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import sys
import termios
import time

import pytest

from adcli.drivers.session import Session, _split_options
from adcli.errors import AdcliError
from adcli.language.bindings import constructors, parse_value

from conftest import console_script


def field(reply, name: str):
    """A field of a reply's result, whichever form the command's result takes (a record, or attributes)."""
    result = reply.result
    record = getattr(result, "record", None)
    if callable(record):
        record = record()
    return record[name] if isinstance(record, dict) else getattr(result, name)


def _session() -> Session:
    table = constructors(lambda: None)
    return Session(lambda text: parse_value(text, table))


# -- the session driver ------------------------------------------------------------------------


def test_definitions_bindings_and_ans():
    session = _session()
    assert session.run("u = sqrt(x) + 1").note == "defined u"
    assert session.run("x = 4").note == "x = 4.0"
    assert field(session.run("u^3"), "value") == 27.0
    assert field(session.run("ans + 1"), "value") == 28.0
    assert session.run("y = ans / 4").note == "y = 7.0"  # a constant expression of ans is a binding
    assert field(session.run("grad u^3"), "grad") == {"x": pytest.approx(27 / 4 / 1)}  # 3 u^2 / (2 sqrt(x)) = 27/4


def test_a_redefinition_replaces_the_old_one_in_place():
    session = _session()
    session.run("u = x + 1")
    session.run("v = 2u")
    session.run("u = x - 1")
    assert field(session.run("v where x = 3"), "value") == 4.0


def test_a_binding_forgets_a_definition_of_the_same_name():
    session = _session()
    session.run("k = x^2")
    session.run("k = 5")
    assert field(session.run("k + 1"), "value") == 6.0


def test_command_words_take_options_after_the_expression():
    session = _session()
    assert field(session.run("grad x^2 y at x=1, y=3 wrt y"), "grad") == {"y": 1.0}
    assert field(session.run("grad x^3 at x=2 order 2"), "derivative") == 12.0
    assert field(session.run("hessian x^2 y at x=1,y=2"), "hessian").tolist() == [[4.0, 2.0], [2.0, 0.0]]


def test_options_are_found_outside_brackets_only():
    assert _split_options("sum([at, 1]) at x=1") == ("sum([at, 1])", [("at", "x=1")])
    assert _split_options("x^2 --at x=1 --wrt x") == ("x^2", [("at", "x=1"), ("wrt", "x")])
    assert _split_options("x order 3") == ("x", [("order", "3")])


def test_errors_point_into_the_line_typed_not_the_session_program():
    session = _session()
    session.run("u = x + 1")
    with pytest.raises(AdcliError) as caught:
        session.run("u + sinn(x)")
    assert caught.value.text == "u + sinn(x)" and caught.value.span[0] == 4
    assert "(at column 5)" in caught.value.render()


def test_a_definition_that_does_not_compile_is_not_kept():
    session = _session()
    with pytest.raises(AdcliError):
        session.run("w = (x +")
    assert session.names() == []


# -- replayed through the CLI --------------------------------------------------------------------


SCRIPT = """# a session, replayed
x = 2
u = sqrt(x) + 1
u^3
ans - 1
grad u^3 at x=4
hessian x^2 y at y=3
sinn(x)
x + 1
"""


def test_a_script_runs_without_prompts_and_exits_1_when_a_line_failed(cli):
    run = cli("repl", input=SCRIPT)
    assert run.exit_code == 1
    lines = run.stdout.splitlines()
    assert "adcli>" not in run.stdout and "defined" not in run.stdout
    assert lines[0] == repr((2 ** 0.5 + 1) ** 3)
    assert lines[1] == repr((2 ** 0.5 + 1) ** 3 - 1)
    assert "adcli: error: unknown function 'sinn'" in run.stderr
    assert "  sinn(x)\n  ^^^^" in run.stderr  # the caret under the line as typed
    assert lines[-1] == "3.0"  # the session went on after the error


def test_a_clean_script_exits_0(cli):
    run = cli("repl", input="f = x^2\nf where x = 3\n")
    assert run.exit_code == 0 and run.stdout == "9.0\n" and run.stderr == ""


def test_the_console_script_replays_a_session(adcli_process):
    run = adcli_process("repl", input="x = 3\ngrad x^2\n")
    assert run.exit_code == 0
    assert run.stdout.split() == ["value", "9.0", "d/dx", "6.0"]


def test_adcli_alone_off_a_terminal_prints_help_and_exits_2(adcli_process):
    run = adcli_process(input="")
    assert run.exit_code == 2 and "Usage: adcli" in run.stdout


# -- at a pseudo-terminal -------------------------------------------------------------------------


def _own_terminal() -> None:
    """In the child: a session of its own whose controlling terminal is the pseudo-terminal, so Ctrl-C is SIGINT."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """adcli started on a pseudo-terminal: type keys, read the screen's text."""

    def __init__(self, arguments: list[str], env: dict[str, str]):
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(arguments, stdin=slave, stdout=slave, stderr=slave, env=env,
                                        preexec_fn=_own_terminal, close_fds=True)
        os.close(slave)
        self.seen = ""

    def read_until(self, text: str, seconds: float = 30) -> str:
        deadline = time.monotonic() + seconds
        while text not in self.seen:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"never saw {text!r}; the screen so far:\n{self.seen}")
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.master, 4096).decode("utf-8", "replace")
                except OSError:  # the process ended
                    chunk = ""
                if not chunk:
                    raise AssertionError(f"ended before {text!r}; the screen:\n{self.seen}")
                self.seen += chunk
        found = self.seen
        self.seen = self.seen[self.seen.index(text) + len(text):]
        return found

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode("utf-8"))

    def close(self) -> int:
        try:
            return self.process.wait(timeout=30)
        finally:
            os.close(self.master)


@pytest.fixture
def terminal_env(tmp_path):
    return {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "TERM": "xterm", "NO_COLOR": "1",
            "INPUTRC": "/dev/null", "COLUMNS": "100", "LINES": "30"}


def test_a_terminal_session_edits_completes_recalls_and_leaves(terminal_env):
    screen = Terminal(console_script(), terminal_env)  # `adcli` alone on a terminal
    screen.read_until("adcli> ")
    screen.type("x = 3\r")
    screen.read_until("x = 3.0")
    screen.read_until("adcli> ")
    screen.type("sq\t")  # Tab: sq -> sqrt
    screen.read_until("sqrt")
    screen.type("(x + 1)\r")
    screen.read_until("2.0")
    screen.read_until("adcli> ")
    screen.type("\x1b[A\r")  # Up: the last line run, sqrt(x + 1), again
    screen.read_until("2.0")
    screen.type("sinn(x)\r")
    screen.read_until("unknown function 'sinn'")
    screen.read_until("adcli> ")
    screen.type("x^2\r")  # the session goes on after an error
    screen.read_until("9.0")
    screen.read_until("adcli> ")  # keys typed before the prompt would meet the terminal, not readline
    screen.type("\x04")  # Ctrl-D leaves
    assert screen.close() == 0
    history = (terminal_env["XDG_STATE_HOME"] + "/adcli/history")
    assert os.stat(history).st_mode & 0o077 == 0
    assert "sqrt(x + 1)" in open(history).read()

    again = Terminal(console_script() + ["repl"], terminal_env)  # history kept between sessions
    again.read_until("adcli> ")
    again.type("\x1b[A")
    again.read_until("x^2")
    again.type("\x15exit\r")  # Ctrl-U clears the recalled line
    assert again.close() == 0


def test_functions_primes_and_the_language_diff_in_a_session():
    session = _session()
    session.run("f(x) = x^2 sin(x)")
    session.run("x = 1")
    import math
    assert field(session.run("f'(x)"), "value") == pytest.approx(2 * math.sin(1) + math.cos(1))
    assert field(session.run("diff(x^3, x)"), "value") == 3.0  # diff( , ) is the language's, not the word
    session.run("g(a, b) = a b + b")
    assert field(session.run("grad g(x, 3)"), "grad") == {"x": 3.0}


def test_series_and_limits_as_command_words():
    session = _session()
    assert field(session.run("limit (1 - cos x)/x^2 at x=0"), "limit") == pytest.approx(0.5)
    coefficients = field(session.run("taylor sin(x)/x at x=0 order 4"), "coefficients")
    assert coefficients == pytest.approx([1, 0, -1 / 6, 0, 1 / 120])


def test_plot_sweeps_a_variable_the_session_has_bound(cli):
    run = cli("repl", input="f(x) = x^2\nx = 1\nplot f(x) order 0\n")
    assert run.exit_code == 0 and "┤" in run.stdout and "x" in run.stdout.splitlines()[-2]


def test_diff_in_a_session_differentiates_bound_variables_too(cli):
    run = cli("repl", input="f(x) = x^3\nx = 1\ndiff f(x)\n")
    assert run.exit_code == 0 and "3x^2" in run.stdout
