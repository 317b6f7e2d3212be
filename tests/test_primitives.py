"""The primitive table, checked entry by entry.

Every primitive with a gradient has sample points (SAMPLES) inside its domain; masks are
listed in MASKS. A test fails when a table entry is in neither, so a new primitive cannot
skip its checks. For each sample:
  first order:  the reverse sweep's vector-Jacobian product against central differences;
  second order: the recorded reverse sweep (gradient_program), differentiated again,
                against central differences of the first-order gradient.
Then closed forms of every scalar function's first and second derivative, and the PyTorch
float64 conventions at kinks and domain edges (tests/reference/torch_edges.py checks the
expected values there against torch itself).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest

import adcli
from adcli.engine.derivatives import gradient_program
from adcli.engine.primitives import PRIMITIVES
from adcli.engine.program import Program, ProgramBuilder
from adcli.engine.tape import forward, numeric_gradients

STEP = 1e-6
RTOL = 1e-5


@dataclass(frozen=True)
class Fixed:
    """An operand held constant: not differentiated (a mask, a shape reference, a condition)."""

    value: Any


@dataclass(frozen=True)
class Sample:
    operands: tuple
    params: tuple[tuple[str, Any], ...] = ()


def sample(*operands: Any, **params: Any) -> Sample:
    return Sample(operands, tuple(sorted(params.items())))


_rng = np.random.default_rng(20240601)


def draw(shape: tuple[int, ...], low: float, high: float) -> Any:
    """Uniform points in (low, high): a float64 scalar for shape (), else an array."""
    values = _rng.uniform(low, high, size=shape)
    return np.float64(values) if shape == () else values


def elementwise(low: float, high: float) -> list[Sample]:
    return [sample(draw((), low, high)), sample(draw((), low, high)), sample(draw((2, 3), low, high))]


BROADCAST_SHAPES = [((), ()), ((3,), ()), ((), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3))]


def broadcasting(first: tuple[float, float], second: tuple[float, float]) -> list[Sample]:
    return [sample(draw(a, *first), draw(b, *second)) for a, b in BROADCAST_SHAPES]


def reductions(low: float, high: float) -> list[Sample]:
    return [
        sample(draw((), low, high)),
        sample(draw((4,), low, high)),
        sample(draw((2, 3), low, high)),
        sample(draw((2, 3), low, high), axis=0),
        sample(draw((2, 3), low, high), axis=-1),
        sample(draw((2, 3, 2), low, high), axis=1),
        sample(draw((2, 3), low, high), axis=0, keepdims=True),
        sample(draw((3, 2), low, high), keepdims=True),
    ]


def along_an_axis(low: float, high: float) -> list[Sample]:
    """softmax and log_softmax: the last axis by default, any other by keyword, a scalar as one slice."""
    return [
        sample(draw((4,), low, high)),
        sample(draw((2, 3), low, high)),
        sample(draw((2, 3), low, high), axis=0),
        sample(draw((2, 3, 2), low, high), axis=1),
        sample(draw((), low, high)),
        sample(np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1000.5, -999.0]])),  # large magnitudes
    ]


WHOLE = (None, None, None)  # `:` in an index
NEGATIVE_BASES = [sample(draw((3,), -3, -0.5), Fixed(np.array([2.0, 3.0, -1.0]))), sample(draw((), -2, -1), Fixed(3.0))]
MATMUL_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4)), ((2, 2, 3), (3, 2))]


def matmul_shapes(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return np.shape(np.matmul(np.zeros(a), np.zeros(b)))


SAMPLES: dict[str, list[Sample]] = {
    "add": broadcasting((-2, 2), (-2, 2)),
    "sub": broadcasting((-2, 2), (-2, 2)),
    "mul": broadcasting((-2, 2), (-2, 2)),
    "div": broadcasting((-2, 2), (0.5, 2)) + broadcasting((-2, 2), (-2, -0.5)),
    "pow": broadcasting((0.2, 3), (-2, 2)) + NEGATIVE_BASES,
    "neg": elementwise(-2, 2),
    "matmul": [sample(draw(a, -1, 1), draw(b, -1, 1)) for a, b in MATMUL_SHAPES],
    "sin": elementwise(-4, 4),
    "cos": elementwise(-4, 4),
    "tan": elementwise(-1.2, 1.2),
    "asin": elementwise(-0.9, 0.9),
    "acos": elementwise(-0.9, 0.9),
    "atan": elementwise(-3, 3),
    "sinh": elementwise(-3, 3),
    "cosh": elementwise(-3, 3),
    "tanh": elementwise(-2, 2),
    "asinh": elementwise(-3, 3),
    "acosh": elementwise(1.1, 4),
    "atanh": elementwise(-0.9, 0.9),
    "exp": elementwise(-3, 3),
    "expm1": elementwise(-3, 3),
    "log": elementwise(0.1, 4),
    "log2": elementwise(0.1, 4),
    "log10": elementwise(0.1, 4),
    "log1p": elementwise(-0.9, 3),
    "sqrt": elementwise(0.1, 4),
    "cbrt": elementwise(0.2, 3) + elementwise(-3, -0.2),
    "abs": elementwise(-3, 3),
    "sign": elementwise(-3, 3),
    "floor": elementwise(-3, 3),
    "ceil": elementwise(-3, 3),
    "sigmoid": elementwise(-5, 5),
    "relu": elementwise(-3, 3),
    "softplus": elementwise(-5, 5) + [sample(np.float64(19.5)), sample(np.array([25.0, -30.0, 19.0]))],
    "erf": elementwise(-2, 2),
    "gelu": elementwise(-3, 3),
    "silu": elementwise(-4, 4),
    "elu": elementwise(-3, 3) + [sample(draw((2, 3), -3, 3), alpha=0.5)],
    "leaky_relu": elementwise(-3, 3) + [sample(draw((2, 3), -3, 3), slope=0.2)],
    "clip": [
        sample(draw((2, 3), -2, 2), Fixed(-1.0), Fixed(1.0)),
        sample(draw((2, 3), -2, 2), draw((), -1.5, -0.5), draw((3,), 0.5, 1.5)),
        sample(draw((3,), -2, 2), draw((2, 1), -1.5, -0.5), Fixed(0.75)),
        sample(draw((3,), -1, 1), Fixed(0.5), draw((3,), -1.5, -0.5)),  # lo > hi: the value is hi
    ],
    "logsumexp": reductions(-3, 3) + [sample(np.array([1000.0, 1001.0, 1002.0])),
                                      sample(np.array([[-1000.0, -1001.0], [5.0, 7.0]]), axis=1)],
    "softmax": along_an_axis(-3, 3),
    "log_softmax": along_an_axis(-3, 3),
    "atan2": broadcasting((-2, 2), (-2, 2)),
    "hypot": broadcasting((-2, 2), (-2, 2)),
    "maximum": broadcasting((-2, 2), (-2, 2)),
    "minimum": broadcasting((-2, 2), (-2, 2)),
    "transpose": [sample(draw((3,), -1, 1)), sample(draw((2, 3), -1, 1)), sample(draw((2, 3, 4), -1, 1))],
    "sum": reductions(-2, 2),
    "mean": reductions(-2, 2),
    "prod": reductions(0.5, 1.5) + reductions(-1.5, -0.5),
    "norm": reductions(-2, 2),
    "amax": reductions(-2, 2),
    "amin": reductions(-2, 2),
    "stack": [sample(*(draw((), -2, 2) for _ in range(3))), sample(draw((3,), -2, 2), draw((3,), -2, 2))],
    # the helpers VJPs are made of
    "rsqrt": elementwise(0.2, 4),
    "softplus_slope": elementwise(-5, 5) + [sample(np.array([25.0, -30.0, 19.0]))],
    "where": [
        sample(Fixed(np.array([True, False, True])), draw((3,), -2, 2), draw((3,), -2, 2)),
        sample(Fixed(np.array([[True], [False]])), draw((2, 3), -2, 2), draw((2, 3), -2, 2)),
        sample(Fixed(np.array([False, True, True])), Fixed(0.0), draw((3,), -2, 2)),
        sample(Fixed(np.array([[True], [False]])), draw((), -2, 2), draw((3,), -2, 2)),
    ],
    "expand": [
        sample(draw((), -2, 2), Fixed(np.zeros(3))),
        sample(draw((3,), -2, 2), Fixed(np.zeros((2, 3))), axis=0),
        sample(draw((2,), -2, 2), Fixed(np.zeros((2, 3))), axis=1, mean=True),
        sample(draw((), -2, 2), Fixed(np.zeros((2, 3))), mean=True),
    ],
    "sum_to_like": [
        sample(draw((2, 3), -2, 2), Fixed(np.zeros(3))),
        sample(draw((2, 3), -2, 2), Fixed(np.zeros((2, 1)))),
        sample(draw((3,), -2, 2), Fixed(0.0)),
    ],
    "broadcast_like": [
        sample(draw((3,), -2, 2), Fixed(np.zeros((2, 3)))),
        sample(draw((), -2, 2), Fixed(np.zeros(4))),
        sample(draw((2, 1), -2, 2), Fixed(np.zeros((2, 3)))),
    ],
    "matmul_grad_a": [
        sample(draw(matmul_shapes(a, b), -1, 1), Fixed(draw(a, -1, 1)), draw(b, -1, 1)) for a, b in MATMUL_SHAPES
    ],
    "matmul_grad_b": [
        sample(draw(matmul_shapes(a, b), -1, 1), draw(a, -1, 1), Fixed(draw(b, -1, 1))) for a, b in MATMUL_SHAPES
    ],
    "index": [sample(draw((3,), -2, 2), index=1), sample(draw((2, 3), -2, 2), index=0),
              sample(draw((3, 4), -2, 2), index=(WHOLE, -1)), sample(draw((5,), -2, 2), index=((1, None, 2),)),
              sample(draw((5,), -2, 2), index=((None, None, -1),)), sample(draw((3, 4), -2, 2), index=((0, 2, None),))],
    "unindex": [sample(draw((), -2, 2), Fixed(np.zeros(3)), index=2), sample(draw((3,), -2, 2), Fixed(np.zeros((2, 3))), index=1),
                sample(draw((3,), -2, 2), Fixed(np.zeros((3, 4))), index=(WHOLE, 1)),
                sample(draw((2,), -2, 2), Fixed(np.zeros(5)), index=((3, None, -2),))],
    "keep_axes": [sample(draw((3,), -2, 2), Fixed(np.zeros((2, 3))), axis=0), sample(draw((), -2, 2), Fixed(np.zeros((2, 3)))),
                  sample(draw((2, 2), -2, 2), Fixed(np.zeros((2, 3, 2))), axis=-2)],
    "reshape_like": [sample(draw((2, 1), -2, 2), Fixed(np.zeros(2))), sample(draw((1, 1), -2, 2), Fixed(0.0))],
    "slice_sum": [sample(draw((2, 3), -2, 2), axis=0), sample(draw((4,), -2, 2)), sample(draw((2, 3, 2), -2, 2), axis=-2),
                  sample(draw((), -2, 2))],
    "prod_others": [sample(draw((4,), 0.5, 1.5)), sample(draw((2, 3), -1.5, -0.5), axis=1), sample(draw((2, 3), 0.5, 2), axis=0),
                    sample(np.array([0.0, 1.5, 0.0, -2.0])), sample(np.array([[0.0, 2.0, 3.0], [1.5, -1.0, 0.5]]), axis=1),
                    sample(np.array([[0.0, 2.0], [0.0, 0.0], [1.5, -0.5]]))],  # beside zeros: the exact rule
    "shift": [sample(draw((4,), -2, 2), step=1), sample(draw((2, 3), -2, 2), axis=1, step=-1),
              sample(draw((2, 3), -2, 2), step=-1), sample(draw((3, 2), -2, 2), axis=0, step=1)],
    "scan": [sample(draw((4,), -2, 2), draw((4,), -1.5, 1.5)),
             sample(draw((2, 3), -2, 2), draw((2, 3), -1.5, 1.5), axis=1, reverse=True),
             sample(draw((3, 2), -2, 2), draw((3, 2), -1.5, 1.5), axis=0),
             sample(draw((2, 3), -2, 2), draw((2, 3), -1.5, 1.5), reverse=True)],
}

# Piecewise-constant helpers: no gradient at all.
MASKS = {"tie_share", "equal", "greater", "greater_equal", "logical_and", "lt", "le", "gt", "ge", "eq", "ne"}


# -- the table is covered -------------------------------------------------------------------

def test_every_primitive_has_samples_or_is_a_mask():
    assert set(SAMPLES) & MASKS == set()
    assert set(PRIMITIVES) - set(SAMPLES) - MASKS == set(), "add samples for the new primitive"
    assert set(SAMPLES) | MASKS <= set(PRIMITIVES), "samples for a primitive the table no longer has"


@pytest.mark.parametrize("name", sorted(MASKS))
def test_masks_have_no_gradient(name):
    assert all(vjp is None for vjp in PRIMITIVES[name].vjps)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_differentiable_operand_is_sampled(name):
    primitive = PRIMITIVES[name]
    differentiated = {i for s in SAMPLES[name] for i, operand in enumerate(s.operands) if not isinstance(operand, Fixed)}
    if primitive.arity is None:
        assert differentiated
        return
    with_rule = {i for i, vjp in enumerate(primitive.vjps) if vjp is not None}
    assert with_rule <= differentiated
    assert differentiated <= with_rule, "an operand without a VJP cannot be checked against finite differences"


@pytest.mark.parametrize("name", sorted(n for n in SAMPLES if PRIMITIVES[n].broadcasts))
def test_broadcasting_primitives_are_sampled_with_broadcasting(name):
    assert any(len({np.shape(o.value if isinstance(o, Fixed) else o) for o in s.operands}) > 1 for s in SAMPLES[name])


# -- kinks: where `adcli check` warns that finite differences mislead -------------------------

# A point on each primitive's kink or domain edge: (operands, params)
KNOWN_KINKS: dict[str, tuple[tuple, dict]] = {
    "pow": ((0.0, 0.5), {}), "asin": ((1.0,), {}), "acos": ((-1.0,), {}), "acosh": ((1.0,), {}),
    "atanh": ((-1.0,), {}), "log": ((0.0,), {}), "log2": ((0.0,), {}), "log10": ((0.0,), {}),
    "log1p": ((-1.0,), {}), "sqrt": ((0.0,), {}), "cbrt": ((0.0,), {}), "abs": ((0.0,), {}),
    "sign": ((0.0,), {}), "floor": ((3.0,), {}), "ceil": ((-2.0,), {}), "relu": ((0.0,), {}),
    "atan2": ((0.0, -1.0), {}), "hypot": ((0.0, 0.0), {}), "maximum": ((1.5, 1.5), {}),
    "minimum": ((-1.0, -1.0), {}), "norm": ((np.zeros(3),), {}),
    "amax": ((np.array([[2.0, 2.0], [1.0, 0.0]]),), {"axis": 1}), "amin": ((np.array([0.5, 0.5, 1.0]),), {}),
    **{comparison: ((2.0, 2.0), {}) for comparison in ("lt", "le", "gt", "ge", "eq", "ne")},  # a jump where a == b
    "elu": ((0.0,), {"alpha": 0.5}), "leaky_relu": ((0.0,), {}), "clip": ((1.0, -1.0, 1.0), {}),
}


def test_every_kink_has_a_known_point():
    assert set(KNOWN_KINKS) == {name for name, p in PRIMITIVES.items() if p.kink is not None}


@pytest.mark.parametrize("name", sorted(KNOWN_KINKS))
def test_kink_is_flagged_on_it_and_not_at_the_samples(name):
    kink = PRIMITIVES[name].kink
    operands, params = KNOWN_KINKS[name]
    assert np.any(kink(*operands, **params))
    for s in SAMPLES.get(name, ()):  # masks have no samples
        assert not np.any(kink(*Check.values(s.operands), **dict(s.params))), f"{name} sample {s} is smooth"


def test_atan2_branch_cut_is_a_kink_but_not_the_positive_axis():
    kink = PRIMITIVES["atan2"].kink
    assert kink(0.0, -2.0) and kink(0.0, 0.0) and not kink(0.0, 2.0) and not kink(1e-300, -2.0)


# -- one primitive as a program ---------------------------------------------------------------

@dataclass
class Check:
    """One primitive applied to its operands, as a program whose variables are the free operands."""

    name: str
    sample: Sample
    weights: Any  # the output cotangent: sum(weights * result) is what gets differentiated

    @classmethod
    def of(cls, name: str, sample: Sample, rng: np.random.Generator) -> "Check":
        shape = np.shape(PRIMITIVES[name].forward(*cls.values(sample.operands), **dict(sample.params)))
        return cls(name, sample, rng.uniform(0.5, 1.5, size=shape))

    @staticmethod
    def values(operands: tuple) -> list[Any]:
        return [o.value if isinstance(o, Fixed) else o for o in operands]

    @property
    def inputs(self) -> dict[str, Any]:
        return {f"a{i}": o for i, o in enumerate(self.sample.operands) if not isinstance(o, Fixed)}

    def program(self, weighted: bool = False) -> Program:
        builder = ProgramBuilder(self.name)
        slots = [
            builder.const(o.value) if isinstance(o, Fixed) else builder.var(f"a{i}")
            for i, o in enumerate(self.sample.operands)
        ]
        output = builder.emit(self.name, tuple(slots), self.sample.params)
        if weighted:
            output = builder.emit("mul", (output, builder.const(self.weights)))
        return builder.build((output,), tuple(self.inputs))

    def objective(self, inputs: dict[str, Any]) -> float:
        """sum(weights * result), by the primitive's NumPy forward alone."""
        operands = [inputs.get(f"a{i}", o.value if isinstance(o, Fixed) else None)
                    for i, o in enumerate(self.sample.operands)]
        return float(np.sum(self.weights * PRIMITIVES[self.name].forward(*operands, **dict(self.sample.params))))

    def gradient(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The first-order gradient of the objective by the numeric reverse sweep."""
        program = self.program()
        with np.errstate(all="ignore"):
            return numeric_gradients(program, forward(program, inputs), list(inputs), seed=self.weights)


def central_difference(function: Callable[[dict[str, Any]], float], inputs: dict[str, Any], name: str) -> np.ndarray:
    """d function / d inputs[name], element by element."""
    base = np.asarray(inputs[name], dtype=np.float64)
    result = np.zeros(base.shape)
    for index in np.ndindex(base.shape):
        shifted = []
        for sign in (1.0, -1.0):
            moved = base.copy()
            moved[index] += sign * STEP
            shifted.append(function({**inputs, name: moved if moved.ndim else np.float64(moved)}))
        result[index] = (shifted[0] - shifted[1]) / (2 * STEP)
    return result


def assert_close(actual: Any, expected: np.ndarray, what: str) -> None:
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    assert np.shape(actual) == np.shape(expected), f"{what}: shape {np.shape(actual)} != {np.shape(expected)}"
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale, err_msg=what)


CASES = [(name, index) for name in sorted(SAMPLES) for index in range(len(SAMPLES[name]))]


def case_id(case: tuple[str, int]) -> str:
    return f"{case[0]}-{case[1]}"


def case_rng(case: tuple[str, int]) -> np.random.Generator:
    """Weights and directions that do not depend on which tests run."""
    return np.random.default_rng([zlib.crc32(case[0].encode()), case[1]])


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_first_order_matches_central_differences(case):
    name, index = case
    check = Check.of(name, SAMPLES[name][index], case_rng(case))
    inputs = check.inputs
    gradient = check.gradient(inputs)
    for variable in inputs:
        expected = central_difference(check.objective, inputs, variable)
        assert_close(gradient[variable], expected, f"{name} sample {index}, d/d{variable}")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_second_order_matches_central_differences_of_the_gradient(case):
    name, index = case
    rng = case_rng(case)
    check = Check.of(name, SAMPLES[name][index], rng)
    inputs = check.inputs
    wrt = list(inputs)
    recorded = gradient_program(check.program(weighted=True), wrt)
    with np.errstate(all="ignore"):
        values = forward(recorded, inputs)
    for output, first in zip(recorded.outputs, wrt):
        direction = rng.uniform(-1.0, 1.0, size=np.shape(inputs[first]))
        with np.errstate(all="ignore"):
            exact = numeric_gradients(recorded, values, wrt, seed=direction, output=output)

        def directional(point: dict[str, Any], first: str = first, direction: Any = direction) -> float:
            return float(np.sum(direction * check.gradient(point)[first]))

        for second in wrt:
            expected = central_difference(directional, inputs, second)
            got = exact[second] if exact[second] is not None else np.zeros(np.shape(inputs[second]))
            assert_close(got, expected, f"{name} sample {index}, d/d{second} of d/d{first}")


# -- closed forms -----------------------------------------------------------------------------

def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _normal_pdf(x: float) -> float:
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


LN2, LN10 = math.log(2.0), math.log(10.0)
# name: (points, first derivative, second derivative)
CLOSED_FORMS: dict[str, tuple[tuple[float, ...], Callable, Callable]] = {
    "sin": ((-2.0, 0.3, 1.7), math.cos, lambda x: -math.sin(x)),
    "cos": ((-2.0, 0.3, 1.7), lambda x: -math.sin(x), lambda x: -math.cos(x)),
    "tan": ((-1.0, 0.3, 1.2), lambda x: 1 / math.cos(x) ** 2, lambda x: 2 * math.tan(x) / math.cos(x) ** 2),
    "asin": ((-0.7, 0.2, 0.9), lambda x: 1 / math.sqrt(1 - x * x), lambda x: x / (1 - x * x) ** 1.5),
    "acos": ((-0.7, 0.2, 0.9), lambda x: -1 / math.sqrt(1 - x * x), lambda x: -x / (1 - x * x) ** 1.5),
    "atan": ((-3.0, 0.5, 2.0), lambda x: 1 / (1 + x * x), lambda x: -2 * x / (1 + x * x) ** 2),
    "sinh": ((-2.0, 0.5, 3.0), math.cosh, math.sinh),
    "cosh": ((-2.0, 0.5, 3.0), math.sinh, math.cosh),
    "tanh": ((-2.0, 0.5, 1.5), lambda x: 1 / math.cosh(x) ** 2, lambda x: -2 * math.tanh(x) / math.cosh(x) ** 2),
    "asinh": ((-2.0, 0.5, 3.0), lambda x: 1 / math.sqrt(x * x + 1), lambda x: -x / (x * x + 1) ** 1.5),
    "acosh": ((1.5, 2.0, 5.0), lambda x: 1 / math.sqrt(x * x - 1), lambda x: -x / (x * x - 1) ** 1.5),
    "atanh": ((-0.8, 0.1, 0.6), lambda x: 1 / (1 - x * x), lambda x: 2 * x / (1 - x * x) ** 2),
    "exp": ((-2.0, 0.5, 3.0), math.exp, math.exp),
    "expm1": ((-2.0, 1e-3, 3.0), math.exp, math.exp),
    "log": ((0.2, 1.0, 7.0), lambda x: 1 / x, lambda x: -1 / (x * x)),
    "log2": ((0.2, 1.0, 7.0), lambda x: 1 / (x * LN2), lambda x: -1 / (x * x * LN2)),
    "log10": ((0.2, 1.0, 7.0), lambda x: 1 / (x * LN10), lambda x: -1 / (x * x * LN10)),
    "log1p": ((-0.5, 1e-4, 3.0), lambda x: 1 / (1 + x), lambda x: -1 / (1 + x) ** 2),
    "sqrt": ((0.25, 2.0, 9.0), lambda x: 0.5 / math.sqrt(x), lambda x: -0.25 / x ** 1.5),
    "cbrt": ((-8.0, 0.125, 27.0), lambda x: 1 / (3 * abs(x) ** (2 / 3)), lambda x: -2 / (9 * x * abs(x) ** (2 / 3))),
    "abs": ((-2.0, 0.5, 3.0), lambda x: math.copysign(1.0, x), lambda x: 0.0),
    "sign": ((-2.0, 0.5, 3.0), lambda x: 0.0, lambda x: 0.0),
    "floor": ((-2.5, 0.5, 3.7), lambda x: 0.0, lambda x: 0.0),
    "ceil": ((-2.5, 0.5, 3.7), lambda x: 0.0, lambda x: 0.0),
    "sigmoid": ((-3.0, 0.0, 2.0), lambda x: _sigmoid(x) * (1 - _sigmoid(x)),
                lambda x: _sigmoid(x) * (1 - _sigmoid(x)) * (1 - 2 * _sigmoid(x))),
    "relu": ((-2.0, 0.5, 3.0), lambda x: float(x > 0), lambda x: 0.0),
    "softplus": ((-3.0, 0.0, 5.0), _sigmoid, lambda x: _sigmoid(x) * (1 - _sigmoid(x))),
    "erf": ((-1.5, 0.0, 0.7), lambda x: 2 / math.sqrt(math.pi) * math.exp(-x * x),
            lambda x: -4 * x / math.sqrt(math.pi) * math.exp(-x * x)),
    "gelu": ((-2.0, 0.0, 1.3), lambda x: _normal_cdf(x) + x * _normal_pdf(x), lambda x: _normal_pdf(x) * (2 - x * x)),
    "silu": ((-3.0, 0.0, 2.5), lambda x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x))),
             lambda x: _sigmoid(x) * (1 - _sigmoid(x)) * (2 + x * (1 - 2 * _sigmoid(x)))),
}


def test_closed_forms_cover_every_function_of_one_argument():
    unary = {name for name, p in PRIMITIVES.items() if p.public and p.arity == 1 and p.params == ()}
    assert unary - {"neg", "transpose"} == set(CLOSED_FORMS)


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_closed_form_first_and_second_derivative(name):
    points, first, second = CLOSED_FORMS[name]
    program = adcli.compile(f"{name}(x)")
    for x in points:
        _, grads = program.grad(x=x)
        assert grads["x"] == pytest.approx(first(x), rel=1e-13, abs=1e-15), f"{name}'({x})"
        _, derivative = program.derivative("x", 2, x=x)
        assert derivative == pytest.approx(second(x), rel=1e-12, abs=1e-14), f"{name}''({x})"


# name: (text, points (x, y), closed-form gradient (d/dx, d/dy))
CLOSED_FORMS_OF_TWO = {
    "atan2": ("atan2(x, y)", [(1.0, 2.0), (-0.5, -3.0)], lambda x, y: (y / (x * x + y * y), -x / (x * x + y * y))),
    "hypot": ("hypot(x, y)", [(3.0, 4.0), (-1.0, 0.5)], lambda x, y: (x / math.hypot(x, y), y / math.hypot(x, y))),
    "pow": ("pow(x, y)", [(2.0, 3.0), (0.5, -1.5)], lambda x, y: (y * x ** (y - 1), x ** y * math.log(x))),
    "power operator": ("x^y", [(3.0, 0.5), (1.5, 2.0)], lambda x, y: (y * x ** (y - 1), x ** y * math.log(x))),
    "max": ("max(x, y)", [(1.0, 2.0), (3.0, -1.0)], lambda x, y: (float(x > y), float(y > x))),
    "min": ("min(x, y)", [(1.0, 2.0), (3.0, -1.0)], lambda x, y: (float(x < y), float(y < x))),
    "log base": ("log(x, y)", [(8.0, 2.0), (0.5, 10.0)],
                 lambda x, y: (1 / (x * math.log(y)), -math.log(x) / (y * math.log(y) ** 2))),
    "division": ("x / y", [(1.0, 4.0), (-3.0, 0.5)], lambda x, y: (1 / y, -x / (y * y))),
}


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS_OF_TWO))
def test_closed_form_of_two_arguments(name):
    text, points, gradient = CLOSED_FORMS_OF_TWO[name]
    for x, y in points:
        _, grads = adcli.grad(text, x=x, y=y)
        assert (grads["x"], grads["y"]) == pytest.approx(gradient(x, y), rel=1e-13, abs=1e-15), f"{text} at {x}, {y}"


@pytest.mark.parametrize("x", [-1.3, 0.4, 2.0])
def test_derivative_of_the_derivative_of_x_cubed_sin_x(x):
    _, second = adcli.compile("x^3 sin(x)").derivative("x", 2, x=x)
    assert second == pytest.approx(6 * x * math.sin(x) + 6 * x * x * math.cos(x) - x ** 3 * math.sin(x), rel=1e-13)


# -- PyTorch float64 at kinks and domain edges ------------------------------------------------

INF, NAN = math.inf, math.nan
# id: (program, bindings, value, gradient); tests/reference/torch_edges.py checks each against torch.
EDGE_CASES: dict[str, tuple[str, dict[str, float], float, dict[str, float]]] = {
    "abs at 0": ("abs(x)", {"x": 0.0}, 0.0, {"x": 0.0}),
    "relu at 0": ("relu(x)", {"x": 0.0}, 0.0, {"x": 0.0}),
    "relu of nan keeps the gradient": ("relu(log(x))", {"x": -1.0}, NAN, {"x": -1.0}),
    "sqrt at 0": ("sqrt(x)", {"x": 0.0}, 0.0, {"x": INF}),
    "max tie": ("max(x, y)", {"x": 1.5, "y": 1.5}, 1.5, {"x": 0.5, "y": 0.5}),
    "min tie": ("min(x, y)", {"x": -2.0, "y": -2.0}, -2.0, {"x": 0.5, "y": 0.5}),
    "max with nan": ("max(log(x), y)", {"x": -1.0, "y": 2.0}, NAN, {"x": -1.0, "y": 1.0}),
    "max of an array, three ties": ("max([x, y, x])", {"x": 2.0, "y": 2.0}, 2.0, {"x": 2 / 3, "y": 1 / 3}),
    "min of an array, two ties": ("min([x, y, 5])", {"x": 1.0, "y": 1.0}, 1.0, {"x": 0.5, "y": 0.5}),
    "x^0 at 0": ("x^0", {"x": 0.0}, 1.0, {"x": 0.0}),
    "0^y, y = 0": ("x^y", {"x": 0.0, "y": 0.0}, 1.0, {"x": 0.0, "y": 0.0}),
    "0^y, y = 2": ("x^y", {"x": 0.0, "y": 2.0}, 0.0, {"x": 0.0, "y": 0.0}),
    "0^y, y = 0.5": ("x^y", {"x": 0.0, "y": 0.5}, 0.0, {"x": INF, "y": 0.0}),
    "0^y, y = -1": ("x^y", {"x": 0.0, "y": -1.0}, INF, {"x": -INF, "y": -INF}),
    "negative base, fractional exponent": ("x^y", {"x": -8.0, "y": 1 / 3}, NAN, {"x": NAN, "y": NAN}),
    "negative base, integer exponent": ("x^3", {"x": -2.0}, -8.0, {"x": 12.0}),
    "(-8)^(1/3) is nan": ("x^(1/3)", {"x": -8.0}, NAN, {"x": NAN}),
    "cbrt(-8) is the real root": ("cbrt(x)", {"x": -8.0}, -2.0, {"x": 1 / 12}),
    "cbrt at 0": ("cbrt(x)", {"x": 0.0}, 0.0, {"x": INF}),
    "atan2 at the origin": ("atan2(y, x)", {"y": 0.0, "x": 0.0}, 0.0, {"y": 0.0, "x": 0.0}),
    "hypot at the origin": ("hypot(x, y)", {"x": 0.0, "y": 0.0}, 0.0, {"x": NAN, "y": NAN}),
    "sign at 0": ("sign(x)", {"x": 0.0}, 0.0, {"x": 0.0}),
    "sign of nan is 0": ("sign(log(x))", {"x": -1.0}, 0.0, {"x": 0.0}),
    "floor at an integer": ("floor(x)", {"x": 2.0}, 2.0, {"x": 0.0}),
    "ceil": ("ceil(x)", {"x": -1.5}, -1.0, {"x": 0.0}),
    "floor's zero times inf is nan": ("floor(sqrt(x))", {"x": 0.0}, 0.0, {"x": NAN}),
    "softplus at its threshold": ("softplus(x)", {"x": 20.0}, 20.000000002061153, {"x": 0.9999999979388464}),
    "softplus above its threshold": ("softplus(x)", {"x": 20.5}, 20.5, {"x": 1.0}),
    "softplus below its threshold": ("softplus(x)", {"x": 19.5}, 19.500000003398267, {"x": 0.9999999966017322}),
    "softplus far below": ("softplus(x)", {"x": -40.0}, 4.248354255291589e-18, {"x": 4.248354255291589e-18}),
    "log at 0": ("log(x)", {"x": 0.0}, -INF, {"x": INF}),
    "log below 0": ("log(x)", {"x": -1.0}, NAN, {"x": -1.0}),
    "log2 at 0": ("log2(x)", {"x": 0.0}, -INF, {"x": INF}),
    "log2 below 0": ("log2(x)", {"x": -2.0}, NAN, {"x": -0.7213475204444817}),
    "log10 at 0": ("log10(x)", {"x": 0.0}, -INF, {"x": INF}),
    "log10 below 0": ("log10(x)", {"x": -2.0}, NAN, {"x": -0.21714724095162594}),
    "log10 at 1": ("log10(x)", {"x": 1.0}, 0.0, {"x": 0.43429448190325187}),
    "log1p at -1": ("log1p(x)", {"x": -1.0}, -INF, {"x": INF}),
    "log1p below -1": ("log1p(x)", {"x": -2.0}, NAN, {"x": -1.0}),
    "asin at 1": ("asin(x)", {"x": 1.0}, math.pi / 2, {"x": INF}),
    "asin at -1": ("asin(x)", {"x": -1.0}, -math.pi / 2, {"x": INF}),
    "acos at 1": ("acos(x)", {"x": 1.0}, 0.0, {"x": -INF}),
    "acos at -1": ("acos(x)", {"x": -1.0}, math.pi, {"x": -INF}),
    "acosh at 1": ("acosh(x)", {"x": 1.0}, 0.0, {"x": INF}),
    "atanh at 1": ("atanh(x)", {"x": 1.0}, INF, {"x": INF}),
    "atanh at -1": ("atanh(x)", {"x": -1.0}, -INF, {"x": INF}),
    "1/0": ("1/x", {"x": 0.0}, INF, {"x": -INF}),
    "x/0": ("x/y", {"x": 1.0, "y": 0.0}, INF, {"x": INF, "y": -INF}),
    "0/0": ("x/y", {"x": 0.0, "y": 0.0}, NAN, {"x": INF, "y": NAN}),
    "prod with a zero": ("prod([x, y, z])", {"x": 0.0, "y": 2.0, "z": 3.0}, 0.0, {"x": 6.0, "y": 0.0, "z": 0.0}),
    "prod with two zeros": ("prod([x, y, z])", {"x": 0.0, "y": 0.0, "z": 3.0}, 0.0, {"x": 0.0, "y": 0.0, "z": 0.0}),
    "prod with an infinity": ("prod([x, y])", {"x": INF, "y": 2.0}, INF, {"x": NAN, "y": INF}),
    "norm of zeros": ("norm([x, y])", {"x": 0.0, "y": 0.0}, 0.0, {"x": 0.0, "y": 0.0}),
}


def same_float(actual: float, expected: float) -> bool:
    """Equal as PyTorch prints them: nan == nan, infinities by sign, finite values to float64 rounding."""
    if math.isnan(expected) or math.isinf(expected) or expected == 0.0:
        return actual == expected or (math.isnan(actual) and math.isnan(expected))
    return math.isclose(actual, expected, rel_tol=4e-16)


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_pytorch_convention(case):
    text, bindings, value, gradient = EDGE_CASES[case]
    got_value, got_gradient = adcli.grad(text, **bindings)
    assert same_float(got_value, value), f"{text}: value {got_value!r}, PyTorch {value!r}"
    for name, expected in gradient.items():
        assert same_float(got_gradient[name], expected), f"{text}: d/d{name} {got_gradient[name]!r}, PyTorch {expected!r}"


def test_squares_and_cubes_are_pytorchs_products():
    """x^2 is x*x and x^3 is (x*x)*x bit for bit, as aten's pow computes them, in every sweep; x^3's gradient is 3 (x*x).

    Cubes are where this shows: x*x*x rounds twice, C's pow once (the sample has points where they differ).
    """
    x = np.random.default_rng(3).uniform(-50, 50, 2000)
    assert np.any(x * x * x != np.power(x, 3.0))  # the sample tells the two apart
    for text, value, slope in (("x^2", x * x, 2.0 * x), ("x^3", x * x * x, 3.0 * (x * x))):
        got, grads = adcli.compile(text).grad(x=x)
        np.testing.assert_array_equal(got, value)
        np.testing.assert_array_equal(grads["x"], slope)
        for point, expected, expected_slope in list(zip(x, value, slope))[:200]:  # the scalar sweep on Python floats
            got, grads = adcli.grad(text, x=float(point))
            assert (got, grads["x"]) == (expected, expected_slope), (text, point)


@pytest.mark.parametrize("base, exponent", [
    (np.arange(5), 2.0),  # an integer base: x * x would keep its dtype, pow gives float64
    (np.linspace(0, 2, 5), 2.5), (np.linspace(0, 2, 5), np.float64(4.0)), (np.linspace(0, 2, 5), np.array(2.0)),
])
def test_other_powers_are_numpys(base, exponent):
    got = PRIMITIVES["pow"].forward(base, exponent)
    expected = np.power(base, exponent)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
