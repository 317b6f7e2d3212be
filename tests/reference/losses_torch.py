"""The loss functions, keepdims and indexing, by adcli and by PyTorch float64, compared.

Not a test (it needs torch). Run it from an environment with torch and adcli:

    python tests/reference/losses_torch.py [--seed 0] [--random 300] [--print-pinned]

Every case is a program in adcli's language beside the same computation in torch. For each,
the value, the gradient with respect to every variable and the Hessian over all of them
(flattened in C order and concatenated, as `adcli hessian` prints it) must agree to relative
1e-12 (nan == nan, infinities by sign): at ordinary points, at the clamp bounds, at ties and at
large magnitudes, then at random points of random shapes, axes and keepdims.

clip with constant bounds follows PyTorch 2.14's clamp (gradient 0 at the bounds, SPEC section
6); torch 2.13 still gives 1 there, so its reference is F.hardtanh, which has 2.14's rule and
clamp's values. The script shows the cases where torch 2.13's clamp differs, for the record.
With --write-pinned tests/losses_torch.json it writes the fixed cases as torch computes them, which
tests/test_losses.py checks adcli against (so the test suite needs no torch).
Exit status 1 when anything disagrees.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

import adcli

RTOL = 1e-12
F64 = torch.float64


@dataclass
class Case:
    kind: str  # ordinary, bounds, ties, large, random
    text: str
    bindings: dict[str, np.ndarray | float]
    torch_function: Callable[..., torch.Tensor]  # the variables' tensors, by name -> the value
    constants: dict[str, np.ndarray] | None = None  # bound too, but not differentiated


def tensors(bindings: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {name: torch.tensor(np.asarray(value, dtype=np.float64), dtype=F64, requires_grad=True)
            for name, value in bindings.items()}


def torch_results(case: Case) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    leaves = tensors(case.bindings)
    fixed = {name: torch.tensor(value, dtype=F64) for name, value in (case.constants or {}).items()}
    out = case.torch_function(**leaves, **fixed)
    grads = torch.autograd.grad(out.sum(), list(leaves.values()), allow_unused=True)
    gradient = {name: (torch.zeros_like(leaves[name]) if g is None else g).detach().numpy()
                for name, g in zip(leaves, grads)}
    shapes = [tuple(leaf.shape) for leaf in leaves.values()]
    sizes = [int(np.prod(shape, dtype=int)) for shape in shapes]

    def of_flat(flat: torch.Tensor) -> torch.Tensor:
        parts = torch.split(flat, sizes)
        moved = {name: part.reshape(shape) for name, part, shape in zip(leaves, parts, shapes)}
        return case.torch_function(**moved, **fixed).sum()

    flat = torch.cat([leaf.detach().reshape(-1) for leaf in leaves.values()])
    matrix = torch.autograd.functional.hessian(of_flat, flat).numpy()
    return out.detach().numpy(), gradient, matrix


def adcli_results(case: Case) -> tuple[Any, dict[str, Any], np.ndarray]:
    program = adcli.compile(case.text)
    wrt = list(case.bindings)
    bindings = {**case.bindings, **(case.constants or {})}
    value, grads = program.grad(wrt, **bindings)
    _, _, matrix = program.hessian(wrt, **bindings)
    return value, grads, matrix


def agree(ours: Any, theirs: Any) -> bool:
    a, b = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    if a.shape != b.shape:
        return False
    both_nan = np.isnan(a) & np.isnan(b)
    infinite = np.isinf(a) | np.isinf(b)
    same_infinity = infinite & (a == b)
    finite = ~(np.isnan(a) | np.isnan(b) | infinite)
    scale = max(1.0, float(np.max(np.abs(b[finite]), initial=0.0)))
    close = np.abs(a - b) <= RTOL * np.maximum(np.abs(a), np.abs(b)) + 1e-15 * scale
    return bool(np.all(both_nan | same_infinity | (finite & close)))


# -- the cases ------------------------------------------------------------------------------

def hardtanh(x, lo, hi):  # clamp's values with PyTorch 2.14's gradient for constant bounds
    return F.hardtanh(x, lo, hi)


Z = np.array([[0.3, -1.2, 2.0, 0.7], [1.5, 0.1, -0.4, -2.2], [0.0, 0.9, -1.1, 0.4]])
Y = np.eye(4)[[2, 0, 3]]
W = np.array([[0.2, -0.5, 0.1], [0.4, 0.3, -0.2], [-0.1, 0.6, 0.5]])
X = np.array([[1.0, 0.5, -0.3], [0.2, -1.0, 0.8], [-0.6, 0.4, 1.2], [0.9, 0.1, -0.7]])
LABELS = torch.tensor([2, 0, 1, 1])
ONE_HOT = np.eye(3)[[2, 0, 1, 1]]
V = np.array([-2.0, -0.5, 0.25, 1.5, 3.0])
WEIGHTS = np.array([0.5, -1.0, 2.0, 1.5, -0.25])


def fixed_cases() -> list[Case]:
    cases = [
        # ordinary points
        Case("ordinary", "sum(softmax(z) * [1, 2, 3, 4])", {"z": Z},
             lambda z: (torch.softmax(z, -1) * torch.tensor([1.0, 2, 3, 4], dtype=F64)).sum()),
        Case("ordinary", "sum(log_softmax(z, axis=0) * y)", {"z": Z, "y": Y}, lambda z, y: (torch.log_softmax(z, 0) * y).sum()),
        Case("ordinary", "logsumexp(z)", {"z": Z}, lambda z: torch.logsumexp(z.reshape(-1), 0)),
        Case("ordinary", "logsumexp(z, axis=1)", {"z": Z}, lambda z: torch.logsumexp(z, 1)),
        Case("ordinary", "logsumexp(z, axis=0, keepdims=1)", {"z": Z}, lambda z: torch.logsumexp(z, 0, keepdim=True)),
        Case("ordinary", "mean(logsumexp(z, axis=1) - sum(y * z, axis=1))", {"z": Z, "y": Y},
             lambda z, y: (torch.logsumexp(z, 1) - (y * z).sum(1)).mean()),
        Case("ordinary", "-mean(sum(Y * log_softmax(X @ W + b, axis=1), axis=1))",
             {"W": W, "b": np.array([0.1, -0.2, 0.05]), "X": X, "Y": ONE_HOT},
             lambda W, b, X, Y: -(Y * torch.log_softmax(X @ W + b, 1)).sum(1).mean()),
        Case("ordinary", "mean(logsumexp(X @ W, axis=1) - sum(Y * (X @ W), axis=1))", {"W": W},
             lambda W, X, Y: F.cross_entropy(X @ W, LABELS), {"X": X, "Y": ONE_HOT}),
        Case("ordinary", "sum(w * gelu(v))", {"v": V}, lambda v, w: (w * F.gelu(v)).sum()),
        Case("ordinary", "sum(w * silu(v))", {"v": V}, lambda v, w: (w * F.silu(v)).sum()),
        Case("ordinary", "sum(w * elu(v))", {"v": V}, lambda v, w: (w * F.elu(v)).sum()),
        Case("ordinary", "sum(w * elu(v, alpha=0.7))", {"v": V}, lambda v, w: (w * F.elu(v, alpha=0.7)).sum()),
        Case("ordinary", "sum(w * leaky_relu(v))", {"v": V}, lambda v, w: (w * F.leaky_relu(v)).sum()),
        Case("ordinary", "sum(w * leaky_relu(v, slope=0.2))", {"v": V}, lambda v, w: (w * F.leaky_relu(v, 0.2)).sum()),
        Case("ordinary", "sum(w * clip(v, -1, 2) ^ 2)", {"v": V}, lambda v, w: (w * hardtanh(v, -1.0, 2.0) ** 2).sum()),
        Case("ordinary", "sum(clip(v, lo, hi) * w)", {"v": V, "lo": -1.0, "hi": 2.0},
             lambda v, lo, hi, w: (torch.clamp(v, lo, hi) * w).sum()),
        Case("ordinary", "sum(max(z, axis=1, keepdims=1) * z)", {"z": Z}, lambda z: (torch.amax(z, 1, keepdim=True) * z).sum()),
        Case("ordinary", "sum(z / norm(z, axis=0, keepdims=1))", {"z": Z},
             lambda z: (z / torch.linalg.vector_norm(z, dim=0, keepdim=True)).sum()),
        Case("ordinary", "sum(z - mean(z, axis=1, keepdims=1))^2 + prod(z, keepdims=1)[0, 0]", {"z": Z},
             lambda z: (z - z.mean(1, keepdim=True)).sum() ** 2 + torch.prod(z)),
        Case("ordinary", "sum((z - min(z, axis=0, keepdims=1))^2)", {"z": Z}, lambda z: ((z - z.amin(0, keepdim=True)) ** 2).sum()),
        # indexing
        Case("ordinary", "z[0] @ z[-1] + z[1, 2]^2", {"z": Z}, lambda z: z[0] @ z[-1] + z[1, 2] ** 2),
        Case("ordinary", "sum(z[1:3] ^ 2) + sum(z[:, 0] * z[:, -1])", {"z": Z}, lambda z: (z[1:3] ** 2).sum() + (z[:, 0] * z[:, -1]).sum()),
        Case("ordinary", "sum(z[::2] * z[::-1][::2]) + sum(sin(z[0, ::-1]) * [1, 2, 3, 4])", {"z": Z},
             lambda z: (z[::2] * z.flip(0)[::2]).sum() + (torch.sin(z[0].flip(0)) * torch.tensor([1.0, 2, 3, 4], dtype=F64)).sum()),
        Case("ordinary", "sum(log_softmax(z, axis=1)[:, 0]) + softmax(z[1])[2]", {"z": Z},
             lambda z: torch.log_softmax(z, 1)[:, 0].sum() + torch.softmax(z[1], 0)[2]),
        # clamp bounds
        Case("bounds", "sum(w * clip(v, -0.5, 1.5))", {"v": V}, lambda v, w: (w * hardtanh(v, -0.5, 1.5)).sum()),
        Case("bounds", "sum(w * clip(v, -2, 3))", {"v": V}, lambda v, w: (w * hardtanh(v, -2.0, 3.0)).sum()),
        Case("bounds", "sum(w * clip(v, 0.25, 0.25))", {"v": V}, lambda v, w: (w * hardtanh(v, 0.25, 0.25)).sum()),
        Case("bounds", "sum(w * clip(v, lo, hi))", {"v": V, "lo": -0.5, "hi": 1.5}, lambda v, lo, hi, w: (w * torch.clamp(v, lo, hi)).sum()),
        Case("bounds", "sum(w * clip(v, lo, hi))", {"v": V, "lo": 2.0, "hi": -1.0}, lambda v, lo, hi, w: (w * torch.clamp(v, lo, hi)).sum()),
        # ties
        Case("ties", "logsumexp(v)", {"v": np.array([2.0, 2.0, 2.0])}, lambda v: torch.logsumexp(v, 0)),
        Case("ties", "sum(softmax(v) * [1, 2, 3])", {"v": np.array([0.5, 0.5, 0.5])},
             lambda v: (torch.softmax(v, 0) * torch.tensor([1.0, 2, 3], dtype=F64)).sum()),
        Case("ties", "sum(max(z, axis=1, keepdims=1))", {"z": np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])},
             lambda z: torch.amax(z, 1, keepdim=True).sum()),
        Case("ties", "sum(min(z, keepdims=1) * 2)", {"z": np.array([[1.0, 3.0], [1.0, 2.0]])}, lambda z: (torch.amin(z) * 2).sum()),
        Case("ties", "sum(w * leaky_relu(v - v[2]))", {"v": V}, lambda v, w: (w * F.leaky_relu(v - v[2])).sum()),
        Case("ties", "sum(elu(v, alpha=0.5) + elu(v))", {"v": np.array([0.0, -0.0, 1.0])},
             lambda v: (F.elu(v, alpha=0.5) + F.elu(v)).sum()),
        Case("ties", "gelu(x) + silu(x)", {"x": 0.0}, lambda x: F.gelu(x) + F.silu(x)),
        # large magnitudes
        Case("large", "logsumexp(v)", {"v": np.array([1000.0, 1001.0, 1002.0])}, lambda v: torch.logsumexp(v, 0)),
        Case("large", "logsumexp(v)", {"v": np.array([-1000.0, -1001.0, -1002.0])}, lambda v: torch.logsumexp(v, 0)),
        Case("large", "logsumexp(z, axis=1)", {"z": np.array([[1e308, 1e308], [-800.0, 800.0]])}, lambda z: torch.logsumexp(z, 1)),
        Case("large", "sum(softmax(v) * [1, 2, 3])", {"v": np.array([1000.0, 1001.0, 1002.0])},
             lambda v: (torch.softmax(v, 0) * torch.tensor([1.0, 2, 3], dtype=F64)).sum()),
        Case("large", "sum(log_softmax(v) * [1, 2, 3])", {"v": np.array([-1000.0, 1000.0, 999.0])},
             lambda v: (torch.log_softmax(v, 0) * torch.tensor([1.0, 2, 3], dtype=F64)).sum()),
        Case("large", "sum(gelu(v))", {"v": np.array([-40.0, -8.0, 8.0, 40.0])}, lambda v: F.gelu(v).sum()),
        Case("large", "sum(silu(v))", {"v": np.array([-800.0, -40.0, 40.0, 800.0])}, lambda v: F.silu(v).sum()),
        Case("large", "sum(elu(v))", {"v": np.array([-800.0, -40.0, 40.0, 800.0])}, lambda v: F.elu(v).sum()),
        Case("large", "mean(logsumexp(z, axis=1) - sum(y * z, axis=1))", {"z": 300 * Z, "y": Y},
             lambda z, y: (torch.logsumexp(z, 1) - (y * z).sum(1)).mean()),
    ]
    for case in cases:
        if "w" not in case.bindings and ("w *" in case.text or "* w" in case.text):
            case.constants = {"w": WEIGHTS[: np.size(next(iter(case.bindings.values())))]}
    return cases


# -- random cases -----------------------------------------------------------------------------

ACTIVATIONS = {
    "gelu": (F.gelu, ""), "silu": (F.silu, ""), "elu": (F.elu, ""), "leaky_relu": (F.leaky_relu, ""),
    "elu_alpha": (lambda x: F.elu(x, alpha=1.7), "alpha=1.7"), "leaky_relu_slope": (lambda x: F.leaky_relu(x, 0.3), "slope=0.3"),
}


def random_cases(rng: random.Random, count: int) -> list[Case]:
    cases = []
    for _ in range(count):
        shape = rng.choice([(4,), (2, 3), (3, 1), (2, 2, 3)])
        scale = rng.choice([1.0, 3.0, 50.0])
        x = np.array([rng.gauss(0, scale) for _ in range(int(np.prod(shape)))]).reshape(shape)
        w = np.array([rng.uniform(-2, 2) for _ in range(x.size)]).reshape(shape)
        ndim = len(shape)
        kind = rng.choice(["softmax", "log_softmax", "logsumexp", "activation", "clip", "index", "keepdims"])
        axis = rng.randrange(-ndim, ndim)
        if kind in ("softmax", "log_softmax"):
            torch_function = torch.softmax if kind == "softmax" else torch.log_softmax
            default = rng.random() < 0.3
            text = f"sum(w * {kind}(x{'' if default else f', axis={axis}'}))"
            cases.append(Case("random", text, {"x": x, "w": w},
                              lambda x, w, f=torch_function, a=-1 if default else axis: (w * f(x, a)).sum()))
        elif kind == "logsumexp":
            keep = rng.random() < 0.5
            text = f"sum(logsumexp(x, axis={axis}{', keepdims=1' if keep else ''})^2)"
            cases.append(Case("random", text, {"x": x}, lambda x, a=axis, k=keep: (torch.logsumexp(x, a, keepdim=k) ** 2).sum()))
        elif kind == "activation":
            name = rng.choice(sorted(ACTIVATIONS))
            function, keyword = ACTIVATIONS[name]
            call = name.split("_alpha")[0].split("_slope")[0]
            text = f"sum(w * {call}(x{', ' + keyword if keyword else ''}))"
            cases.append(Case("random", text, {"x": x / scale * 3, "w": w}, lambda x, w, f=function: (w * f(x)).sum()))
        elif kind == "clip":
            lo, hi = sorted(round(rng.uniform(-2, 2), 1) for _ in range(2))
            x = np.round(x / scale * 2, 1)  # on a grid that the bounds sit on: some entries are at a bound
            if rng.random() < 0.5:
                text = f"sum(w * clip(x, {lo}, {hi}))"
                cases.append(Case("random", text, {"x": x, "w": w}, lambda x, w, lo=lo, hi=hi: (w * hardtanh(x, lo, hi)).sum()))
            else:
                text = "sum(w * clip(x, lo, hi))"
                cases.append(Case("random", text, {"x": x, "w": w, "lo": lo, "hi": hi},
                                  lambda x, w, lo, hi: (w * torch.clamp(x, lo, hi)).sum()))
        elif kind == "index":
            entries, torch_index = [], []
            for size in shape[: rng.randint(1, ndim)]:
                roll = rng.random()
                if roll < 0.4:
                    i = rng.randrange(-size, size)
                    entries.append(str(i))
                    torch_index.append(i)
                else:
                    start, stop = rng.choice([None, 0, 1, -1]), rng.choice([None, 2, -1, size])
                    step = rng.choice([None, 1, 2, -1, -2])
                    entries.append(f"{'' if start is None else start}:{'' if stop is None else stop}"
                                   f"{'' if step is None else f':{step}'}")
                    torch_index.append(slice(start, stop, step))
            text = f"sum(x[{', '.join(entries)}]^2 * 1.5) + sum(x)"
            index = tuple(torch_index)
            cases.append(Case("random", text, {"x": x / scale},
                              lambda x, index=index: (numpy_index(x, index) ** 2 * 1.5).sum() + x.sum()))
        else:
            name = rng.choice(["sum", "mean", "prod", "norm", "max", "min"])
            keep_all = rng.random() < 0.3
            reductions = {"sum": torch.sum, "mean": torch.mean, "prod": None, "norm": torch.linalg.vector_norm,
                          "max": torch.amax, "min": torch.amin}
            text = f"sum({name}(x{'' if keep_all else f', axis={axis}'}, keepdims=1) * x)"
            cases.append(Case("random", text, {"x": x / scale},
                              lambda x, n=name, a=axis, all_=keep_all, table=reductions: (
                                  reduce_kept(table, n, x, None if all_ else a) * x).sum()))
    return cases


def numpy_index(x: torch.Tensor, index: tuple) -> torch.Tensor:
    """x[index] with NumPy's negative steps (torch has none): flip where a step is negative."""
    for axis, entry in reversed(list(enumerate(index))):
        if isinstance(entry, slice) and entry.step is not None and entry.step < 0:
            size = x.shape[axis]
            positions = list(range(size))[entry]
            x = x.index_select(axis, torch.tensor(positions, dtype=torch.long)) if positions else \
                x.narrow(axis, 0, 0)
            index = index[:axis] + (slice(None),) + index[axis + 1:]
    return x[index]


def reduce_kept(table, name: str, x: torch.Tensor, axis: int | None) -> torch.Tensor:
    if name == "prod":
        return torch.prod(x, axis, keepdim=True) if axis is not None else torch.prod(x).reshape((1,) * x.dim())
    function = table[name]
    if axis is None:
        return function(x).reshape((1,) * x.dim())
    if name == "norm":
        return function(x, dim=axis, keepdim=True)
    return function(x, axis, keepdim=True)


# -- running them ----------------------------------------------------------------------------

def compare(case: Case) -> list[str]:
    """What differs (empty when value, gradients and Hessian agree)."""
    theirs = torch_results(case)
    try:
        ours = adcli_results(case)
    except adcli.AdcliError as error:
        return [f"adcli error: {error.message}"]
    problems = []
    if not agree(ours[0], theirs[0]):
        problems.append(f"value {ours[0]!r} != torch {theirs[0]!r}")
    for name in case.bindings:
        if not agree(ours[1][name], theirs[1][name]):
            problems.append(f"d/d{name} {ours[1][name]!r} != torch {theirs[1][name]!r}")
    if not agree(ours[2], theirs[2]):
        problems.append(f"Hessian differs by {np.nanmax(np.abs(ours[2] - theirs[2])):.3g}")
    return problems


def clamp_213_differences() -> list[str]:
    """Where torch 2.13's clamp with constant bounds differs from 2.14's rule (which adcli follows)."""
    x = torch.tensor([-0.5, 1.5, 0.0, -0.7], dtype=F64, requires_grad=True)
    (torch.clamp(x, -0.5, 1.5) * 1.0).sum().backward()
    old = x.grad.tolist()
    _, grads = adcli.grad("sum(clip(x, -0.5, 1.5))", x=x.detach().numpy())
    return [f"clip(x, -0.5, 1.5) at x = {x[i].item()}: torch 2.13 {old[i]}, adcli (2.14's rule) {grads['x'][i]}"
            for i in range(4) if old[i] != grads["x"][i]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--random", type=int, default=300, help="how many random cases")
    parser.add_argument("--write-pinned", metavar="PATH", help="write the fixed cases as torch computes them "
                        "(tests/losses_torch.json, which tests/test_losses.py reads) and stop")
    options = parser.parse_args()
    if options.write_pinned:
        return write_pinned(options.write_pinned)
    cases = fixed_cases() + random_cases(random.Random(options.seed), options.random)
    counts: dict[str, list[int]] = {}
    failures = 0
    for case in cases:
        problems = compare(case)
        agreed = counts.setdefault(case.kind, [0, 0])
        agreed[1] += 1
        if problems:
            failures += 1
            print(f"MISMATCH [{case.kind}] {case.text} at {case.bindings}: " + "; ".join(problems))
        else:
            agreed[0] += 1
    for line in clamp_213_differences():
        print(f"expected (SPEC: PyTorch 2.14's clamp): {line}")
    summary = ", ".join(f"{kind} {good}/{total}" for kind, (good, total) in counts.items())
    print(f"{len(cases)} cases (value, gradients and Hessian each): {len(cases) - failures} agree with torch "
          f"{torch.__version__} to relative {RTOL:g}: {summary}")
    return 1 if failures else 0


def as_json(value: Any) -> Any:
    """Nested lists of floats, non-finite numbers as the strings "nan", "inf", "-inf" (as adcli's JSON)."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim:
        return [as_json(item) for item in array]
    number = float(array)
    return number if math.isfinite(number) else str(number)


def write_pinned(path: str) -> int:
    """The fixed cases as torch computes them, for tests/test_losses.py (which needs no torch)."""
    records = []
    for case in fixed_cases():
        value, grads, matrix = torch_results(case)
        records.append({"kind": case.kind, "text": case.text, "wrt": list(case.bindings),
                        "bindings": {name: as_json(v) for name, v in {**case.bindings, **(case.constants or {})}.items()},
                        "value": as_json(value), "grad": {name: as_json(g) for name, g in grads.items()},
                        "hessian": as_json(matrix)})
    with open(path, "w", encoding="utf-8") as out:  # one case a line
        out.write(f'{{"torch": {json.dumps(torch.__version__)}, "cases": [\n')
        out.write(",\n".join(json.dumps(record) for record in records))
        out.write("\n]}\n")
    print(f"{len(records)} cases written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
