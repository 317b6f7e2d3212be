"""Child process: the peak resident memory one value+gradient run adds, in bytes, as JSON.

    python peak_memory.py CONTENDER FORMULA N

CONTENDER is adcli, numpy-value, by-hand, PyTorch, autograd or JAX. The inputs are made and
the code paths warmed up on a small input first; then the kernel's peak counter is reset
(Linux: /proc/self/clear_refs) and the run's peak is read back, results kept alive, as
they are for a caller that uses them.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from formulas import FORMULAS, adcli_runner, autograd_runner, jax_runner, torch_runner  # noqa: E402
from harness import framework  # noqa: E402


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def runner(contender: str, key: str):
    formula = FORMULAS[key]
    if contender == "adcli":
        return adcli_runner(formula)
    if contender == "numpy-value":
        return lambda **inputs: formula.value(*inputs.values())
    if contender == "by-hand":
        return lambda **inputs: formula.by_hand(*inputs.values())
    makers = {"PyTorch": torch_runner, "autograd": autograd_runner, "JAX": jax_runner}
    if contender in makers:
        return makers[contender](formula, framework(contender))
    raise SystemExit(f"unknown contender {contender!r}")


def main() -> None:
    contender, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    run = runner(contender, key)
    formula = FORMULAS[key]
    run(**formula.inputs(1000))
    inputs = formula.inputs(n)
    if _reset_peak():
        before = _status_kib("VmRSS")
        result = run(**inputs)
        peak = _status_kib("VmHWM")
    else:  # no resettable counter: the lifetime peak, which the inputs' making may already hold
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = run(**inputs)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    del result
    print(json.dumps({"extra_bytes": (peak - before) * 1024}))


if __name__ == "__main__":
    main()
