"""The gradient of a batch's cross-entropy (softmax regression), adcli against PyTorch eager on the same numbers."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from harness import Row, alternate, framework, missing_note

BATCH, FEATURES, CLASSES = 1_000, 100, 10
LOSS = "z = X @ W + b; mean(logsumexp(z, axis=1) - sum(Y * z, axis=1))"
LOSS_BY_LOG_SOFTMAX = "-mean(sum(Y * log_softmax(X @ W + b, axis=1), axis=1))"


def batch() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(16)
    labels = rng.integers(0, CLASSES, BATCH)
    return {"X": rng.standard_normal((BATCH, FEATURES)), "Y": np.eye(CLASSES)[labels],
            "W": rng.standard_normal((FEATURES, CLASSES)) * 0.1, "b": rng.standard_normal(CLASSES) * 0.1}


def adcli_gradient(text: str, data: dict) -> Callable[[], np.ndarray]:
    import adcli

    compiled = adcli.compile(text)

    def run() -> np.ndarray:
        value, grads = compiled.grad(["W", "b"], **data)
        return np.concatenate([[value], np.ravel(grads["W"]), grads["b"]])

    return run


def torch_gradient(data: dict, torch: Any) -> Callable[[], np.ndarray]:
    """Eager PyTorch, float64: F.cross_entropy on the same X, labels, W and b, then autograd."""
    X = torch.from_numpy(data["X"])
    labels = torch.from_numpy(np.argmax(data["Y"], axis=1))

    def run() -> np.ndarray:
        W = torch.from_numpy(data["W"]).requires_grad_()
        b = torch.from_numpy(data["b"]).requires_grad_()
        loss = torch.nn.functional.cross_entropy(X @ W + b, labels)
        dW, db = torch.autograd.grad(loss, [W, b])
        return np.concatenate([[loss.item()], dW.numpy().ravel(), db.numpy()])

    return run


def cross_entropy_row(quick: bool) -> Row:
    data = batch()
    contenders = {"adcli": adcli_gradient(LOSS, data), "adcli, log_softmax form": adcli_gradient(LOSS_BY_LOG_SOFTMAX, data)}
    torch = framework("PyTorch")
    if torch:
        contenders["PyTorch"] = torch_gradient(data, torch)
    results = {name: run() for name, run in contenders.items()}
    bad = [name for name, got in results.items() if not np.allclose(got, results["adcli"], rtol=1e-12, atol=1e-15)]
    seconds = alternate(contenders, 10 if quick else 50, warmup=3)
    notes = [f"log_softmax form: {seconds['adcli, log_softmax form'] * 1000:.2f} ms",
             f"X {BATCH:,}x{FEATURES}, W {FEATURES}x{CLASSES}, b {CLASSES}; value and both gradients"]
    if bad:
        notes.append(f"MISMATCH: {', '.join(bad)} differ from adcli")
    others = {"PyTorch": seconds["PyTorch"] if torch else missing_note("PyTorch"),
              "autograd": "not run", "JAX": "not run"}
    return Row(f"grad: cross-entropy of a {BATCH:,}x{FEATURES} batch (softmax regression), library call", "s",
               seconds["adcli"], "PyTorch eager (F.cross_entropy + autograd.grad)", seconds.get("PyTorch", math.nan),
               ("<=", 1.0) if torch else None, others, "; ".join(notes))


LOGITS_LOSS = "mean(logsumexp(Z, axis=1) - sum(Y * Z, axis=1))"


def logits_row(quick: bool) -> Row:
    """The same loss straight on a 1,000x100 batch of logits (100 classes), differentiated with respect to them."""
    rng = np.random.default_rng(17)
    data = {"Z": rng.standard_normal((BATCH, 100)) * 3, "Y": np.eye(100)[rng.integers(0, 100, BATCH)]}
    import adcli

    compiled = adcli.compile(LOGITS_LOSS)
    contenders = {"adcli": lambda: compiled.grad(["Z"], **data)[1]["Z"]}
    torch = framework("PyTorch")
    if torch:
        labels = torch.from_numpy(np.argmax(data["Y"], axis=1))

        def torch_run() -> np.ndarray:
            Z = torch.from_numpy(data["Z"]).requires_grad_()
            return torch.autograd.grad(torch.nn.functional.cross_entropy(Z, labels), [Z])[0].numpy()

        contenders["PyTorch"] = torch_run
    results = {name: run() for name, run in contenders.items()}
    bad = [name for name, got in results.items() if not np.allclose(got, results["adcli"], rtol=1e-12, atol=1e-15)]
    seconds = alternate(contenders, 10 if quick else 50, warmup=3)
    others = {"PyTorch": seconds["PyTorch"] if torch else missing_note("PyTorch"), "autograd": "not run", "JAX": "not run"}
    return Row(f"grad: cross-entropy of {BATCH:,}x100 logits (100 classes), library call", "s", seconds["adcli"],
               "PyTorch eager (F.cross_entropy + autograd.grad)", seconds.get("PyTorch", math.nan),
               ("<=", 1.0) if torch else None, others, f"MISMATCH: {', '.join(bad)}" if bad else "")


def run(quick: bool) -> list[Row]:
    return [cross_entropy_row(quick), logits_row(quick)]


if __name__ == "__main__":
    from harness import table

    print(table(run(quick=False)))
