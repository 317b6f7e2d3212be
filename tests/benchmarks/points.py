"""Value + gradient over many points (the library's `compile(f).grad(x=array)`) against NumPy's value-only time F, and peak memory.

Every comparison runs in its own process (points_child.py): at 10^7 points one
contender's arrays and threads would otherwise slow the next one's (seen: 2-3x).
"""

from __future__ import annotations

import resource
import statistics

import numpy as np

from formulas import FORMULAS, Formula, adcli_runner
from harness import OPTIONAL_FRAMEWORKS, Row, installed, missing_note, points_child

FRAMEWORKS = [label for label, module in OPTIONAL_FRAMEWORKS.items() if installed(module)]


def _disagreement(formula: Formula) -> str:
    """A note when adcli's numbers differ from the hand-written derivative (a benchmark must not time wrong answers)."""
    inputs = formula.inputs(10_001)
    value, grads = adcli_runner(formula)(**inputs)
    expected_value, expected_grads = formula.by_hand(*inputs.values())
    close = np.allclose(value, expected_value, rtol=1e-12) and all(
        np.allclose(grads[name], expected_grads[name], rtol=1e-10, atol=1e-12) for name in formula.variables)
    return "" if close else "MISMATCH with the hand-written derivative"


def _frameworks(measure) -> dict:
    """Each framework's number and adcli's ratio to it, measured side by side; a note for absent ones."""
    found = {label: measure(label) for label in FRAMEWORKS}
    return {label: found.get(label, missing_note(label)) for label in OPTIONAL_FRAMEWORKS}


def _power(n: int) -> str:
    return f"10^{len(str(n)) - 1}"


def time_rows(quick: bool) -> list[Row]:
    sizes = (10**6,) if quick else (10**6, 10**7)
    rows = []
    for n in sizes:
        repeats = str(3 if quick else 7)
        for formula in FORMULAS.values():
            base = points_child("time", formula.key, str(n), repeats, "adcli", "adcli-1-thread", "numpy-value", "by-hand")

            def beside(label: str) -> tuple[float, float]:
                pair = points_child("time", formula.key, str(n), repeats, "adcli", label)
                return pair[label], pair["adcli"] / pair[label]

            note = f"by hand (value + derivative): {base['by-hand'] / base['numpy-value']:.2f} F"
            rows.append(Row(f"points: value + grad of `{formula.text}`, N = {_power(n)}", "s", base["adcli"],
                            "NumPy value-only F", base["numpy-value"], ("<=", 1.0), _frameworks(beside),
                            "; ".join(filter(None, [note, _disagreement(formula)])), one_thread=base["adcli-1-thread"]))
    return rows


def memory_rows(quick: bool) -> list[Row]:
    n = 10**6 if quick else 10**7

    # One array of N doubles as resident memory counts it: whole pages (at 10^7, 80,003,072 bytes, not
    # 80,000,000), so that a contender holding exactly its result arrays measures exactly that many.
    array_bytes = -(-8 * n // resource.getpagesize()) * resource.getpagesize()

    def arrays(contender: str, key: str) -> float:
        """The median of 3 runs, each in a fresh process: resident memory moves by a page or two between runs."""
        runs = [points_child("memory", contender, key, str(n))["extra_bytes"] for _ in range(3)]
        return statistics.median(runs) / array_bytes

    rows = []
    for formula in FORMULAS.values():
        floor = 1 + len(formula.variables)  # the value and one gradient per variable
        adcli = arrays("adcli", formula.key)
        rows.append(Row(f"peak extra memory, `{formula.text}`, N = {_power(n)}", "arrays of N",
                        adcli, f"one array (floor: {floor})", 1.0,
                        ("<=", 3.0), _frameworks(lambda label: arrays(label, formula.key)),
                        f"adcli beyond its {floor} result arrays: {(adcli - floor) * array_bytes / 1024:.0f} KiB; "
                        f"NumPy value-only {arrays('numpy-value', formula.key):.1f}, "
                        f"by hand {arrays('by-hand', formula.key):.1f} arrays"))
    return rows
