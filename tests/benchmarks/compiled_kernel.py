"""Would a compiled kernel reach NumPy's value-only time F on one thread? (not a test; needs numba)

    pip install numba            # in a venv of its own: numba pins the NumPy it supports
    python tests/benchmarks/compiled_kernel.py [N ...]    # default 10^6 and 10^7

The best case for a per-plan kernel: value and derivative of the benchmark formulas written
by hand as one fused loop (no temporaries, one pass over memory), compiled by numba, against
F and the hand-written NumPy value + derivative in alternating rounds of one process. Also
prints the compile time and how many values differ in their last bit from NumPy's, since
a compiled loop calls the C library's exp, log and tanh where NumPy calls its own SIMD ones.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from formulas import FORMULAS  # noqa: E402
from harness import alternate  # noqa: E402


def wave_kernel(x, value, dx):
    for i in range(x.shape[0]):
        xi = x[i]
        sine, envelope, square = math.sin(xi), math.exp(-(xi * xi) / 10.0), 1.0 + xi * xi
        value[i] = sine * envelope + math.log(square)
        dx[i] = (math.cos(xi) - sine * xi / 5.0) * envelope + 2.0 * xi / square


def product_kernel(x, y, value, dx, dy):
    for i in range(x.shape[0]):
        xi, yi = x[i], y[i]
        u = xi + 2.0 * yi
        t = math.tanh(xi * yi)
        slope = u * u * (1.0 - t * t)
        value[i] = u * u * t
        dx[i] = 2.0 * u * t + slope * yi
        dy[i] = 4.0 * u * t + slope * xi


KERNELS = {"wave": wave_kernel, "product": product_kernel}


def main(sizes: list[int]) -> None:
    try:
        import numba
    except ImportError:
        sys.exit("compiled_kernel.py needs numba: pip install numba")
    for n in sizes:
        for key, kernel in KERNELS.items():
            formula = FORMULAS[key]
            inputs = list(formula.inputs(n).values())
            started = time.perf_counter()
            compiled = numba.njit(nogil=True)(kernel)
            compiled(*[a[:4] for a in inputs], *[np.empty(4) for _ in range(len(inputs) + 1)])
            compile_seconds = time.perf_counter() - started

            def fused():
                outputs = [np.empty(n) for _ in range(len(inputs) + 1)]
                compiled(*inputs, *outputs)
                return outputs

            times = alternate({"fused": fused, "by hand": lambda: formula.by_hand(*inputs),
                               "F": lambda: formula.value(*inputs)}, 5)
            differ = np.mean(fused()[0] != formula.value(*inputs))
            print(f"N={n:.0e} {formula.text:36s} fused {times['fused'] / times['F']:.2f} F, "
                  f"NumPy by hand {times['by hand'] / times['F']:.2f} F; compile {compile_seconds:.2f} s; "
                  f"values differing from NumPy's: {differ:.2%}", flush=True)


if __name__ == "__main__":
    main([int(float(arg)) for arg in sys.argv[1:]] or [10**6, 10**7])
