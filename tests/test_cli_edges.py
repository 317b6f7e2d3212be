"""Edge cases of options and messages found in review: each a clear error, never a silent wrong answer."""

from __future__ import annotations

import math

import pytest


@pytest.mark.parametrize("command", [
    ["grad", "x^2 y", "--at", "x=1,y=2"],
    ["hessian", "x^2 y", "--at", "x=1,y=2"],
    ["jacobian", "[x, y]", "--at", "x=1,y=2"],
    ["descend", "x^2 + y", "--at", "x=1,y=2", "--lr", "0.1"],
])
def test_repeated_wrt_name_is_an_error(cli, command):
    run = cli(*command, "--wrt", "x,x")
    assert run.exit_code == 1
    assert run.stderr.startswith("adcli: error: --wrt names 'x' more than once")


@pytest.mark.parametrize("wrt", [",", "", " "])
def test_empty_wrt_is_an_error(cli, wrt):
    run = cli("grad", "x y", "--at", "x=1,y=2", "--wrt", wrt)  # "" once meant every variable
    assert run.exit_code == 1 and "--wrt names no variable" in run.stderr


def test_wrt_a_constant_says_so(cli):
    run = cli("grad", "pi x", "--at", "x=1", "--wrt", "pi")
    assert run.exit_code == 1 and "'pi': it is a constant" in run.stderr


def test_repeated_keyword_is_an_error(cli):
    run = cli("eval", "sum(x, axis=0, axis=1)", "--at", "x=[[1,2],[3,4]]")
    assert run.exit_code == 1
    assert "sum got the keyword 'axis' twice (at column 16)" in run.stderr


def test_constructor_in_an_expression_points_to_at(cli):
    run = cli("eval", "linspace(0, 1, 3)")
    assert run.exit_code == 1
    assert "linspace(...) makes a value: use it in --at" in run.stderr


def test_numpy_runtime_warnings_do_not_leak(cli):
    run = cli("eval", "mean(x)", "--at", "x=zeros(0)", "--format", "plain")
    assert run.exit_code == 0
    assert "RuntimeWarning" not in run.stderr and run.stdout.strip() == "nan"


@pytest.mark.parametrize("text, shape", [("mean(x)", (0,)), ("sum(mean(x, axis=0))", (0, 2)),
                                         ("sum(mean(x, axis=0, keepdims=1))", (0, 3))])
def test_a_mean_of_nothing_is_nan_without_numpys_warning_in_the_library_too(text, shape):
    """The CLI silences RuntimeWarnings; a library user's program must not get NumPy's "Mean of empty slice"."""
    import warnings

    import adcli
    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grads = adcli.compile(text).grad(x=np.zeros(shape))
    assert math.isnan(value) and grads["x"].shape == shape


def test_reduction_of_an_empty_array_says_so(cli):
    run = cli("eval", "max(x)", "--at", "x=zeros(0)")
    assert run.exit_code == 1
    assert run.stderr.startswith("adcli: error: max: the array (0,) is empty (at column 1)")


def test_empty_jacobian_in_csv_is_just_a_header(cli):
    run = cli("jacobian", "x", "--at", "x=zeros(0)", "--format", "csv")
    assert run.exit_code == 0 and "Traceback" not in run.stderr
    assert run.stdout.splitlines() == ["value"]
