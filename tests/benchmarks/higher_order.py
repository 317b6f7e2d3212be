"""Higher-order derivatives and Hessians: program growth per order, and adcli beside PyTorch.

    PYTHONPATH=/work/main /work/venv-ref/bin/python tests/benchmarks/higher_order.py [--quick]

Not collected by pytest: it prints numbers and ratios, it does not pass or fail. Every
comparison alternates its candidates in one process and keeps the median (harness.alternate).

1. `grad --order N`: instructions of the nth derivative program and the time to build and
   evaluate it, for orders 1..10 (and 15, 20), with the growth factor per order; beside the
   old scheme (reverse sweeps nested N deep) and PyTorch's nested torch.autograd.grad.
2. The whole command, `adcli grad "exp(sin(x))" --order N`, as a process, per order.
3. Hessians of 20-variable programs (sparse and dense coupling, 20 scalars or one vector):
   adcli's one batched reverse sweep against one sweep per row, and against
   torch.autograd.functional.hessian on the same function.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import adcli  # noqa: E402
from adcli.engine import derivatives  # noqa: E402
from adcli.engine.sweeps import backward, depends_on  # noqa: E402
from adcli.engine.tape import NUMPY, forward  # noqa: E402
from harness import adcli_command, alternate, optional  # noqa: E402

torch = optional("torch")
FUNCTIONS = ["exp(sin(x))", "x^3 sin(x)", "exp(x^2)", "log(1+x)"]
POINT = 0.7


def nested_reverse_size(text: str, order: int) -> int:
    """Instructions after differentiating the recorded reverse sweep `order` times (the old scheme)."""
    program = adcli.compile(text).program
    for _ in range(order):
        program = derivatives.gradient_program(program, ["x"])
    return len(program.instructions)


def derivative_seconds(text: str, order: int) -> tuple[float, int, float]:
    """(seconds to compile, build and evaluate, instructions, value), from scratch."""
    start = time.perf_counter()
    compiled = adcli.compile(text)
    program = compiled.derivative_program("x", order, {"x": ()})
    value = forward(program, {"x": np.float64(POINT)})[program.output]
    return time.perf_counter() - start, len(program.instructions), float(value)


def torch_derivative(text: str, order: int) -> float:
    x = torch.tensor(POINT, dtype=torch.float64, requires_grad=True)
    y = {"exp(sin(x))": lambda: torch.exp(torch.sin(x)), "x^3 sin(x)": lambda: x ** 3 * torch.sin(x),
         "exp(x^2)": lambda: torch.exp(x ** 2), "log(1+x)": lambda: torch.log(1 + x)}[text]()
    for _ in range(order):
        (y,) = torch.autograd.grad(y, x, create_graph=True)
    return float(y.detach())


def growth(values: list[float]) -> str:
    return " ".join(f"{b / a:4.2f}" for a, b in zip(values, values[1:]))


def orders_section(repeats: int) -> None:
    print("1. nth derivative programs (library, compile + build + evaluate, median of alternating runs)\n")
    orders = list(range(1, 11))
    for text in FUNCTIONS:
        sizes = [derivative_seconds(text, order)[1] for order in orders + [15, 20]]
        print(f"   {text}: instructions for orders 1..10, 15, 20: {sizes}")
        print(f"      growth per order 1->10: {growth(sizes[:10])}")
        print(f"      doubling the order 10 -> 20 multiplies the size by {sizes[11] / sizes[9]:.2f} "
              f"(~ order^{math.log2(sizes[11] / sizes[9]):.2f})")
        old = [nested_reverse_size(text, order) for order in range(1, 8)]
        print(f"      old scheme, reverse sweeps nested N deep, orders 1..7: {old} (growth {growth(old)})")
    print()
    text = "exp(sin(x))"
    header = "   order   adcli ms   growth" + ("   torch ms   adcli/torch" if torch else "")
    print(f"   {text}: time per order\n{header}")
    previous = None
    for order in orders:
        candidates = {"adcli": lambda order=order: derivative_seconds(text, order)}
        if torch:
            candidates["torch"] = lambda order=order: torch_derivative(text, order)
        times = alternate(candidates, repeats)
        line = f"   {order:5d}   {times['adcli'] * 1e3:8.2f}   {times['adcli'] / previous if previous else 1:6.2f}"
        if torch:
            line += f"   {times['torch'] * 1e3:8.2f}   {times['adcli'] / times['torch']:11.2f}"
            assert math.isclose(derivative_seconds(text, order)[2], torch_derivative(text, order), rel_tol=1e-9)
        print(line)
        previous = times["adcli"]
    print()


def command_section(repeats: int) -> None:
    print('2. the whole command, adcli grad "exp(sin(x))" --at x=0.7 --order N (process, median ms)\n')
    command = adcli_command()
    runs = {order: lambda order=order: subprocess.run(
        [*command, "grad", "exp(sin(x))", "--at", f"x={POINT}", "--order", str(order)],
        check=True, capture_output=True) for order in (1, 2, 5, 10)}
    times = alternate(runs, repeats)
    print("   " + "   ".join(f"order {order}: {seconds * 1e3:.0f} ms" for order, seconds in times.items()))
    print(f"   order 10 / order 1: {times[10] / times[1]:.2f} (startup dominates)\n")


# -- Hessians ------------------------------------------------------------------------------------

NAMES = [f"x{i}" for i in range(20)]
POINT20 = np.linspace(-1.0, 1.2, 20)
SHIFTS = {"A": np.eye(20)[:-1], "B": np.eye(20, k=1)[:-1]}  # A @ x = x[:-1], B @ x = x[1:]
# Each workload: adcli text, its variables' values, the wrt names, and the same function for torch.
WORKLOADS = {
    "chain: 20 scalars, each coupled to the next": (
        " + ".join(f"100 (x{i + 1} - x{i}^2)^2 + (1 - x{i})^2 + sin(x{i} x{i + 1})" for i in range(19)),
        lambda xs: sum(100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2 + torch.sin(xs[i] * xs[i + 1])
                       for i in range(19))),
    "dense: 20 scalars, every pair coupled": (
        "log(" + " + ".join(f"exp(x{i})" for i in range(20)) + ") + sin(" +
        " + ".join(f"{i + 1} x{i}" for i in range(20)) + ")^2",
        lambda xs: torch.log(sum(torch.exp(x) for x in xs)) + torch.sin(sum((i + 1) * x for i, x in enumerate(xs))) ** 2),
    "vector: one 20-vector, the chain through A @ x, B @ x": (
        "sum(100 (B @ x - (A @ x)^2)^2 + (1 - A @ x)^2 + sin((A @ x) * (B @ x)))",
        lambda x: (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2 + torch.sin(x[:-1] * x[1:])).sum()),
}


def per_row_hessian(program, inputs, wrt) -> np.ndarray:
    """The old way, for scalar variables: the recorded gradient program swept backwards once per row."""
    gradient = derivatives.gradient_program(program, wrt, derivatives.shapes_of(inputs))
    values = forward(gradient, inputs)
    needs = depends_on(gradient, wrt)
    slots = gradient.variable_slots()
    rows = []
    for output in gradient.outputs:
        cotangents = backward(gradient, values, {output: np.float64(1.0)}, needs, NUMPY)
        rows.append([float(cotangents[slots[name]]) if cotangents[slots[name]] is not None else 0.0 for name in wrt])
    return np.array(rows)


def hessian_candidates(label: str) -> dict:
    text, torch_function = WORKLOADS[label]
    program = adcli.compile(text).program
    vector = label.startswith("vector")
    inputs = {"x": POINT20, **SHIFTS} if vector else {name: np.float64(v) for name, v in zip(NAMES, POINT20)}
    wrt = ["x"] if vector else NAMES
    candidates = {"adcli, one batched sweep": lambda: derivatives.hessian(program, inputs, wrt)}
    _, _, expected = derivatives.hessian(program, inputs, wrt)
    if not vector:
        assert np.allclose(per_row_hessian(program, inputs, wrt), expected, rtol=1e-12)
        candidates["adcli, one sweep per row"] = lambda: per_row_hessian(program, inputs, wrt)
        candidates["adcli, recording the gradient program alone"] = lambda: derivatives.gradient_program(
            program, wrt, derivatives.shapes_of(inputs))
    if torch:
        point = torch.tensor(POINT20, dtype=torch.float64)
        arguments = point if vector else tuple(point.unbind())
        function = torch_function if vector else (lambda *xs: torch_function(xs))
        candidates["torch.autograd.functional.hessian"] = lambda: torch.autograd.functional.hessian(function, arguments)
        if vector:
            candidates["torch, vectorize=True"] = lambda: torch.autograd.functional.hessian(
                function, arguments, vectorize=True)
        result = torch.autograd.functional.hessian(function, arguments)
        matrix = result.numpy() if vector else np.array([[float(v) for v in row] for row in result])
        assert np.allclose(matrix, expected, rtol=1e-10, atol=1e-12), "adcli and torch disagree"
    return candidates


def hessian_section(repeats: int) -> None:
    print("3. Hessian of a 20-variable program (library, median ms of alternating runs)\n")
    for label in WORKLOADS:
        times = alternate(hessian_candidates(label), repeats)
        print(f"   {label}")
        for name, seconds in times.items():
            print(f"      {name:45} {seconds * 1e3:8.2f} ms")
        batched = times["adcli, one batched sweep"]
        if "adcli, one sweep per row" in times:
            per_row, recording = times["adcli, one sweep per row"], times["adcli, recording the gradient program alone"]
            print(f"      one batched sweep vs one sweep per row: {per_row / batched:.2f}x faster in all, "
                  f"{(per_row - recording) / max(batched - recording, 1e-9):.2f}x in the sweeps alone")
        for name in ("torch.autograd.functional.hessian", "torch, vectorize=True"):
            if name in times:
                print(f"      adcli / {name}: {batched / times[name]:.2f}")
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    repeats = 3 if parser.parse_args().quick else 11
    if torch is None:
        print("(PyTorch is not installed: its columns are left out)\n")
    orders_section(repeats)
    command_section(max(3, repeats // 2))
    hessian_section(repeats)


if __name__ == "__main__":
    main()
