"""`adcli descend`: plain and momentum SGD against closed-form iterates, --every, Ctrl-C, errors."""

from __future__ import annotations

import io
import json
import signal
import subprocess

import numpy as np
import pytest

import adcli
from adcli.language import parser
from adcli.cli.terminal import ProgressBar
from adcli.commands.descend import descend
from conftest import console_script

# f(w) = sum((w - c)^2): the gradient is 2 (w - c), so a step with rate lr maps w - c to
# (1 - 2 lr)(w - c) and w_k = c + (1 - 2 lr)^k (w_0 - c); the minimiser is c.
QUADRATIC = "sum((w - c)^2)"
CENTRE = np.array([3.0, -1.0, 0.5])
START = np.array([0.0, 2.0, 10.0])


def quadratic_iterate(steps: int, lr: float) -> np.ndarray:
    return CENTRE + (1 - 2 * lr) ** steps * (START - CENTRE)


def quadratic_args(steps: int, lr: float, *extra: str) -> list[str]:
    return ["descend", QUADRATIC, "--at", "w=[0, 2, 10]", "--at", "c=[3, -1, 0.5]", "--wrt", "w",
            "--lr", str(lr), "--steps", str(steps), *extra]


@pytest.mark.parametrize("steps", [1, 100])
def test_quadratic_iterates_follow_the_closed_form_and_converge(cli, steps):
    run = cli(*quadratic_args(steps, 0.1), "--format", "json")
    assert run.exit_code == 0, run.stderr
    record = run.json()
    final = quadratic_iterate(steps, 0.1)
    assert record["steps"] == steps
    assert record["loss_before"] == pytest.approx(np.sum((START - CENTRE) ** 2), rel=1e-15)
    assert record["loss"] == pytest.approx(np.sum((final - CENTRE) ** 2), rel=1e-9)
    np.testing.assert_allclose(record["values"]["w"], final, rtol=1e-13)
    if steps == 100:
        np.testing.assert_allclose(record["values"]["w"], CENTRE, atol=1e-8)


def test_least_squares_converges_to_the_normal_equations_solution(cli):
    a = np.array([[2.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, -1.0]])
    t = np.array([1.0, 2.0, 3.0, -1.0])
    minimiser = np.linalg.solve(a.T @ a, a.T @ t)
    run = cli("descend", "mean((A @ v - t)^2)", "--at", f"A={a.tolist()}", "--at", f"t={t.tolist()}",
              "--at", "v=zeros(2)", "--wrt", "v", "--lr", "0.5", "--steps", "100", "--format", "json")
    assert run.exit_code == 0, run.stderr
    record = run.json()
    np.testing.assert_allclose(record["values"]["v"], minimiser, atol=1e-10)
    assert record["loss"] == pytest.approx(np.mean((a @ minimiser - t) ** 2), rel=1e-10)


def test_scalar_parameters_and_a_where_clause(cli):
    run = cli("descend", "(p - q)^2 where q = 2", "--at", "p=0", "--wrt", "p", "--lr", "0.25", "--steps", "3",
              "--format", "json")
    record = run.json()
    assert record["values"]["p"] == pytest.approx(2.0 - 2.0 * 0.5 ** 3, rel=1e-15)


def test_momentum_follows_torch_sgd(cli):
    lr, momentum, steps = 0.05, 0.9, 7
    w, velocity = START.copy(), None
    for _ in range(steps):  # torch.optim.SGD: buf = g at first, then momentum * buf + g; p -= lr * buf
        gradient = 2 * (w - CENTRE)
        velocity = gradient if velocity is None else momentum * velocity + gradient
        w = w - lr * velocity
    run = cli(*quadratic_args(steps, lr, "--momentum", str(momentum)), "--format", "json")
    record = run.json()
    assert record["momentum"] == momentum
    np.testing.assert_allclose(record["values"]["w"], w, rtol=1e-14)


def test_zero_steps_change_nothing(cli):
    record = cli(*quadratic_args(0, 0.1), "--format", "json").json()
    assert record["steps"] == 0 and record["loss"] == record["loss_before"]
    assert record["values"]["w"] == START.tolist()


def test_a_wrt_variable_the_loss_does_not_use_stays_put(cli):
    record = cli(*quadratic_args(2, 0.1), "--at", "u=[1, 2]", "--wrt", "w,u", "--format", "json").json()
    assert list(record["values"]) == ["w", "u"]
    assert record["values"]["u"] == [1.0, 2.0]


@pytest.mark.parametrize("fmt, parse", [
    ("text", lambda line: (int(line.split()[1]), float(line.split()[3]))),
    ("plain", lambda line: (int(line.split()[0]), float(line.split()[1]))),
    ("json", lambda line: (json.loads(line)["step"], json.loads(line)["loss"])),
])
def test_every_prints_the_loss_after_every_kth_step_on_stderr(cli, fmt, parse):
    run = cli(*quadratic_args(10, 0.1, "--every", "3"), "--format", fmt)
    assert run.exit_code == 0
    reported = [parse(line) for line in run.stderr.splitlines()]
    assert [step for step, _ in reported] == [3, 6, 9]
    for step, loss in reported:
        assert loss == pytest.approx(np.sum((quadratic_iterate(step, 0.1) - CENTRE) ** 2), rel=1e-12)
    assert run.stdout == cli(*quadratic_args(10, 0.1), "--format", fmt).stdout
    assert "\r" not in run.stderr  # no progress bar off a terminal


def test_every_in_csv_has_a_header_once(cli):
    run = cli(*quadratic_args(4, 0.1, "--every", "2"), "--format", "csv")
    assert run.stderr.splitlines()[0] == "step,loss"
    assert [line.split(",")[0] for line in run.stderr.splitlines()[1:]] == ["2", "4"]
    assert run.stdout.splitlines()[0] == "steps,lr,loss_before,loss,w"


def test_divergence_names_the_first_step_and_exits_0_as_pytorch_runs_on(cli):
    run = cli("descend", "(x-3)^2", "--at", "x=0", "--wrt", "x", "--lr", "10", "--steps", "400", "--format", "json")
    assert run.exit_code == 0 and run.json()["loss"] == "nan" and run.json()["steps"] == 400
    assert run.stderr == "adcli: warning: the loss is not finite after step 121; a smaller --lr may help\n"


def test_a_start_that_is_not_finite_is_blamed_not_the_learning_rate(cli):
    run = cli("descend", "(x-3)^2", "--at", "x=nan", "--wrt", "x", "--lr", "0.1", "--steps", "3", "--format", "json")
    assert run.exit_code == 0 and run.json()["loss"] == "nan"
    assert run.stderr == "adcli: warning: the loss is not finite at the starting values; start from others with --at\n"


@pytest.mark.parametrize("option, value", [("--lr", "nan"), ("--lr", "inf"), ("--lr", "-0.1"), ("--momentum", "nan"),
                                           ("--momentum", "-inf")])
def test_a_learning_rate_or_momentum_that_is_not_finite_and_at_least_0_is_refused(cli, option, value):
    arguments = ["descend", "(x-3)^2", "--at", "x=0", "--wrt", "x", "--lr", "0.1", option, value]
    run = cli(*arguments)
    assert run.exit_code == 2 and f"Invalid value for '{option}'" in run.stderr and run.stdout == ""


@pytest.mark.parametrize("option", ["--rtol", "--atol"])
def test_a_tolerance_that_is_nan_is_refused(cli, option):
    run = cli("check", "x^2", "--at", "x=1", option, "nan")
    assert run.exit_code == 2 and "is not a finite number" in run.stderr


def test_divergence_warns_and_still_prints(cli):
    run = cli("descend", "x^2", "--at", "x=1", "--wrt", "x", "--lr", "2", "--steps", "2000", "--format", "json")
    assert run.exit_code == 0
    assert run.json()["loss"] in ("inf", "nan")
    assert "adcli: warning: the loss is not finite after step" in run.stderr


@pytest.mark.parametrize("args, code, words", [
    (["descend", "w - c", "--at", "w=[1, 2],c=1", "--wrt", "w", "--lr", "0.1"], 1, ["scalar loss", "(2,)"]),
    (["descend", "w^2", "--at", "w=1", "--wrt", "v", "--lr", "0.1"], 1, ["'v'"]),
    (["descend", "w^2", "--at", "w=1", "--lr", "0.1"], 2, ["--wrt"]),
    (["descend", "w^2", "--at", "w=1", "--wrt", "w"], 2, ["--lr"]),
    (["descend", "w^2", "--at", "w=1", "--wrt", "w", "--lr", "-1"], 2, ["--lr"]),
    (["descend", "w^2", "--at", "w=1", "--wrt", "w", "--lr", "1", "--steps", "-1"], 2, ["--steps"]),
    (["descend", "w^2", "--at", "w=1", "--wrt", "w", "--lr", "1", "--every", "0"], 2, ["--every"]),
])
def test_errors(cli, args, code, words):
    run = cli(*args)
    assert run.exit_code == code and run.stdout == ""
    assert all(word in run.stderr for word in words), run.stderr


def test_the_program_is_compiled_once(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # an empty program store
    calls = []
    original = parser.compile_program
    monkeypatch.setattr(parser, "compile_program", lambda text, **options: calls.append(text) or original(text, **options))
    assert cli(*quadratic_args(50, 0.1)).exit_code == 0
    assert calls == [QUADRATIC]


def test_library_descend_reports_each_step_and_stops_when_asked():
    seen = []
    result = descend(adcli.compile(QUADRATIC), {"w": START, "c": CENTRE}, ["w"], 0.1, 1000,
                     on_step=lambda step, loss: seen.append(step), should_stop=lambda: len(seen) >= 5)
    assert result.steps == 5 and seen == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(result.values["w"], quadratic_iterate(5, 0.1), rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(START, [0.0, 2.0, 10.0])  # the caller's arrays are not modified


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal_and_clears():
    terminal = FakeTerminal()
    bar = ProgressBar(terminal, total=10, delay=0.0, interval=0.0)
    bar.update(5, 0.25)
    assert terminal.getvalue().startswith("\r[" + "#" * 15 + "-" * 15 + "] 5/10 steps  loss 0.25")
    bar.clear()
    assert terminal.getvalue().endswith("\r\x1b[K")


def test_progress_bar_stays_silent_off_a_terminal_or_on_short_runs():
    plain, terminal = io.StringIO(), FakeTerminal()
    ProgressBar(plain, total=10, delay=0.0).update(5, 0.25)
    slow_to_show = ProgressBar(terminal, total=10, delay=60.0)
    slow_to_show.update(5, 0.25)
    slow_to_show.clear()
    assert plain.getvalue() == "" and terminal.getvalue() == ""


def test_ctrl_c_stops_after_a_step_prints_the_latest_values_and_exits_130(tmp_path):
    args = quadratic_args(10**9, 1e-9, "--every", "200", "--format", "json")
    process = subprocess.Popen(console_script() + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=tmp_path)
    try:
        first_report = process.stderr.readline()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert json.loads(first_report)["step"] == 200
    assert process.returncode == 130
    record = json.loads(stdout)
    steps = record["steps"]
    assert 200 <= steps < 10**9
    np.testing.assert_allclose(record["values"]["w"], quadratic_iterate(steps, 1e-9), rtol=1e-12, atol=1e-12)
    assert f"interrupted after {steps} of {10**9} steps" in stderr
    assert "Traceback" not in stderr
