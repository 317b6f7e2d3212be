"""The three point-wise formulas of the points workload, written once for each contender.

`value` is the NumPy value-only time F that the targets are stated in; `by_hand` is the
hand-written NumPy value and derivative, the floor; `torch` and `autograd` take their
framework's module so that neither has to be installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Formula:
    key: str
    text: str  # adcli's spelling
    variables: tuple[str, ...]
    value: Callable[..., np.ndarray]
    by_hand: Callable[..., tuple[np.ndarray, dict[str, np.ndarray]]]
    generic: Callable[..., Any]  # generic(math_module, *variables): torch, autograd.numpy

    def inputs(self, n: int) -> dict[str, np.ndarray]:
        """Points where every formula is finite: x in [0.1, 10], y in [-2, 2]."""
        ranges = {"x": (0.1, 10.0), "y": (-2.0, 2.0)}
        return {name: np.linspace(*ranges[name], n) for name in self.variables}


def _cube_value(x):
    return (np.sqrt(x) + 1) ** 3


def _cube_by_hand(x):
    root = np.sqrt(x)
    inner = root + 1
    return inner ** 3, {"x": 1.5 * inner * inner / root}


def _wave_value(x):
    return np.sin(x) * np.exp(-x ** 2 / 10) + np.log(1 + x ** 2)


def _wave_by_hand(x):
    envelope = np.exp(-x * x / 10)
    sine = np.sin(x)
    square = 1 + x * x
    value = sine * envelope + np.log(square)
    return value, {"x": (np.cos(x) - sine * x / 5) * envelope + 2 * x / square}


def _product_value(x, y):
    return (x + 2 * y) ** 2 * np.tanh(x * y)


def _product_by_hand(x, y):
    u = x + 2 * y
    t = np.tanh(x * y)
    slope = u * u * (1 - t * t)
    return u * u * t, {"x": 2 * u * t + slope * y, "y": 4 * u * t + slope * x}


FORMULAS = {
    "cube": Formula("cube", "(sqrt(x)+1)^3", ("x",), _cube_value, _cube_by_hand,
                    lambda m, x: (m.sqrt(x) + 1) ** 3),
    "wave": Formula("wave", "sin(x)*exp(-x^2/10) + log(1+x^2)", ("x",), _wave_value, _wave_by_hand,
                    lambda m, x: m.sin(x) * m.exp(-x ** 2 / 10) + m.log(1 + x ** 2)),
    "product": Formula("product", "(x + 2y)^2 tanh(x y)", ("x", "y"), _product_value, _product_by_hand,
                       lambda m, x, y: (x + 2 * y) ** 2 * m.tanh(x * y)),
}


def adcli_runner(formula: Formula) -> Callable[..., tuple[Any, dict[str, Any]]]:
    import adcli

    compiled = adcli.compile(formula.text)
    return lambda **inputs: compiled.grad(**inputs)


def torch_runner(formula: Formula, torch: Any) -> Callable[..., tuple[Any, dict[str, Any]]]:
    """Value and gradient the PyTorch way: y = f(x); y.backward(ones_like(y))."""
    def run(**inputs):
        leaves = {name: torch.from_numpy(array).requires_grad_() for name, array in inputs.items()}
        value = formula.generic(torch, *leaves.values())
        value.backward(torch.ones_like(value))
        return value.detach().numpy(), {name: leaf.grad.numpy() for name, leaf in leaves.items()}

    return run


def autograd_runner(formula: Formula, autograd: Any) -> Callable[..., tuple[Any, dict[str, Any]]]:
    """Value and gradient with HIPS autograd: one VJP of the value array, seeded with ones."""
    import autograd.numpy as anp

    def run(**inputs):
        names = list(inputs)
        vjp, value = autograd.make_vjp(lambda packed: formula.generic(anp, *packed))(tuple(inputs.values()))
        grads = vjp(np.ones_like(value))
        return value, dict(zip(names, grads))

    return run


def jax_runner(formula: Formula, jax: Any) -> Callable[..., tuple[Any, dict[str, Any]]]:
    """Value and gradient with JAX: one jit-compiled VJP seeded with ones (inputs moved to JAX once, as torch.from_numpy shares them)."""
    import jax.numpy as jnp

    def value_and_grads(*arrays):
        value, pullback = jax.vjp(lambda *a: formula.generic(jnp, *a), *arrays)
        return value, pullback(jnp.ones_like(value))

    compiled = jax.jit(value_and_grads)
    moved: dict[int, Any] = {}

    def run(**inputs):
        arrays = [moved.setdefault(id(array), jnp.asarray(array)) for array in inputs.values()]
        value, grads = jax.block_until_ready(compiled(*arrays))
        return value, dict(zip(inputs, grads))

    return run
