"""The PyTorch autograd tutorial's scalar examples, through the CLI and the library."""

from __future__ import annotations

import math

import pytest

import adcli

# (expression, bindings, value, {variable: gradient}) as PyTorch float64 prints them
EXAMPLES = [
    ("w*x + b", {"x": 1, "w": 2, "b": 3}, 5.0, {"w": 1.0, "x": 2.0, "b": 1.0}),
    ("x^2", {"x": 2}, 4.0, {"x": 4.0}),
    ("exp(x)", {"x": 2}, math.exp(2), {"x": math.exp(2)}),
    ("sin(x)", {"x": math.pi}, math.sin(math.pi), {"x": -1.0}),
    ("(x-4)(x^2+6)", {"x": 0}, -24.0, {"x": 6.0}),
    ("(sqrt(x)+1)^3", {"x": 2}, 14.071067811865474, {"x": 6.181980515339463}),
    ("(x+2y)^2", {"x": 1, "y": 2}, 25.0, {"x": 10.0, "y": 20.0}),
]


def _at(bindings):
    return ",".join(f"{name}={value!r}" for name, value in bindings.items())


@pytest.mark.parametrize("expr, bindings, value, grads", EXAMPLES)
def test_library(expr, bindings, value, grads):
    got_value, got_grads = adcli.grad(expr, **bindings)
    assert got_value == pytest.approx(value, rel=1e-12, abs=1e-15)
    assert got_grads == pytest.approx(grads, rel=1e-12)


@pytest.mark.parametrize("expr, bindings, value, grads", EXAMPLES)
def test_cli_json(cli, expr, bindings, value, grads):
    run = cli("grad", expr, "--at", _at(bindings), "--format", "json")
    assert run.exit_code == 0, run.stderr
    record = run.json()
    assert record["expr"] == expr
    assert record["value"] == pytest.approx(value, rel=1e-12, abs=1e-15)
    assert list(record["grad"]) == list(grads)  # order of first appearance
    assert record["grad"] == pytest.approx(grads, rel=1e-12)


def test_where_clause_matches_at(cli):
    run = cli("grad", "w*x + b where x=1, w=2, b=3", "--format", "plain")
    assert run.exit_code == 0
    assert run.stdout.split() == ["5.0", "1.0", "2.0", "1.0"]  # value, d/dw, d/dx, d/db


def test_text_output_is_readable(cli):
    run = cli("grad", "(sqrt(x)+1)^3", "--at", "x=2")
    assert run.exit_code == 0
    assert run.stdout.splitlines() == ["value  14.071067811865474", "d/dx   6.181980515339463"]


@pytest.mark.parametrize("expr, bindings, value, grads", EXAMPLES)
def test_console_script(adcli_process, expr, bindings, value, grads):
    run = adcli_process("grad", expr, "--at", _at(bindings), "--format", "json")
    assert run.exit_code == 0, run.stderr
    assert run.json()["grad"] == pytest.approx(grads, rel=1e-12)
