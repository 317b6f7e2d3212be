"""adcli's Hessians, Jacobians and nth derivatives beside PyTorch float64 and SymPy (not a test).

Run from the reference environment (it has torch and sympy):

    PYTHONPATH=/work/main /work/venv-ref/bin/python tests/reference/higher_order_torch.py [--count 300]

Random smooth programs are written once as a small syntax tree, printed as adcli text and
evaluated by torch from the same tree. Hessians and Jacobians must agree with
torch.autograd.functional to relative 1e-8 (absolute 1e-10 near zero); nth derivatives
(orders 1-10) with SymPy's exact derivative evaluated at 30 digits, to relative 1e-9.
Exit status 1 when anything disagrees.
"""

from __future__ import annotations

import argparse
import random
import sys

import numpy as np
import sympy
import torch

import adcli

torch.set_default_dtype(torch.float64)

UNARY = {  # name: (torch, sympy)
    "sin": (torch.sin, sympy.sin), "cos": (torch.cos, sympy.cos), "exp": (torch.exp, sympy.exp),
    "tanh": (torch.tanh, sympy.tanh), "atan": (torch.atan, sympy.atan), "sigmoid": (torch.sigmoid, None),
    "erf": (torch.erf, sympy.erf), "asinh": (torch.asinh, sympy.asinh), "sinh": (torch.sinh, sympy.sinh),
}


def random_tree(rng: random.Random, names: list[str], depth: int):
    if depth == 0 or rng.random() < 0.2:
        return ("leaf", rng.choice(names + [repr(round(rng.uniform(-2, 2), 2))]))
    kind = rng.choice(["unary", "binary", "binary", "quotient", "square", "sqrt1"])
    if kind == "unary":
        return ("unary", rng.choice(list(UNARY)), random_tree(rng, names, depth - 1))
    if kind in ("quotient", "square", "sqrt1"):
        return (kind, random_tree(rng, names, depth - 1), random_tree(rng, names, depth - 1))
    return ("binary", rng.choice("+-*"), random_tree(rng, names, depth - 1), random_tree(rng, names, depth - 1))


def text(tree) -> str:
    kind = tree[0]
    if kind == "leaf":
        return tree[1] if not tree[1].startswith("-") else f"({tree[1]})"
    if kind == "unary":
        return f"{tree[1]}({text(tree[2])})"
    if kind == "quotient":
        return f"({text(tree[1])}) / (1 + ({text(tree[2])})^2)"
    if kind == "square":
        return f"({text(tree[1])})^2"
    if kind == "sqrt1":
        return f"sqrt(1 + ({text(tree[1])})^2)"
    return f"({text(tree[2])}) {tree[1]} ({text(tree[3])})"


def evaluate(tree, env, library: str):
    """The tree under torch (library 'torch') or sympy ('sympy'); env maps names to values or symbols."""
    kind = tree[0]
    if kind == "leaf":
        return env[tree[1]] if tree[1] in env else float(tree[1])
    if kind == "unary":
        torch_f, sympy_f = UNARY[tree[1]]
        argument = evaluate(tree[2], env, library)
        if library == "sympy":
            return 1 / (1 + sympy.exp(-argument)) if sympy_f is None else sympy_f(argument)
        return torch_f(torch.as_tensor(argument))
    a = evaluate(tree[1] if kind != "binary" else tree[2], env, library)
    b = evaluate(tree[2] if kind != "binary" else tree[3], env, library)
    if kind == "quotient":
        return a / (1 + b ** 2)
    if kind == "square":
        return a ** 2
    if kind == "sqrt1":
        return (1 + a ** 2) ** 0.5 if library == "torch" else sympy.sqrt(1 + a ** 2)
    return {"+": a + b, "-": a - b, "*": a * b}[tree[1]]


def close(got, want, rtol, atol) -> bool:
    return bool(np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True))


def check_hessian(rng, names, failures):
    tree = random_tree(rng, names, 4)
    point = {name: rng.uniform(-1.5, 1.5) for name in names}
    _, _, matrix = adcli.compile(text(tree)).hessian(names, **point)

    def function(*xs):
        return evaluate(tree, dict(zip(names, xs)), "torch") + 0 * xs[0]

    expected = torch.autograd.functional.hessian(function, tuple(torch.tensor(point[n]) for n in names))
    expected = np.array([[float(entry) for entry in row] for row in expected])
    if not close(matrix, expected, 1e-8, 1e-10):
        failures.append(("hessian", text(tree), point, np.abs(matrix - expected).max()))


def check_jacobian(rng, names, failures):
    trees = [random_tree(rng, names, 3) for _ in range(rng.randint(1, 4))]
    program = "[" + ", ".join(text(tree) for tree in trees) + "]"
    point = {name: rng.uniform(-1.5, 1.5) for name in names}
    _, matrices = adcli.compile(program).jacobian(names, **point)

    def function(*xs):
        env = dict(zip(names, xs))
        return torch.stack([torch.as_tensor(evaluate(tree, env, "torch")) + 0 * xs[0] for tree in trees])

    expected = torch.autograd.functional.jacobian(function, tuple(torch.tensor(point[n]) for n in names))
    for name, column in zip(names, expected):
        if not close(matrices[name], column.numpy(), 1e-8, 1e-10):
            failures.append(("jacobian", program, point, name))


def check_nth(rng, failures):
    tree = random_tree(rng, ["x"], 3)
    x = round(rng.uniform(-1.5, 1.5), 3)
    symbol = sympy.Symbol("x")
    expression = evaluate(tree, {"x": symbol}, "sympy")
    compiled = adcli.compile(text(tree))
    derivative = expression
    for order in range(1, 11):
        derivative = sympy.diff(derivative, symbol)
        want = float(derivative.subs(symbol, sympy.Rational(str(x))).evalf(30))
        got = compiled.derivative("x", order, x=x)[1]
        if not close(got, want, 1e-9, 1e-9 * max(1.0, abs(want))):
            failures.append(("order", order, text(tree), x, got, want))
            return


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    rng = random.Random(arguments.seed)
    failures: list = []
    for _ in range(arguments.count):
        check_hessian(rng, ["x", "y", "z"], failures)
        check_jacobian(rng, ["x", "y"], failures)
    for _ in range(max(1, arguments.count // 5)):
        check_nth(rng, failures)
    for failure in failures[:20]:
        print("DISAGREE", *failure)
    print(f"{arguments.count} Hessians, {arguments.count} Jacobians, {max(1, arguments.count // 5)} derivative towers: "
          f"{len(failures)} disagreements")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
