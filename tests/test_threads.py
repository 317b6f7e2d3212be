"""The library used from several threads at once gives what it gives in one."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

import adcli

PROGRAMS = ["(sqrt(x)+1)^3", "sin(x)*exp(-x^2/10) + log(1+x^2)", "(x + 2y)^2 tanh(x y)", "prod([x, y, x y])",
            "sum(x^2)", "log(x) + y"]


def answers(seed: int) -> list:
    """Compile and evaluate every program (scalars, arrays, big arrays, Hessians, a nan) from new text."""
    rng = np.random.default_rng(seed)
    found = []
    for text in PROGRAMS:
        compiled = adcli.compile(f"{text} # {seed}")  # a text of its own: no cache shared between threads
        scalar = {name: float(rng.uniform(0.5, 2)) for name in compiled.variables}
        big = {name: rng.uniform(0.5, 2, 200_000) for name in compiled.variables}
        found.append((compiled.grad(**scalar), compiled.hessian(**scalar), compiled.grad(**big)))
    found.append(adcli.grad("log(x)", x=-1.0))
    return found


def same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return bool(np.array_equal(a, b, equal_nan=True))


def test_threads_get_what_one_thread_gets():
    seeds = range(16)
    alone = [answers(seed) for seed in seeds]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(answers, seeds))
    assert all(same(a, b) for a, b in zip(alone, together))
