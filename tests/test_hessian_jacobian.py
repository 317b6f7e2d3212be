"""`hessian` and `jacobian`: against central differences of the gradient / the value, symmetry, layout."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import adcli
from adcli.engine import derivatives
from adcli.engine.primitives import PRIMITIVES
from adcli.engine.program import ProgramBuilder
from adcli.engine.tape import forward
from adcli.engine.tracer import Tracer

STEP = 1e-5


def flat(inputs, wrt):
    return np.concatenate([np.ravel(inputs[name]) for name in wrt])


def unflatten(point, inputs, wrt):
    moved, start = dict(inputs), 0
    for name in wrt:
        shape = np.shape(inputs[name])
        size = int(np.prod(shape, dtype=int))
        moved[name] = point[start:start + size].reshape(shape) if shape else point[start]
        start += size
    return moved


def differences(function, inputs, wrt):
    """Columns d function / d entry, by central differences over the flattened wrt entries."""
    base = flat(inputs, wrt)
    columns = []
    for index in range(base.size):
        up, down = base.copy(), base.copy()
        up[index] += STEP
        down[index] -= STEP
        columns.append((function(unflatten(up, inputs, wrt)) - function(unflatten(down, inputs, wrt))) / (2 * STEP))
    return np.array(columns)


def hessian_by_differences(program, inputs, wrt):
    def gradient(point):
        _, grads = derivatives.value_and_gradients(program, point, wrt)
        return flat(grads, wrt)

    return differences(gradient, inputs, wrt).T


# -- random smooth programs ---------------------------------------------------------------------

SMOOTH = ["sin", "cos", "tanh", "atan", "sigmoid", "softplus", "erf", "exp"]


@st.composite
def smooth_programs(draw) -> str:
    """Random smooth scalar programs of x, y, z (defined everywhere), built bottom-up as text."""
    terms = ["x", "y", "z", "x y", "0.5 z"]
    for _ in range(draw(st.integers(2, 9))):
        a, b = draw(st.sampled_from(terms)), draw(st.sampled_from(terms))
        kind = draw(st.integers(0, 3))
        if kind == 0:
            terms.append(f"{draw(st.sampled_from(SMOOTH))}({a})")
        elif kind == 1:
            terms.append(f"({a}) {draw(st.sampled_from(['+', '-', '*']))} ({b})")
        elif kind == 2:
            terms.append(f"({a}) / (1 + ({b})^2)")
        else:
            terms.append(f"({a})^2")
    return " + ".join(terms[-3:])


points = st.floats(-1.5, 1.5)


@settings(max_examples=40, deadline=None)
@given(smooth_programs(), points, points, points)
def test_random_hessians_match_differences_and_are_symmetric(text, x, y, z):
    program = adcli.compile(text).program
    inputs = {"x": np.float64(x), "y": np.float64(y), "z": np.float64(z)}
    wrt = ["x", "y", "z"]
    value, grads, matrix = derivatives.hessian(program, inputs, wrt)
    assert value == pytest.approx(float(forward(program, inputs)[program.output]))
    np.testing.assert_allclose(matrix, matrix.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(matrix, hessian_by_differences(program, inputs, wrt), rtol=1e-5, atol=1e-6)


ARRAY_CASES = [
    ("sum(x^2)^2 * y", {"x": np.array([1.0, 2.0, -3.0]), "y": 0.5}, ["x", "y"]),
    ("prod(x) + norm(x)^3 + sum(W @ x)^2", {"x": np.array([0.5, 1.5]), "W": np.array([[1.0, 2.0], [3.0, 4.0]])},
     ["W", "x"]),
    ("log(sum(exp(x)))", {"x": np.array([[0.1, -0.2], [0.3, 0.4]])}, ["x"]),
    ("mean(sin(x) * y) + max(x)^2", {"x": np.array([0.5, 1.5, 1.0]), "y": np.array([[1.0], [2.0]])}, ["y", "x"]),
    ("sum(x.T @ x) / (1 + sum(x)^2)", {"x": np.array([[1.0, 2.0], [3.0, 4.0]])}, ["x"]),
    ("sum([x, 2x, x y] * z)", {"x": 0.3, "y": -1.2, "z": np.array([1.0, 2.0, 3.0])}, ["x", "y", "z"]),
]


@pytest.mark.parametrize("text, inputs, wrt", ARRAY_CASES, ids=[text for text, _, _ in ARRAY_CASES])
def test_array_variables_flatten_in_c_order_and_concatenate_in_wrt_order(text, inputs, wrt):
    program = adcli.compile(text).program
    _, grads, matrix = derivatives.hessian(program, inputs, wrt)
    total = sum(np.size(inputs[name]) for name in wrt)
    assert matrix.shape == (total, total)
    assert all(np.shape(grads[name]) == np.shape(inputs[name]) for name in wrt)
    np.testing.assert_allclose(matrix, matrix.T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(matrix, hessian_by_differences(program, inputs, wrt), rtol=1e-5, atol=1e-6)


def test_reductions_of_scalars_run_once_per_row_inside_the_batched_sweep():
    program = adcli.compile("sum(x^3) * prod(y^2) + mean(x y)").program
    inputs = {"x": np.float64(0.7), "y": np.float64(-1.3)}
    _, _, matrix = derivatives.hessian(program, inputs, ["x", "y"])
    np.testing.assert_allclose(matrix, hessian_by_differences(program, inputs, ["x", "y"]), rtol=1e-6)


def test_hessian_of_a_quadratic_form_is_exact():
    matrix = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, -1.0], [0.0, -1.0, 4.0]])
    _, grads, hessian = derivatives.hessian(adcli.compile("x @ (A @ x) / 2").program,
                                            {"x": np.array([1.0, -2.0, 0.5]), "A": matrix}, ["x"])
    np.testing.assert_array_equal(hessian, matrix)
    np.testing.assert_array_equal(grads["x"], matrix @ np.array([1.0, -2.0, 0.5]))


def test_unused_variable_has_zero_rows_and_columns():
    _, grads, hessian = derivatives.hessian(adcli.compile("x^3").program, {"x": 2.0, "y": np.zeros(2)}, ["y", "x"])
    np.testing.assert_array_equal(hessian, [[0, 0, 0], [0, 0, 0], [0, 0, 12.0]])
    assert grads["y"].tolist() == [0.0, 0.0]


def test_equal_gradients_sharing_a_slot_still_get_their_own_rows():
    _, _, hessian = derivatives.hessian(adcli.compile("(x + y)^2").program, {"x": 1.0, "y": 2.0}, ["x", "y"])
    np.testing.assert_array_equal(hessian, [[2.0, 2.0], [2.0, 2.0]])


# -- jacobian ---------------------------------------------------------------------------------

JACOBIAN_CASES = [
    ("[x*y, x+y, sin(x)]", {"x": 1.0, "y": 2.0}, ["x", "y"]),  # 2 inputs, 3 outputs: forward mode
    ("W @ x + b", {"x": np.array([1.0, 2.0, 3.0]), "W": np.arange(6.0).reshape(2, 3), "b": np.array([1.0, -1.0])},
     ["x", "W", "b"]),  # 11 inputs, 2 outputs: reverse mode
    ("sin(x) * y", {"x": np.linspace(0, 1, 4), "y": np.array([[1.0], [2.0]])}, ["x", "y"]),  # 6 inputs, 8 outputs
    ("x.T * 2 + sum(x)", {"x": np.arange(6.0).reshape(2, 3)}, ["x"]),
    ("exp(x) / sum(exp(x))", {"x": np.array([0.5, -1.0, 2.0])}, ["x"]),
    ("x^2 y", {"x": 3.0, "y": 2.0}, ["y"]),  # a scalar value: the Jacobian is the gradient
    ("[[x, 2x], [x^2, x^3]] @ v", {"x": 1.5, "v": np.array([1.0, -1.0])}, ["x", "v"]),
]


@pytest.mark.parametrize("text, inputs, wrt", JACOBIAN_CASES, ids=[text for text, _, _ in JACOBIAN_CASES])
def test_jacobians_match_differences(text, inputs, wrt):
    program = adcli.compile(text).program
    value, matrices = derivatives.jacobian(program, inputs, wrt)
    for name in wrt:
        assert matrices[name].shape == np.shape(value) + np.shape(inputs[name])

        def entry_values(point):
            return np.ravel(forward(program, point)[program.output])

        columns = differences(entry_values, inputs, [name])  # (entries of name, entries of value)
        expected = columns.T.reshape(np.shape(value) + np.shape(inputs[name]))
        np.testing.assert_allclose(matrices[name], expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("text, inputs, wrt", JACOBIAN_CASES, ids=[text for text, _, _ in JACOBIAN_CASES])
def test_forward_and_reverse_mode_agree(text, inputs, wrt):
    program = adcli.compile(text).program
    values = forward(program, inputs)
    value_shape = np.shape(values[program.output])
    sizes = [int(np.size(inputs[name])) for name in wrt]
    by_tangents = derivatives._jacobian_forward(program, inputs, wrt, sizes, value_shape)
    by_cotangents = derivatives._jacobian_reverse(program, values, inputs, wrt, value_shape)
    for name in wrt:
        np.testing.assert_allclose(by_tangents[name], by_cotangents[name], rtol=1e-12, atol=1e-14)


def test_batched_forward_runs_non_elementwise_primitives_once_per_direction():
    program = adcli.compile("sum(A @ x, axis=0) + x.T").program
    inputs = {"A": np.array([[1.0, 2.0], [3.0, 4.0]]), "x": np.array([[0.5, 1.0], [2.0, 3.0]])}
    batch = {"x": np.stack([inputs["x"], 2 * inputs["x"], -inputs["x"]])}
    rows = derivatives.forward_batched(program, inputs, batch)[0]
    for row, x in zip(rows, batch["x"]):
        np.testing.assert_allclose(row, forward(program, {**inputs, "x": x})[program.output])


# -- the command line -------------------------------------------------------------------------

def test_hessian_json_shape(cli):
    run = cli("hessian", "x^2 y + sin(x y)", "--at", "x=1,y=2", "--format", "json")
    assert run.exit_code == 0, run.stderr
    record = run.json()
    assert list(record) == ["expr", "value", "grad", "wrt", "hessian"]
    assert record["wrt"] == ["x", "y"]
    x, y = 1.0, 2.0
    expected = [[2 * y - y * y * math.sin(x * y), 2 * x + math.cos(x * y) - x * y * math.sin(x * y)],
                [2 * x + math.cos(x * y) - x * y * math.sin(x * y), -x * x * math.sin(x * y)]]
    np.testing.assert_allclose(record["hessian"], expected, rtol=1e-12)
    assert record["grad"] == pytest.approx({"x": 2 * x * y + y * math.cos(x * y), "y": x * x + x * math.cos(x * y)})


def test_hessian_text_labels_rows_and_columns(cli):
    run = cli("hessian", "sum(x^3) * y", "--at", "x=[1, 2]", "--at", "y=3")
    assert run.exit_code == 0, run.stderr
    assert run.stdout.splitlines() == [
        "value    27.0",
        "d/dx     [ 9.0, 36.0]",
        "d/dy     9.0",
        "hessian        x[0]  x[1]  y",
        "         x[0]  18.0   0.0   3.0",
        "         x[1]   0.0  36.0  12.0",
        "         y      3.0  12.0   0.0",
    ]


def test_hessian_csv_and_plain(cli):
    csv = cli("hessian", "x^2 y", "--at", "x=3,y=2", "--format", "csv")
    assert csv.stdout.splitlines() == ["variable,grad,x,y", "x,12.0,4.0,6.0", "y,9.0,6.0,0.0"]
    plain = cli("hessian", "x^2 y", "--at", "x=3,y=2", "--format", "plain", "--wrt", "y,x")
    assert plain.stdout.split() == ["18.0", "9.0", "12.0", "0.0", "6.0", "6.0", "4.0"]


def test_jacobian_json_shape_and_wrt(cli):
    run = cli("jacobian", "W @ x", "--at", "W=[[1, 2], [3, 4]],x=[5, 6]", "--wrt", "x", "--format", "json")
    assert run.exit_code == 0, run.stderr
    assert run.json() == {"expr": "W @ x", "value": [17.0, 39.0], "jacobian": {"x": [[1.0, 2.0], [3.0, 4.0]]}}


def test_jacobian_csv_has_a_row_per_value_entry(cli):
    run = cli("jacobian", "W @ x", "--at", "W=[[1, 2], [3, 4]],x=[5, 6]", "--format", "csv")
    assert run.exit_code == 0, run.stderr
    assert run.stdout.splitlines() == [
        'value,"d/dW[0,0]","d/dW[0,1]","d/dW[1,0]","d/dW[1,1]",d/dx[0],d/dx[1]',
        "17.0,5.0,6.0,0.0,0.0,1.0,2.0",
        "39.0,0.0,0.0,5.0,6.0,3.0,4.0",
    ]


def test_jacobian_text_and_plain(cli):
    text = cli("jacobian", "[x*y, x+y]", "--at", "x=1,y=2")
    assert text.stdout.splitlines() == ["value          [2.0, 3.0]", "jacobian d/dx  [2.0, 1.0]",
                                        "jacobian d/dy  [1.0, 1.0]"]
    plain = cli("jacobian", "[x*y, x+y]", "--at", "x=1,y=2", "--format", "plain")
    assert plain.stdout.split() == ["2.0", "3.0", "2.0", "1.0", "1.0", "1.0"]


def test_hessian_of_unbound_variable_is_an_error(cli):
    run = cli("hessian", "x y", "--at", "x=1")
    assert run.exit_code == 1
    assert run.stderr.startswith("adcli: error: ") and "'y'" in run.stderr


def test_many_programs_one_record_each(cli):
    run = cli("hessian", "-", "--at", "x=1,y=2", "--format", "json", input="x^2 y\nx y^3\n")
    assert run.exit_code == 0, run.stderr
    first, second = (json.loads(line) for line in run.stdout.splitlines())
    assert first["line"] == 1 and first["hessian"] == [[4.0, 2.0], [2.0, 0.0]]
    assert second["line"] == 2 and second["hessian"] == [[0.0, 12.0], [12.0, 12.0]]
    jacobians = cli("jacobian", "-", "--at", "x=1,y=2", "--format", "json", input="[x, y^3]\n")
    assert json.loads(jacobians.stdout)["jacobian"] == {"x": [1.0, 0.0], "y": [0.0, 12.0]}


# -- prod beside zeros: exact products at every order, as PyTorch's cumprod-based rule ------------

def prod_hessian(x: np.ndarray) -> np.ndarray:
    """d2 prod / dx_i dx_j: the product of all elements but i and j (0 on the diagonal)."""
    flat = x.reshape(-1)
    size = flat.size
    return np.array([[0.0 if i == j else np.prod(np.delete(flat, [i, j])) for j in range(size)] for i in range(size)])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([0.0, 0.0, 1.0, -2.0, 0.5, 3.0]), min_size=1, max_size=6))
def test_prod_hessian_is_exact_beside_zeros(values):
    x = np.array(values)
    _, _, matrix = derivatives.hessian(adcli.compile("prod(x)").program, {"x": x}, ["x"])
    np.testing.assert_allclose(matrix, prod_hessian(x), rtol=1e-14, atol=0)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_prod_hessian_along_an_axis_with_zeros_in_some_slices(axis):
    x = np.array([[0.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
    weights = np.array([1.5, -2.0, 0.5])[: np.prod(x, axis=axis).size]
    program = adcli.compile(f"sum(prod(x, axis={axis}) * w)").program
    _, _, matrix = derivatives.hessian(program, {"x": x, "w": weights}, ["x"])
    expected = np.zeros((x.size, x.size))
    moved = np.moveaxis(x, axis, 0)
    index = np.moveaxis(np.arange(x.size).reshape(x.shape), axis, 0)
    for slice_number in range(moved.shape[1]):
        entries = index[:, slice_number]
        expected[np.ix_(entries, entries)] = weights[slice_number] * prod_hessian(moved[:, slice_number])
    np.testing.assert_allclose(matrix, expected, rtol=1e-14, atol=0)


@pytest.mark.parametrize("text, x, derivatives_1_to_4", [
    ("prod([x, x, x, 3])", 0.0, [0.0, 0.0, 18.0, 0.0]),  # 3x^3
    ("prod([x, x - 1, 2x, x^2])", 0.0, [0.0, 0.0, 0.0, -48.0]),  # 2x^5 - 2x^4
    ("prod([x, x - 1, 2x, x^2])", 1.0, [2.0, 16.0, 72.0, 192.0]),
    ("prod([x, 0 * x + 2, x - 2, x])", 2.0, [8.0, 16.0, 12.0, 0.0]),  # 2x^2 (x - 2) = 2x^3 - 4x^2, a zero at 2
])
def test_higher_derivatives_of_prod_at_zeros_of_its_operand(text, x, derivatives_1_to_4):
    compiled = adcli.compile(text)
    assert [compiled.derivative("x", order, x=x)[1] for order in range(1, 5)] == derivatives_1_to_4


def test_prod_away_from_zeros_keeps_its_division_formula_even_beside_an_infinity():
    """As before the exact rule: an inf operand gives the division formula's inf and nan, not all nan."""
    _, second = adcli.compile("prod(x)").derivative("x", 2, x=np.array([2.0, np.inf, 3.0]))
    np.testing.assert_array_equal(second, [np.inf, np.nan, np.inf])


def test_a_hessian_of_a_program_holding_scans():
    """A batched reverse sweep through scan: the Hessian of the summed second derivative of prod.

    That sum is 2 e_2(x), twice the elementary symmetric polynomial, for 4 elements: its
    Hessian is 2 off the diagonal, zeros of x or not.
    """
    second = adcli.compile("prod(x)").derivative_program("x", 2, {"x": (4,)})
    builder = ProgramBuilder(second.text, {"x": (4,)})
    tracer = Tracer(builder)
    total = tracer("sum", derivatives._record_copy(second, tracer)[second.output])
    summed = builder.build((total.payload,), second.variables)
    assert "scan" in {instruction.op for instruction in summed.instructions}
    _, _, matrix = derivatives.hessian(summed, {"x": np.array([0.0, 2.0, 3.0, 0.5])}, ["x"])
    np.testing.assert_array_equal(matrix, 2.0 * (np.ones((4, 4)) - np.eye(4)))


@pytest.mark.parametrize("name", ["shift", "scan"])
@pytest.mark.parametrize("params", [{"axis": None}, {"axis": 0}, {"axis": 1}, {"axis": -1}])
def test_a_batch_of_slice_wise_rows_is_one_call_with_the_rows_answers(name, params):
    rng = np.random.default_rng(5)
    batch, plain = rng.normal(size=(4, 2, 3)), rng.normal(size=(2, 3))
    primitive = PRIMITIVES[name]
    options = {**params, **({"step": -1} if name == "shift" else {"reverse": True})}
    operands, flags = ([batch], [True]) if name == "shift" else ([batch, plain], [True, False])
    rows = [primitive.forward(*(o[i] if f else o for o, f in zip(operands, flags)), **options) for i in range(4)]
    together = derivatives.apply_batched(primitive, operands, flags, options)
    np.testing.assert_array_equal(together, np.stack(rows))


# -- rows never mix: each row of a batched sweep is the row swept alone ------------------------

from test_primitives import EDGE_CASES  # noqa: E402  (the primitive table's kinks and domain edges)


def same(a, b) -> bool:
    """Equal entry by entry, nan beside nan included."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


def hessian_row_by_row(program, inputs, wrt):
    """Row k: the gradient of the k-th gradient alone (a sweep whose seed is that gradient and nothing else),
    as PyTorch's hessian makes it (the Jacobian of the gradient, one vector-Jacobian product per row)."""
    rows = []
    for name in wrt:
        alone = derivatives.gradient_program(program, [name], derivatives.shapes_of(inputs))
        _, grads = derivatives.value_and_gradients(alone, inputs, wrt)
        rows.append([float(grads[other]) for other in wrt])
    return np.array(rows)


def edge_programs():
    """Each edge case alone, times a further variable w and plus one: every row then meets every other's path."""
    for case, (text, bindings, _, _) in sorted(EDGE_CASES.items()):
        for form in ("{}", "({}) * w", "({}) + w", "w * w + ({})"):
            yield pytest.param(form.format(text), {**bindings, "w": 1.5}, id=f"{case}: {form}")


@pytest.mark.parametrize("text, bindings", list(edge_programs()))
def test_every_hessian_row_is_the_row_swept_alone(text, bindings):
    program = adcli.compile(text).program
    inputs = {name: float(bindings[name]) for name in program.variables}
    wrt = list(program.variables)
    _, _, batched = derivatives.hessian(program, inputs, wrt)
    assert same(batched, hessian_row_by_row(program, inputs, wrt)), (text, batched)


@pytest.mark.parametrize("text, bindings", list(edge_programs()))
def test_every_jacobian_column_is_the_column_swept_alone(text, bindings):
    """Forward mode, one tangent per variable in one batch, against one tangent sweep per variable alone."""
    vector = f"[{text}, 2 * ({text}), w, w * ({text})]"
    program = adcli.compile(vector).program
    inputs = {name: float(bindings[name]) for name in program.variables}
    wrt = list(program.variables)
    _, matrices = derivatives.jacobian(program, inputs, wrt)  # 4 entries, at most 4 variables: forward mode
    for name in wrt:
        alone = derivatives.tangent_program(program, name, derivatives.shapes_of(inputs))
        column = forward(alone, inputs)[alone.output]
        assert same(matrices[name], np.broadcast_to(column, (4,))), (vector, name, matrices[name], column)


@pytest.mark.parametrize("text, at, expected", [
    ("pow(x, y)", {"x": 0.0, "y": 2.0}, [[2.0, 0.0], [math.nan, math.nan]]),  # d2/dx2 = 2, as --wrt x alone
    ("pow(0., y) + x", {"y": 2.0, "x": 1.0}, [[math.nan, 0.0], [0.0, 0.0]]),  # symmetric, as PyTorch's
    ("sqrt(x) * w", {"x": 0.0, "w": 1.5}, [[-math.inf, math.inf], [math.inf, 0.0]]),
])
def test_a_nan_of_one_row_stays_in_its_row(text, at, expected):
    _, _, matrix = adcli.compile(text).hessian(**at)
    assert same(matrix, expected), matrix


def test_the_issue_hessian_through_the_cli(cli):
    run = cli("hessian", "pow(x,y)", "--wrt", "x,y", "--at", "x=0,y=2", "--format", "json")
    assert run.exit_code == 0
    assert run.json()["hessian"][0][0] == 2.0
    alone = cli("hessian", "pow(x,y)", "--wrt", "x", "--at", "x=0,y=2", "--format", "json")
    assert alone.json()["hessian"] == [[2.0]]


@pytest.mark.parametrize("args, expected", [
    (("jacobian", "erf(y)", "--at", "y=[1,2]"), {"y": [[0.4151074974205947, 0.0], [0.0, 0.020666985354092053]]}),
    (("jacobian", "exp(x)", "--at", "x=[1,2,3],y=[1,2]", "--wrt", "y"), {"y": [[0.0, 0.0]] * 3}),
    (("jacobian", "atan2(y, x)", "--at", "y=1e-170,x=1e-170"), {"y": 0.0, "x": 0.0}),  # x^2 + y^2 underflows: masked
])
def test_jacobians_that_once_raised(cli, args, expected):
    run = cli(*args, "--format", "json")
    assert run.exit_code == 0, run.stderr
    assert run.json()["jacobian"] == expected


def test_a_hessian_whose_rule_puts_an_array_before_the_cotangent(cli):
    """erf's VJP is c * exp(-x^2) * g: NumPy must defer to the batch's handle, not make an array of handles."""
    run = cli("hessian", "erf(y)*y", "--at", "y=[1,2]", "--format", "json")
    assert run.exit_code == 0, run.stderr
    y = np.array([1.0, 2.0])
    second = 2 / math.sqrt(math.pi) * np.exp(-y * y) * (2 - 2 * y * y)
    assert np.allclose(run.json()["hessian"], np.diag(second), rtol=1e-12, atol=1e-15)
