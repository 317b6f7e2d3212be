"""Child process for the points workload, so that no contender's memory or threads slow another's.

    python points_child.py time FORMULA N REPEATS CONTENDER...   # median seconds of each, alternating
    python points_child.py memory CONTENDER FORMULA N             # the peak resident memory one run adds

CONTENDER is adcli, adcli-1-thread (ADCLI_THREADS=1), numpy-value, by-hand, PyTorch, autograd or JAX; the answer is one line
of JSON. For memory, the inputs are made and the code paths warmed up on an input of
WARM_UP_POINTS (big enough for adcli's chunked two-thread path with full-size chunks, as at
10^7: a smaller one left that path's one-time costs, a thread's stack and malloc arena
(~230 KB) and a chunk plan bound to the larger chunk shape (a page), in the measured run); then the kernel's peak counter is reset (Linux: /proc/self/clear_refs) and the
run's peak read back, its results kept alive, as they are for a caller that uses them.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from formulas import FORMULAS, adcli_runner, autograd_runner, jax_runner, torch_runner  # noqa: E402
from harness import alternate, framework  # noqa: E402

WARM_UP_POINTS = 2**19  # chunks of POINT_CHUNK = 65,536 rows need 8 x 65,536 points
FRAMEWORK_RUNNERS = {"PyTorch": torch_runner, "autograd": autograd_runner, "JAX": jax_runner}


def runner(contender: str, key: str):
    formula = FORMULAS[key]
    if contender == "adcli":
        return adcli_runner(formula)
    if contender == "adcli-1-thread":
        return one_thread(adcli_runner(formula))
    if contender == "numpy-value":
        return lambda **inputs: formula.value(*inputs.values())
    if contender == "by-hand":
        return lambda **inputs: formula.by_hand(*inputs.values())
    if contender in FRAMEWORK_RUNNERS:
        return FRAMEWORK_RUNNERS[contender](formula, framework(contender))
    raise SystemExit(f"unknown contender {contender!r}")


def one_thread(run):
    """run with ADCLI_THREADS=1 for its duration (the variable is read at each sweep), as it was after."""
    def alone(**inputs):
        saved = os.environ.get("ADCLI_THREADS")
        os.environ["ADCLI_THREADS"] = "1"
        try:
            return run(**inputs)
        finally:
            if saved is None:
                del os.environ["ADCLI_THREADS"]
            else:
                os.environ["ADCLI_THREADS"] = saved

    return alone


def seconds(key: str, n: int, repeats: int, contenders: list[str]) -> dict[str, float]:
    inputs = FORMULAS[key].inputs(n)
    runs = {name: runner(name, key) for name in contenders}
    return alternate({name: (lambda run=run: run(**inputs)) for name, run in runs.items()}, repeats)


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


def extra_bytes(contender: str, key: str, n: int) -> int:
    run = runner(contender, key)
    formula = FORMULAS[key]
    run(**formula.inputs(WARM_UP_POINTS))
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
    return (peak - before) * 1024


def main() -> None:
    mode, arguments = sys.argv[1], sys.argv[2:]
    if mode == "time":
        key, n, repeats, *contenders = arguments
        print(json.dumps(seconds(key, int(n), int(repeats), contenders)))
    elif mode == "memory":
        contender, key, n = arguments
        print(json.dumps({"extra_bytes": extra_bytes(contender, key, int(n))}))
    else:
        raise SystemExit(f"unknown mode {mode!r}: time or memory")


if __name__ == "__main__":
    main()
