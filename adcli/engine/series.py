"""Truncated power series: the arithmetic of Taylor mode.

A `Series` stands for c[0] t^v + c[1] t^(v+1) + ... + c[n-1] t^(v+n-1) + O(t^(v+n)), where t
is the distance x - a from the point of expansion, c the coefficients and v the valuation
(negative at a pole: 1/x at 0 is t^-1). Each primitive's Taylor rule (its row of the table
in primitives.py names one of the rules below) gives its result's series from its operands',
by the recurrences of Griewank and Walther, "Evaluating Derivatives", chapter 13: O(n^2)
operations for n terms, where nested differentiation grows much faster. An operand that
does not depend on x comes as a plain float.

Sums, products and quotients keep the valuation, so a quotient of series that both vanish
at the point cancels their leading zeros (sin(x)/x at 0 is 1 - t^2/6 + ...) and one that
does not becomes a pole. Every other function needs an operand without a pole. A rule
raises NotAnalytic where its function has no power series at the point (sqrt and log at 0,
abs where its operand changes sign, a jump of floor), instead of expanding past it.

A leading coefficient counts as zero only when it is exactly 0.0: the arithmetic is
float64's, and at x = pi the value of sin(x) is 1.2e-16, not 0.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Union

from ..lazy_numpy import np

from .primitives import power as forward_power


class NotAnalytic(Exception):
    """The function has no power series at the point; the message says why, for the sweep to place."""


class NeedsMoreTerms(Exception):
    """An operand is zero as far as its terms go, and the rule must know its first nonzero term."""


class Series(NamedTuple):
    coefficients: Any  # 1-D float64 array
    valuation: int = 0  # the power of t that coefficients[0] multiplies

    @property
    def precision(self) -> int:
        """The power of t of the first unknown term: the series is exact up to O(t^precision)."""
        return self.valuation + len(self.coefficients)


Operand = Union[Series, float]  # a float: an operand that does not depend on x


def constant(value: float, terms: int) -> Series:
    """A number as a series of `terms` coefficients: value + 0 t + 0 t^2 + ... (O(t^terms) when terms <= 0)."""
    if terms <= 0:
        return Series(np.zeros(0), terms)
    coefficients = np.zeros(terms)
    coefficients[0] = value
    return Series(coefficients)


def variable(point: float, terms: int) -> Series:
    """The variable expanded at `point`: point + t."""
    coefficients = constant(point, terms).coefficients
    if terms > 1:
        coefficients[1] = 1.0
    return Series(coefficients)


def _lifted(operand: Operand, precision: int) -> Series:
    return operand if isinstance(operand, Series) else constant(operand, precision)


def normalized(series: Series) -> Series:
    """The same series with its leading zero coefficients moved into the valuation.

    A series that is zero as far as it is known has no coefficients left and valuation
    equal to its precision.
    """
    coefficients = series.coefficients
    nonzero = np.flatnonzero(coefficients)
    if len(nonzero) == 0:
        return Series(coefficients[:0], series.precision)
    first = int(nonzero[0])
    return series if first == 0 else Series(coefficients[first:], series.valuation + first)


def capped(series: Series, precision: int) -> Series:
    """The series without its terms from t^precision on."""
    if series.precision <= precision:
        return series
    keep = max(0, precision - series.valuation)
    return Series(series.coefficients[:keep], min(series.valuation, precision))


def _window(series: Series, start: int, stop: int) -> Any:
    """The coefficients of t^start ... t^(stop-1), zero below the series' valuation (stop <= its precision)."""
    out = np.zeros(max(0, stop - start))
    coefficients, valuation = series
    low = max(start, valuation)
    if low < stop:
        out[low - start:stop - start] = coefficients[low - valuation:stop - valuation]
    return out


def taylor_part(series: Series, terms: int) -> Any:
    """The first `terms` Taylor coefficients (t^0 up); NotAnalytic at a pole."""
    if series.valuation < 0:
        series = normalized(series)
        if series.valuation < 0:
            raise NotAnalytic(f"its operand has a pole of order {-series.valuation} there")
    return _window(series, 0, terms)


def leading_value(operand: Operand) -> float:
    """The value at the point (nan when not known)."""
    if not isinstance(operand, Series):
        return operand
    if operand.precision <= 0:
        raise NeedsMoreTerms
    return float(taylor_part(operand, 1)[0])


# -- sums, products and quotients (any valuation) ---------------------------------------------

def add(a: Operand, b: Operand) -> Series:
    precision = min(operand.precision for operand in (a, b) if isinstance(operand, Series))
    a, b = _lifted(a, precision), _lifted(b, precision)
    precision = min(a.precision, b.precision)
    start = min(a.valuation, b.valuation, precision)
    return Series(_window(a, start, precision) + _window(b, start, precision), start)


def neg(a: Series) -> Series:
    return Series(-a.coefficients, a.valuation)


def sub(a: Operand, b: Operand) -> Series:
    return add(a, neg(b) if isinstance(b, Series) else -b)


def mul(a: Operand, b: Operand) -> Series:
    if not isinstance(a, Series):
        a, b = b, a
    if not isinstance(b, Series):  # by a number: no convolution, and no precision lost
        return Series(a.coefficients * b, a.valuation)
    a, b = normalized(a), normalized(b)
    terms = min(len(a.coefficients), len(b.coefficients))
    if terms == 0:  # one of them is zero as far as its terms go, and so is the product
        return Series(a.coefficients[:0], a.valuation + b.valuation)
    return Series(_product(a.coefficients[:terms], b.coefficients[:terms]), a.valuation + b.valuation)


def div(a: Operand, b: Operand) -> Series:
    if not isinstance(b, Series):
        if b == 0.0:
            raise NotAnalytic("it divides by 0")
        return Series(a.coefficients / b, a.valuation)
    b = normalized(b)
    if len(b.coefficients) == 0:
        raise NeedsMoreTerms
    a = normalized(_lifted(a, len(b.coefficients)))
    terms = min(len(a.coefficients), len(b.coefficients))
    if terms == 0:  # a numerator zero as far as its terms go
        return Series(a.coefficients[:0], a.valuation - b.valuation)
    return Series(_quotient(a.coefficients[:terms], b.coefficients[:terms]), a.valuation - b.valuation)


def power(a: Operand, b: Operand) -> Series:
    """a^b: a constant exponent raises the series (poles and zeros included); a varying one is exp(b log a)."""
    if not isinstance(b, Series):
        return _constant_power(a, b)
    base = leading_value(a)
    if not base > 0.0:
        raise NotAnalytic(f"a base of {base:g} to a varying exponent is real only at whole exponents"
                          if base < 0 else "its base is 0 there and its exponent varies")
    result = exp(mul(b, log(a) if isinstance(a, Series) else math.log(a)))
    if len(result.coefficients):
        result.coefficients[0] = forward_power(base, leading_value(b))  # exactly as the forward sweep
    return result


def _constant_power(a: Series, exponent: float) -> Series:
    if not math.isfinite(exponent):
        raise NotAnalytic(f"its exponent is {exponent}")
    if exponent == 0.0:
        return constant(1.0, max(1, a.precision))  # 0^0 = 1, as PyTorch
    a = normalized(a)
    if len(a.coefficients) == 0:  # zero as far as known
        if exponent >= 1.0:
            return a
        raise NeedsMoreTerms
    zeros, leading = a.valuation, a.coefficients[0]
    degree = zeros * exponent
    if exponent != math.floor(exponent) and zeros != 0:
        # Only a base positive on both sides has a real power: t^zeros u with zeros even and u_0 > 0;
        # then (t^2)^(degree / 2) = |t|^degree, analytic when degree is even.
        if not (zeros % 2 == 0 and leading > 0 and degree == math.floor(degree) and degree % 2 == 0):
            raise NotAnalytic(f"its operand is 0 there, and x^{exponent:g} is not analytic at 0")
    return Series(_power(a.coefficients, exponent), int(degree))


# -- the recurrences, on coefficient arrays without a pole ------------------------------------

def _product(a: Any, b: Any) -> Any:
    """The first len(a) coefficients of a b (the Cauchy product), for equally long a and b."""
    return np.convolve(a, b)[:len(a)]


def _quotient(a: Any, b: Any) -> Any:
    """a / b for b[0] != 0: q_k = (a_k - sum_{j=1..k} b_j q_{k-j}) / b_0."""
    q = np.empty(len(a))
    b0 = b[0]
    for k in range(len(a)):
        q[k] = (a[k] - np.dot(b[1:k + 1], q[k - 1::-1] if k else q[:0])) / b0
    return q


def _power(a: Any, exponent: float) -> Any:
    """a^p for a[0] != 0, from a b' = p a' b: k a_0 b_k = sum_{j=1..k} ((p + 1) j - k) a_j b_{k-j}.

    A whole positive p is a product of the series with itself instead: the recurrence divides
    by a_0, and where a_0 is tiny beside the terms after it (sin(x)^2 at x = 1e-27) what is
    left after the cancellation is rounding (d4/dx4 came out -16 for -8).
    """
    if exponent == math.floor(exponent) and 1.0 <= exponent <= LARGEST_PRODUCT_POWER:
        b = _whole_power(a, int(exponent))
        b[0] = forward_power(a[0], exponent)  # as the forward sweep
        if np.isinf(b[0]):
            raise NotAnalytic(f"x^{exponent:g} leaves float64's range there")
        return b
    n = len(a)
    b = np.empty(n)
    b[0] = forward_power(a[0], exponent)  # as the forward sweep
    if b[0] == 0.0 or np.isinf(b[0]):  # a[0] != 0, so it under- or overflowed: every b_k would follow it
        raise NotAnalytic(f"x^{exponent:g} leaves float64's range there")
    ja = a * np.arange(n)
    for k in range(1, n):
        previous = b[k - 1::-1]
        b[k] = ((exponent + 1.0) * np.dot(ja[1:k + 1], previous) - k * np.dot(a[1:k + 1], previous)) / (k * a[0])
    return b


LARGEST_PRODUCT_POWER = 1 << 20  # whole powers up to this are products (about 2 log2(p) of them)


def _whole_power(a: Any, p: int) -> Any:
    """a^p by squaring: Cauchy products only, no division."""
    result, square = None, a
    while True:
        if p & 1:
            result = square if result is None else _product(result, square)
        p >>= 1
        if not p:
            return np.array(result, dtype=np.float64)
        square = _product(square, square)


def _derivative(a: Any) -> Any:
    """The coefficients of da/dt (one fewer)."""
    return a[1:] * np.arange(1, len(a))


def _integral(slope: Any, start: float) -> Any:
    """The series whose derivative is `slope` and whose value at the point is `start` (one more coefficient)."""
    return np.concatenate(([start], slope / np.arange(1, len(slope) + 1)))


def _chain(a: Any, start: float, derivative_at: Callable[[Any], Any]) -> Any:
    """f(a) from f(a_0) = start and f' at a: f(a) = f(a_0) + integral of a' f'(a).

    `derivative_at` maps the coefficients of a (one fewer than wanted) to those of f'(a).
    """
    if len(a) == 1:
        return np.array([start], dtype=np.float64)
    return _integral(_product(_derivative(a), derivative_at(a[:-1])), start)


def _riccati(a: Any, start: float, c0: float, c1: float, c2: float) -> Any:
    """b with b' = a' (c0 + c1 b + c2 b^2) and b_0 = start, term by term.

    exp is (0, 1, 0), tan (1, 0, 1), tanh (1, 0, -1), sigmoid (0, 1, -1).
    """
    n = len(a)
    b = np.empty(n)
    w = np.empty(n)  # c0 + c1 b + c2 b^2, known one term behind b
    b[0] = start
    ja = a * np.arange(n)
    for k in range(1, n):
        i = k - 1
        w[i] = c1 * b[i] + (c2 * np.dot(b[:k], b[i::-1]) if c2 else 0.0) + (c0 if i == 0 else 0.0)
        b[k] = np.dot(ja[1:k + 1], w[i::-1]) / k
    return b


def _sine_pair(a: Any, sine0: float, cosine0: float, sign: float) -> tuple[Any, Any]:
    """(s, c) with s' = a' c and c' = sign a' s: sin and cos (sign -1), sinh and cosh (sign 1)."""
    n = len(a)
    s, c = np.empty(n), np.empty(n)
    s[0], c[0] = sine0, cosine0
    ja = a * np.arange(n)
    for k in range(1, n):
        s[k] = np.dot(ja[1:k + 1], c[k - 1::-1]) / k
        c[k] = sign * np.dot(ja[1:k + 1], s[k - 1::-1]) / k
    return s, c


def _constant_like(a: Any, value: float) -> Any:
    out = np.zeros(len(a))
    out[0] = value
    return out


def _shifted(a: Any, amount: float) -> Any:
    out = a.copy()
    out[0] += amount
    return out


def _exp(a: Any) -> Any:
    return _riccati(a, np.exp(a[0]), 0.0, 1.0, 0.0)


def _expm1(a: Any) -> Any:
    b = _exp(a)
    b[0] = np.expm1(a[0])
    return b


def _log(a: Any, start: float | None = None, scale: float = 1.0) -> Any:
    """log(a) / scale, its value at the point `start` (log(a_0) / scale when None)."""
    if a[0] == 0.0:
        raise NotAnalytic("its operand is 0 there")
    value = np.log(a[0]) / scale if start is None else start
    return _chain(a, value, lambda short: _quotient(_constant_like(short, 1.0 / scale), short))


def _sin(a: Any) -> Any:
    return _sine_pair(a, np.sin(a[0]), np.cos(a[0]), -1.0)[0]


def _cos(a: Any) -> Any:
    return _sine_pair(a, np.sin(a[0]), np.cos(a[0]), -1.0)[1]


def _sinh(a: Any) -> Any:
    return _sine_pair(a, np.sinh(a[0]), np.cosh(a[0]), 1.0)[0]


def _cosh(a: Any) -> Any:
    return _sine_pair(a, np.sinh(a[0]), np.cosh(a[0]), 1.0)[1]


def _inverse(function: str, sign: float, offset: float, exponent: float, scale: float = 1.0) -> Callable[[Any], Any]:
    """The rule of np.<function>, whose derivative is scale (sign x^2 + offset)^exponent: asin, atan, acosh, ..."""
    def derivative_at(a: Any) -> Any:
        inner = sign * _product(a, a)
        inner[0] += offset
        if inner[0] == 0.0:
            raise NotAnalytic("its derivative is infinite there")
        return scale * _power(inner, exponent)

    def rule(a: Any) -> Any:
        return _chain(a, getattr(np, function)(a[0]), derivative_at)
    return rule


TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _erf(a: Any) -> Any:
    return _chain(a, math.erf(a[0]), lambda short: TWO_OVER_SQRT_PI * _exp(-_product(short, short)))


def _sigmoid(a: Any) -> Any:
    return _riccati(a, 1.0 / (1.0 + np.exp(-a[0])), 0.0, 1.0, -1.0)


def _softplus(a: Any) -> Any:
    if a[0] > 20.0:  # PyTorch's softplus is x itself above its threshold
        return a.copy()
    return _chain(a, np.log1p(np.exp(a[0])), _sigmoid)


def _softplus_slope(a: Any) -> Any:
    return _constant_like(a, 1.0) if a[0] > 20.0 else _sigmoid(a)


def _atan2(y: Any, x: Any) -> Any:
    """atan2(y, x) = atan2(y_0, x_0) + integral of (x y' - y x') / (x^2 + y^2)."""
    start = np.arctan2(y[0], x[0])
    if len(y) == 1:
        return np.array([start])
    if y[0] == 0.0 and x[0] <= 0.0:
        if x[0] == 0.0:
            raise NotAnalytic("both its operands are 0 there")
        side = _side(Series(y), "its first operand changes sign on the branch cut (x < 0)")
        if side != 0:
            start = math.copysign(math.pi, side)
    short_x, short_y = x[:-1], y[:-1]
    numerator = _product(short_x, _derivative(y)) - _product(short_y, _derivative(x))
    return _integral(_quotient(numerator, _product(short_x, short_x) + _product(short_y, short_y)), start)


SQRT_HALF = math.sqrt(0.5)


def _gelu(a: Any) -> Any:
    return _product(a, 0.5 * _shifted(_erf(a * SQRT_HALF), 1.0))  # x * cdf(x); the 1 adds to the constant term


def _silu(a: Any) -> Any:
    return _product(a, _sigmoid(a))


def analytic(rule: Callable[..., Any]) -> Callable[..., Series]:
    """A rule on coefficient arrays (no pole, one length) as a rule on series and numbers.

    Operands with a pole are refused; the others are cut to the shortest one's precision.
    """
    def on_series(*operands: Operand) -> Series:
        terms = max(0, min(operand.precision for operand in operands if isinstance(operand, Series)))
        if terms == 0:
            return Series(np.zeros(0), 0)
        arrays = [taylor_part(operand, terms) if isinstance(operand, Series) else constant(operand, terms).coefficients
                  for operand in operands]
        return Series(rule(*arrays))
    on_series.__name__ = getattr(rule, "__name__", "rule")
    return on_series


def _square(operand: Operand) -> Operand:
    return mul(operand, operand) if isinstance(operand, Series) else operand * operand


def hypot(x: Operand, y: Operand) -> Series:
    result = _constant_power(add(_square(x), _square(y)), 0.5)
    if result.valuation == 0 and len(result.coefficients):
        result.coefficients[0] = np.hypot(leading_value(x), leading_value(y))  # without overflow in the squares
    return result


# -- pieces: abs, sign, floor, max, ... (analytic where no piece boundary is crossed) -------------

def _sides(difference: Series) -> tuple[float, float]:
    """The sign of `difference` just right and just left of the point: (1, 1) for t^2, (1, -1) for t.

    (0, 0) when it is zero as far as its terms go.
    """
    difference = normalized(difference)
    if len(difference.coefficients) == 0:
        return 0.0, 0.0
    if difference.valuation < 0:
        raise NotAnalytic("its operand has a pole there")
    leading = float(np.sign(difference.coefficients[0]))
    return leading, leading * (-1.0) ** difference.valuation


def _side(difference: Series, crossing: str) -> float:
    """The sign of `difference` on both sides of the point; NotAnalytic where they differ.

    A difference that is zero as far as its terms go says nothing yet: more terms are asked for.
    """
    right, left = _sides(difference)
    if right != left:
        raise NotAnalytic(f"{crossing} there")
    if right == 0.0:
        raise NeedsMoreTerms
    return right


def _nan_like(series: Series) -> Series:
    return Series(np.full(max(1, len(series.coefficients)), math.nan))


def _is_nan(operand: Operand) -> bool:
    return math.isnan(leading_value(operand))


def absolute(a: Series) -> Series:
    if _is_nan(a):
        return _nan_like(a)
    return neg(a) if _side(a, "its operand changes sign") < 0 else a


def relu(a: Series) -> Operand:
    if _is_nan(a):
        return _nan_like(a)
    return a if _side(a, "its operand changes sign") > 0 else 0.0


def elu(a: Series, alpha: float = 1.0) -> Operand:
    if _is_nan(a):
        return _nan_like(a)
    return mul(expm1(a), alpha) if _side(a, "its operand changes sign") < 0 else a


def leaky_relu(a: Series, slope: float = 0.01) -> Operand:
    if _is_nan(a):
        return _nan_like(a)
    return mul(a, slope) if _side(a, "its operand changes sign") < 0 else a


def clip(x: Operand, lo: Operand, hi: Operand, closed: bool = False) -> Operand:
    """As the forward, minimum(maximum(x, lo), hi): hi wins when the bounds cross."""
    low = maximum(x, lo) if isinstance(x, Series) or isinstance(lo, Series) else float(np.maximum(x, lo))  # clip(-1, 2, x)
    if isinstance(low, Series) or isinstance(hi, Series):
        return minimum(low, hi)
    return float(np.minimum(low, hi))  # x is below a constant lo


def sign(a: Series) -> float:
    if _is_nan(a):
        return 0.0  # torch.sign(nan) is 0
    value = leading_value(a)
    return float(np.sign(value)) if value != 0.0 else _side(a, "its operand changes sign")


def _rounding(direction: Callable[[float], float], step: float) -> Callable[[Series], float]:
    """floor (math.floor, step -1) and ceil (math.ceil, step 1): constant away from whole numbers."""
    def rule(a: Series) -> float:
        value = leading_value(a)
        if math.isnan(value) or value != math.floor(value):
            return float(direction(value)) if not math.isnan(value) else value
        side = _side(sub(a, value), "its operand crosses a whole number")
        return value + step if side * step > 0 else value  # the whole number, or the one past it on the jump's side
    return rule


def _extremum(larger: bool) -> Callable[[Operand, Operand], Operand]:
    """maximum (larger) and minimum: one operand or the other, away from where they cross."""
    def rule(a: Operand, b: Operand) -> Operand:
        for operand in (a, b):
            if _is_nan(operand):
                return math.nan
        return a if (_side(sub(a, b), "its operands cross") > 0) == larger else b
    return rule


def _comparison(holds: Callable[[float], bool]) -> Callable[[Operand, Operand], float]:
    """equal, greater, greater_equal: masks, constant near the point unless the operands meet there."""
    def rule(a: Operand, b: Operand) -> float:
        difference = normalized(sub(a, b))
        if len(difference.coefficients) == 0:
            raise NeedsMoreTerms
        if difference.valuation != 0:
            raise NotAnalytic("its operands meet there")
        return float(holds(float(np.sign(difference.coefficients[0]))))
    return rule


def where(condition: Operand, a: Operand, b: Operand) -> Operand:
    if isinstance(condition, Series):
        raise NotAnalytic("its condition changes there")
    return a if condition else b


def logical_and(a: Operand, b: Operand) -> float:
    raise NotAnalytic("its operands change there")  # masks are numbers here: a series operand is a jump


def first_operand(a: Operand, *others: Operand) -> Operand:
    """broadcast_like and sum_to_like on scalars: the first operand as it is."""
    return a


def _cube_root(a: Series) -> Series:
    """cbrt: real for negative operands too, so t^(3m) u has the cube root t^m cbrt(u)."""
    a = normalized(a)
    if len(a.coefficients) == 0:
        raise NeedsMoreTerms
    if a.valuation % 3:
        raise NotAnalytic("its operand is 0 there, and cbrt is not analytic at 0")
    u = a.coefficients
    root = _power(u / u[0], 1.0 / 3.0) * np.cbrt(u[0])  # u / u_0 starts at 1: no power of a negative number
    root[0] = np.cbrt(u[0])
    return Series(root, a.valuation // 3)


def sqrt(a: Series) -> Series:
    return _constant_power(a, 0.5)


def rsqrt(a: Series) -> Series:
    return _constant_power(a, -0.5)


LN2 = math.log(2.0)
LN10 = math.log(10.0)

# The rules the primitive table names that are not functions above.
sin = analytic(_sin)
cos = analytic(_cos)
tan = analytic(lambda a: _riccati(a, np.tan(a[0]), 1.0, 0.0, 1.0))
asin = analytic(_inverse("arcsin", -1.0, 1.0, -0.5))
acos = analytic(_inverse("arccos", -1.0, 1.0, -0.5, scale=-1.0))
atan = analytic(_inverse("arctan", 1.0, 1.0, -1.0))
sinh = analytic(_sinh)
cosh = analytic(_cosh)
tanh = analytic(lambda a: _riccati(a, np.tanh(a[0]), 1.0, 0.0, -1.0))
asinh = analytic(_inverse("arcsinh", 1.0, 1.0, -0.5))
acosh = analytic(_inverse("arccosh", 1.0, -1.0, -0.5))
atanh = analytic(_inverse("arctanh", -1.0, 1.0, -1.0))
exp = analytic(_exp)
expm1 = analytic(_expm1)
log = analytic(_log)
log2 = analytic(lambda a: _log(a, np.log2(a[0]) if a[0] else None, LN2))
log10 = analytic(lambda a: _log(a, np.log10(a[0]) if a[0] else None, LN10))
log1p = analytic(lambda a: _log(_shifted(a, 1.0), np.log1p(a[0]) if a[0] != -1.0 else None))
sigmoid = analytic(_sigmoid)
softplus = analytic(_softplus)
softplus_slope = analytic(_softplus_slope)
erf = analytic(_erf)
gelu = analytic(_gelu)
silu = analytic(_silu)
atan2 = analytic(_atan2)
cbrt = _cube_root
floor = _rounding(math.floor, -1.0)
ceil = _rounding(math.ceil, 1.0)
maximum = _extremum(True)
minimum = _extremum(False)
equal = _comparison(lambda side: side == 0)
greater = _comparison(lambda side: side > 0)
greater_equal = _comparison(lambda side: side >= 0)
# the language's comparisons, by the primitive table's names
lt = _comparison(lambda side: side < 0)
le = _comparison(lambda side: side <= 0)
gt = greater
ge = greater_equal
eq = equal
ne = _comparison(lambda side: side != 0)
