"""1,000 SGD steps on the tutorial's Linear + MSE example: adcli descend against the PyTorch loop.

Not a test. Run it where torch is installed:

    PYTHONPATH=/work/main /work/venv-ref/bin/python tests/benchmarks/descend_vs_torch.py [--steps 1000] [--repeats 9]

Both loops run in this one process, alternating (adcli, torch, adcli, torch, ...); each is
timed by its median. adcli runs the library's descend (the loop `adcli descend` runs,
compiled once) and, separately, the whole `descend` command in-process (parsing the
--at values and printing JSON included). The final W and b must agree to relative 1e-9.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import numpy as np
import torch
from click.testing import CliRunner

import adcli
from adcli.cli import main
from adcli.descend import descend

LOSS = "pred = x @ W.T + b; mean((pred - y)^2)"
W0 = [[0.4176, 0.2302, 0.3942], [-0.3258, 0.0489, -0.3333]]
B0 = [0.4269, 0.2872]
LR = 0.01


def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"x": rng.standard_normal((5, 3)), "y": rng.standard_normal((5, 2)), "W": np.array(W0), "b": np.array(B0)}


def adcli_loop(inputs: dict, steps: int) -> Callable[[], np.ndarray]:
    compiled = adcli.compile(LOSS)

    def run() -> np.ndarray:
        values = descend(compiled, inputs, ["W", "b"], LR, steps).values
        return np.concatenate([values["W"].ravel(), values["b"]])

    return run


def adcli_command(inputs: dict, steps: int) -> Callable[[], np.ndarray]:
    at = [f"{name}={value.tolist()}" for name, value in inputs.items()]
    args = ["descend", LOSS, *[item for binding in at for item in ("--at", binding)], "--wrt", "W,b",
            "--lr", str(LR), "--steps", str(steps), "--format", "plain"]
    runner = CliRunner()

    def run() -> np.ndarray:
        numbers = runner.invoke(main, args, catch_exceptions=False).stdout.split()
        return np.array([float(n) for n in numbers[4:]])  # after steps, lr, loss_before, loss

    return run


def torch_loop(inputs: dict, steps: int) -> Callable[[], np.ndarray]:
    x, y = torch.from_numpy(inputs["x"]), torch.from_numpy(inputs["y"])

    def run() -> np.ndarray:
        model = torch.nn.Linear(3, 2).double()
        with torch.no_grad():
            model.weight.copy_(torch.from_numpy(inputs["W"]))
            model.bias.copy_(torch.from_numpy(inputs["b"]))
        criterion = torch.nn.MSELoss()
        optimizer = torch.optim.SGD(model.parameters(), lr=LR)
        for _ in range(steps):
            optimizer.zero_grad()
            criterion(model(x), y).backward()
            optimizer.step()
        return np.concatenate([model.weight.detach().numpy().ravel(), model.bias.detach().numpy()])

    return run


def alternate(contenders: dict[str, Callable[[], np.ndarray]], repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, run in contenders.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(samples) for name, samples in times.items()}


def main_script() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=9)
    options = parser.parse_args()
    inputs = data()
    contenders = {"adcli descend (library loop)": adcli_loop(inputs, options.steps),
                  "adcli descend (CLI command, in-process)": adcli_command(inputs, options.steps),
                  "PyTorch nn.Linear + MSELoss + SGD": torch_loop(inputs, options.steps)}
    results = {name: run() for name, run in contenders.items()}
    reference = results["PyTorch nn.Linear + MSELoss + SGD"]
    for name, result in results.items():
        if not np.allclose(result, reference, rtol=1e-9, atol=1e-12):
            raise SystemExit(f"{name} disagrees with PyTorch: {result} vs {reference}")
    seconds = alternate(contenders, options.repeats)
    torch_seconds = seconds["PyTorch nn.Linear + MSELoss + SGD"]
    print(f"{options.steps} SGD steps, median of {options.repeats} alternating runs (torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads); results agree to rtol 1e-9")
    for name, value in seconds.items():
        print(f"  {name:42s} {value * 1000:8.1f} ms  {value / options.steps * 1e6:6.1f} us/step  "
              f"ratio to PyTorch {value / torch_seconds:5.2f}")


if __name__ == "__main__":
    main_script()
