"""The tutorial's Linear + MSE + SGD example, and array cases, through adcli's CLI against PyTorch float64.

Not a test (it needs torch). Run it from the reference environment:

    PYTHONPATH=/work/main /work/venv-ref/bin/python tests/reference/linear_mse_torch.py

For several seeded batches (x 5x3 in .npy, y 5x2 in .csv; W and b inline, the tutorial's
printed values first) it runs `adcli grad` and `adcli descend` (1, 10 and 100 steps, with
and without momentum) and compares the loss, dL/dW, dL/db and the updated W and b with
nn.Linear, nn.MSELoss and optim.SGD. Then it compares `adcli grad` on array expressions
(broadcasting, @, reductions with axes, ties, transpose) with torch. Everything must agree
to relative 1e-9; exit status 1 otherwise.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from click.testing import CliRunner

from adcli.cli.app import main

RTOL, ATOL = 1e-9, 1e-12
TUTORIAL_W = [[0.4176, 0.2302, 0.3942], [-0.3258, 0.0489, -0.3333]]
TUTORIAL_B = [0.4269, 0.2872]
failures: list[str] = []
worst = [0.0]  # the largest relative difference seen


def adcli_json(*args: str) -> dict:
    result = CliRunner().invoke(main, [*args, "--format", "json"], catch_exceptions=False)
    if result.exit_code != 0:
        raise SystemExit(f"adcli {' '.join(args)} failed: {result.stderr}")
    return json.loads(result.stdout)


def compare(label: str, got, expected) -> None:
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape == expected.shape:
        finite = np.isfinite(expected)
        scale = np.maximum(np.abs(expected[finite]), 1e-300)
        worst[0] = max(worst[0], float(np.max(np.abs(got[finite] - expected[finite]) / scale, initial=0.0)))
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=RTOL, atol=ATOL, equal_nan=True):
        failures.append(f"{label}: adcli {got.tolist()} torch {expected.tolist()}")


def torch_linear(x, y, weight, bias, lr, steps, momentum):
    model = torch.nn.Linear(3, 2).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor(weight, dtype=torch.float64))
        model.bias.copy_(torch.tensor(bias, dtype=torch.float64))
    inputs, targets = torch.tensor(x), torch.tensor(y)
    criterion = torch.nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loss_before = grads = None
    for _ in range(steps):
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        if loss_before is None:
            loss_before = loss.item()
            grads = (model.weight.grad.numpy().copy(), model.bias.grad.numpy().copy())
        optimizer.step()
    with torch.no_grad():
        loss_after = criterion(model(inputs), targets).item()
    return loss_before, grads, loss_after, model.weight.detach().numpy(), model.bias.detach().numpy()


def linear_cases(folder: Path) -> int:
    count = 0
    for seed in range(5):
        rng = np.random.default_rng(seed)
        x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
        weight = TUTORIAL_W if seed == 0 else rng.uniform(-0.6, 0.6, (2, 3)).tolist()
        bias = TUTORIAL_B if seed == 0 else rng.uniform(-0.6, 0.6, 2).tolist()
        np.save(folder / "x.npy", x)
        np.savetxt(folder / "y.csv", y, delimiter=",", fmt="%.17g")
        at = ["--at", f"x=@{folder / 'x.npy'}", "--at", f"y=@{folder / 'y.csv'}",
              "--at", f"W={weight}", "--at", f"b={bias}"]
        graded = adcli_json("grad", "mean((x @ W.T + b - y)^2)", *at, "--wrt", "W,b")
        loss, (grad_w, grad_b), *_ = torch_linear(x, y, weight, bias, 0.01, 1, 0.0)
        compare(f"seed {seed} loss", graded["value"], loss)
        compare(f"seed {seed} dL/dW", graded["grad"]["W"], grad_w)
        compare(f"seed {seed} dL/db", graded["grad"]["b"], grad_b)
        for steps in (1, 10, 100):
            for momentum in (0.0, 0.9):
                label = f"seed {seed} descend {steps} steps momentum {momentum}"
                record = adcli_json("descend", "pred = x @ W.T + b; mean((pred - y)^2)", *at, "--wrt", "W,b",
                                    "--lr", "0.01", "--steps", str(steps), "--momentum", str(momentum))
                before, _, after, new_w, new_b = torch_linear(x, y, weight, bias, 0.01, steps, momentum)
                compare(f"{label} loss_before", record["loss_before"], before)
                compare(f"{label} loss", record["loss"], after)
                compare(f"{label} W", record["values"]["W"], new_w)
                compare(f"{label} b", record["values"]["b"], new_b)
                count += 1
    return count


# (expression, bindings as text, the same function in torch of the tensors by name)
ARRAY_CASES = [
    ("sum(a * b)", {"a": "[[1, 2, 3], [4, 5, 6]]", "b": "[0.5, -1, 2]"}, lambda t: (t["a"] * t["b"]).sum()),
    ("sum(a / b + a ^ 2)", {"a": "[[1], [2]]", "b": "[0.5, -1, 2]"}, lambda t: (t["a"] / t["b"] + t["a"] ** 2).sum()),
    ("sum(a ^ b)", {"a": "[[1.5], [2]]", "b": "[0.5, -1, 2]"}, lambda t: (t["a"] ** t["b"]).sum()),
    ("sum(atan2(a, b) * hypot(a, b))", {"a": "[[1], [-2]]", "b": "[0.5, -1, 2]"},
     lambda t: (torch.atan2(t["a"], t["b"]) * torch.hypot(t["a"], t["b"])).sum()),
    ("sum(max(a, b) - min(a, b) * 2)", {"a": "[[1], [2]]", "b": "[0.5, 2, 3]"},
     lambda t: (torch.maximum(t["a"], t["b"]) - torch.minimum(t["a"], t["b"]) * 2).sum()),
    ("sum(a - b)", {"a": "3", "b": "[[1, 2], [3, 4]]"}, lambda t: (t["a"] - t["b"]).sum()),
    ("a @ b", {"a": "[1, 2, 3]", "b": "[4, -5, 6]"}, lambda t: t["a"] @ t["b"]),
    ("sum(a @ b)", {"a": "[1, 2, 3]", "b": "[[1, 2], [3, 4], [5, 6]]"}, lambda t: (t["a"] @ t["b"]).sum()),
    ("sum(sin(a @ b))", {"a": "[[1, 2, 3], [4, 5, 6]]", "b": "[0.1, 0.2, 0.3]"}, lambda t: torch.sin(t["a"] @ t["b"]).sum()),
    ("sum((a @ b.T)^2)", {"a": "[[1, 2, 3], [4, 5, 6]]", "b": "[[0.1, 0.2, 0.3], [1, 0, -1]]"},
     lambda t: ((t["a"] @ t["b"].T) ** 2).sum()),
    ("dot(a, b)", {"a": "[1, 2, 3]", "b": "[4, -5, 6]"}, lambda t: torch.dot(t["a"], t["b"])),
    ("sum(transpose(a) * [1, 2])", {"a": "[[1, 2, 3], [4, 5, 6]]"}, lambda t: (t["a"].T * torch.tensor([1.0, 2.0], dtype=torch.float64)).sum()),
    ("sum(mean(a, axis=0) * [1, 2, 3])", {"a": "[[1, 2, 3], [4, 5, 6]]"},
     lambda t: (t["a"].mean(0) * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).sum()),
    ("sum(prod(a, axis=-1)^2)", {"a": "[[1, 2, 0], [4, 5, 6]]"}, lambda t: (t["a"].prod(-1) ** 2).sum()),
    ("sum(norm(a, axis=1))", {"a": "[[3, 4], [0, 0]]"}, lambda t: torch.linalg.vector_norm(t["a"], dim=1).sum()),
    ("norm(a)", {"a": "[[1, 2], [3, 4]]"}, lambda t: torch.linalg.norm(t["a"])),
    ("sum(max(a, axis=0)) + min(a)", {"a": "[[1, 5, 5], [5, 2, 1]]"},
     lambda t: torch.amax(t["a"], dim=0).sum() + torch.amin(t["a"])),
    ("max(a)", {"a": "[[1, 5], [5, 2]]"}, lambda t: torch.amax(t["a"])),
    ("sum(sum(a, axis=-2) * [1, -1])", {"a": "[[[1, 2], [3, 4]], [[5, 6], [7, 8]]]"},
     lambda t: (t["a"].sum(-2) * torch.tensor([1.0, -1.0], dtype=torch.float64)).sum()),
    ("sum([a, 2a, a^2] * c)", {"a": "[1, 2]", "c": "[[1], [2], [3]]"},
     lambda t: (torch.stack([t["a"], 2 * t["a"], t["a"] ** 2]) * t["c"]).sum()),
    ("sum(sin(a))", {"a": "linspace(0, pi, 5)"}, lambda t: torch.sin(t["a"]).sum()),
]


def array_cases() -> int:
    for text, bindings, function in ARRAY_CASES:
        record = adcli_json("grad", text, *[item for name, value in bindings.items() for item in ("--at", f"{name}={value}")])
        tensors = {name: torch.tensor(adcli_json("eval", name, "--at", f"{name}={value}")["value"], dtype=torch.float64,
                                      requires_grad=True) for name, value in bindings.items()}
        value = function(tensors)
        value.backward()
        compare(f"{text} value", record["value"], value.item())
        for name, tensor in tensors.items():
            compare(f"{text} d/d{name}", record["grad"][name], tensor.grad.numpy())
    return len(ARRAY_CASES)


def main_script() -> int:
    with tempfile.TemporaryDirectory() as folder:
        linear = linear_cases(Path(folder))
    arrays = array_cases()
    print(f"{linear} descend runs and 5 grads of the Linear example, {arrays} array expressions: "
          f"{len(failures)} disagreements with PyTorch (rtol {RTOL}); largest relative difference {worst[0]:.2g}")
    for failure in failures:
        print("  " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main_script())
