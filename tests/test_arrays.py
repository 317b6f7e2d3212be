"""Arrays: broadcasting VJPs, reductions, @, transpose, dot, array literals, shape errors and array output.

Gradients are checked against central finite differences or closed forms computed here with NumPy.
"""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest

import adcli
from adcli.engine.derivatives import hessian
from adcli.engine.primitives import PRIMITIVES
from adcli.engine.program import ProgramBuilder
from adcli.engine.tape import forward, numeric_gradients

STEP = 1e-6

# Operand shapes that NumPy broadcasts together, in both directions and with size-1 axes.
BROADCAST_PAIRS = [
    ((3,), ()), ((), (3,)), ((2, 3), (3,)), ((3,), (2, 3)), ((2, 1), (1, 3)),
    ((2, 3), (2, 1)), ((4, 1, 3), (2, 3)), ((1,), (2, 2)),
]
BROADCASTING = sorted(name for name, p in PRIMITIVES.items() if p.broadcasts and p.elementwise)
PUBLIC_BROADCASTING = [name for name in BROADCASTING if PRIMITIVES[name].public]
SPELLED = {"add": "a + b", "sub": "a - b", "mul": "a * b", "div": "a / b", "pow": "a ^ b",
           "maximum": "max(a, b)", "minimum": "min(a, b)", "clip": "clip(a, -abs(b), abs(b))",
           "lt": "a < b", "le": "a <= b", "gt": "a > b", "ge": "a >= b", "eq": "a == b", "ne": "a != b"}
POSITIVE_ONLY = {"pow"}  # the base of pow must be positive for the derivative wrt the exponent


def central_difference(function, point: np.ndarray) -> np.ndarray:
    """d function / d point, elementwise by central differences (function returns a float)."""
    gradient = np.zeros_like(point)
    for index in np.ndindex(point.shape):
        up, down = point.copy(), point.copy()
        up[index] += STEP
        down[index] -= STEP
        gradient[index] = (function(up) - function(down)) / (2 * STEP)
    return gradient


def operand(rng: np.random.Generator, shape: tuple[int, ...], positive: bool) -> np.ndarray:
    """Magnitudes in [0.5, 2] (away from poles and kinks), random signs unless positive."""
    magnitude = rng.uniform(0.5, 2.0, shape)
    return magnitude if positive else magnitude * rng.choice([-1.0, 1.0], shape)


def hessian_by_differences(text: str, inputs: dict[str, np.ndarray], wrt: list[str]) -> np.ndarray:
    """Central differences of adcli's first-order gradient (checked separately) over the flattened wrt."""
    shapes = [np.shape(inputs[name]) for name in wrt]
    flat = np.concatenate([np.ravel(inputs[name]) for name in wrt])

    def gradient(point: np.ndarray) -> np.ndarray:
        parts = np.split(point, np.cumsum([int(np.prod(shape)) for shape in shapes])[:-1])
        moved = dict(inputs, **{name: part.reshape(shape) for name, part, shape in zip(wrt, parts, shapes)})
        _, grads = adcli.grad(text, wrt=wrt, **moved)
        return np.concatenate([np.ravel(grads[name]) for name in wrt])

    columns = []
    for index in range(flat.size):
        up, down = flat.copy(), flat.copy()
        up[index] += STEP
        down[index] -= STEP
        columns.append((gradient(up) - gradient(down)) / (2 * STEP))
    return np.array(columns).T


def one_primitive_program(name: str, names: list[str]):
    builder = ProgramBuilder(" ? ".join(names))
    operands = tuple(builder.var(variable) for variable in names)
    return builder.build((builder.emit(name, operands, (), (2, 3)),), tuple(names))


def test_every_broadcasting_primitive_is_covered():
    assert {"add", "sub", "mul", "div", "pow", "atan2", "hypot", "maximum", "minimum"} <= set(PUBLIC_BROADCASTING)
    assert {name for name, p in PRIMITIVES.items() if p.broadcasts} - set(BROADCASTING) <= {"matmul"}  # tested below


@pytest.mark.parametrize("name", BROADCASTING)
@pytest.mark.parametrize("shape_a, shape_b", BROADCAST_PAIRS)
def test_broadcasting_vjp_matches_central_differences(name, shape_a, shape_b):
    """Every operand with a VJP, each of the pair's shapes in turn, against a random cotangent."""
    rng = np.random.default_rng(zlib.crc32(repr((name, shape_a, shape_b)).encode()))
    primitive = PRIMITIVES[name]
    names = list("abcdefgh"[:primitive.arity])
    shapes = [(shape_a, shape_b)[index % 2] for index in range(len(names))]
    inputs = {variable: operand(rng, shape, positive=name in POSITIVE_ONLY and index == 0)
              for index, (variable, shape) in enumerate(zip(names, shapes))}
    smooth = [variable for variable, vjp in zip(names, primitive.vjps) if vjp is not None]
    program = one_primitive_program(name, names)
    seed = rng.standard_normal(np.broadcast_shapes(*shapes))
    values = forward(program, inputs)
    assert np.shape(values[program.output]) == seed.shape
    grads = numeric_gradients(program, values, smooth, seed=seed)
    for variable in smooth:
        def loss(point, variable=variable):
            return np.sum(seed * primitive.forward(*[point if v == variable else inputs[v] for v in names]))

        assert np.shape(grads[variable]) == np.shape(inputs[variable])
        expected = central_difference(loss, np.array(inputs[variable], dtype=float))
        np.testing.assert_allclose(grads[variable], expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", PUBLIC_BROADCASTING)
def test_broadcasting_second_derivatives_match_differences_of_the_gradient(name):
    """The traced reverse sweep (Hessians) undoes broadcasting too."""
    rng = np.random.default_rng(len(name))
    inputs = {"a": operand(rng, (2, 3), name in POSITIVE_ONLY), "b": operand(rng, (3,), False)}
    text = SPELLED.get(name, f"{name}(a, b)")
    loss = f"sum(sin({text}))"
    _, _, matrix = hessian(adcli.compile(loss).program, inputs, ["a", "b"])
    np.testing.assert_allclose(matrix, hessian_by_differences(loss, inputs, ["a", "b"]), rtol=1e-5, atol=1e-6)


# -- reductions ---------------------------------------------------------------------------

REDUCTIONS = {"sum": np.sum, "mean": np.mean, "prod": np.prod, "max": np.max, "min": np.min,
              "norm": lambda x, axis=None: np.sqrt(np.sum(x * x, axis=axis))}


@pytest.mark.parametrize("function", sorted(REDUCTIONS))
@pytest.mark.parametrize("shape, axis", [((5,), None), ((5,), 0), ((5,), -1), ((3, 4), None), ((3, 4), 0),
                                         ((3, 4), 1), ((3, 4), -1), ((3, 4), -2), ((2, 3, 4), 1), ((2, 3, 4), -3)])
def test_reduction_value_and_gradient(function, shape, axis):
    rng = np.random.default_rng(len(shape) * 10 + (axis or 0) + 5)
    x = operand(rng, shape, positive=False)
    reduced_shape = np.sum(x, axis=axis).shape
    weights = rng.standard_normal(reduced_shape)
    call = f"{function}(x)" if axis is None else f"{function}(x, axis={axis})"
    value, grads = adcli.grad(f"sum(w * {call})", wrt=["x"], x=x, w=weights)
    numpy_reduction = REDUCTIONS[function]
    assert adcli.evaluate(call, x=x) == pytest.approx(numpy_reduction(x, axis=axis), rel=1e-12)
    assert value == pytest.approx(np.sum(weights * numpy_reduction(x, axis=axis)), rel=1e-12)
    expected = central_difference(lambda p: np.sum(weights * numpy_reduction(p, axis=axis)), x)
    np.testing.assert_allclose(grads["x"], expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("function, pick", [("max", np.max), ("min", np.min)])
@pytest.mark.parametrize("axis", [None, 0, -1])
def test_extremum_ties_share_the_gradient_evenly(function, pick, axis):
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, -1.0]])
    call = f"{function}(x)" if axis is None else f"{function}(x, axis={axis})"
    _, grads = adcli.grad(call, x=x)
    hits = x == (pick(x) if axis is None else np.expand_dims(pick(x, axis=axis), axis))
    expected = hits / np.sum(hits, axis=axis, keepdims=axis is not None)
    np.testing.assert_array_equal(grads["x"], expected)


def test_prod_gradient_with_a_zero_is_the_product_of_the_others():
    x = np.array([2.0, 0.0, 3.0, 5.0])
    _, grads = adcli.grad("prod(x)", x=x)
    expected = [np.prod(np.delete(x, i)) for i in range(x.size)]
    np.testing.assert_array_equal(grads["x"], expected)


def test_norm_gradient_at_zero_is_zero_as_in_pytorch():
    value, grads = adcli.grad("norm(x)", x=np.zeros(3))
    assert value == 0.0
    np.testing.assert_array_equal(grads["x"], np.zeros(3))


@pytest.mark.parametrize("axis", [2, -3])
def test_axis_out_of_range_is_an_error_naming_the_axis(cli, axis):
    run = cli("eval", f"sum(x, axis={axis})", "--at", "x=[[1, 2], [3, 4]]")
    assert run.exit_code == 1
    assert f"axis {axis} is out of bounds" in run.stderr and "sum" in run.stderr
    assert "Traceback" not in run.stderr


# -- @, dot and transpose ------------------------------------------------------------------

MATMUL_SHAPES = [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((1, 3), (3, 1))]


@pytest.mark.parametrize("spelling", ["a @ b", "dot(a, b)"])
@pytest.mark.parametrize("shape_a, shape_b", MATMUL_SHAPES)
def test_matmul_value_and_gradients(spelling, shape_a, shape_b):
    rng = np.random.default_rng(sum(shape_a) * 7 + sum(shape_b))
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    weights = rng.standard_normal(np.matmul(a, b).shape)
    np.testing.assert_allclose(adcli.evaluate(spelling, a=a, b=b), np.matmul(a, b), rtol=1e-13)
    _, grads = adcli.grad(f"sum(w * ({spelling}))", wrt=["a", "b"], a=a, b=b, w=weights)
    assert grads["a"].shape == shape_a and grads["b"].shape == shape_b
    np.testing.assert_allclose(grads["a"], central_difference(lambda p: np.sum(weights * (p @ b)), a), rtol=1e-6)
    np.testing.assert_allclose(grads["b"], central_difference(lambda p: np.sum(weights * (a @ p)), b), rtol=1e-6)


@pytest.mark.parametrize("shape_a, shape_b", MATMUL_SHAPES[1:])
def test_matmul_second_derivatives(shape_a, shape_b):
    rng = np.random.default_rng(3)
    inputs = {"a": rng.standard_normal(shape_a), "b": rng.standard_normal(shape_b)}
    loss = "sum((a @ b)^2)"
    _, _, matrix = hessian(adcli.compile(loss).program, inputs, ["a", "b"])
    np.testing.assert_allclose(matrix, hessian_by_differences(loss, inputs, ["a", "b"]), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 3, 4)])
@pytest.mark.parametrize("spelling", ["x.T", "transpose(x)"])
def test_transpose_reverses_the_axes(spelling, shape):
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape)
    weights = rng.standard_normal(np.transpose(x).shape)
    np.testing.assert_array_equal(adcli.evaluate(spelling, x=x), np.transpose(x))
    _, grads = adcli.grad(f"sum(w * {spelling})", wrt=["x"], x=x, w=weights)
    np.testing.assert_array_equal(grads["x"], np.transpose(weights))


def test_transpose_of_a_literal_and_of_a_product():
    np.testing.assert_array_equal(adcli.evaluate("[[1, 2, 3]].T"), [[1.0], [2.0], [3.0]])
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(adcli.evaluate("(a @ a.T).T", a=a), (a @ a.T).T)


# -- array literals ------------------------------------------------------------------------

def test_array_literal_of_expressions():
    value, grads = adcli.grad("[x, 2x, x^2]", x=3.0)
    np.testing.assert_array_equal(value, [3.0, 6.0, 9.0])
    assert grads["x"] == 1.0 + 2.0 + 2 * 3.0  # the sum of the entries' derivatives


def test_nested_literal_of_expressions_and_its_gradients():
    value, grads = adcli.grad("sum(w * [[x, y], [x y, sin(y)]])", wrt=["x", "y"], x=2.0, y=0.5,
                              w=np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert value == pytest.approx(2.0 + 1.0 + 3.0 + 4 * np.sin(0.5), rel=1e-15)
    assert grads["x"] == pytest.approx(1.0 + 3 * 0.5)
    assert grads["y"] == pytest.approx(2.0 + 3 * 2.0 + 4 * np.cos(0.5))


def test_literal_of_array_entries_stacks_them():
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    value, grads = adcli.grad("sum([x, 2y] * [[1, 2], [3, 4]])", x=x, y=y)
    np.testing.assert_array_equal(value, np.sum(np.stack([x, 2 * y]) * [[1, 2], [3, 4]]))
    np.testing.assert_array_equal(grads["x"], [1.0, 2.0])
    np.testing.assert_array_equal(grads["y"], [6.0, 8.0])


def test_gradient_of_an_elementwise_expression_over_linspace(cli):
    run = cli("grad", "sin(x)", "--at", "x=linspace(0, pi, 5)", "--format", "json")
    assert run.exit_code == 0, run.stderr
    record = run.json()
    points = np.linspace(0, np.pi, 5)
    np.testing.assert_allclose(record["value"], np.sin(points), rtol=1e-15, atol=1e-16)
    np.testing.assert_allclose(record["grad"]["x"], np.cos(points), rtol=1e-15, atol=1e-16)


def test_scalar_variable_broadcast_over_an_array_gets_the_summed_gradient():
    x = np.array([1.0, 2.0, 3.0])
    _, grads = adcli.grad("a * x + b", x=x, a=2.0, b=1.0)
    assert np.shape(grads["a"]) == () and grads["a"] == pytest.approx(np.sum(x))
    assert grads["b"] == 3.0


# -- shape errors --------------------------------------------------------------------------

SHAPE_ERRORS = [
    ("[1,2,3] + [1,2]", [], "+", ["(3,)", "(2,)"]),
    ("W @ x", ["W=[[1,2,3],[4,5,6]]", "x=[1,2]"], "@", ["(2, 3)", "(2,)"]),
    ("x @ W", ["W=[[1,2,3],[4,5,6]]", "x=[1,2,3]"], "@", ["(3,)", "(2, 3)"]),
    ("sum(x * y)", ["x=[1,2,3]", "y=[[1,2],[3,4]]"], "*", ["(3,)", "(2, 2)"]),
    ("1 + dot(x, y)", ["x=[1,2,3]", "y=[1,2]"], "dot", ["(3,)", "(2,)"]),
    ("[[1, 2], [3]]", [], "[", ["(2,)", "(1,)"]),
]


@pytest.mark.parametrize("expr, bindings, operator, shapes", SHAPE_ERRORS)
def test_shape_errors_name_operator_shapes_and_column(cli, expr, bindings, operator, shapes):
    args = ["eval", expr] + [item for binding in bindings for item in ("--at", binding)]
    run = cli(*args)
    assert run.exit_code == 1 and run.stdout == ""
    first, source, caret = run.stderr.splitlines()[:3]
    assert first.startswith("adcli: error: ")
    assert all(shape in first for shape in shapes)
    column = expr.index(operator)
    assert f"column {column + 1}" in first
    assert source == "  " + expr
    assert caret.index("^") - 2 == column


def test_shape_error_names_implicit_multiplication(cli):
    run = cli("eval", "x y", "--at", "x=[1,2,3]", "--at", "y=[1,2]")
    assert run.exit_code == 1
    assert "implicit multiplication" in run.stderr and "(3,)" in run.stderr and "(2,)" in run.stderr


def test_shape_error_from_the_library_is_a_shape_error():
    with pytest.raises(adcli.ShapeError) as raised:
        adcli.evaluate("a - b", a=np.ones(3), b=np.ones(4))
    assert raised.value.column == 3


# -- output formats ------------------------------------------------------------------------

def test_text_output_aligns_decimal_points_down_columns(cli):
    run = cli("eval", "x", "--at", "x=[[1, -22.5, 3e-20], [100, 0.25, -7]]")
    assert run.exit_code == 0
    rows = [line[len("value"):] for line in run.stdout.splitlines()]  # the label's width on every line
    points = [[match.start() for match in re.finditer(r"[.e]", row)] for row in rows]
    assert len(rows) == 2 and len(points[0]) == 3 and points[0] == points[1]


def test_text_output_is_never_summarised(cli):
    run = cli("eval", "x", "--at", "x=linspace(0, 1, 2001)")
    assert run.exit_code == 0
    assert "..." not in run.stdout
    numbers = re.findall(r"[-\d.e]+", run.stdout.replace("value", ""))
    np.testing.assert_array_equal([float(n) for n in numbers], np.linspace(0, 1, 2001))
    assert max(len(line) for line in run.stdout.splitlines()) <= 110


def test_text_output_of_a_3d_array_separates_blocks_like_numpy(cli):
    run = cli("eval", "[[[0, 1], [2, 3]], [[4, 5], [6, 7]]]")
    assert run.exit_code == 0
    assert run.stdout.rstrip("\n").split("\n") == [
        "value  [[[0.0, 1.0],", "         [2.0, 3.0]],", "", "        [[4.0, 5.0],", "         [6.0, 7.0]]]"]


def test_json_output_is_nested_lists_with_nonfinite_strings(cli):
    run = cli("grad", "log(x)", "--at", "x=[[1, 0], [-1, 2]]", "--format", "json")
    assert run.exit_code == 0
    record = run.json()
    assert record["value"] == [[0.0, "-inf"], ["nan", np.log(2.0)]]
    assert record["grad"]["x"] == [[1.0, "inf"], [-1.0, 0.5]]


def test_csv_output_one_row_per_element_with_inputs_value_and_derivatives(cli):
    run = cli("grad", "x * y + c", "--at", "x=[1, 2, 3]", "--at", "y=[4, 5, 6]", "--at", "c=2", "--wrt", "x,y",
              "--format", "csv")
    assert run.exit_code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "x,y,c,value,d/dx,d/dy"
    rows = [[float(cell) for cell in line.split(",")] for line in lines[1:]]
    assert rows == [[x, y, 2.0, x * y + 2, y, x] for x, y in zip([1, 2, 3], [4, 5, 6])]


def test_csv_refuses_a_scalar_variables_total_gradient_beside_rows(cli):
    # d/dc is the sum over all rows (3.0): repeating it on each row would read as a per-row value.
    run = cli("grad", "x * y + c", "--at", "x=[1, 2, 3]", "--at", "y=[4, 5, 6]", "--at", "c=2", "--format", "csv")
    assert run.exit_code == 1 and run.stdout == ""
    assert "'d/dc' is one total over all 3 rows" in run.stderr


@pytest.mark.parametrize("bindings", [["x=[[1, 2], [3, 4]]"], ["x=[1, 2, 3]", "y=[1, 2]"]])
def test_csv_refuses_shapes_it_cannot_hold(cli, bindings):
    args = ["grad", "sum(x) + sum(y)" if len(bindings) == 2 else "sum(x)"]
    args += [item for binding in bindings for item in ("--at", binding)] + ["--format", "csv"]
    run = cli(*args)
    assert run.exit_code == 1 and run.stdout == ""
    assert run.stderr.startswith("adcli: error: CSV") and "--format json" in run.stderr


def test_plain_output_lists_value_then_gradients_in_c_order(cli):
    run = cli("grad", "sum(W @ v)", "--at", "W=[[1, 2], [3, 4]]", "--at", "v=[5, 6]", "--format", "plain")
    assert run.exit_code == 0
    W, v = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([5.0, 6.0])
    expected = [np.sum(W @ v)] + list(np.outer(np.ones(2), v).ravel()) + list(W.sum(axis=0))
    assert [float(n) for n in run.stdout.split()] == expected


def test_digits_apply_to_array_elements(cli):
    run = cli("eval", "x / 3", "--at", "x=[1, 2]", "--format", "json", "--digits", "3")
    assert run.json()["value"] == [0.333, 0.667]
