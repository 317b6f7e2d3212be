"""The chunked many-points sweep: a plan's results are bit for bit the plain sweep's on the whole arrays."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adcli
from adcli.backends import chunked
from adcli.engine.tape import forward, numeric_gradients

UNARY = ("sin", "cos", "tan", "atan", "sinh", "cosh", "tanh", "asinh", "exp", "expm1", "log", "log2", "log10",
         "log1p", "sqrt", "cbrt", "abs", "sign", "floor", "ceil", "sigmoid", "relu", "softplus", "erf", "asin")
BINARY_FUNCTIONS = ("max", "min", "atan2", "hypot")
FORMULAS = (
    "(sqrt(x)+1)^3", "sin(x)*exp(-x^2/10) + log(1+x^2)", "(x + 2y)^2 tanh(x y)", "exp(x) * log(y)",
    "x^2.5 + y^-1.5", "x^y", "max(x, y) * relu(x - y)", "min(x, 2) + max(y, -1)", "atan2(y, x)", "sigmoid(x y)",
    "softplus(x) + erf(y)", "abs(x) sign(y) floor(x y)", "x", "x + y", "x^1", "x^0 + y^1 + x^3", "0*x", "-x*-y",
    "x - x", "x/y - y/x", "hypot(x, y) cbrt(x)", "a x + y", "a^y + x^a",
)
EDGES = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-310, 20.0, 21.0, 0.5, -0.5])


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 64 elements, so that a few hundred points make many chunks and a shorter last one."""
    monkeypatch.setattr(chunked, "POINT_CHUNK", 64)


def exactly_equal(a, b) -> bool:
    """Same dtype, shape and bits, except that nans need only be nans in the same places.

    (A nan's sign and payload may differ between a chunk and the whole array: NumPy's SIMD
    loops treat an array's last elements apart.)
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    nan = np.isnan(a) if a.dtype.kind == "f" else np.zeros(a.shape, dtype=bool)
    return bool(np.array_equal(nan, np.isnan(b) if b.dtype.kind == "f" else nan)) and \
        bool(np.array_equal(a[~nan].view(np.uint8), b[~nan].view(np.uint8)))


def sample_inputs(program, size: int, seed: int, scalars=None) -> dict:
    rng = np.random.default_rng(seed)
    inputs = {}
    for name in program.variables:
        if scalars and name in scalars:
            inputs[name] = scalars[name]
        else:
            values = rng.normal(size=size) * 3
            values[:len(EDGES)] = rng.permutation(EDGES)[:size]
            inputs[name] = values
    return inputs


def check_against_plain_sweep(text: str, size: int = 1001, seed: int = 0, scalars=None) -> None:
    program = adcli.compile(text).program
    inputs = sample_inputs(program, size, seed, scalars)
    wrt = [name for name in program.variables if not (scalars and name in scalars)]
    got = chunked.chunked_value_and_gradients(program, inputs, wrt)
    assert got is not None, text
    with np.errstate(all="ignore"):
        values = forward(program, inputs)
        expected = values[program.output], numeric_gradients(program, values, wrt)
    assert exactly_equal(got[0], expected[0]), text
    assert list(got[1]) == list(expected[1])
    for name in wrt:
        assert exactly_equal(got[1][name], expected[1][name]), (text, name)


@pytest.mark.parametrize("text", FORMULAS)
def test_plan_matches_the_plain_sweep_bit_for_bit(small_chunks, text):
    check_against_plain_sweep(text, scalars={"a": 0.7})


def formulas() -> st.SearchStrategy[str]:
    leaves = st.sampled_from(["x", "y", "z", "0.5", "2", "3", "0", "1.5"])

    def grow(inner):
        return st.one_of(
            st.builds(lambda f, a: f"{f}({a})", st.sampled_from(UNARY), inner),
            st.builds(lambda a, op, b: f"({a}) {op} ({b})", inner, st.sampled_from("+-*/^"), inner),
            st.builds(lambda f, a, b: f"{f}({a}, {b})", st.sampled_from(BINARY_FUNCTIONS), inner, inner),
            st.builds(lambda a: f"-({a})", inner),
        )

    return st.recursive(leaves, grow, max_leaves=8).filter(lambda text: re.search(r"\bx\b", text) is not None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=formulas(), seed=st.integers(0, 2**16))
def test_random_elementwise_programs_match_the_plain_sweep(small_chunks, text, seed):
    check_against_plain_sweep(text, size=300, seed=seed)


@pytest.mark.parametrize("size, lends_rows", [(260, False), (1001, True), (3001, True)])
def test_buffers_in_the_outputs_last_rows(small_chunks, monkeypatch, size, lends_rows):
    """Workers keep their buffers in output rows they sweep last (in pieces); short inputs get buffers of their own."""
    monkeypatch.setattr(chunked, "SCRATCH_PIECE", 24)
    text = "(x + 2y)^2 tanh(x y) + max(x, y)"
    program = adcli.compile(text).program
    plan = chunked.plan_for(program, sample_inputs(program, 10, 0), ["x", "y"])
    outputs = [np.empty(size) for _ in plan.results]
    assert (chunked._Sweep(plan, [np.empty(size)] * 2, outputs, 64, 2).scratch_rows > 0) == lends_rows
    check_against_plain_sweep(text, size=size, seed=size)


def test_scalar_inputs_are_part_of_the_plan_key(small_chunks):
    """A plan records what scalars give (x^1 skips the pow; -0.0 is not 0.0): another value needs another plan."""
    for a in (1.0, 2.0, 1.0, -0.0, 0.0, np.float64(1.0), np.array(1.0)):
        check_against_plain_sweep("x^a + a*y", scalars={"a": a})


def test_programs_that_differ_only_in_the_sign_of_a_zero_slope_have_their_own_plans(small_chunks):
    """leaky_relu's slope is a parameter, not a constant: -0.0 and 0.0 are equal floats, but give other zeros."""
    for text in ("1 / leaky_relu(x, -0)", "1 / leaky_relu(x, 0)", "1 / leaky_relu(x, -0)"):
        check_against_plain_sweep(text)


def test_threads_share_the_plan_cache(monkeypatch):
    """Many keys from several threads: the oldest plans go out without two threads dropping the same one."""
    import sys
    import threading

    monkeypatch.setattr(chunked, "make_plan", lambda program, inputs, wrt: False)
    program = adcli.compile("x * 2").program
    errors = []

    def keys(worker):
        try:
            for i in range(3000):
                chunked.plan_for(program, {"x": np.float64(worker * 10_000 + i)}, ["x"])  # a scalar's bits key a plan
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # a thread switch between most bytecodes: where a race would show
    try:
        threads = [threading.Thread(target=keys, args=(worker,)) for worker in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors
    assert len(chunked._PLANS.found) == chunked.PLAN_CACHE_SIZE


def test_a_cached_plan_does_not_see_a_scalar_changed_in_place(small_chunks):
    program = adcli.compile("x * a").program
    a = np.array(2.0)
    x = np.linspace(0, 1, 500)
    chunked.chunked_value_and_gradients(program, {"x": x, "a": a}, ["x"])
    a[()] = 3.0
    value, grads = chunked.chunked_value_and_gradients(program, {"x": x, "a": a}, ["x"])
    np.testing.assert_array_equal(value, x * 3.0)
    np.testing.assert_array_equal(grads["x"], np.full(500, 3.0))


def places_hold_what_is_read(plan) -> bool:
    """Replay where the plan keeps values: every operand read is still the value last written to its place."""
    def place(number):
        if number in plan.in_outputs:
            return ("output", plan.in_outputs[number])
        return ("buffer", plan.buffers[number]) if number in plan.buffers else ("own", number)

    holds = {place(step.result): step.result for step in plan.steps if step.fill}
    for step in plan.steps:
        if any(holds.get(place(operand), operand) != operand for operand in step.operands):
            return False
        if not step.fill:
            holds[place(step.result)] = step.result
    return all(holds.get(place(number), number) == number for number in plan.results)


@pytest.mark.parametrize("text", FORMULAS)
def test_shared_places_never_overwrite_a_live_value(text):
    program = adcli.compile(text).program
    inputs = sample_inputs(program, 10, 0, {"a": 0.7})
    wrt = [name for name in program.variables if name != "a"]
    plan = chunked.plan_for(program, inputs, wrt)
    assert places_hold_what_is_read(plan), text


def test_values_live_in_the_outputs_and_few_buffers():
    """(x + 2y)^2 tanh(x y): 16 steps, 2 buffers beside the 3 outputs, each output written by its own last step."""
    program = adcli.compile("(x + 2y)^2 tanh(x y)").program
    plan = chunked.plan_for(program, {"x": np.zeros(10), "y": np.zeros(10)}, ["x", "y"])
    assert len(plan.buffer_dtypes) <= 2 < len(plan.steps) / 4
    assert all(plan.in_outputs[number] == index for index, number in enumerate(plan.results))
    assert len(plan.in_outputs) > len(plan.results)  # scratch values in outputs not yet written


def test_a_corrupted_assignment_is_caught():
    """The replay above can fail: put every buffered value in output 0."""
    program = adcli.compile("(x + 2y)^2 tanh(x y)").program
    inputs = {"x": np.zeros(10), "y": np.zeros(10)}
    plan = chunked.make_plan(program, inputs, ["x", "y"])
    assert places_hold_what_is_read(plan)
    plan.in_outputs.update(dict.fromkeys(plan.buffers, 0))
    assert not places_hold_what_is_read(plan)


@pytest.mark.parametrize("text, inputs", [
    ("sum(x) * x", {"x": np.ones(1000)}),  # a reduction
    ("x * [1, 2]", {"x": np.ones((1000, 2))}),  # an array constant
    ("x * y", {"x": np.ones(1000), "y": np.ones(999)}),  # two shapes
    ("x * y", {"x": np.ones(1000), "y": 2.0}),  # the gradient of a scalar sums over all points
    ("x * 2", {"x": np.ones(10)}),  # too few chunks to be worth threads
])
def test_what_a_plan_does_not_cover_falls_back(small_chunks, text, inputs):
    program = adcli.compile(text).program
    assert chunked.chunked_value_and_gradients(program, inputs, list(inputs)) is None


def test_the_library_goes_through_the_plan_with_the_plain_sweeps_results(small_chunks):
    x = np.linspace(-3, 3, 1001).reshape(143, 7)
    y = np.cos(x)
    compiled = adcli.compile("(x + 2y)^2 tanh(x y)")
    value, grads = compiled.grad(x=x, y=y, z=np.ones(3))
    with np.errstate(all="ignore"):
        values = forward(compiled.program, {"x": x, "y": y})
        expected = numeric_gradients(compiled.program, values, ["x", "y"])
    assert exactly_equal(value, values[compiled.program.output])
    assert exactly_equal(grads["x"], expected["x"]) and exactly_equal(grads["y"], expected["y"])
    np.testing.assert_array_equal(grads["z"], np.zeros(3))


def test_integer_arrays(small_chunks):
    program = adcli.compile("x^2 + sqrt(x)").program
    x = np.arange(700)
    value, grads = chunked.chunked_value_and_gradients(program, {"x": x}, ["x"])
    with np.errstate(all="ignore"):
        values = forward(program, {"x": x})
        expected = numeric_gradients(program, values, ["x"])
    assert exactly_equal(value, values[program.output]) and exactly_equal(grads["x"], expected["x"])


def recorded_calls(plan) -> list:
    """Each non-fill step as (function, operands), a scalar operand by its type and bits."""
    def operand(number):
        if number in plan.constants:
            value = np.asarray(plan.constants[number])
            return type(plan.constants[number]), value.dtype.str, value.tobytes()
        return number

    return [(step.function, tuple(map(operand, step.operands))) for step in plan.steps if not step.fill]


@pytest.mark.parametrize("text", FORMULAS)
def test_no_call_is_recorded_twice(text):
    """sin(x)*exp(-x^2/10) + log(1+x^2) multiplied sin(x) by exp(-x^2/10) in its value and again in its gradient."""
    program = adcli.compile(text).program
    inputs = sample_inputs(program, 10, 0, {"a": 0.7})
    plan = chunked.plan_for(program, inputs, [name for name in program.variables if name != "a"])
    calls = [call for call in recorded_calls(plan) if isinstance(call[0], np.ufunc)]
    assert len(calls) == len(set(calls)), text


def test_the_same_call_on_zero_and_minus_zero_is_two_calls():
    program = adcli.compile("x * 0 + x * -0").program
    plan = chunked.plan_for(program, {"x": np.zeros(10)}, ["x"])
    assert sum(call[0] is np.multiply for call in recorded_calls(plan)) == 2


def test_squares_and_cubes_are_products_in_the_plan(small_chunks):
    """x^2 and x^3 are x*x and x*x*x (PyTorch's pow), each a step of its own; x^2.5 still calls pow."""
    program = adcli.compile("(sqrt(x)+1)^3 + y^2.5").program
    plan = chunked.plan_for(program, {"x": np.ones(10), "y": np.ones(10)}, ["x", "y"])
    functions = [step.function for step in plan.steps]
    assert functions.count(np.power) == 2  # y^2.5 and its derivative's y^1.5
    assert functions.count(np.multiply) >= 3  # (u*u)*u, shared with the derivative's u*u
    check_against_plain_sweep("(sqrt(x)+1)^3 + y^2.5 + (x y)^2", size=700)


@pytest.mark.parametrize("setting, threads", [("1", 1), ("3", 3), (" 2 ", 2), ("1000", chunked.MOST_THREADS)])
def test_adcli_threads_sets_the_threads(monkeypatch, setting, threads):
    monkeypatch.setenv("ADCLI_THREADS", setting)
    assert chunked.point_threads() == threads


def test_without_adcli_threads_two_threads_or_the_usable_cpus(monkeypatch):
    monkeypatch.delenv("ADCLI_THREADS", raising=False)
    monkeypatch.setattr(chunked.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert chunked.point_threads() == 1
    monkeypatch.setattr(chunked.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert chunked.point_threads() == chunked.POINT_WORKERS == 2
    monkeypatch.setenv("ADCLI_THREADS", "")
    assert chunked.point_threads() == 2


@pytest.mark.parametrize("threads", ["1", "3"])
def test_any_number_of_threads_gives_the_plain_sweeps_bits(small_chunks, monkeypatch, threads):
    monkeypatch.setenv("ADCLI_THREADS", threads)
    swept_by: set[int] = set()
    work = chunked._Sweep.work
    monkeypatch.setattr(chunked._Sweep, "work", lambda sweep, worker: (swept_by.add(worker), work(sweep, worker)))
    for text in FORMULAS[:3]:
        check_against_plain_sweep(text, size=3001)
    assert swept_by == set(range(int(threads)))


@pytest.mark.parametrize("setting", ["two", "0", "-1", "1.5"])
def test_a_bad_adcli_threads_is_an_error(cli, monkeypatch, setting):
    monkeypatch.setenv("ADCLI_THREADS", setting)
    with pytest.raises(adcli.AdcliError, match="ADCLI_THREADS must be a whole number of threads, 1 or more"):
        adcli.compile("x^2").grad(x=np.linspace(0, 1, 1000))
    run = cli("grad", "x^2", "--at", "x=linspace(0,1,1000)")
    assert run.exit_code == 1 and run.stdout == ""
    assert run.stderr == f"adcli: error: ADCLI_THREADS must be a whole number of threads, 1 or more; it is '{setting}'\n"


def test_arithmetic_reads_a_fill_as_its_number():
    """log(1+x^2)'s gradient starts as ones / (1+x^2): a division by the number 1, no buffer of ones."""
    program = adcli.compile("sin(x)*exp(-x^2/10) + log(1+x^2)").program
    plan = chunked.plan_for(program, {"x": np.zeros(10)}, ["x"])
    assert not any(step.fill for step in plan.steps)
    assert any(step.function is np.divide and np.ndim(plan.constants.get(step.operands[0])) == 0 and
               plan.constants[step.operands[0]] == 1.0 for step in plan.steps if step.operands[0] in plan.constants)
    assert len(plan.buffer_dtypes) == 2


@pytest.mark.parametrize("text", ["(x + 2y)^2 tanh(x y)", "sin(x)*exp(-x^2/10) + log(1+x^2)", "x/y - y/x"])
def test_lent_rows_are_swept_in_a_few_parts(small_chunks, monkeypatch, text):
    """Each worker's lent rows go in parts whose buffers sit in the rows before them, halving down to one small piece."""
    monkeypatch.setattr(chunked, "SCRATCH_PIECE", 8)
    monkeypatch.setenv("ADCLI_THREADS", "2")
    lengths: list[int] = []
    bind = chunked.Plan.bind

    def counting_bind(plan, shape, buffers=None):
        sweep = bind(plan, shape, buffers)
        return lambda chunks, outputs: (lengths.append(len(outputs[0])), sweep(chunks, outputs))

    monkeypatch.setattr(chunked.Plan, "bind", counting_bind)
    check_against_plain_sweep(text, size=3001, seed=7)
    assert sum(lengths) == 3001
    # 64 lent rows per worker: 32, 16, 8 and a last piece of 8 (in pieces of 8 alone: 8 parts), and the head's last chunk
    assert 0 < sum(length < 64 for length in lengths) <= 2 * 4 + 1
