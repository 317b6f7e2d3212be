"""Value + gradient over many points (the library's `compile(f).grad(x=array)`) against NumPy's value-only time F, and peak memory."""

from __future__ import annotations

import numpy as np

from formulas import FORMULAS, Formula, adcli_runner, autograd_runner, jax_runner, torch_runner
from harness import Row, alternate, framework, missing_note, peak_extra_bytes

FRAMEWORKS = {"PyTorch": torch_runner, "autograd": autograd_runner, "JAX": jax_runner}


def _contenders(formula: Formula) -> dict:
    contenders = {
        "adcli": adcli_runner(formula),
        "NumPy value": lambda **inputs: formula.value(*inputs.values()),
        "by hand": lambda **inputs: formula.by_hand(*inputs.values()),
    }
    for label, make in FRAMEWORKS.items():
        found = framework(label)
        if found:
            contenders[label] = make(formula, found)
    return contenders


def _disagreement(formula: Formula, contenders: dict) -> str:
    """A note when adcli's numbers differ from the hand-written derivative (a benchmark must not time wrong answers)."""
    inputs = formula.inputs(10_001)
    value, grads = contenders["adcli"](**inputs)
    expected_value, expected_grads = formula.by_hand(*inputs.values())
    close = np.allclose(value, expected_value, rtol=1e-12) and all(
        np.allclose(grads[name], expected_grads[name], rtol=1e-10, atol=1e-12) for name in formula.variables)
    return "" if close else "MISMATCH with the hand-written derivative"


def _others(values: dict, labels) -> dict:
    return {label: values.get(label, missing_note(label)) for label in labels}


def time_rows(quick: bool) -> list[Row]:
    sizes = (10**6,) if quick else (10**6, 10**7)
    rows = []
    for n in sizes:
        repeats = 3 if (quick or n == 10**7) else 7
        for formula in FORMULAS.values():
            contenders = _contenders(formula)
            inputs = formula.inputs(n)
            seconds = alternate({name: (lambda run=run: run(**inputs)) for name, run in contenders.items()}, repeats)
            note = f"by hand (value + derivative): {seconds['by hand'] / seconds['NumPy value']:.2f} F"
            mismatch = _disagreement(formula, contenders)
            rows.append(Row(f"points: value + grad of `{formula.text}`, N = 10^{len(str(n)) - 1}", "s",
                            seconds["adcli"], "NumPy value-only F", seconds["NumPy value"], ("<=", 1.0),
                            _others(seconds, ("PyTorch", "autograd", "JAX")), "; ".join(filter(None, [note, mismatch]))))
            del inputs
    return rows


def memory_rows(quick: bool) -> list[Row]:
    n = 10**6 if quick else 10**7
    rows = []
    for formula in FORMULAS.values():
        contenders = ["adcli", "numpy-value", "by-hand"] + [label for label in FRAMEWORKS if framework(label)]
        arrays = {name: peak_extra_bytes(name, formula.key, str(n)) / (8 * n) for name in contenders}
        rows.append(Row(f"peak extra memory, `{formula.text}`, N = 10^{len(str(n)) - 1}", "arrays of N",
                        arrays["adcli"], f"one array (floor: {1 + len(formula.variables)})", 1.0, ("<=", 3.0),
                        _others(arrays, ("PyTorch", "autograd", "JAX")),
                        f"NumPy value-only {arrays['numpy-value']:.1f}, by hand {arrays['by-hand']:.1f} arrays"))
    return rows
