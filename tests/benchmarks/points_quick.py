"""Quick side-by-side of the library's value + gradient over N points against NumPy value-only F (not a test).

    python tests/benchmarks/points_quick.py [N ...]      # default 10^6 and 10^7

Prints, per formula and N, adcli's median time as a multiple of F on one thread
(ADCLI_THREADS=1) and on two, and the hand-written NumPy value + derivative's, all in
alternating rounds of one process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from formulas import FORMULAS, adcli_runner  # noqa: E402
from harness import alternate  # noqa: E402


def on_threads(threads: int, run, inputs):
    """A candidate running adcli with ADCLI_THREADS=threads (the variable is read at each sweep)."""
    def candidate():
        os.environ["ADCLI_THREADS"] = str(threads)
        run(**inputs)

    return candidate


def main() -> None:
    sizes = [int(float(a)) for a in sys.argv[1:]] or [10**6, 10**7]
    saved = os.environ.get("ADCLI_THREADS")
    try:
        for n in sizes:
            for formula in FORMULAS.values():
                inputs = formula.inputs(n)
                run = adcli_runner(formula)
                seconds = alternate({"1 thread": on_threads(1, run, inputs), "2 threads": on_threads(2, run, inputs),
                                     "F": lambda: formula.value(*inputs.values()),
                                     "hand": lambda: formula.by_hand(*inputs.values())}, 7 if n <= 10**6 else 5)
                f = seconds["F"]
                print(f"N={n:.0e} {formula.text:40s} F {f * 1e3:7.1f} ms   adcli 1 thread {seconds['1 thread'] / f:5.2f} F"
                      f"   2 threads {seconds['2 threads'] / f:5.2f} F   by hand {seconds['hand'] / f:4.2f} F", flush=True)
    finally:
        os.environ.pop("ADCLI_THREADS", None)
        if saved is not None:
            os.environ["ADCLI_THREADS"] = saved


if __name__ == "__main__":
    main()
