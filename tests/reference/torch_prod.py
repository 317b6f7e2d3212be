"""prod's Hessians and higher derivatives beside zeros of its operand, against PyTorch float64.

Not a test (it needs torch). Run it from the reference environment:

    PYTHONPATH=/work/main /work/venv-ref/bin/python tests/reference/torch_prod.py

720 Hessians of prod (over all elements, and along each axis) at random points with many
zeros, and derivatives of orders 1 to 4 of products of scalar expressions at and beside
their zeros. Exit status 1 when any differs beyond 1e-12.
"""

from __future__ import annotations

import sys
from typing import Callable

import numpy as np
import torch

import adcli
from adcli.engine import derivatives

SHAPES = [(4,), (3,), (2, 3), (3, 2), (5,)]

PRODUCTS = [
    ("prod([x, x, x, 3])", lambda x: torch.prod(torch.stack([x, x, x, torch.tensor(3.0, dtype=torch.float64)]))),
    ("prod([x, x - 1, 2x, x^2])", lambda x: torch.prod(torch.stack([x, x - 1, 2 * x, x ** 2]))),
    ("prod([sin(x), x, x + 1])", lambda x: torch.prod(torch.stack([torch.sin(x), x, x + 1]))),
    ("prod([x, 0 * x + 2, x - 2, x])", lambda x: torch.prod(torch.stack([x, 0 * x + 2, x - 2, x]))),
]


def point_with_zeros(rng: np.random.Generator, trial: int) -> np.ndarray:
    shape = SHAPES[trial % len(SHAPES)]
    if trial % 3 == 0:
        return np.where(rng.random(shape) < 0.5, 0.0, rng.normal(size=shape))
    return rng.integers(-2, 3, size=shape).astype(float)


def hessian_differs(x: np.ndarray, axis: int | None, rng: np.random.Generator) -> bool:
    if axis is None:
        text, inputs, reference = "prod(x)", {"x": x}, torch.prod
    else:
        weights = rng.normal(size=np.prod(x, axis=axis).shape)
        text, inputs = f"sum(prod(x, axis={axis}) * w)", {"x": x, "w": weights}
        reference = lambda t: (torch.prod(t, dim=axis) * torch.tensor(weights)).sum()  # noqa: E731
    _, _, ours = derivatives.hessian(adcli.compile(text).program, inputs, ["x"])
    theirs = torch.autograd.functional.hessian(reference, torch.tensor(x, dtype=torch.float64)).numpy()
    if np.allclose(ours, theirs.reshape(ours.shape), rtol=1e-12, atol=1e-12, equal_nan=True):
        return False
    print("Hessian differs:", text, x.tolist(), ours, theirs, sep="\n  ")
    return True


def torch_derivatives(function: Callable, x0: float, orders: int) -> list[float]:
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    value, found = function(x), []
    for _ in range(orders):
        (value,) = torch.autograd.grad(value, x, create_graph=True)
        found.append(value.item())
    return found


def derivatives_differ(text: str, function: Callable, x0: float) -> bool:
    compiled = adcli.compile(text)
    ours = [compiled.derivative("x", order, x=x0)[1] for order in range(1, 5)]
    theirs = torch_derivatives(function, x0, 4)
    if np.allclose(ours, theirs, rtol=1e-12, atol=1e-12):
        return False
    print("derivatives differ:", text, x0, ours, theirs)
    return True


def main() -> int:
    rng = np.random.default_rng(1)
    points = [point_with_zeros(rng, trial) for trial in range(300)]
    hessians = [(x, axis) for x in points for axis in [None, *range(x.ndim)]]
    failures = sum(hessian_differs(x, axis, rng) for x, axis in hessians)
    scalar_cases = [(text, function, x0) for text, function in PRODUCTS for x0 in (0.0, 1.0, 2.0, -1.0, 0.5)]
    failures += sum(derivatives_differ(*case) for case in scalar_cases)
    print(f"{len(hessians)} Hessians and {len(scalar_cases)} x 4 derivatives: {failures} differ from torch")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
