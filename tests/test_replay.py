"""Replay plans (backends/replay.py): a replayed sweep gives bit for bit what the plain sweeps give,
and a replay is only ever run on inputs of the kinds it was recorded for."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adcli
from adcli.backends import replay
from adcli.commands import descend as descend_module
from adcli.engine.sweeps import backward, depends_on
from adcli.engine.tape import NUMPY, forward, ones_like

EDGES = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-310, 20.0, 0.5, -2.5, 3.0]
SHAPES = {"x": (3,), "y": (2, 3), "z": (3, 2), "s": (), "t": None, "u": (1, 3)}  # t: a Python float


def identical(a, b) -> bool:
    """Same type, dtype, shape and bytes (nans included: a replay makes the very same calls)."""
    if a is None or b is None:
        return a is None and b is None
    return type(a) is type(b) and np.asarray(a).dtype == np.asarray(b).dtype and \
        np.shape(a) == np.shape(b) and np.asarray(a).tobytes() == np.asarray(b).tobytes()


def plain(program, inputs, wrt):
    """forward, then the reverse sweep seeded with ones: (value, cotangent of each name or None)."""
    values = forward(program, inputs)
    value = values[program.output]
    with np.errstate(all="ignore"):
        cotangents = backward(program, values, {program.output: ones_like(value)}, depends_on(program, wrt), NUMPY)
    slots = program.variable_slots()
    return (value, *[cotangents[slots[name]] if name in slots else None for name in wrt])


def make_inputs(names, seed: int, edges: bool = True, integers: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    inputs = {}
    for name in names:
        shape = SHAPES[name]
        if shape is None:
            inputs[name] = float(rng.choice(EDGES) if edges and rng.random() < 0.3 else rng.normal())
            continue
        values = rng.normal(size=shape) * 2
        if edges:
            flat = values.reshape(-1)
            picks = rng.random(flat.size) < 0.3
            flat[picks] = rng.choice(EDGES, size=int(picks.sum()))
        if integers:
            values = np.round(np.nan_to_num(values, nan=0.0, posinf=3, neginf=-3)).astype(np.int64)
        inputs[name] = values if shape else np.float64(values)
    return inputs


def check(text: str, wrt=None, seeds=range(4), **options) -> None:
    program = adcli.compile(text).program
    wrt = list(program.variables) if wrt is None else wrt
    for seed in seeds:
        inputs = make_inputs(program.variables, seed, **options)
        found = replay.value_and_gradients_replay(program, inputs, wrt)
        expected = plain(program, inputs, wrt)
        if found is None:
            assert all(type(inputs[name]) is float for name in program.variables), text
            continue
        with np.errstate(all="ignore"):
            got = found(inputs)
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            assert identical(a, b), (text, seed, a, b)


FORMULAS = [
    "mean((x - u)^2)", "sum(y @ x)", "sum(z @ y)", "x @ x", "sum(exp(y) * x)", "sum(sin(x) / (1 + s^2))",
    "sum(relu(x - s))", "relu(s) + relu(-s)", "abs(s) + sign(s)", "max(s, 0) * min(t, s)", "s^t + t^s",
    "sum(max(x, u) - min(y, x))", "sum(abs(x) + x^0.5 + x^2 + x^1 + x^0)", "sum(log(abs(y)) + sqrt(abs(x)))",
    "mean(sum(y, axis=0) * x)", "mean(sum(y, axis=1) * s)", "sum(mean(y, axis=0))", "sum(mean(y, axis=1, keepdims=1) * y)",
    "sum(z.T @ y.T)", "sum(y @ u.T)", "sum(transpose(y) * z)", "logsumexp(x)", "sum(softmax(y, axis=1) * y)", "sum(log_softmax(x))",
    "prod(x)", "norm(y)", "max(y) + min(x)", "sum(clip(x, -1, 1))", "sum(tanh(x) + sigmoid(y) + softplus(x))",
    "sum(elu(x) + leaky_relu(x) + gelu(x))", "atan2(sum(x), sum(x))", "atan2(s, s) * s", "atan2(s, t) + hypot(s, t)", "sum(x[1] * y[0])", "sum([x, 2x])",
    "s - s", "0 * s", "-0.0 * s", "0.0 * s", "x[0]", "sum(floor(x) + ceil(y))", "sum((x > 0) * x)",
    "pred = y @ x + s; mean((pred - x[0:2])^2)", "sum(x^s)", "t * sum(x)", "sum(erf(x) + cbrt(x))",
]


@pytest.mark.parametrize("text", FORMULAS)
def test_a_replay_gives_the_plain_sweeps_bits(text):
    check(text)


@pytest.mark.parametrize("text", ["sum(x * y)", "mean((x - u)^2) + s", "sum(abs(x - 1) + x^2)"])
def test_integer_arrays_are_replayed_as_the_plain_sweep_sweeps_them(text):
    check(text, integers=True)


def test_a_replay_is_the_plain_sweeps_also_for_float32_inputs():
    program = adcli.compile("sum(sin(x) * x^2) / s").program
    inputs = {"x": np.linspace(-1, 1, 5, dtype=np.float32), "s": np.float64(3.0)}
    got, expected = replay.value_and_gradients_replay(program, inputs, ["x", "s"])(inputs), plain(program, inputs, ["x", "s"])
    assert all(identical(a, b) for a, b in zip(got, expected))


def test_gradients_wrt_names_the_program_does_not_use_are_none():
    program = adcli.compile("sum(x * 2)").program
    inputs = {"x": np.arange(3.0)}
    value, gx, gq = replay.value_and_gradients_replay(program, inputs, ["x", "q"])(inputs)
    assert gq is None and identical(gx, plain(program, inputs, ["x"])[1])


def test_a_constant_gradient_is_a_fresh_array_each_run():
    program = adcli.compile("sum(x * [1, 2, 3])").program
    inputs = {"x": np.arange(3.0)}
    found = replay.value_and_gradients_replay(program, inputs, ["x"])
    first, second = found(inputs)[1], found(inputs)[1]
    first[:] = 7.0
    assert np.array_equal(second, [1.0, 2.0, 3.0])


def test_a_gradient_picked_by_a_scalar_condition_is_a_fresh_array_each_call():
    """where(s > 0, a, b) hands a's cotangent, the seed, back through where's shortcut: a caller writing
    into one call's gradient must not change the next call's (the plain sweep makes a new seed each time)."""
    compiled = adcli.compile("where(s > 0, a, b)")
    bindings = {"s": 1.0, "a": np.array([1.0, 2.0, 3.0]), "b": np.array([4.0, 5.0, 6.0])}
    for _ in range(4):  # the plain sweeps, then a recording, then replays
        gradient = compiled.grad(**bindings)[1]["a"]
        assert np.array_equal(gradient, [1.0, 1.0, 1.0])
        gradient[:] = 99.0


def test_a_scalar_condition_is_decided_at_each_run():
    """relu's VJP picks g or 0 by the value: one replay, recorded at s = 1, must follow s = -1 and s = 0."""
    program = adcli.compile("relu(s) * 3 + max(s, 0)").program
    found = replay.value_and_gradients_replay(program, {"s": np.float64(1.0)}, ["s"])
    for value in (1.0, -1.0, 0.0, -0.0, np.nan, np.inf):
        inputs = {"s": np.float64(value)}
        assert replay.value_and_gradients_replay(program, inputs, ["s"]) is found
        assert all(identical(a, b) for a, b in zip(found(inputs), plain(program, inputs, ["s"])))


@pytest.mark.parametrize("first, second", [
    ({"x": np.ones(3)}, {"x": np.ones((2, 3))}),  # shape
    ({"x": np.ones(3)}, {"x": np.ones(3, dtype=np.float32)}),  # dtype
    ({"x": np.ones(3)}, {"x": np.float64(1.0)}),  # array and scalar
    ({"x": np.float64(1.0)}, {"x": np.ones(())}),  # a NumPy scalar and a 0-d array
    ({"x": np.ones((1, 3))}, {"x": np.ones((3, 1))}),
])
def test_inputs_of_another_kind_miss_the_cache(first, second):
    program = adcli.compile("sum(x^2 * [1, 2, 3])").program
    a = replay.value_and_gradients_replay(program, first, ["x"])
    b = replay.value_and_gradients_replay(program, second, ["x"])
    assert a is not b
    for inputs, found in ((first, a), (second, b)):
        assert all(identical(got, want) for got, want in zip(found(inputs), plain(program, inputs, ["x"])))


def test_programs_that_differ_only_in_the_sign_of_a_zero_have_their_own_replays():
    inputs = {"x": np.array([1.0, -2.0])}
    for text in ("sum(1 / (x * 0.0))", "sum(1 / (x * -0.0))"):
        program = adcli.compile(text).program
        with np.errstate(all="ignore"):
                assert all(identical(a, b) for a, b in zip(replay.value_and_gradients_replay(program, inputs, ["x"])(inputs),
                                                         plain(program, inputs, ["x"])))


def test_programs_that_differ_only_in_the_sign_of_a_zero_parameter_have_their_own_replays():
    inputs = {"x": np.array([1.0, -2.0])}
    for text in ("sum(1 / leaky_relu(x, 0))", "sum(1 / leaky_relu(x, -0))", "sum(1 / elu(x, -0))", "sum(1 / elu(x, 0))"):
        program = adcli.compile(text).program
        with np.errstate(all="ignore"):
            assert all(identical(a, b) for a, b in zip(replay.value_and_gradients_replay(program, inputs, ["x"])(inputs),
                                                       plain(program, inputs, ["x"])))


def test_the_cache_is_bounded(monkeypatch):
    cache = replay.ReplayCache(size=3)
    monkeypatch.setattr(replay, "_REPLAYS", cache)
    for size in range(1, 8):
        program = adcli.compile("sum(x^2)").program
        replay.value_and_gradients_replay(program, {"x": np.ones(size)}, ["x"])
    assert len(cache.found) == 3


def test_all_python_floats_are_left_to_the_scalar_sweep():
    program = adcli.compile("x^2 + y").program
    assert replay.value_and_gradients_replay(program, {"x": 1.0, "y": 2.0}, ["x"]) is None


# -- Hypothesis: random programs over arrays, scalars and Python floats -------------------------

LEAVES = ["x", "y", "s", "t", "u", "1", "2.5", "0", "-0.0"]
UNARY = ["sin", "exp", "log", "sqrt", "abs", "relu", "tanh", "sigmoid", "floor", "sign", "softplus", "atan"]


def expressions():
    def extend(children):
        return st.one_of(
            st.builds(lambda a, op, b: f"({a} {op} {b})", children, st.sampled_from(["+", "-", "*", "/", "^"]), children),
            st.builds(lambda f, a: f"{f}({a})", st.sampled_from(UNARY), children),
            st.builds(lambda f, a, b: f"{f}({a}, {b})", st.sampled_from(["max", "min", "atan2"]), children, children),
            st.builds(lambda f, a: f"{f}({a})", st.sampled_from(["sum", "mean", "max"]), children),
        )
    return st.recursive(st.sampled_from(LEAVES), extend, max_leaves=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(), st.integers(0, 2 ** 16))
def test_random_programs_replay_bit_for_bit(text, seed):
    try:
        program = adcli.compile(text).program
        inputs = make_inputs(program.variables, seed)
        plain(program, inputs, list(program.variables))
    except adcli.AdcliError:
        return  # shapes that do not fit: nothing to replay
    check(text, seeds=[seed, seed + 1])


# -- descend -----------------------------------------------------------------------------------

DESCENTS = [
    ("pred = x @ W.T + b; mean((pred - y)^2)", {"x": np.arange(15.0).reshape(5, 3) / 7, "y": np.ones((5, 2)),
                                               "W": [[0.4, 0.2, 0.3], [-0.3, 0.05, -0.3]], "b": [0.4, 0.3]}, ["W", "b"]),
    ("(w - 3)^2 + abs(w)", {"w": 0.0}, ["w"]),  # a Python float at the start
    ("sum(relu(w - c)^2) + max(w) + q", {"w": [0.0, 2.0, 10.0], "c": [3, -1, 0.5], "q": 2.0}, ["w", "q"]),
    ("log(w) * w", {"w": 2.0}, ["w"]),  # runs into nan
    ("sum((A @ v - t)^2) / 4", {"A": [[2, 0], [1, 1], [0, 1], [1, -1]], "t": [1, 2, 3, -1], "v": [0, 0]}, ["v"]),
    ("mean(w^2) + k", {"w": [1.0, -2.0], "k": 5}, ["w", "k"]),
]


def plain_descend(monkeypatch, *args, **kwargs):
    with monkeypatch.context() as patch:
        patch.setattr(descend_module, "value_and_gradients_replay", lambda *a: None)
        return descend_module.descend(*args, **kwargs)


@pytest.mark.parametrize("text, bindings, wrt", DESCENTS)
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_descend_with_replays_takes_the_plain_steps_bit_for_bit(monkeypatch, text, bindings, wrt, momentum):
    compiled = adcli.compile(text)
    seen, seen_plain = [], []
    got = descend_module.descend(compiled, bindings, wrt, 0.05, 40, momentum, on_step=lambda k, loss: seen.append(loss))
    expected = plain_descend(monkeypatch, compiled, bindings, wrt, 0.05, 40, momentum,
                             on_step=lambda k, loss: seen_plain.append(loss))
    assert np.asarray(seen).tobytes() == np.asarray(seen_plain).tobytes()
    assert (got.loss_before, got.steps, got.first_nonfinite_step) == \
        (expected.loss_before, expected.steps, expected.first_nonfinite_step)
    for name in got.values:
        assert identical(got.values[name], expected.values[name]), name


def test_descend_stops_after_the_step_it_is_told_to(monkeypatch):
    compiled = adcli.compile("sum((w - 1)^2)")
    asked = iter(range(100))
    result = descend_module.descend(compiled, {"w": [0.0, 3.0]}, ["w"], 0.1, 50, should_stop=lambda: next(asked) >= 7)
    expected = plain_descend(monkeypatch, compiled, {"w": [0.0, 3.0]}, ["w"], 0.1, 7)
    assert result.steps == 7 and identical(result.values["w"], expected.values["w"])


# -- Hessians ----------------------------------------------------------------------------------

def plain_hessian(monkeypatch, program, inputs, wrt):
    """derivatives.hessian with the plain sweeps (the plan's replay taken away)."""
    from adcli.engine import derivatives

    plan = replay.hessian_plan
    with monkeypatch.context() as patch:
        patch.setattr(replay, "hessian_plan", lambda *a: (plan(*a)[0], None))
        return derivatives.hessian(program, inputs, wrt)


def same_hessian(got, expected) -> bool:
    value, grads, matrix = got
    return identical(value, expected[0]) and grads.keys() == expected[1].keys() and \
        all(identical(grads[name], expected[1][name]) for name in grads) and identical(matrix, expected[2])


HESSIANS = [
    "sin(x1)*x2 + sin(x2)*x3 + (x1 + x2 + x3)^2/40", "x1*x2*x3", "x1 + x2", "exp(x1) * log(x2) / x3",
    "abs(x1) * relu(x2) + max(x1, x3)^2", "x1^x2 + x3^3", "sqrt(x1) + atan2(x2, x3) * hypot(x1, x2)",
    "tanh(x1 x2) sigmoid(x3)", "x1^0.5 * x2^-1.5", "log(x1) * 0 + x2", "2",
]
POINTS = [(0.3, -1.2, 2.0), (0.0, 0.0, 0.0), (-0.0, 1.0, -1.0), (np.nan, 1.0, 2.0), (np.inf, -np.inf, 1.0),
          (1.0, 1.0, 1.0), (4.0, 2.0, 0.5)]


@pytest.mark.parametrize("text", HESSIANS)
def test_hessians_replay_the_plain_sweeps_bit_for_bit(monkeypatch, text):
    from adcli.engine import derivatives

    program = adcli.compile(text).program
    wrt = ["x1", "x2", "x3"]
    for point in POINTS:
        inputs = {name: np.float64(value) for name, value in zip(wrt, point)}
        gradient, found = replay.hessian_plan(program, inputs, wrt)
        assert (found is not None) == (text not in ("x1 + x2", "2"))  # there the gradient program reads no variable
        with np.errstate(all="ignore"):
            got = derivatives.hessian(program, inputs, wrt)
        assert same_hessian(got, plain_hessian(monkeypatch, program, inputs, wrt)), (text, point)


@pytest.mark.parametrize("inputs, wrt, replayed", [
    ({"x1": 0.5, "x2": np.float64(2.0), "x3": 1.5}, ["x1", "x2", "x3"], True),  # some Python floats
    ({"x1": 0.5, "x2": 2.0, "x3": 1.5}, ["x1", "x2", "x3"], False),  # all: the scalar sweep's arithmetic
    ({"x1": np.float64(0.5), "x2": np.float64(2.0), "x3": np.float64(1.5), "q": np.float64(1.0)},
     ["x3", "q", "x1"], True),  # a name the program does not use, another order
    ({"x1": np.array([0.5, 1.0]), "x2": np.float64(2.0), "x3": np.float64(1.5)}, ["x1", "x2"], False),  # arrays
])
def test_hessians_of_mixed_inputs_are_the_plain_ones(monkeypatch, inputs, wrt, replayed):
    from adcli.engine import derivatives

    program = adcli.compile("sum(sin(x1)*x2 + x1^2 * x3) + x2 x3").program
    assert (replay.hessian_plan(program, inputs, wrt)[1] is not None) == replayed
    assert same_hessian(derivatives.hessian(program, inputs, wrt), plain_hessian(monkeypatch, program, inputs, wrt))


def test_a_hessian_replay_recorded_at_one_point_follows_kinks_at_others(monkeypatch):
    from adcli.engine import derivatives

    program = adcli.compile("relu(x1) * x2^2 + abs(x2) * max(x1, x2)").program
    first = replay.hessian_plan(program, {"x1": np.float64(1.0), "x2": np.float64(2.0)}, ["x1", "x2"])
    for x1, x2 in [(-1.0, 2.0), (0.0, 0.0), (2.0, 2.0), (3.0, -0.0), (np.nan, 1.0)]:
        inputs = {"x1": np.float64(x1), "x2": np.float64(x2)}
        assert replay.hessian_plan(program, inputs, ["x1", "x2"]) is first
        assert same_hessian(derivatives.hessian(program, inputs, ["x1", "x2"]),
                            plain_hessian(monkeypatch, program, inputs, ["x1", "x2"]))


SCALAR_LEAVES = ["a", "b", "c", "1", "0.5", "0", "2"]


def scalar_expressions():
    def extend(children):
        return st.one_of(
            st.builds(lambda a, op, b: f"({a} {op} {b})", children, st.sampled_from(["+", "-", "*", "/", "^"]), children),
            st.builds(lambda f, a: f"{f}({a})", st.sampled_from(UNARY), children),
            st.builds(lambda f, a, b: f"{f}({a}, {b})", st.sampled_from(["max", "min", "atan2", "hypot"]), children,
                      children),
        )
    return st.recursive(st.sampled_from(SCALAR_LEAVES), extend, max_leaves=7)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(scalar_expressions(), st.lists(st.sampled_from(EDGES + [0.7, -1.3, 2.2]), min_size=3, max_size=3))
def test_random_hessians_replay_bit_for_bit(monkeypatch, text, point):
    from adcli.engine import derivatives

    program = adcli.compile(text).program
    inputs = {name: np.float64(value) for name, value in zip("abc", point)}
    wrt = ["a", "b", "c"]
    with np.errstate(all="ignore"):
        assert same_hessian(derivatives.hessian(program, inputs, wrt), plain_hessian(monkeypatch, program, inputs, wrt))


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # a negative base to 2.5: the replay is called bare
def test_an_exponent_that_is_a_variable_is_not_decided_at_recording(monkeypatch):
    """x^2 is x*x and x^3 is x*x*x (PyTorch's products): with y a variable, y = 2 when recording says nothing later."""
    from adcli.engine import derivatives

    program = adcli.compile("sum(x^y) + x[0]^z").program
    for y, z in [(2.0, 3.0), (3.0, 2.0), (2.5, 2.0), (2.0, 2.0), (-1.0, 0.5)]:
        inputs = {"x": np.array([0.7, -1.3, 2.0]), "y": np.float64(y), "z": np.float64(z)}
        found = replay.value_and_gradients_replay(program, inputs, ["x", "y", "z"])
        assert all(identical(a, b) for a, b in zip(found(inputs), plain(program, inputs, ["x", "y", "z"])))
    scalar = adcli.compile("a^b + b^3").program
    for a, b in [(1.5, 2.0), (1.5, 3.0), (0.7, 2.5)]:
        inputs = {"a": np.float64(a), "b": np.float64(b)}
        assert same_hessian(derivatives.hessian(scalar, inputs, ["a", "b"]), plain_hessian(monkeypatch, scalar, inputs, ["a", "b"]))


# -- Jacobians ---------------------------------------------------------------------------------

def plain_jacobian(monkeypatch, program, inputs, wrt):
    """derivatives.jacobian with the plain sweeps (no replay; forward mode's tangent program made afresh)."""
    from adcli.engine import derivatives

    with monkeypatch.context() as patch:
        patch.setattr(replay, "jacobian_plan", lambda *a: (None, None))
        return derivatives.jacobian(program, inputs, wrt)


def same_jacobian(got, expected) -> bool:
    return identical(got[0], expected[0]) and got[1].keys() == expected[1].keys() and \
        all(identical(got[1][name], expected[1][name]) for name in got[1])


JACOBIANS = [  # (text, replayed in reverse mode)
    ("tanh(W @ x + b) * x[0:2]", True), ("sum(x) * x[0]", True), ("[x[0] * s, s^2, relu(x[1])]", True),
    ("[s * t, s + t]", True), ("softmax(x) * s", True), ("y @ x", True), ("x * s", True),
    ("[s, t, s*t, sin(s)]", False),  # more entries out than in: forward mode
]


@pytest.mark.parametrize("text, replayed", JACOBIANS)
def test_jacobians_replay_the_plain_sweeps_bit_for_bit(monkeypatch, text, replayed):
    from adcli.engine import derivatives

    program = adcli.compile(text).program
    rng = np.random.default_rng(3)
    for point in range(4):
        inputs = {"W": rng.normal(size=(2, 3)), "x": rng.normal(size=3), "b": rng.normal(size=2),
                  "y": rng.normal(size=(2, 3)), "s": np.float64(rng.choice(EDGES)), "t": np.float64(rng.normal())}
        inputs["x"][point % 3] = EDGES[point]
        wrt = [name for name in ("x", "s", "t", "b") if name in program.variables]
        jvp, found = replay.jacobian_plan(program, inputs, wrt)
        assert (found is not None) == replayed and (jvp is not None) == (not replayed), text
        with np.errstate(all="ignore"):
            got, expected = derivatives.jacobian(program, inputs, wrt), plain_jacobian(monkeypatch, program, inputs, wrt)
        assert same_jacobian(got, expected), (text, point)


def test_descend_calls_back_under_the_callers_numpy_error_state():
    seen = []
    with np.errstate(divide="raise", invalid="warn"):
        descend_module.descend(adcli.compile("sum((w - 1)^2)"), {"w": [0.0, 3.0]}, ["w"], 0.1, 3,
                               on_step=lambda k, loss: seen.append(np.geterr()),
                               should_stop=lambda: seen.append(np.geterr()) or False)
    assert len(seen) == 6 and all(state["divide"] == "raise" and state["invalid"] == "warn" for state in seen)


# -- value and gradients called again (a library loop, batch lines with arrays) -----------------

def plain_value_and_gradients(monkeypatch, program, inputs, wrt):
    from adcli.engine import derivatives

    with monkeypatch.context() as patch:
        patch.setattr(replay, "value_and_gradients_again", lambda *a: None)
        return derivatives.value_and_gradients(program, inputs, wrt)


@pytest.mark.parametrize("text", FORMULAS)
def test_value_and_gradients_replay_from_the_second_call_bit_for_bit(monkeypatch, text):
    from adcli.engine import derivatives

    program = adcli.compile(text).program
    wrt = list(program.variables) + ["unused"]
    for seed in range(3):
        inputs = {**make_inputs(program.variables, seed), "unused": np.ones(2)}
        if not replay._numpy_sweeps(program, inputs):
            continue
        with np.errstate(all="ignore"):
            got = derivatives.value_and_gradients(program, inputs, wrt)
            expected = plain_value_and_gradients(monkeypatch, program, inputs, wrt)
        assert identical(got[0], expected[0]) and got[1].keys() == expected[1].keys()
        assert all(identical(got[1][name], expected[1][name]) for name in wrt), (text, seed)


def test_a_one_off_call_does_not_record(monkeypatch):
    cache = replay.ReplayCache()
    monkeypatch.setattr(replay, "_REPLAYS", cache)
    program = adcli.compile("sum(x^2)").program
    inputs = {"x": np.arange(3.0)}
    assert replay.value_and_gradients_again(program, inputs, ["x"]) is None  # the first call: seen, not recorded
    assert replay.value_and_gradients_again(program, inputs, ["x"]) is not None
    assert len(cache.found) == 1 and isinstance(next(iter(cache.found.values())), replay.Replay)


def test_library_grad_in_a_loop_is_the_plain_grad(monkeypatch):
    compiled = adcli.compile("pred = x @ W.T + b; mean((pred - y)^2)")
    rng = np.random.default_rng(9)
    data = {"x": rng.normal(size=(5, 3)), "y": rng.normal(size=(5, 2)), "W": rng.normal(size=(2, 3)), "b": rng.normal(size=2)}
    for _ in range(3):
        value, grads = compiled.grad(wrt=["W", "b"], **data)
        with monkeypatch.context() as patch:
            patch.setattr(replay, "value_and_gradients_again", lambda *a: None)
            expected_value, expected = compiled.grad(wrt=["W", "b"], **data)
        assert value == expected_value and all(identical(grads[name], expected[name]) for name in grads)
        data["W"] = data["W"] - 0.1 * grads["W"]


def test_a_wanted_name_the_program_does_not_use_keys_the_hessian_by_its_shape(monkeypatch):
    """The gradient program reads it (its gradient is zeros of its shape): a scalar, then an array, then a scalar."""
    from adcli.engine import derivatives

    program = adcli.compile("sin(x1) * x2").program
    for q in (np.float64(1.0), np.ones(2), np.float64(2.0), np.ones((2, 2))):
        inputs = {"x1": np.float64(0.3), "x2": np.float64(1.7), "q": q}
        for wrt in (["x1", "q", "x2"], ["q"]):
            assert same_hessian(derivatives.hessian(program, inputs, wrt), plain_hessian(monkeypatch, program, inputs, wrt))
            assert same_jacobian(derivatives.jacobian(program, inputs, wrt), plain_jacobian(monkeypatch, program, inputs, wrt))


def test_large_inputs_and_large_constants_make_no_replay(monkeypatch):
    from adcli.engine import derivatives

    monkeypatch.setattr(replay, "REPLAY_MAX_ELEMENTS", 16)
    program = adcli.compile("sum(x^2)").program
    assert replay.value_and_gradients_replay(program, {"x": np.ones(16)}, ["x"]) is not None
    assert replay.value_and_gradients_replay(program, {"x": np.ones(17)}, ["x"]) is None
    hessian = adcli.compile(" + ".join(f"x{i} * x{i + 1}" for i in range(1, 20))).program  # seeds of 20 rows
    inputs = {f"x{i}": np.float64(i) for i in range(1, 21)}
    assert replay.hessian_plan(hessian, inputs, list(inputs))[1] is None
    assert same_hessian(derivatives.hessian(hessian, inputs, list(inputs)),
                        plain_hessian(monkeypatch, hessian, inputs, list(inputs)))
