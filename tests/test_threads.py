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


class _YieldingLock:
    """The parser's lock, giving the other threads their turn right after each release (as a scheduler may)."""

    def __init__(self) -> None:
        import threading

        self.lock = threading.Lock()

    def __enter__(self) -> None:
        self.lock.acquire()

    def __exit__(self, *exception) -> None:
        import time

        self.lock.release()
        time.sleep(0.001)


def test_threads_compiling_at_once_each_get_their_own_program(monkeypatch):
    """The parser is shared: what a parse built must be read before the next parse, in any thread, resets it."""
    from adcli.language import parser as parser_module

    for accelerated in (True, False):  # programs, and --at values
        monkeypatch.setattr(parser_module.parser(accelerated), "_lock", _YieldingLock())

    def compile_many(worker: int) -> list:
        wrong = []
        for i in range(25):
            text = f"x * {worker} + {i}"
            program = parser_module.compile_program(text)
            value = parser_module.compile_value(f"{worker} * 100 + {i}", {})
            if program.text != text or forward_value(program) != worker * 2 + i or value != worker * 100 + i:
                wrong.append(text)
        return wrong

    with ThreadPoolExecutor(4) as pool:
        assert sum(pool.map(compile_many, range(4)), []) == []


def forward_value(program) -> float:
    from adcli.engine.tape import forward

    return forward(program, {"x": 2.0})[program.output]
