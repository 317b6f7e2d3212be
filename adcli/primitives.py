"""The primitive table: every operation adcli knows, in one place.

Each entry gives the primitive's name, arity, NumPy forward and one vector-Jacobian
product (VJP) per argument. A VJP is called as `vjp(op, g, ans, *args, **params)`:
`g` is the cotangent of the result, `ans` the forward result, `args` the operands and
`op(name, *operands, **params)` applies another primitive of this table. VJPs use only
`op` and the arithmetic operators (+ - * / unary -, which are the table's add, sub, mul,
div and neg), so the same rule runs on NumPy values (the reverse sweep) or on traced
slots (recording the reverse sweep as a new program, which is how Hessians and nth
derivatives are made). A VJP of None means the result does not depend on that argument
smoothly (its cotangent is zero), so the sweep skips it.

Edge conventions follow PyTorch float64 (derivatives.yaml): abs'(0)=0, relu'(0)=0,
d/dx x^0 = 0, the exponent's gradient of 0^y (y >= 0) is 0, atan2's at (0, 0) is 0,
ties of max/min share the gradient evenly. So do its nan and inf patterns: masks are
selects (`where`), not products, wherever PyTorch selects (relu, max/min), and products
wherever PyTorch multiplies (abs, pow's exponent); sign/floor/ceil pass an explicit zero
cotangent on, so an infinite local derivative upstream still makes nan, as in PyTorch.
tests/reference/torch_oracle.py compares the whole table with torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

Vjp = Callable[..., Any]


@dataclass(frozen=True)
class Primitive:
    name: str
    arity: int | None  # None: any number of operands (array literals)
    forward: Callable[..., Any]
    vjps: tuple[Vjp | None, ...]
    broadcasts: bool = False  # NumPy-broadcasts its operands; cotangents are summed back
    elementwise: bool = False  # entry i of the result needs only entry i of each (broadcast) operand
    public: bool = True  # callable by name in the expression language
    kink: Callable[..., Any] | None = None  # operands -> True where finite differences mislead
    params: tuple[str, ...] = field(default=())  # keyword parameters (static, not operands)


def sum_to_shape(value: Any, shape: tuple[int, ...]) -> Any:
    """Undo NumPy broadcasting: sum `value` down to `shape`."""
    value_shape = np.shape(value)
    if value_shape == shape:
        return value
    extra = len(value_shape) - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, size in enumerate(shape) if size == 1 and value_shape[extra + i] != 1
    )
    summed = np.sum(value, axis=axes, keepdims=True) if axes else value
    return np.reshape(summed, shape)


def _expand(g: Any, x: Any, axis: int | None, mean: bool) -> Any:
    """Broadcast a reduction's cotangent back over the reduced axis (divided by the count for mean)."""
    x_shape = np.shape(x)
    if axis is not None:
        g = np.expand_dims(g, axis)
    out = np.broadcast_to(g, x_shape)
    if mean:
        count = x_shape[axis] if axis is not None else np.size(x)
        return out / count
    return np.array(out)


def _reduction_axis(x: Any, axis: int | None) -> int | None:
    if axis is None:
        return None
    ndim = np.ndim(x)
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(f"axis {axis} is out of bounds for an array of dimension {ndim}")
    return axis % ndim


def _tie_share(x: Any, ans: Any, axis: int | None) -> Any:
    """Where x attains its max/min, 1/(number of ties); elsewhere 0 (torch.amax's rule)."""
    hits = (x == (ans if axis is None else np.expand_dims(ans, axis))).astype(np.float64)
    count = np.sum(hits, axis=axis, keepdims=axis is not None)
    return hits / count


def _prod_others(x: Any, axis: int | None) -> Any:
    """For each element, the product of all the others along `axis`.

    As PyTorch's prod backward: the product divided by the element when x has no zero (so an
    infinite element gives nan), else exact products of the elements before and after it.
    """
    if np.ndim(x) == 0:
        return np.float64(1.0)
    if not np.any(np.equal(x, 0)):
        return np.prod(x, axis=axis, keepdims=True) / x
    flat = axis is None
    values = np.reshape(x, -1) if flat else np.asarray(x)
    ax = 0 if flat else axis
    ones_shape = list(values.shape)
    ones_shape[ax] = 1
    ones = np.ones(ones_shape)
    left = np.cumprod(np.concatenate([ones, values], axis=ax), axis=ax)
    left = np.take(left, range(values.shape[ax]), axis=ax)
    right = np.flip(np.cumprod(np.flip(np.concatenate([values, ones], axis=ax), ax), axis=ax), ax)
    right = np.take(right, range(1, values.shape[ax] + 1), axis=ax)
    result = left * right
    return np.reshape(result, np.shape(x)) if flat else result


def _matmul_grad_a(g: Any, a: Any, b: Any) -> Any:
    a_ndim, b_ndim = np.ndim(a), np.ndim(b)
    if a_ndim == 1 and b_ndim == 1:
        grad = g * b
    elif a_ndim == 1:
        grad = np.matmul(b, g[..., None])[..., 0]
    elif b_ndim == 1:
        grad = g[..., :, None] * b
    else:
        grad = np.matmul(g, np.swapaxes(b, -1, -2))
    return sum_to_shape(grad, np.shape(a))


def _matmul_grad_b(g: Any, a: Any, b: Any) -> Any:
    a_ndim, b_ndim = np.ndim(a), np.ndim(b)
    if a_ndim == 1 and b_ndim == 1:
        grad = g * a
    elif a_ndim == 1:
        grad = a[:, None] * np.asarray(g)[..., None, :]
    elif b_ndim == 1:
        grad = np.matmul(np.swapaxes(a, -1, -2), g[..., None])[..., 0]
    else:
        grad = np.matmul(np.swapaxes(a, -1, -2), g)
    return sum_to_shape(grad, np.shape(b))


def _unindex(h: Any, ref: Any, index: int) -> Any:
    out = np.zeros(np.shape(ref))
    out[index] = h
    return out


def _softplus(x: Any) -> Any:
    # torch.nn.functional.softplus with beta=1, threshold=20
    return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))


def _softplus_slope(x: Any) -> Any:
    # PyTorch's softplus_backward: z / (z + 1) with z = exp(x), 1 above the threshold
    z = np.exp(np.minimum(x, 20))
    return np.where(x > 20, 1.0, z / (z + 1.0))


_erf_array = np.vectorize(math.erf, otypes=[np.float64])


def _erf(x: Any) -> Any:
    return _erf_array(x) if np.ndim(x) else np.float64(math.erf(x))


def _sign(x: Any) -> Any:
    return np.nan_to_num(np.sign(x), nan=0.0)  # torch.sign(nan) is 0


def _is_integer(x: Any) -> Any:
    return np.equal(np.floor(x), x)


def _unary(name: str, forward: Callable, vjp: Vjp | None, kink: Callable | None = None) -> Primitive:
    return Primitive(name, 1, forward, (vjp,), kink=kink, elementwise=True)


def _binary(name: str, forward: Callable, vjp_a: Vjp | None, vjp_b: Vjp | None, kink: Callable | None = None,
            elementwise: bool = True) -> Primitive:
    return Primitive(name, 2, forward, (vjp_a, vjp_b), broadcasts=True, kink=kink, elementwise=elementwise)


def _internal(name: str, arity: int | None, forward: Callable, vjps: tuple, params: tuple[str, ...] = (),
              elementwise: bool = False) -> Primitive:
    return Primitive(name, arity, forward, vjps, public=False, params=params, elementwise=elementwise)


def _reduction(name: str, forward: Callable, vjp: Vjp, kink: Callable | None = None) -> Primitive:
    return Primitive(name, 1, forward, (vjp,), kink=kink, params=("axis",))


LN2 = math.log(2.0)
LN10 = 2.3025850929940455  # PyTorch's log10 constant (an ulp below ln 10), so its gradient matches bit for bit
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _pow_vjp_base(op, g, ans, x, y):
    return op("where", op("equal", y, 0.0), 0.0, g * (y * op("pow", x, y - 1.0)))


def _pow_vjp_exponent(op, g, ans, x, y):
    # The mask sits inside the product, as in PyTorch: an infinite g still makes nan there.
    masked = op("logical_and", op("equal", x, 0.0), op("greater_equal", y, 0.0))
    return g * op("where", masked, 0.0, ans * op("log", x))


def _zero_vjp(op, g, ans, x):
    # An explicit zero cotangent, not none: upstream, 0 * inf is nan, as in PyTorch.
    return op("broadcast_like", 0.0, g)


def _relu_vjp(op, g, ans, x):
    # PyTorch's threshold_backward: zero where the result is <= 0, g elsewhere (also where it is nan).
    return op("where", op("greater_equal", 0.0, ans), 0.0, g)


def _extremum_share(op, g, low, high):
    """g, masked to 0 where high > low and halved where they tie: PyTorch's maximum/minimum rule.

    maximum passes (operand, other), minimum (other, operand). A nan on either side keeps g.
    """
    return op("where", op("greater", high, low), 0.0, op("where", op("equal", low, high), 0.5 * g, g))


def _atan2_vjp(numerator_of):
    def vjp(op, g, ans, y, x):
        squared = y * y + x * x
        reciprocal = op("where", op("equal", squared, 0.0), 0.0, 1.0 / squared)  # PyTorch's order and mask
        return g * numerator_of(x, y) * reciprocal

    return vjp


def _norm_vjp(op, g, ans, x, axis=None):
    norm = op("expand", ans, x, axis=axis)
    return op("expand", g, x, axis=axis) * op("where", op("equal", norm, 0.0), 0.0, x / norm)


def _extremum_vjp(op, g, ans, x, axis=None):
    return op("expand", g, x, axis=axis) * op("tie_share", x, ans, axis=axis)


def _prod_vjp(op, g, ans, x, axis=None):
    return op("expand", g, x, axis=axis) * op("prod_others", x, axis=axis)


def _prod_others_vjp(op, g, ans, x, axis=None):
    # d(prod of others_i)/dx_j summed against g; exact away from zeros (documented limit).
    total = op("expand", op("sum", g * ans, axis=axis), x, axis=axis)
    return (total - g * ans) / x


def _stack_vjp(op, g, ans, *operands, index):
    return op("index", g, index=index)


_TABLE: tuple[Primitive, ...] = (
    # arithmetic
    _binary("add", np.add, lambda op, g, ans, a, b: g, lambda op, g, ans, a, b: g),
    _binary("sub", np.subtract, lambda op, g, ans, a, b: g, lambda op, g, ans, a, b: -g),
    _binary("mul", np.multiply, lambda op, g, ans, a, b: g * b, lambda op, g, ans, a, b: g * a),
    _binary("div", np.true_divide, lambda op, g, ans, a, b: g / b, lambda op, g, ans, a, b: -g * (ans / b)),
    _binary("pow", np.power, _pow_vjp_base, _pow_vjp_exponent,
            kink=lambda x, y: (x == 0) & ~((y >= 0) & _is_integer(y))),  # x^2 is smooth at 0, x^0.5 is not
    _unary("neg", np.negative, lambda op, g, ans, x: -g),
    _binary("matmul", np.matmul,
            lambda op, g, ans, a, b: op("matmul_grad_a", g, a, b),
            lambda op, g, ans, a, b: op("matmul_grad_b", g, a, b), elementwise=False),
    # elementwise functions
    _unary("sin", np.sin, lambda op, g, ans, x: g * op("cos", x)),
    _unary("cos", np.cos, lambda op, g, ans, x: -g * op("sin", x)),
    _unary("tan", np.tan, lambda op, g, ans, x: g * (1.0 + ans * ans)),
    _unary("asin", np.arcsin, lambda op, g, ans, x: g * op("rsqrt", 1.0 - x * x), kink=lambda x: np.abs(x) == 1),
    _unary("acos", np.arccos, lambda op, g, ans, x: -g * op("rsqrt", 1.0 - x * x), kink=lambda x: np.abs(x) == 1),
    _unary("atan", np.arctan, lambda op, g, ans, x: g / (x * x + 1.0)),
    _unary("sinh", np.sinh, lambda op, g, ans, x: g * op("cosh", x)),
    _unary("cosh", np.cosh, lambda op, g, ans, x: g * op("sinh", x)),
    _unary("tanh", np.tanh, lambda op, g, ans, x: g * (1.0 - ans * ans)),
    _unary("asinh", np.arcsinh, lambda op, g, ans, x: g * op("rsqrt", x * x + 1.0)),
    _unary("acosh", np.arccosh, lambda op, g, ans, x: g * op("rsqrt", x * x - 1.0), kink=lambda x: x == 1),
    _unary("atanh", np.arctanh, lambda op, g, ans, x: g / (1.0 - x * x), kink=lambda x: np.abs(x) == 1),
    _unary("exp", np.exp, lambda op, g, ans, x: g * ans),
    _unary("expm1", np.expm1, lambda op, g, ans, x: g * (ans + 1.0)),
    _unary("log", np.log, lambda op, g, ans, x: g / x, kink=lambda x: x == 0),
    _unary("log2", np.log2, lambda op, g, ans, x: g / (x * LN2), kink=lambda x: x == 0),
    _unary("log10", np.log10, lambda op, g, ans, x: g / (x * LN10), kink=lambda x: x == 0),
    _unary("log1p", np.log1p, lambda op, g, ans, x: g / (x + 1.0), kink=lambda x: x == -1),
    _unary("sqrt", np.sqrt, lambda op, g, ans, x: g / (2.0 * ans), kink=lambda x: x == 0),
    _unary("cbrt", np.cbrt, lambda op, g, ans, x: g / (3.0 * ans) / ans, kink=lambda x: x == 0),
    _unary("abs", np.abs, lambda op, g, ans, x: g * op("sign", x), kink=lambda x: x == 0),
    _unary("sign", _sign, _zero_vjp, kink=lambda x: x == 0),
    _unary("floor", np.floor, _zero_vjp, kink=_is_integer),
    _unary("ceil", np.ceil, _zero_vjp, kink=_is_integer),
    _unary("sigmoid", lambda x: 1.0 / (1.0 + np.exp(-x)), lambda op, g, ans, x: g * (1.0 - ans) * ans),
    _unary("relu", lambda x: np.maximum(x, 0.0), _relu_vjp, kink=lambda x: x == 0),
    _unary("softplus", _softplus, lambda op, g, ans, x: g * op("softplus_slope", x)),
    _unary("erf", _erf, lambda op, g, ans, x: TWO_OVER_SQRT_PI * op("exp", -(x * x)) * g),
    _binary("atan2", np.arctan2, _atan2_vjp(lambda x, y: x), _atan2_vjp(lambda x, y: -y),
            kink=lambda y, x: (y == 0) & (x <= 0)),  # the origin and the branch cut, where it jumps by 2 pi
    _binary("hypot", np.hypot, lambda op, g, ans, x, y: g * x / ans, lambda op, g, ans, x, y: g * y / ans,
            kink=lambda x, y: (x == 0) & (y == 0)),
    _binary("maximum", np.maximum,
            lambda op, g, ans, a, b: _extremum_share(op, g, a, b), lambda op, g, ans, a, b: _extremum_share(op, g, b, a),
            kink=lambda a, b: a == b),
    _binary("minimum", np.minimum,
            lambda op, g, ans, a, b: _extremum_share(op, g, b, a), lambda op, g, ans, a, b: _extremum_share(op, g, a, b),
            kink=lambda a, b: a == b),
    # arrays
    Primitive("transpose", 1, np.transpose, (lambda op, g, ans, x: op("transpose", g),)),
    _reduction("sum", lambda x, axis=None: np.sum(x, axis=_reduction_axis(x, axis)),
               lambda op, g, ans, x, axis=None: op("expand", g, x, axis=axis)),
    _reduction("mean", lambda x, axis=None: np.mean(x, axis=_reduction_axis(x, axis)),
               lambda op, g, ans, x, axis=None: op("expand", g, x, axis=axis, mean=True)),
    _reduction("prod", lambda x, axis=None: np.prod(x, axis=_reduction_axis(x, axis)), _prod_vjp),
    _reduction("norm", lambda x, axis=None: np.sqrt(np.sum(x * x, axis=_reduction_axis(x, axis))), _norm_vjp,
               kink=lambda x, axis=None: np.all(x == 0)),
    _reduction("amax", lambda x, axis=None: np.max(x, axis=_reduction_axis(x, axis)), _extremum_vjp,
               kink=lambda x, axis=None: np.any(np.sum(_tie_share(x, np.max(x, axis=axis), axis) > 0, axis=axis) > 1)),
    _reduction("amin", lambda x, axis=None: np.min(x, axis=_reduction_axis(x, axis)), _extremum_vjp,
               kink=lambda x, axis=None: np.any(np.sum(_tie_share(x, np.min(x, axis=axis), axis) > 0, axis=axis) > 1)),
    _internal("stack", None, lambda *xs: np.stack(xs), (_stack_vjp,)),
    # helpers that VJPs use; each is differentiable where the sweep needs it to be
    _internal("rsqrt", 1, lambda x: 1.0 / np.sqrt(x), (lambda op, g, ans, x: -0.5 * g * ans * ans * ans,),
              elementwise=True),
    _internal("softplus_slope", 1, _softplus_slope,
              (lambda op, g, ans, x: g * op("where", op("greater", x, 20.0), 0.0, ans * (1.0 - ans)),),
              elementwise=True),
    _internal("where", 3, np.where, (None, lambda op, g, ans, c, a, b: op("sum_to_like", op("where", c, g, 0.0), a),
                                     lambda op, g, ans, c, a, b: op("sum_to_like", op("where", c, 0.0, g), b)),
              elementwise=True),
    _internal("expand", 2, lambda g, x, axis=None, mean=False: _expand(g, x, axis, mean),
              (lambda op, g, ans, h, x, axis=None, mean=False: op("mean" if mean else "sum", g, axis=axis), None),
              params=("axis", "mean")),
    _internal("sum_to_like", 2, lambda g, x: sum_to_shape(g, np.shape(x)),
              (lambda op, g, ans, h, x: op("broadcast_like", g, h), None)),
    _internal("broadcast_like", 2, lambda g, x: np.broadcast_to(g, np.shape(x)).copy(),
              (lambda op, g, ans, h, x: op("sum_to_like", g, h), None)),
    _internal("matmul_grad_a", 3, _matmul_grad_a,
              (lambda op, h, ans, g, a, b: op("matmul", h, b), None,
               lambda op, h, ans, g, a, b: op("matmul_grad_b", g, h, b))),
    _internal("matmul_grad_b", 3, _matmul_grad_b,
              (lambda op, h, ans, g, a, b: op("matmul", a, h),
               lambda op, h, ans, g, a, b: op("matmul_grad_a", g, a, h), None)),
    _internal("index", 1, lambda x, index: np.asarray(x)[index],
              (lambda op, g, ans, x, index: op("unindex", g, x, index=index),), params=("index",)),
    _internal("unindex", 2, _unindex, (lambda op, g, ans, h, x, index: op("index", g, index=index), None),
              params=("index",)),
    _internal("prod_others", 1, lambda x, axis=None: _prod_others(x, _reduction_axis(x, axis)),
              (_prod_others_vjp,), params=("axis",)),
    # masks: piecewise-constant, so their cotangents are zero
    _internal("tie_share", 2, _tie_share, (None, None), params=("axis",)),
    _internal("equal", 2, np.equal, (None, None), elementwise=True),
    _internal("greater", 2, lambda a, b: np.greater(a, b).astype(np.float64), (None, None), elementwise=True),
    _internal("greater_equal", 2, np.greater_equal, (None, None), elementwise=True),
    _internal("logical_and", 2, np.logical_and, (None, None), elementwise=True),
)

PRIMITIVES: dict[str, Primitive] = {primitive.name: primitive for primitive in _TABLE}

# The language's functions: name -> {number of positional operands: primitive}.
FUNCTIONS: dict[str, dict[int, str]] = {}
_SPELLED_OTHERWISE = {"add", "sub", "mul", "div", "neg", "matmul", "maximum", "minimum", "amax", "amin"}
for _primitive in _TABLE:
    if _primitive.public and _primitive.name not in _SPELLED_OTHERWISE:
        FUNCTIONS.setdefault(_primitive.name, {})[_primitive.arity] = _primitive.name
FUNCTIONS["max"] = {1: "amax", 2: "maximum"}
FUNCTIONS["min"] = {1: "amin", 2: "minimum"}
FUNCTIONS["dot"] = {2: "matmul"}
FUNCTIONS["log"][2] = "log_base"  # log(x, base) is log(x) / log(base), built by the compiler

REDUCTIONS = frozenset(("sum", "mean", "prod", "norm", "amax", "amin"))
