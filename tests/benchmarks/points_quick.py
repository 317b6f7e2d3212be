"""Quick side-by-side of the library's value + gradient over N points against NumPy value-only F (not a test).

    python tests/benchmarks/points_quick.py [N ...]      # default 10^6 and 10^7

Prints, per formula and N, adcli's median time as a multiple of F (alternating rounds).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from formulas import FORMULAS, adcli_runner  # noqa: E402
from harness import alternate  # noqa: E402


def main() -> None:
    sizes = [int(float(a)) for a in sys.argv[1:]] or [10**6, 10**7]
    for n in sizes:
        for formula in FORMULAS.values():
            inputs = formula.inputs(n)
            run = adcli_runner(formula)
            seconds = alternate({"adcli": lambda: run(**inputs),
                                 "F": lambda: formula.value(*inputs.values()),
                                 "hand": lambda: formula.by_hand(*inputs.values())}, 5 if n <= 10**6 else 3)
            print(f"N={n:.0e} {formula.text:40s} adcli {seconds['adcli'] * 1e3:8.1f} ms  F {seconds['F'] * 1e3:7.1f} ms"
                  f"  ratio {seconds['adcli'] / seconds['F']:5.2f}  by hand {seconds['hand'] / seconds['F']:4.2f} F", flush=True)


if __name__ == "__main__":
    main()
