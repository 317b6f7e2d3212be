"""The interactive session: replayed scripts (piped lines, no prompts) and a real pseudo-terminal
(prompt, history recall across sessions, Tab completion, Ctrl-C, Ctrl-D)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import threading
import time

import math

import pytest
from hypothesis import given, settings, strategies as st

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


@pytest.mark.parametrize("line, kind", [("pi = 3", "constant"), ("e = 2", "constant"), ("sin = 1", "function")])
def test_binding_a_constant_or_function_is_refused_as_with_at(line, kind):
    session = _session()
    with pytest.raises(AdcliError) as caught:
        session.run(line)
    name = line.split()[0]
    assert caught.value.message == f"cannot bind '{name}': it is a {kind}"
    assert caught.value.span == (0, len(name))
    assert field(session.run("pi + 0"), "value") == math.pi and "pi" not in session.names()


def test_session_names_are_compared_after_nfkc_as_the_parser_and_at_compare_them():
    session = _session()
    session.run("ｘ = 3")  # a full-width x
    assert field(session.run("x + 1"), "value") == 4.0
    assert field(session.run("grad x^2 at ｘ=2 wrt ｘ"), "grad") == {"x": 4.0}
    with pytest.raises(AdcliError) as caught:
        session.run("π = 3")
    assert caught.value.message == "cannot bind 'pi': it is a constant"


def test_a_name_bound_twice_in_one_at_is_an_error_as_with_at_options():
    with pytest.raises(AdcliError) as caught:
        _session().run("grad x^2 at x=1, x=2")
    assert caught.value.message == "'x' is bound twice with at"


def test_a_warning_names_a_column_of_the_line_or_of_its_definition_not_a_line_of_the_hidden_program():
    session = _session()
    session.run("f(x) = x")
    session.run("u = log(x)")
    assert session.run("1 + log(0)").result.warnings == ["log at column 5 gives -inf"]
    assert session.run("u at x=0").result.warnings == ["log at column 5 of the definition of u gives -inf"]


@pytest.mark.parametrize("line, column", [("u = x; v = 2x", 5), ("u = x; 3", 5), ("f(x) = x; g(x) = 2x", 8)])
def test_a_line_holds_one_definition_so_that_each_can_be_replaced(line, column):
    """`v` of `u = x; v = 2x` was kept but not known: `v = x + 5` said 'defined twice', `v = 7` left it defined;
    `u = x; 3` said "unexpected number '0'", a 0 the session had added."""
    session = _session()
    with pytest.raises(AdcliError) as caught:
        session.run(line)
    assert caught.value.message == "a session line holds one definition: put what follows ';' on a line of its own"
    assert caught.value.span == (column, column + 1) and session.names() == []
    session.run("u = x;  # a comment")
    session.run("u = 2x")
    assert field(session.run("u at x=2"), "value") == 4.0


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


@pytest.mark.parametrize("line, message", [
    ("grad x^3 at x=1 order 0", "the order of 'grad' must be 1 to 64, got 0"),
    ("grad x^3 at x=1 order -2", "the order of 'grad' must be 1 to 64, got -2"),
    ("grad x^3 at x=1 order 1000000", "the order of 'grad' must be 1 to 64, got 1000000"),  # no endless sweep
    ("diff x^3 order 0", "the order of 'diff' must be 1 to 16, got 0"),
    ("taylor sin(x) at x=0 order -1", "the order of 'taylor' must be 0 to 10000, got -1"),
    ("check x^3 at x=1 order 3", "the order of 'check' must be 1 to 2, got 3"),
    ("hessian x^2 at x=1 order 2", "'hessian' takes no order"),
    # an option word ending the line was read into the value before it, as a variable named wrt
    ("grad x^2 at x=1 wrt", "'wrt' at the end of the line needs a value after it, as in 'wrt x'"),
    ("grad x^2 wrt x order", "'order' at the end of the line needs a value after it, as in 'order 2'"),
])
def test_an_order_outside_its_commands_range_is_refused(line, message):
    with pytest.raises(AdcliError) as caught:
        _session().run(line)
    assert caught.value.message == message


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


def test_a_script_is_read_as_batch_mode_reads_programs(cli, monkeypatch):
    """A byte-order mark is dropped, a line that is not UTF-8 fails alone, and a line past the limit is the last
    one read (`adcli repl < /dev/zero` would otherwise grow without end)."""
    from adcli.drivers import batch

    monkeypatch.setattr(batch, "MAX_LINE_BYTES", 64)
    script = "\ufeffx = 2\nx + 1\n".encode() + b"\xff + x\nx + 2\n" + b"1" * 100 + b"\nx + 3\n"
    run = cli("repl", input=script)
    assert run.exit_code == 1
    assert run.stdout == "3.0\n4.0\n"
    assert "adcli: error: the line is not UTF-8 text (byte 0xff) (at column 1)" in run.stderr
    assert "adcli: error: the line is longer than 64 bytes, the limit for one line" in run.stderr


def test_a_number_is_printed_alone_also_when_it_is_not_finite(cli):
    run = cli("repl", input="log(1)\nlog(0)\n0/0\n")
    assert run.stdout == "0.0\n-inf\nnan\n" and run.exit_code == 0


def test_the_console_script_replays_a_session(adcli_process):
    run = adcli_process("repl", input="x = 3\ngrad x^2\n")
    assert run.exit_code == 0
    assert run.stdout.split() == ["value", "9.0", "d/dx", "6.0"]


def test_adcli_alone_off_a_terminal_prints_help_and_exits_2(adcli_process):
    run = adcli_process(input="")
    assert run.exit_code == 2 and "Usage: adcli" in run.stdout


# -- at a pseudo-terminal -------------------------------------------------------------------------


def _own_terminal() -> None:
    """In the child: a session of its own whose controlling terminal is the pseudo-terminal, so Ctrl-C is SIGINT
    (with Python's own handler: a test run as a background job would hand down an ignored SIGINT)."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


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


def test_ctrl_c_at_the_prompt_cancels_the_line_and_the_session_goes_on(terminal_env):
    screen = Terminal(console_script() + ["repl"], terminal_env)
    screen.read_until("adcli> ")
    screen.type("1 + sqrt(")
    screen.read_until("1 + sqrt(")  # echoed by readline: it is reading keys, so Ctrl-C meets it, not the set-up
    # CPython's readline loop sees a signal only while it waits in select(), and it echoes a key just before
    # waiting again: a Ctrl-C sent in that instant would wait for the next key. No hand types that fast.
    time.sleep(0.3)
    screen.type("\x03")
    screen.read_until("adcli> ")
    screen.type("2 + 2\r")
    seen = screen.read_until("4.0")
    assert "error" not in seen  # the cancelled line never ran
    screen.read_until("adcli> ")
    screen.type("\x04")
    assert screen.close() == 0


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


# -- definitions are parsed once -------------------------------------------------------------------


def _parses(monkeypatch) -> list[str]:
    """The texts Lark is given from now on, without the blanks that hold the definitions' place."""
    from adcli.language.parser import parser

    lark = parser()._lark
    real = lark.parse
    seen: list[str] = []

    def spy(text, *args, **kwargs):
        seen.append(text.strip(" "))
        return real(text, *args, **kwargs)

    monkeypatch.setattr(lark, "parse", spy)
    return seen


def test_a_line_parses_only_itself_not_the_definitions_before_it(monkeypatch):
    seen = _parses(monkeypatch)
    session = _session()
    for line in ("f(x) = x^2 sin(x)", "u = f(x) + 1", "g(t) = t u"):
        session.run(line)
    session.run("x = 2")
    assert field(session.run("g(3) + f'(x)"), "value") == pytest.approx(3 * (4 * math.sin(2) + 1)
                                                                         + 4 * math.sin(2) + 4 * math.cos(2))
    session.run("grad u at x=1")
    session.run("g(3) + f'(x)")  # compiled before: not parsed at all
    assert seen == ["f(x) = x^2 sin(x)\n0", "u = f(x) + 1\n0", "g(t) = t u\n0", "g(3) + f'(x)", "u"]


def test_a_redefinition_parses_it_and_the_definitions_after_it_only(monkeypatch):
    session = _session()
    for line in ("a = x + 1", "b = x^2", "c = a b"):
        session.run(line)
    seen = _parses(monkeypatch)
    session.run("b = x^3")
    assert seen == ["b = x^3\n0", "c = a b\n0"]
    assert field(session.run("c at x=2"), "value") == 24.0


# Sessions (definitions, then a line) whose incremental program must be the whole text's.
SESSIONS = [
    (["f(x) = x^2 sin(x)", "u = f(x) + 1"], "u + f(2)"),
    (["h(x) = x + 1"], "h 2 + sin^2 x"),  # a user function applied without brackets
    (["f(x) = exp(x) / x", "g(y) = f(y) f'(y)"], "g(x) + f''(x)"),
    (["k = |x - 1|", "q(a, b) = a b + |a|"], "q(k, x) where x = 3"),
    (["f(x) = x^3"], "diff(f(x), x, 2) + sin'(x)"),
    (["θ = x / 2", "f(t) = cos t"], "f(θ) + π"),
    (["u = sqrt(x)", "v = u + y"], "v^2 - u"),
    (["s = sum(x)", "m = mean(x)"], "s - m x[0]"),
]


@pytest.mark.parametrize("definitions, line", SESSIONS)
def test_a_line_after_kept_definitions_compiles_to_the_whole_texts_program(definitions, line):
    from adcli.language.parser import EMPTY_PRELUDE, compile_program, parser

    prelude = EMPTY_PRELUDE
    for definition in definitions:
        prelude = parser().extend(prelude, definition)
    assert parser().compile_after(prelude, line) == compile_program("\n".join([*definitions, line]))


_POOL = ["a = x + 1", "f(t) = t^2 + a", "b = f(x) sin x", "g(p, q) = p q + |p|", "c = g(a, b) / 2",
         "h(t) = f'(t) + 1", "d = b c", "e2 = h x"]
_LINES = ["a + b", "f(2) + c", "g(x, y) + d", "h(x) - e2", "f'(1) + g(1, b)", "sinn(a)", "d where x = 2", "f(1, 2)"]


@settings(max_examples=60, deadline=None)
@given(chosen=st.lists(st.booleans(), min_size=len(_POOL), max_size=len(_POOL)), line=st.sampled_from(_LINES))
def test_incremental_and_whole_text_compiles_agree_on_programs_and_errors(chosen, line):
    """Any subset of the pool (those left out may make later ones fail, both ways alike) and any line."""
    from adcli.language.parser import EMPTY_PRELUDE, compile_program, parser

    prelude, kept = EMPTY_PRELUDE, []
    for definition, wanted in zip(_POOL, chosen):
        if not wanted:
            continue
        try:
            compile_program("\n".join([*kept, definition, "0"]))
        except AdcliError as problem:
            with pytest.raises(AdcliError) as caught:
                parser().extend(prelude, definition)
            assert caught.value.message == problem.message
            continue
        prelude = parser().extend(prelude, definition)
        kept.append(definition)
    try:
        expected = compile_program("\n".join([*kept, line]))
    except AdcliError as problem:
        with pytest.raises(AdcliError) as caught:
            parser().compile_after(prelude, line)
        assert (caught.value.message, caught.value.span) == (problem.message, problem.span)
        return
    assert parser().compile_after(prelude, line) == expected


def test_a_definitions_variable_is_asked_for_only_by_lines_that_use_it():
    session = _session()
    session.run("u = sqrt(x) + 1")
    assert field(session.run("2 + 2"), "value") == 4.0
    assert field(session.run("u at x=4"), "value") == 3.0


def test_a_definition_with_a_bracket_left_open_says_so_in_its_own_line():
    session = _session()
    with pytest.raises(AdcliError) as caught:
        session.run("f(x) = 1/(x")
    assert caught.value.text == "f(x) = 1/(x" and "missing ')'" in caught.value.message


def test_a_binding_takes_any_value_a_value_can_be():
    session = _session()
    session.run("x = linspace(0, 1, 5)")
    assert list(field(session.run("x^2"), "value")) == [0.0, 0.0625, 0.25, 0.5625, 1.0]
    session.run("y = [1, 2]")
    assert list(field(session.run("y + 1"), "value")) == [2.0, 3.0]


def test_a_result_names_the_line_not_the_sessions_program():
    session = _session()
    session.run("f(x) = x^2")
    session.run("x = 2")
    assert session.run("f(x) + 1").result.expr == "f(x) + 1"
    assert session.run("plot f(x) order 0").result.expr == "f(x)"


def test_a_closed_pipe_ends_a_replayed_session_quietly():
    lines = "f(x) = x\nx = 1\n" + "f(x)\n" * 200_000
    process = subprocess.Popen(console_script() + ["repl"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    def feed() -> None:
        try:
            process.stdin.write(lines.encode())
            process.stdin.close()
        except BrokenPipeError:  # the session left first
            pass

    threading.Thread(target=feed, daemon=True).start()
    assert process.stdout.readline() == b"1.0\n"
    process.stdout.close()  # as `| head -1` does
    assert process.wait(timeout=60) != 0 and process.stderr.read() == b""


def test_ctrl_c_stops_a_replayed_script_with_130_as_any_command():
    """At a prompt Ctrl-C cancels the line; a script stops, leaving no half-written answer followed by the next."""
    slow = "+".join(["x"] * 1_000_000)  # seconds to compile
    process = subprocess.Popen(console_script() + ["repl"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def feed() -> None:
        try:
            process.stdin.write(f"x = 1\n2 + 2\n{slow}\n3 + 3\n".encode())
            process.stdin.close()
        except BrokenPipeError:
            pass

    threading.Thread(target=feed, daemon=True).start()
    assert process.stdout.readline() == b"4.0\n"
    time.sleep(0.5)
    assert process.poll() is None, "the slow line finished before it could be interrupted"
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    stdout, stderr = process.stdout.read(), process.stderr.read()
    assert stdout == b"" and b"interrupted" not in stderr and b"Traceback" not in stderr


def test_messages_in_a_session_name_its_own_option_words():
    session = _session()
    with pytest.raises(AdcliError) as caught:
        session.run("diff x y at x=1, y=2")
    assert caught.value.message.endswith("name one with wrt")
    with pytest.raises(AdcliError) as caught:
        session.run("taylor x y at x=0, y=1")
    assert "name it with wrt (the formula's variables: x, y)" in caught.value.message


def test_ans_before_any_value_says_what_ans_is():
    session = _session()
    with pytest.raises(AdcliError) as caught:
        session.run("2 ans")
    assert "'ans' has no value yet" in caught.value.message and caught.value.span == (2, 5)
    session.run("3")
    assert field(session.run("2 ans"), "value") == 6.0
