"""The tutorial's Linear example trained by SGD, and a 20-variable Hessian, against PyTorch, autograd and JAX."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from harness import Row, alternate, framework, missing_note

STEPS, LR = 1_000, 0.01
LOSS = "pred = x @ W.T + b; mean((pred - y)^2)"
W0 = [[0.4176, 0.2302, 0.3942], [-0.3258, 0.0489, -0.3333]]
B0 = [0.4269, 0.2872]


def linear_data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(6)
    return {"x": rng.standard_normal((5, 3)), "y": rng.standard_normal((5, 2)),
            "W": np.array(W0), "b": np.array(B0)}


def adcli_descent(data: dict) -> Callable[[], dict]:
    import adcli

    compiled = adcli.compile(LOSS)
    try:
        from adcli.commands.descend import descend
    except ImportError:  # before `adcli descend` existed: the same loop over the library
        def run() -> dict:
            values = dict(data)
            for _ in range(STEPS):
                _, grads = compiled.grad(wrt=["W", "b"], **values)
                values = {**values, "W": values["W"] - LR * grads["W"], "b": values["b"] - LR * grads["b"]}
            return {"W": values["W"], "b": values["b"]}

        return run
    return lambda: descend(compiled, data, ["W", "b"], LR, STEPS).values


def torch_descent(data: dict, torch: Any) -> Callable[[], dict]:
    """The tutorial's loop: nn.Linear, MSELoss, torch.optim.SGD, in float64."""
    def run() -> dict:
        model = torch.nn.Linear(3, 2).double()
        with torch.no_grad():
            model.weight.copy_(torch.from_numpy(data["W"]))
            model.bias.copy_(torch.from_numpy(data["b"]))
        x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
        loss_function = torch.nn.MSELoss()
        optimizer = torch.optim.SGD(model.parameters(), lr=LR)
        for _ in range(STEPS):
            optimizer.zero_grad()
            loss_function(model(x), y).backward()
            optimizer.step()
        return {"W": model.weight.detach().numpy(), "b": model.bias.detach().numpy()}

    return run


def autograd_descent(data: dict, autograd: Any) -> Callable[[], dict]:
    import autograd.numpy as anp

    loss = autograd.grad(lambda W, b: anp.mean((anp.dot(data["x"], W.T) + b - data["y"]) ** 2), argnum=(0, 1))

    def run() -> dict:
        W, b = data["W"], data["b"]
        for _ in range(STEPS):
            dW, db = loss(W, b)
            W, b = W - LR * dW, b - LR * db
        return {"W": W, "b": b}

    return run


def jax_descent(data: dict, jax: Any) -> Callable[[], dict]:
    """One jit-compiled SGD step, called in a Python loop."""
    import jax.numpy as jnp

    x, y = jnp.asarray(data["x"]), jnp.asarray(data["y"])
    gradient = jax.grad(lambda W, b: jnp.mean((x @ W.T + b - y) ** 2), argnums=(0, 1))

    @jax.jit
    def step(W, b):
        dW, db = gradient(W, b)
        return W - LR * dW, b - LR * db

    def run() -> dict:
        W, b = jnp.asarray(data["W"]), jnp.asarray(data["b"])
        for _ in range(STEPS):
            W, b = step(W, b)
        return {"W": np.asarray(W), "b": np.asarray(b)}

    return run


HESSIAN_SIZE = 20


def hessian_text() -> str:
    names = [f"x{i}" for i in range(1, HESSIAN_SIZE + 1)]
    chain = " + ".join(f"sin({a})*{b}" for a, b in zip(names, names[1:]))
    return f"{chain} + ({' + '.join(names)})^2/40"


def hessian_function(math: Any) -> Callable[[Any], Any]:
    """The same function of one vector, for the frameworks: v[i] is x{i+1}."""
    def f(v):
        return sum(math.sin(v[i]) * v[i + 1] for i in range(HESSIAN_SIZE - 1)) + sum(v[i] for i in range(HESSIAN_SIZE)) ** 2 / 40

    return f


def _disagreement(results: dict, tolerance: float = 1e-9) -> str:
    """A note naming every contender whose numbers differ from adcli's (a benchmark must not time wrong answers)."""
    bad = [name for name, got in results.items() if not np.allclose(got, results["adcli"], rtol=tolerance, atol=1e-12)]
    return f"MISMATCH: {', '.join(bad)} differ from adcli" if bad else ""


def _flatten(trained: dict) -> np.ndarray:
    return np.concatenate([np.ravel(trained["W"]), np.ravel(trained["b"])])


def _others(seconds: dict) -> dict:
    return {label: seconds.get(label, missing_note(label)) for label in ("PyTorch", "autograd", "JAX")}


def descend_row(quick: bool) -> Row:
    data = linear_data()
    contenders = {"adcli": adcli_descent(data)}
    for label, make in (("PyTorch", torch_descent), ("autograd", autograd_descent), ("JAX", jax_descent)):
        found = framework(label)
        if found:
            contenders[label] = make(data, found)
    results = {name: _flatten(run()) for name, run in contenders.items()}
    seconds = alternate(contenders, 3 if quick else 7)
    return Row(f"descend: {STEPS:,} SGD steps on the tutorial's Linear example", "s", seconds["adcli"],
               "PyTorch loop", seconds.get("PyTorch", math.nan), ("<=", 0.5) if "PyTorch" in seconds else None,
               _others(seconds), _disagreement(results))


def hessian_row(quick: bool) -> Row:
    import adcli

    text = hessian_text()
    rng = np.random.default_rng(20)
    point = rng.uniform(-1, 1, HESSIAN_SIZE)
    bindings = {f"x{i + 1}": value for i, value in enumerate(point)}
    compiled = adcli.compile(text)
    contenders = {"adcli": lambda: compiled.hessian(**bindings)[2],
                  "adcli incl. compile": lambda: adcli.compile(text).hessian(**bindings)[2]}
    torch = framework("PyTorch")
    if torch:
        vector = torch.from_numpy(point)
        contenders["PyTorch"] = lambda: torch.autograd.functional.hessian(hessian_function(torch), vector).numpy()
    autograd = framework("autograd")
    if autograd:
        import autograd.numpy as anp

        contenders["autograd"] = lambda: autograd.hessian(hessian_function(anp))(point)
    jax = framework("JAX")
    if jax:
        hessian = jax.jit(jax.hessian(hessian_function(jax.numpy)))
        contenders["JAX"] = lambda: np.asarray(hessian(point))
    results = {name: run() for name, run in contenders.items()}
    seconds = alternate(contenders, 5 if quick else 15)
    note = f"incl. parsing: {seconds['adcli incl. compile'] * 1000:.1f} ms"
    return Row(f"hessian: {HESSIAN_SIZE} variables", "s", seconds["adcli"], "torch.autograd.functional.hessian",
               seconds.get("PyTorch", math.nan), ("<=", 1.0) if torch else None, _others(seconds),
               "; ".join(filter(None, [note, _disagreement(results)])))


def run(quick: bool) -> list[Row]:
    return [descend_row(quick), hessian_row(quick)]
