"""The primitive table: every operation adcli knows, in one place.

Each entry gives the primitive's name, arity, NumPy forward, one vector-Jacobian
product (VJP) per argument and, for elementwise ones, the rule of Taylor mode (series.py).
A VJP is called as `vjp(op, g, ans, *args, **params)`: `g` is the cotangent of the
result, `ans` the forward result, `args` the operands and `op(name, *operands, **params)`
applies another primitive of this table. VJPs use only
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

import functools
import math
import operator
from typing import Any, Callable, NamedTuple

from ..lazy_numpy import np

Vjp = Callable[..., Any]


class Primitive(NamedTuple):  # a NamedTuple: a frozen dataclass costs every start-up more
    name: str
    arity: int | None  # None: any number of operands (array literals)
    forward: Callable[..., Any]
    vjps: tuple[Vjp | None, ...]
    broadcasts: bool = False  # NumPy-broadcasts its operands; cotangents are summed back
    elementwise: bool = False  # entry i of the result needs only entry i of each (broadcast) operand
    public: bool = True  # callable by name in the expression language
    kink: Callable[..., Any] | None = None  # operands -> True where finite differences mislead
    params: tuple[str, ...] = ()  # keyword parameters (static, not operands)
    # The same function on Python floats, for tape.py's scalar sweep: it may raise (a domain
    # error) where NumPy gives an IEEE nan or inf, and the sweep then hands over to NumPy.
    # None: NumPy only.
    scalar: Callable[..., Any] | None = None
    slice_wise: bool = False  # each slice along `axis` on its own (axis None: the flattened array)
    # Taylor mode's rule: the result's truncated power series from the operands' (series.py's
    # Series). None: no series rule (arrays, reductions).
    taylor: Callable[..., Any] | None = None
    # operands -> a function of the first operand that computes the forward with the arithmetic
    # operators, or None; a chunk plan calls it on its symbols, recording each operation as a step.
    by_operators: Callable[..., Any] | None = None


class OnFirstCall:
    """`<module>.<name>`, looked up at its first call: building the table must import neither NumPy
    nor series.py (which only Taylor mode needs)."""

    __slots__ = ("module", "name", "function")

    def __init__(self, module: Callable[[], Any], name: str):
        self.module = module
        self.name = name
        self.function: Callable[..., Any] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.function is None:
            self.function = getattr(self.module(), self.name)
        return self.function(*args, **kwargs)


def _series_module() -> Any:
    from . import series
    return series


def _numpy(name: str) -> OnFirstCall:  # as the table spells it: _numpy("sin")
    return OnFirstCall(lambda: np, name)


def _series(name: str) -> OnFirstCall:  # the Taylor rule series.<name>: _series("sin")
    return OnFirstCall(_series_module, name)


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


def _expand(g: Any, x: Any, axis: int | None, mean: bool, keepdims: bool = False) -> Any:
    """Broadcast a reduction's cotangent back over the reduced axis (divided by the count for mean)."""
    x_shape = np.shape(x)
    if axis is not None and not keepdims:
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


def _mean(x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
    """np.mean; a mean of no entries is nan, as PyTorch's, without NumPy's RuntimeWarning reaching a library user."""
    if (np.size(x) if axis is None else np.shape(x)[axis]) == 0:
        return np.sum(x, axis=axis, keepdims=keepdims) * np.nan
    return np.mean(x, axis=axis, keepdims=keepdims)


def _tie_share(x: Any, ans: Any, axis: int | None, keepdims: bool = False) -> Any:
    """Where x attains its max/min, 1/(number of ties); elsewhere 0 (torch.amax's rule)."""
    hits = (x == (ans if axis is None or keepdims else np.expand_dims(ans, axis))).astype(np.float64)
    count = np.sum(hits, axis=axis, keepdims=axis is not None)
    return hits / count


def _kept_shape(x: Any, axis: int | None) -> tuple[int, ...]:
    """x's shape after a reduction along `axis` (every axis for None) that keeps the reduced axes with size 1."""
    shape = np.shape(x)
    if axis is None:
        return (1,) * len(shape)
    axis = _reduction_axis(x, axis)
    return shape[:axis] + (1,) + shape[axis + 1:]


def _slice_axis(x: Any, axis: int) -> int | None:
    """The axis softmax works along; a scalar is one slice of one element (PyTorch takes dim 0 or -1 there)."""
    if np.ndim(x) == 0 and axis in (0, -1):
        return None
    return _reduction_axis(x, axis)


def _shifted(x: Any, axis: int | None) -> Any:
    """x minus its max along the axis, so that exp cannot overflow (PyTorch's softmax kernels)."""
    return x - np.max(x, axis=axis, keepdims=True)


def _softmax(x: Any, axis: int = -1) -> Any:
    exps = np.exp(_shifted(x, _slice_axis(x, axis)))
    return exps / np.sum(exps, axis=_slice_axis(x, axis), keepdims=True)


def _log_softmax(x: Any, axis: int = -1) -> Any:
    shifted = _shifted(x, _slice_axis(x, axis))
    return shifted - np.log(np.sum(np.exp(shifted), axis=_slice_axis(x, axis), keepdims=True))


def _logsumexp(x: Any, axis: int | None, keepdims: bool) -> Any:
    """log(sum(exp(x))) as PyTorch computes it: the max taken out first, except an infinite max (then 0)."""
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isinf(top), 0.0, top)
    total = np.log(np.sum(np.exp(x - top), axis=axis, keepdims=keepdims))
    return total + (top if keepdims else np.reshape(top, np.shape(total)))


def _prod_others(x: Any, axis: int | None) -> Any:
    """For each element, the product of all the others along `axis`.

    As PyTorch's prod backward: the product divided by the element when x has no zero (so an
    infinite element gives nan), else exact products of the elements before and after it.
    """
    if np.ndim(x) == 0:
        return np.float64(1.0)
    if not np.any(np.equal(x, 0)):
        return np.prod(x, axis=axis, keepdims=True) / x
    values, restore = _axis_first(x, axis)
    ones = np.ones((1,) + values.shape[1:])
    before = np.cumprod(np.concatenate([ones, values[:-1]]), axis=0)
    after = np.cumprod(np.concatenate([ones, values[:0:-1]]), axis=0)[::-1]  # multiplied from the far end
    return restore(before * after)


def _axis_first(x: Any, axis: int | None) -> tuple[Any, Callable[[Any], Any]]:
    """x as float64 with `axis` first (axis None: flattened in C order), and how to put a result back."""
    values = np.asarray(x, dtype=np.float64)
    if axis is None:
        shape = values.shape
        return values.reshape(-1), lambda out: out.reshape(shape)
    return np.moveaxis(values, axis, 0), lambda out: np.moveaxis(out, 0, axis)


def _shift(x: Any, axis: int | None, step: int) -> Any:
    """x moved one place along `axis`, the vacated end zero: out[j] = x[j-1] (step 1) or x[j+1] (step -1)."""
    values, restore = _axis_first(x, axis)
    out = np.zeros_like(values)
    if step > 0:
        out[1:] = values[:-1]
    else:
        out[:-1] = values[1:]
    return restore(out)


def _scan(b: Any, a: Any, axis: int | None, reverse: bool) -> Any:
    """The linear recurrence s[j] = b[j] + a[j] * s[j-1] along `axis` (s[j+1] when reverse), s[first] = b[first].

    Sums of products of runs of a, with no division, so exact beside zeros. It takes a
    Python step per element of the axis, which second and higher derivatives of prod pay.
    """
    bs, restore = _axis_first(b, axis)
    coefficients, _ = _axis_first(a, axis)
    if bs.ndim == 1:  # Python floats: the same IEEE arithmetic, far less per step than NumPy scalars
        return restore(np.array(_scan_floats(bs.tolist(), coefficients.tolist(), reverse), dtype=np.float64))
    return restore(_scan_floats(bs.copy(), coefficients, reverse))


def _scan_floats(out: Any, coefficients: Any, reverse: bool) -> Any:
    """_scan in place on a list or an array, along its first axis."""
    for j in range(len(out) - 2, -1, -1) if reverse else range(1, len(out)):
        out[j] += coefficients[j] * out[j + 1 if reverse else j - 1]
    return out


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


Index = Any  # an int (the first axis), or a tuple of entries: an int, or a slice as (start, stop, step)


def _numpy_index(index: Index) -> Any:
    if isinstance(index, int):
        return index
    return tuple(entry if isinstance(entry, int) else slice(*entry) for entry in index)


def _take(x: Any, index: Index) -> Any:
    """x[index] by NumPy's rules; an integer out of range names its axis (the parser puts it last in the tuple)."""
    values = np.asarray(x)
    if not isinstance(index, int):
        axis, entry = len(index) - 1, index[-1]
        if values.ndim <= axis:
            dimensions = "a scalar" if values.ndim == 0 else f"an array of {values.ndim} dimension" + "s" * (values.ndim > 1)
            raise IndexError(f"too many indices: this one is for axis {axis}, but the value is {dimensions}")
        size = values.shape[axis]
        if isinstance(entry, int) and not -size <= entry < size:
            raise IndexError(f"index {entry} is out of range for axis {axis}, of size {size}")
    return values[_numpy_index(index)]


def _untake(h: Any, ref: Any, index: Index) -> Any:
    """Zeros of ref's shape with h scattered where `index` took it from: the transpose of _take."""
    out = np.zeros(np.shape(ref))
    out[_numpy_index(index)] = h
    return out


def _softplus(x: Any) -> Any:
    # torch.nn.functional.softplus with beta=1, threshold=20
    return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))


def _softplus_slope(x: Any) -> Any:
    # PyTorch's softplus_backward: z / (z + 1) with z = exp(x), 1 above the threshold
    z = np.exp(np.minimum(x, 20))
    return np.where(x > 20, 1.0, z / (z + 1.0))


@functools.cache
def _erf_array() -> Callable[[Any], Any]:
    return np.vectorize(math.erf, otypes=[np.float64])


def _erf(x: Any) -> Any:
    return _erf_array()(x) if np.ndim(x) else np.float64(math.erf(x))


def _sign(x: Any) -> Any:
    return np.nan_to_num(np.sign(x), nan=0.0)  # torch.sign(nan) is 0


def _is_integer(x: Any) -> Any:
    return np.equal(np.floor(x), x)


class _Power(OnFirstCall):
    """x^y as PyTorch computes a float64 tensor to a number: x*x for 2, x*x*x for 3, else NumPy's power.

    aten's pow multiplies for those two exponents, which is also several times cheaper than pow.
    """

    __slots__ = ()

    def __call__(self, x: Any, y: Any) -> Any:
        products = power_as_products(x, y)
        return products(x) if products is not None else super().__call__(x, y)


power = _Power(lambda: np, "power")


def power_as_products(x: Any, y: Any) -> Callable[[Any], Any] | None:
    """How `power` spells x^y with the * operator (a function of x), or None where it calls pow."""
    if not isinstance(y, float) or getattr(x, "dtype", None) != np.float64:
        return None  # a varying exponent, or a base that is not float64 (x * x keeps an integer dtype)
    return _square if y == 2.0 else _cube if y == 3.0 else None


def _square(x: Any) -> Any:
    return x * x


def _cube(x: Any) -> Any:
    return x * x * x  # (x * x) * x, PyTorch's order


def _scalar_power(x: float, y: float) -> float:
    return x * x if y == 2.0 else x * x * x if y == 3.0 else math.pow(x, y)


# Scalar forms that NumPy's functions do not have in `math`, with NumPy's signed zeros and ties.
def _scalar_sign(x: float) -> float:
    return float((x > 0.0) - (x < 0.0))


def _scalar_floor(x: float) -> float:
    return math.copysign(float(math.floor(x)), x)  # floor(-0.0) is -0.0


def _scalar_ceil(x: float) -> float:
    return math.copysign(float(math.ceil(x)), x)  # ceil(-0.5) is -0.0


def _scalar_maximum(a: float, b: float) -> float:
    return a if a > b else b  # as np.maximum: a tie (0.0 and -0.0) gives b


def _scalar_minimum(a: float, b: float) -> float:
    return a if a < b else b


def _scalar_relu(x: float) -> float:
    return x if x > 0.0 else 0.0


def _scalar_softplus(x: float) -> float:
    return x if x > 20.0 else math.log1p(math.exp(x))


def _scalar_softplus_slope(x: float) -> float:
    if x > 20.0:
        return 1.0
    z = math.exp(x)
    return z / (z + 1.0)


def _gelu(x: Any) -> Any:
    return x * 0.5 * (1.0 + _erf(x * SQRT_HALF))  # PyTorch's GeluKernel, approximate='none'


def _scalar_gelu(x: float) -> float:
    return x * 0.5 * (1.0 + math.erf(x * SQRT_HALF))


def _elu(x: Any, alpha: float = 1.0) -> Any:
    return np.where(x <= 0, np.expm1(x) * alpha, x)


def _leaky_relu(x: Any, slope: float = 0.01) -> Any:
    return np.where(x > 0, x, x * slope)


def _clip(x: Any, lo: Any, hi: Any, closed: bool = False) -> Any:
    return np.minimum(np.maximum(x, lo), hi)  # torch.clamp: hi wins when lo > hi; a nan anywhere gives nan


def _scalar_clip(x: float, lo: float, hi: float, closed: bool = False) -> float:
    return _scalar_minimum(_scalar_maximum(x, lo), hi) if x == x and lo == lo and hi == hi else math.nan


def _unary(name: str, forward: Callable, vjp: Vjp | None, kink: Callable | None = None,
           scalar: Callable | None = None, taylor: Callable | None = None) -> Primitive:
    return Primitive(name, 1, forward, (vjp,), kink=kink, elementwise=True, scalar=scalar, taylor=taylor)


def _binary(name: str, forward: Callable, vjp_a: Vjp | None, vjp_b: Vjp | None, kink: Callable | None = None,
            elementwise: bool = True, scalar: Callable | None = None, taylor: Callable | None = None,
            by_operators: Callable | None = None) -> Primitive:
    return Primitive(name, 2, forward, (vjp_a, vjp_b), broadcasts=True, kink=kink, elementwise=elementwise,
                     scalar=scalar, taylor=taylor, by_operators=by_operators)


def _internal(name: str, arity: int | None, forward: Callable, vjps: tuple, params: tuple[str, ...] = (),
              elementwise: bool = False, scalar: Callable | None = None, slice_wise: bool = False,
              taylor: Callable | None = None) -> Primitive:
    return Primitive(name, arity, forward, vjps, public=False, params=params, elementwise=elementwise, scalar=scalar,
                     slice_wise=slice_wise, taylor=taylor)


def _comparison(name: str, forward: Callable, scalar: Callable) -> Primitive:
    """1.0 where the comparison holds, else 0.0: piecewise constant, so no gradient; a kink where a == b."""
    return _binary(name, lambda a, b: forward(a, b).astype(np.float64), None, None, kink=lambda a, b: a == b,
                   scalar=lambda a, b: float(scalar(a, b)), taylor=_series(name))


def _reduction(name: str, forward: Callable, vjp: Vjp, kink: Callable | None = None) -> Primitive:
    """A reduction over all elements, or along `axis`; `keepdims` keeps the reduced axes with size 1."""
    def reduce(x, axis=None, keepdims=False):
        return forward(x, axis=_reduction_axis(x, axis), keepdims=keepdims)

    return Primitive(name, 1, reduce, (vjp,), kink=kink, params=("axis", "keepdims"))


LN2 = math.log(2.0)
LN10 = 2.3025850929940455  # PyTorch's log10 constant (an ulp below ln 10), so its gradient matches bit for bit
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
SQRT_HALF = math.sqrt(0.5)  # M_SQRT1_2
GELU_PDF = TWO_OVER_SQRT_PI * SQRT_HALF * 0.5  # the normal density's factor, as PyTorch's GeluBackward spells it


def _gelu_vjp(op, g, ans, x):
    # PyTorch's GeluBackward: g * (cdf + x * pdf) of the standard normal.
    cdf = 0.5 * (1.0 + op("erf", x * SQRT_HALF))
    return g * (cdf + x * (op("exp", -0.5 * x * x) * GELU_PDF))


def _silu_vjp(op, g, ans, x):
    sigmoid = op("sigmoid", x)
    return g * sigmoid * (1.0 + x * (1.0 - sigmoid))


def _elu_vjp(op, g, ans, x, alpha=1.0):
    """g * alpha * exp(x) where x <= 0, else g (also for nan, as in PyTorch). The exponent is x only where
    x < 0, as PyTorch's elu_double_backward: the second derivative is 0 at 0, and exp never overflows."""
    negative = op("where", op("greater", 0.0, x), x, 0.0)
    return op("where", op("greater_equal", 0.0, x), g * alpha * op("exp", negative), g)


def _leaky_relu_vjp(op, g, ans, x, slope=0.01):
    return op("where", op("greater", x, 0.0), g, g * slope)


# clip(x, lo, hi). Constant bounds follow PyTorch 2.14's clamp: x's gradient flows strictly between the bounds
# (0 at them). Bounds that are variables carry `closed`, and follow PyTorch's clamp with tensor bounds:
# x's gradient flows at the bounds too, lo's where x < lo < hi, hi's where x > hi or hi < lo.
def _clip_vjp_x(op, g, ans, x, lo, hi, closed=False):
    above, below = ("greater_equal", "greater_equal") if closed else ("greater", "greater")
    return op("where", op("logical_and", op(above, x, lo), op(below, hi, x)), g, 0.0)


def _clip_vjp_lo(op, g, ans, x, lo, hi, closed=False):
    return op("where", op("logical_and", op("greater", lo, x), op("greater", hi, lo)), g, 0.0)


def _clip_vjp_hi(op, g, ans, x, lo, hi, closed=False):
    return op("where", op("greater", x, hi), g, op("where", op("greater", lo, hi), g, 0.0))


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


def _kept(keepdims: bool) -> dict[str, bool]:
    """The keepdims parameter as a reduction's helpers take it: absent unless set, so programs without it stay as they were."""
    return {"keepdims": True} if keepdims else {}


def _expanded(op, value, x, axis, keepdims):
    """A reduction's result (or cotangent) broadcast back over the operand's shape."""
    return op("expand", value, x, axis=axis, **_kept(keepdims))


def _sum_vjp(op, g, ans, x, axis=None, keepdims=False):
    return _expanded(op, g, x, axis, keepdims)


def _mean_vjp(op, g, ans, x, axis=None, keepdims=False):
    return op("expand", g, x, axis=axis, mean=True, **_kept(keepdims))


def _norm_vjp(op, g, ans, x, axis=None, keepdims=False):
    norm = _expanded(op, ans, x, axis, keepdims)
    return _expanded(op, g, x, axis, keepdims) * op("where", op("equal", norm, 0.0), 0.0, x / norm)


def _extremum_vjp(op, g, ans, x, axis=None, keepdims=False):
    return _expanded(op, g, x, axis, keepdims) * op("tie_share", x, ans, axis=axis, **_kept(keepdims))


def _extremum_kink(pick: str):
    """Ties of the max (min) along an axis: the gradient is shared there, and finite differences see one side.

    `pick` is np.max's or np.min's name: building the table must not import NumPy."""
    def kink(x, axis=None, keepdims=False):
        return np.any(np.sum(_tie_share(x, getattr(np, pick)(x, axis=axis), axis) > 0, axis=axis) > 1)

    return kink


def _prod_vjp(op, g, ans, x, axis=None, keepdims=False):
    return _expanded(op, g, x, axis, keepdims) * op("prod_others", x, axis=axis)


def _logsumexp_vjp(op, g, ans, x, axis=None, keepdims=False):
    # PyTorch's logsumexp_backward: g * exp(x - result), which is g times the softmax. The result and g keep
    # the reduced axes with size 1 and broadcast, rather than being copied out to x's shape.
    def kept(value):
        return value if keepdims else op("keep_axes", value, x, axis=axis)

    return kept(g) * op("exp", x - kept(ans))


def _softmax_vjp(op, g, ans, x, axis=-1):
    # PyTorch's _softmax_backward_data: y * (g - sum(g * y)) along the axis.
    return (g - op("slice_sum", g * ans, axis=axis)) * ans


def _log_softmax_vjp(op, g, ans, x, axis=-1):
    # PyTorch's _log_softmax_backward_data: g - exp(y) * sum(g) along the axis.
    return g - op("slice_sum", g, axis=axis) * op("exp", ans)


def _prod_others_vjp(op, g, ans, x, axis=None):
    """For each j, the sum over i != j of g_i times the product of x without x_i and x_j.

    Along an axis without zeros, PyTorch's formula (sum_i g_i ans_i - g_j ans_j) / x_j. Along one
    with a zero, that divides by zero, so there the products themselves: for i < j, the elements
    before i, those between i and j, and those after j, summed over i by linear scans (no
    division, so exact at every order, as PyTorch's cumprod-based rule is).
    """
    def shifted(value, step):
        return op("shift", value, axis=axis, step=step)

    def scan(b, a, reverse):
        return op("scan", b, a, axis=axis, reverse=reverse)

    zero = op("equal", x, 0.0)
    total = op("expand", op("sum", g * ans, axis=axis), x, axis=axis)
    divided = (total - g * ans) / op("where", zero, 1.0, x)  # zeros as ones: finite also where it is not used
    beside_zero = op("greater", op("expand", op("sum", op("where", zero, 1.0, 0.0), axis=axis), x, axis=axis), 0.0)
    x = op("where", beside_zero, x, 1.0)  # ones elsewhere: no inf there for a tangent sweep's zeros to meet
    ones = op("broadcast_like", 1.0, x)
    first, last = 1.0 - shifted(ones, 1), 1.0 - shifted(ones, -1)  # 1 at the axis's first (last) element
    before = scan(first, shifted(x, 1), False)  # the product of the elements before each
    after = scan(last, shifted(x, -1), True)
    earlier = scan(shifted(g * before, 1), shifted(x, 1), False)  # sum over i < j of g_i (before i) (between)
    later = scan(shifted(g * after, -1), shifted(x, -1), True)
    # Cotangent-carrying operands first: a NumPy array on the left would absorb a Handle.
    exact = earlier * after + later * before
    return op("where", beside_zero, exact, divided)


def _scan_vjp_b(op, g, ans, b, a, axis=None, reverse=False):
    # s is linear in b: its transpose is the same recurrence run the other way, a moved one place.
    return op("scan", g, op("shift", a, axis=axis, step=1 if reverse else -1), axis=axis, reverse=not reverse)


def _scan_vjp_a(op, g, ans, b, a, axis=None, reverse=False):
    # a[j] multiplies the previous s: the cotangent reaching s[j] times that s.
    return _scan_vjp_b(op, g, ans, b, a, axis, reverse) * op("shift", ans, axis=axis, step=-1 if reverse else 1)


def _stack_vjp(op, g, ans, *operands, index):
    return op("index", g, index=index)


_TABLE: tuple[Primitive, ...] = (
    # arithmetic
    _binary("add", _numpy("add"), lambda op, g, ans, a, b: g, lambda op, g, ans, a, b: g, scalar=operator.add,
            taylor=_series("add")),
    _binary("sub", _numpy("subtract"), lambda op, g, ans, a, b: g, lambda op, g, ans, a, b: -g, scalar=operator.sub,
            taylor=_series("sub")),
    _binary("mul", _numpy("multiply"), lambda op, g, ans, a, b: g * b, lambda op, g, ans, a, b: g * a,
            scalar=operator.mul, taylor=_series("mul")),
    _binary("div", _numpy("true_divide"), lambda op, g, ans, a, b: g / b, lambda op, g, ans, a, b: -g * (ans / b),
            scalar=operator.truediv, taylor=_series("div")),
    _binary("pow", power, _pow_vjp_base, _pow_vjp_exponent,
            kink=lambda x, y: (x == 0) & ~((y >= 0) & _is_integer(y)), scalar=_scalar_power,
            taylor=_series("power"), by_operators=power_as_products),  # x^2 is smooth at 0, x^0.5 is not
    _unary("neg", _numpy("negative"), lambda op, g, ans, x: -g, scalar=operator.neg, taylor=_series("neg")),
    _binary("matmul", _numpy("matmul"),
            lambda op, g, ans, a, b: op("matmul_grad_a", g, a, b),
            lambda op, g, ans, a, b: op("matmul_grad_b", g, a, b), elementwise=False),
    # elementwise functions
    _unary("sin", _numpy("sin"), lambda op, g, ans, x: g * op("cos", x), scalar=math.sin, taylor=_series("sin")),
    _unary("cos", _numpy("cos"), lambda op, g, ans, x: -g * op("sin", x), scalar=math.cos, taylor=_series("cos")),
    _unary("tan", _numpy("tan"), lambda op, g, ans, x: g * (1.0 + ans * ans), scalar=math.tan, taylor=_series("tan")),
    _unary("asin", _numpy("arcsin"), lambda op, g, ans, x: g * op("rsqrt", 1.0 - x * x), kink=lambda x: np.abs(x) == 1,
           scalar=math.asin, taylor=_series("asin")),
    _unary("acos", _numpy("arccos"), lambda op, g, ans, x: -g * op("rsqrt", 1.0 - x * x), kink=lambda x: np.abs(x) == 1,
           scalar=math.acos, taylor=_series("acos")),
    _unary("atan", _numpy("arctan"), lambda op, g, ans, x: g / (x * x + 1.0), scalar=math.atan, taylor=_series("atan")),
    _unary("sinh", _numpy("sinh"), lambda op, g, ans, x: g * op("cosh", x), scalar=math.sinh, taylor=_series("sinh")),
    _unary("cosh", _numpy("cosh"), lambda op, g, ans, x: g * op("sinh", x), scalar=math.cosh, taylor=_series("cosh")),
    _unary("tanh", _numpy("tanh"), lambda op, g, ans, x: g * (1.0 - ans * ans), scalar=math.tanh,
           taylor=_series("tanh")),
    _unary("asinh", _numpy("arcsinh"), lambda op, g, ans, x: g * op("rsqrt", x * x + 1.0), scalar=math.asinh,
           taylor=_series("asinh")),
    _unary("acosh", _numpy("arccosh"), lambda op, g, ans, x: g * op("rsqrt", x * x - 1.0), kink=lambda x: x == 1,
           scalar=math.acosh, taylor=_series("acosh")),
    _unary("atanh", _numpy("arctanh"), lambda op, g, ans, x: g / (1.0 - x * x), kink=lambda x: np.abs(x) == 1,
           scalar=math.atanh, taylor=_series("atanh")),
    _unary("exp", _numpy("exp"), lambda op, g, ans, x: g * ans, scalar=math.exp, taylor=_series("exp")),
    _unary("expm1", _numpy("expm1"), lambda op, g, ans, x: g * (ans + 1.0), scalar=math.expm1, taylor=_series("expm1")),
    _unary("log", _numpy("log"), lambda op, g, ans, x: g / x, kink=lambda x: x == 0, scalar=math.log,
           taylor=_series("log")),
    _unary("log2", _numpy("log2"), lambda op, g, ans, x: g / (x * LN2), kink=lambda x: x == 0, scalar=math.log2,
           taylor=_series("log2")),
    _unary("log10", _numpy("log10"), lambda op, g, ans, x: g / (x * LN10), kink=lambda x: x == 0, scalar=math.log10,
           taylor=_series("log10")),
    _unary("log1p", _numpy("log1p"), lambda op, g, ans, x: g / (x + 1.0), kink=lambda x: x == -1, scalar=math.log1p,
           taylor=_series("log1p")),
    _unary("sqrt", _numpy("sqrt"), lambda op, g, ans, x: g / (2.0 * ans), kink=lambda x: x == 0, scalar=math.sqrt,
           taylor=_series("sqrt")),
    _unary("cbrt", _numpy("cbrt"), lambda op, g, ans, x: g / (3.0 * ans) / ans, kink=lambda x: x == 0,
           scalar=getattr(math, "cbrt", None), taylor=_series("cbrt")),
    _unary("abs", _numpy("abs"), lambda op, g, ans, x: g * op("sign", x), kink=lambda x: x == 0, scalar=math.fabs,
           taylor=_series("absolute")),
    _unary("sign", _sign, _zero_vjp, kink=lambda x: x == 0, scalar=_scalar_sign, taylor=_series("sign")),
    _unary("floor", _numpy("floor"), _zero_vjp, kink=_is_integer, scalar=_scalar_floor, taylor=_series("floor")),
    _unary("ceil", _numpy("ceil"), _zero_vjp, kink=_is_integer, scalar=_scalar_ceil, taylor=_series("ceil")),
    _unary("sigmoid", lambda x: 1.0 / (1.0 + np.exp(-x)), lambda op, g, ans, x: g * (1.0 - ans) * ans,
           scalar=lambda x: 1.0 / (1.0 + math.exp(-x)), taylor=_series("sigmoid")),
    _unary("relu", lambda x: np.maximum(x, 0.0), _relu_vjp, kink=lambda x: x == 0, scalar=_scalar_relu,
           taylor=_series("relu")),
    _unary("softplus", _softplus, lambda op, g, ans, x: g * op("softplus_slope", x), scalar=_scalar_softplus,
           taylor=_series("softplus")),
    # The cotangent first (here and below): a NumPy array on the left would absorb a batched sweep's Handle.
    _unary("erf", _erf, lambda op, g, ans, x: g * (TWO_OVER_SQRT_PI * op("exp", -(x * x))), scalar=math.erf,
           taylor=_series("erf")),
    _unary("gelu", _gelu, _gelu_vjp, scalar=_scalar_gelu, taylor=_series("gelu")),
    _unary("silu", lambda x: x / (1.0 + np.exp(-x)), _silu_vjp, scalar=lambda x: x / (1.0 + math.exp(-x)),
           taylor=_series("silu")),
    Primitive("elu", 1, _elu, (_elu_vjp,), elementwise=True, params=("alpha",),
              kink=lambda x, alpha=1.0: (x == 0) & (alpha != 1.0),  # alpha 1: the first derivative is continuous
              scalar=lambda x, alpha=1.0: math.expm1(x) * alpha if x <= 0.0 else x, taylor=_series("elu")),
    Primitive("leaky_relu", 1, _leaky_relu, (_leaky_relu_vjp,), elementwise=True, params=("slope",),
              kink=lambda x, slope=0.01: (x == 0) & (slope != 1.0),
              scalar=lambda x, slope=0.01: x if x > 0.0 else x * slope, taylor=_series("leaky_relu")),
    Primitive("clip", 3, _clip, (_clip_vjp_x, _clip_vjp_lo, _clip_vjp_hi), broadcasts=True, elementwise=True,
              kink=lambda x, lo, hi, closed=False: (x == lo) | (x == hi), scalar=_scalar_clip,
              taylor=_series("clip")),
    _binary("atan2", _numpy("arctan2"), _atan2_vjp(lambda x, y: x), _atan2_vjp(lambda x, y: -y),
            kink=lambda y, x: (y == 0) & (x <= 0), scalar=math.atan2,
            taylor=_series("atan2")),  # the origin and the branch cut, where it jumps by 2 pi
    _binary("hypot", _numpy("hypot"), lambda op, g, ans, x, y: g * x / ans, lambda op, g, ans, x, y: g * y / ans,
            kink=lambda x, y: (x == 0) & (y == 0), scalar=math.hypot, taylor=_series("hypot")),
    _binary("maximum", _numpy("maximum"),
            lambda op, g, ans, a, b: _extremum_share(op, g, a, b), lambda op, g, ans, a, b: _extremum_share(op, g, b, a),
            kink=lambda a, b: a == b, scalar=_scalar_maximum, taylor=_series("maximum")),
    _binary("minimum", _numpy("minimum"),
            lambda op, g, ans, a, b: _extremum_share(op, g, b, a), lambda op, g, ans, a, b: _extremum_share(op, g, a, b),
            kink=lambda a, b: a == b, scalar=_scalar_minimum, taylor=_series("minimum")),
    # comparisons (the language's < <= > >= == !=)
    _comparison("lt", _numpy("less"), operator.lt),
    _comparison("le", _numpy("less_equal"), operator.le),
    _comparison("gt", _numpy("greater"), operator.gt),
    _comparison("ge", _numpy("greater_equal"), operator.ge),
    _comparison("eq", _numpy("equal"), operator.eq),
    _comparison("ne", _numpy("not_equal"), operator.ne),
    # arrays
    Primitive("transpose", 1, _numpy("transpose"), (lambda op, g, ans, x: op("transpose", g),)),
    _reduction("sum", _numpy("sum"), _sum_vjp),
    _reduction("mean", _mean, _mean_vjp),
    _reduction("prod", _numpy("prod"), _prod_vjp),
    _reduction("norm", lambda x, axis, keepdims: np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims)), _norm_vjp,
               kink=lambda x, axis=None, keepdims=False: np.all(x == 0)),
    _reduction("amax", _numpy("max"), _extremum_vjp, kink=_extremum_kink("max")),
    _reduction("amin", _numpy("min"), _extremum_vjp, kink=_extremum_kink("min")),
    _reduction("logsumexp", _logsumexp, _logsumexp_vjp),
    # along one axis (the last by default), as torch.softmax(x, dim)
    Primitive("softmax", 1, _softmax, (_softmax_vjp,), params=("axis",)),
    Primitive("log_softmax", 1, _log_softmax, (_log_softmax_vjp,), params=("axis",)),
    _internal("stack", None, lambda *xs: np.stack(xs), (_stack_vjp,)),
    # helpers that VJPs use; each is differentiable where the sweep needs it to be
    _internal("rsqrt", 1, lambda x: 1.0 / np.sqrt(x), (lambda op, g, ans, x: -0.5 * g * ans * ans * ans,),
              elementwise=True, scalar=lambda x: 1.0 / math.sqrt(x), taylor=_series("rsqrt")),
    _internal("softplus_slope", 1, _softplus_slope,
              (lambda op, g, ans, x: g * op("where", op("greater", x, 20.0), 0.0, ans * (1.0 - ans)),),
              elementwise=True, scalar=_scalar_softplus_slope, taylor=_series("softplus_slope")),
    _internal("where", 3, _numpy("where"), (None, lambda op, g, ans, c, a, b: op("sum_to_like", op("where", c, g, 0.0), a),
                                     lambda op, g, ans, c, a, b: op("sum_to_like", op("where", c, 0.0, g), b)),
              elementwise=True, scalar=lambda c, a, b: a if c else b, taylor=_series("where")),
    _internal("expand", 2, lambda g, x, axis=None, mean=False, keepdims=False: _expand(g, x, axis, mean, keepdims),
              (lambda op, g, ans, h, x, axis=None, mean=False, keepdims=False:
               op("mean" if mean else "sum", g, axis=axis, **_kept(keepdims)), None),
              params=("axis", "mean", "keepdims")),
    _internal("keep_axes", 2, lambda v, x, axis=None: np.reshape(v, _kept_shape(x, axis)),
              (lambda op, g, ans, v, x, axis=None: op("reshape_like", g, v), None), params=("axis",)),
    _internal("reshape_like", 2, lambda v, ref: np.reshape(v, np.shape(ref)),
              (lambda op, g, ans, v, ref: op("reshape_like", g, v), None)),
    _internal("slice_sum", 1, lambda x, axis=-1: np.sum(x, axis=_slice_axis(x, axis), keepdims=True),
              (lambda op, g, ans, x, axis=-1: op("broadcast_like", g, x),), params=("axis",)),
    _internal("sum_to_like", 2, lambda g, x: sum_to_shape(g, np.shape(x)),
              (lambda op, g, ans, h, x: op("broadcast_like", g, h), None), scalar=lambda g, x: g,
              taylor=_series("first_operand")),
    _internal("broadcast_like", 2, lambda g, x: np.broadcast_to(g, np.shape(x)).copy(),
              (lambda op, g, ans, h, x: op("sum_to_like", g, h), None), scalar=lambda g, x: g,
              taylor=_series("first_operand")),
    _internal("matmul_grad_a", 3, _matmul_grad_a,
              (lambda op, h, ans, g, a, b: op("matmul", h, b), None,
               lambda op, h, ans, g, a, b: op("matmul_grad_b", g, h, b))),
    _internal("matmul_grad_b", 3, _matmul_grad_b,
              (lambda op, h, ans, g, a, b: op("matmul", a, h),
               lambda op, h, ans, g, a, b: op("matmul_grad_a", g, a, h), None)),
    _internal("index", 1, _take, (lambda op, g, ans, x, index: op("unindex", g, x, index=index),), params=("index",)),
    _internal("unindex", 2, _untake, (lambda op, g, ans, h, x, index: op("index", g, index=index), None),
              params=("index",)),
    _internal("prod_others", 1, lambda x, axis=None: _prod_others(x, _reduction_axis(x, axis)),
              (_prod_others_vjp,), params=("axis",)),
    _internal("shift", 1, lambda x, axis=None, step=1: _shift(x, _reduction_axis(x, axis), step),
              (lambda op, g, ans, x, axis=None, step=1: op("shift", g, axis=axis, step=-step),),
              params=("axis", "step"), slice_wise=True),
    _internal("scan", 2, lambda b, a, axis=None, reverse=False: _scan(b, a, _reduction_axis(b, axis), reverse),
              (_scan_vjp_b, _scan_vjp_a), params=("axis", "reverse"), slice_wise=True),
    # masks: piecewise-constant, so their cotangents are zero
    _internal("tie_share", 2, _tie_share, (None, None), params=("axis", "keepdims")),
    _internal("equal", 2, _numpy("equal"), (None, None), elementwise=True, scalar=lambda a, b: float(a == b),
              taylor=_series("equal")),
    _internal("greater", 2, lambda a, b: np.greater(a, b).astype(np.float64), (None, None), elementwise=True,
              scalar=lambda a, b: float(a > b), taylor=_series("greater")),
    _internal("greater_equal", 2, _numpy("greater_equal"), (None, None), elementwise=True,
              scalar=lambda a, b: float(a >= b), taylor=_series("greater_equal")),
    _internal("logical_and", 2, _numpy("logical_and"), (None, None), elementwise=True,
              scalar=lambda a, b: float(bool(a) and bool(b)), taylor=_series("logical_and")),
)

PRIMITIVES: dict[str, Primitive] = {primitive.name: primitive for primitive in _TABLE}

# The language's functions: name -> {number of positional operands: primitive}.
FUNCTIONS: dict[str, dict[int, str]] = {}
_SPELLED_OTHERWISE = {"add", "sub", "mul", "div", "neg", "matmul", "maximum", "minimum", "amax", "amin",
                      "lt", "le", "gt", "ge", "eq", "ne"}
for _primitive in _TABLE:
    if _primitive.public and _primitive.name not in _SPELLED_OTHERWISE:
        FUNCTIONS.setdefault(_primitive.name, {})[_primitive.arity] = _primitive.name
FUNCTIONS["max"] = {1: "amax", 2: "maximum"}
FUNCTIONS["min"] = {1: "amin", 2: "minimum"}
FUNCTIONS["dot"] = {2: "matmul"}
FUNCTIONS["where"] = {3: "where"}  # where(cond, a, b): the gradient reaches only the chosen branch, as torch.where
FUNCTIONS["log"][2] = "log_base"  # log(x, base) is log(x) / log(base), built by the compiler

COMPARISONS = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne", "≤": "le", "≥": "ge", "≠": "ne"}

REDUCTIONS = frozenset(("sum", "mean", "prod", "norm", "amax", "amin", "logsumexp"))
# What the language writes that mixes points (what --points and plot refuse): every public function that is not
# elementwise, array literals and indexing; the table's other helpers (broadcast_like, ...) only reshape what an
# elementwise derivative makes, so diff(x^2, x) stays a function of each point alone.
COMBINING_POINTS = frozenset(name for name, primitive in PRIMITIVES.items()
                             if primitive.public and not primitive.elementwise) | {"stack", "index"}

CONSTANTS = {"pi": math.pi, "e": math.e}  # the language's named constants
