"""Check the expected values pinned in tests/test_primitives.py (EDGE_CASES) against PyTorch float64.

Not a test (it needs torch). Run it from the reference environment:

    PYTHONPATH=/work/main /work/venv-ref/bin/python tests/reference/torch_edges.py

Each case's program is compiled by adcli and its instruction list is replayed with torch
operations (the programs are one or two operations, so the translation is plain to read);
torch's value and gradients must equal the pinned ones exactly (nan == nan), and adcli's
too. Exit status 1 when any differs.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import torch

import adcli
from adcli.language.parser import compile_program
from adcli.engine.program import CONST, VAR

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from torch_oracle import TORCH_UNARY  # noqa: E402  (this directory is on sys.path)
from test_primitives import EDGE_CASES  # noqa: E402

TORCH_OPS = {  # adcli primitive name -> torch function
    **TORCH_UNARY, "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
    "neg": torch.neg, "atan2": torch.atan2, "hypot": torch.hypot, "maximum": torch.maximum,
    "minimum": torch.minimum, "stack": lambda *xs: torch.stack(xs), "sum": torch.sum, "mean": torch.mean,
    "prod": torch.prod, "norm": torch.linalg.vector_norm, "amax": torch.amax, "amin": torch.amin,
}


def torch_grad(text: str, bindings: dict[str, float]) -> tuple[float, dict[str, float]]:
    program = compile_program(text)
    leaves = {name: torch.tensor(value, dtype=torch.float64, requires_grad=True) for name, value in bindings.items()}
    slots: list[Any] = []
    for op, args, params, _ in program.instructions:
        if op == CONST:
            slots.append(torch.tensor(params[0][1], dtype=torch.float64))
        elif op == VAR:
            slots.append(leaves[params[0][1]])
        else:
            slots.append(TORCH_OPS[op](*(slots[a] for a in args)))
    out = slots[program.output]
    grads = torch.autograd.grad(out, list(leaves.values()), allow_unused=True)
    return out.item(), {name: 0.0 if g is None else g.item() for name, g in zip(leaves, grads)}


def identical(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def main() -> int:
    failures = 0
    for case, (text, bindings, value, gradient) in EDGE_CASES.items():
        torch_value, torch_gradient = torch_grad(text, bindings)
        adcli_value, adcli_gradient = adcli.grad(text, **bindings)
        rows = [("value", value, torch_value, adcli_value)] + [
            (f"d/d{name}", expected, torch_gradient[name], adcli_gradient[name]) for name, expected in gradient.items()
        ]
        for what, pinned, by_torch, by_adcli in rows:
            if not (identical(pinned, by_torch) and identical(pinned, by_adcli)):
                failures += 1
                print(f"{case}: {text} {what}: pinned {pinned!r}, torch {by_torch!r}, adcli {by_adcli!r}")
    print(f"{len(EDGE_CASES)} edge cases, {failures} differences from torch")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
