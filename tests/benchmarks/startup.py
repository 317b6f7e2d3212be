"""Start-up: one `adcli grad` as a whole process against `python -c "import numpy"`, qalc and one-shot framework scripts."""

from __future__ import annotations

import math
import shutil
import sys
import uuid
from typing import Callable

from harness import Row, adcli_command, alternate, installed, missing_note, process

EXPR, POINT = "(sqrt(x)+1)^3", "x=2"

# The same one-shot question asked of each framework, as a user would type it.
ONE_SHOT = {
    "PyTorch": ("torch", "import torch; x = torch.tensor(2.0, dtype=torch.float64, requires_grad=True); "
                         "y = (x.sqrt() + 1) ** 3; y.backward(); print(y.item(), x.grad.item())"),
    "autograd": ("autograd", "import autograd.numpy as np; from autograd import value_and_grad; "
                             "print(*value_and_grad(lambda x: (np.sqrt(x) + 1) ** 3)(2.0))"),
    "JAX": ("jax", "import jax; jax.config.update('jax_enable_x64', True); "
                   "print(*jax.value_and_grad(lambda x: (jax.numpy.sqrt(x) + 1) ** 3)(2.0))"),
}


def _unseen_formulas() -> Callable[[], None]:
    """adcli on a text no earlier run compiled (a comment naming a fresh random number): Lark is imported
    and the program compiled, as for the first run of a formula, rather than read from the program store."""
    return lambda: process([*adcli_command(), "grad", f"{EXPR}  # {uuid.uuid4().hex}", "--at", POINT])()


def run(quick: bool) -> list[Row]:
    repeats = 5 if quick else 21
    candidates = {
        "adcli": process([*adcli_command(), "grad", EXPR, "--at", POINT]),
        "adcli, unseen": _unseen_formulas(),
        "adcli diff": process([*adcli_command(), "diff", EXPR]),
        "import numpy": process([sys.executable, "-c", "import numpy"]),
        "python": process([sys.executable, "-c", "pass"]),
    }
    qalc = shutil.which("qalc")
    if qalc:
        candidates["qalc"] = process([qalc, "diff((sqrt(x)+1)^3, x, 1, 2)"])
    frameworks = {label: code for label, (module, code) in ONE_SHOT.items() if installed(module)}
    for label, code in frameworks.items():
        candidates[label] = process([sys.executable, "-c", code])
    times = alternate(candidates, repeats)
    others = {label: times[label] if label in frameworks else missing_note(label) for label in ONE_SHOT}
    command = "python -m adcli" if adcli_command()[0] == sys.executable else "adcli"
    rows = [Row(f'start-up: `{command} grad "{EXPR}" --at {POINT}`, whole process', "s", times["adcli"],
                "python -c 'import numpy'", times["import numpy"], ("<=", 1.0), others,
                f"bare `python -c pass`: {times['python'] * 1000:.0f} ms; the program comes from the store")]
    rows.append(Row("start-up, first run of a formula (compiled, not stored)", "s", times["adcli, unseen"],
                    "python -c 'import numpy'", times["import numpy"], ("<=", 1.0),
                    note="each run a text no earlier run compiled: Lark imported, tables loaded, program compiled"))
    rows.append(Row(f'start-up: `{command} diff "{EXPR}"` (the formula), whole process', "s", times["adcli diff"],
                    "python -c 'import numpy'", times["import numpy"], ("<=", 1.5),
                    note="recording, simplifying and printing the derivative; neither NumPy nor SymPy is imported"))
    if qalc:
        rows.append(Row("start-up, stretch: against qalc", "s", times["adcli"], "qalc diff(...)", times["qalc"],
                        ("<=", 1.0)))
    else:
        rows.append(Row("start-up, stretch: against qalc", "s", times["adcli"], "qalc", math.nan, None,
                        note="qalc not installed (apt-get install qalc)"))
    return rows
