"""Taylor mode: orders 1..64 in one sweep of truncated power series, beside nested derivative programs and JAX's jet.

    python tests/benchmarks/run.py --only taylor [--quick]

Rows: the Taylor coefficients of orders 1..64 of exp(sin(x)) and x^3 sin(x)/(1 + x^2) at
x = 0.5 from adcli's one sweep (Compiled.taylor, parsing included), against one nested
derivative program of order 64 (what `grad --order 64` computed before Taylor mode: the
recorded reverse sweep, then 63 recorded tangent sweeps, built once and evaluated once),
and against JAX's `jax.experimental.jet` jit-compiled (its compile time in the note). The
note gives each one's worst relative error in the 64th derivative against mpmath at 50
digits. Then `adcli taylor --order 1000` as a whole process. --quick uses order 16.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Callable

import mpmath

import adcli
from adcli.engine.tape import forward
from harness import Row, adcli_command, alternate, framework, missing_note, process

POINT = 0.5
FUNCTIONS = {
    "exp(sin(x))": (lambda x: mpmath.exp(mpmath.sin(x)), lambda jnp, x: jnp.exp(jnp.sin(x))),
    "x^3 sin(x)/(1 + x^2)": (lambda x: x ** 3 * mpmath.sin(x) / (1 + x ** 2),
                             lambda jnp, x: x ** 3 * jnp.sin(x) / (1 + x ** 2)),
}


def exact_derivative(function: Callable, order: int) -> Any:
    mpmath.mp.dps = 50
    return mpmath.diff(function, mpmath.mpf(POINT), order)


def error(value: float, exact: Any) -> float:
    return float(abs(mpmath.mpf(value) - exact) / abs(exact))


def taylor_derivative(text: str, order: int) -> float:
    return adcli.compile(text).taylor("x", at=POINT, order=order)[order] * math.factorial(order)


def nested_derivative(text: str, order: int) -> tuple[float, float]:
    """(seconds, value) of one nested derivative program, built and evaluated from scratch."""
    start = time.perf_counter()
    program = adcli.compile(text).derivative_program("x", order, {"x": ()})
    value = forward(program, {"x": POINT})[program.output]
    return time.perf_counter() - start, float(value)


def jax_jet(jax: Any, body: Callable, order: int) -> tuple[Callable[[], float], float]:
    """A jit-compiled jet of `body` to `order` (a candidate returning the order-th derivative) and its compile seconds."""
    import jax.numpy as jnp
    from jax.experimental.jet import jet

    def derivatives(x0):
        terms = [jnp.ones(())] + [jnp.zeros(())] * (order - 1)
        return jet(lambda x: body(jnp, x), (x0,), (terms,))[1][order - 1]

    compiled = jax.jit(derivatives)
    start = time.perf_counter()
    jax.block_until_ready(compiled(jnp.float64(POINT)))
    seconds = time.perf_counter() - start
    return lambda: float(compiled(jnp.float64(POINT))), seconds


def run(quick: bool) -> list[Row]:
    order = 16 if quick else 64
    jax = framework("JAX")
    rows = []
    for text, (reference, body) in FUNCTIONS.items():
        exact = exact_derivative(reference, order)
        nested_seconds, nested_value = nested_derivative(text, order)
        candidates = {"adcli": lambda: taylor_derivative(text, order)}
        others: dict[str, Any] = {"PyTorch": "not measured", "autograd": "not measured"}
        jet_note = ""
        if jax is not None:
            jet_call, jet_compile = jax_jet(jax, body, order)
            candidates["JAX"] = jet_call
            jet_note = f"; jet: compile {jet_compile:.1f} s, error {error(jet_call(), exact):.1e}"
        times = alternate(candidates, repeats=3 if quick else 7)
        if jax is not None:
            others["JAX"] = (times["JAX"], times["adcli"] / times["JAX"])
        else:
            others["JAX"] = missing_note("JAX")
        rows.append(Row(
            f"taylor: orders 1..{order} of `{text}` at {POINT}, one sweep (library, parsing included)", "s",
            times["adcli"], f"nested derivative program of order {order}", nested_seconds, ("<=", 0.01), others,
            f"error of the {order}th derivative vs mpmath (50 digits): Taylor {error(taylor_derivative(text, order), exact):.1e}, "
            f"nested {error(nested_value, exact):.1e}{jet_note}"))
    command = [*adcli_command(), "taylor", "x^3 sin(x)/(1 + x^2)", "--at", f"x={POINT}", "--order", "1000", "--format", "json"]
    timed = alternate({"adcli": process(command), "numpy": process([sys.executable, "-c", "import numpy"])},
                      repeats=3 if quick else 7)
    rows.append(Row("taylor --order 1000 of `x^3 sin(x)/(1 + x^2)`, whole process", "s", timed["adcli"],
                    "python -c 'import numpy'", timed["numpy"], None, {}, "1,001 coefficients as JSON"))
    return rows
