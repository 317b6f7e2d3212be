"""Gradient descent: the update of `torch.optim.SGD` on a program compiled once.

Every step is one forward sweep and one reverse sweep of the same program; the
parameters are replaced by `p - lr * g` (with momentum, `g` is PyTorch's velocity
buffer `buf = momentum * buf + g`, started at the first gradient).
"""

from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, TextIO

from ..lazy_numpy import np

from ..api import Compiled
from ..errors import ShapeError
from ..engine.sweeps import backward, depends_on
from ..engine.tape import NUMPY, forward

OnStep = Callable[[int, float], None]


@dataclass
class Descent:
    steps: int  # steps taken: fewer than asked when stopped early
    loss_before: float
    loss: float
    values: dict[str, Any]
    first_nonfinite_step: int | None  # the first step after which the loss was nan or inf


def descend(
    compiled: Compiled,
    bindings: Mapping[str, Any],
    wrt: Sequence[str],
    lr: float,
    steps: int,
    momentum: float = 0.0,
    on_step: OnStep | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Descent:
    """Take `steps` SGD steps on the scalar loss `compiled` over the `wrt` variables.

    `on_step(step, loss)` sees the loss at the values after each step; `should_stop()` is
    asked before each step and ends the descent early (after a whole step) when true.
    """
    program = compiled.program
    inputs = compiled.inputs(bindings)
    names = compiled.gradient_order(inputs, wrt)
    values = forward(program, inputs)
    loss_before = _scalar_loss(compiled, values[program.output])
    loss, first_nonfinite = loss_before, None if math.isfinite(loss_before) else 0
    needs = depends_on(program, names)
    slots = program.variable_slots()
    trained = [(name, slots[name]) for name in names if name in slots]
    velocity: dict[str, Any] = {}
    seed = {program.output: np.float64(1.0)}
    taken = 0
    while taken < steps and not should_stop():
        with np.errstate(all="ignore"):
            cotangents = backward(program, values, seed, needs, NUMPY)
            for name, slot in trained:
                gradient = cotangents[slot]
                if gradient is None:
                    continue
                if momentum:
                    velocity[name] = gradient if name not in velocity else momentum * velocity[name] + gradient
                    gradient = velocity[name]
                inputs[name] = inputs[name] - lr * gradient
        taken += 1
        values = forward(program, inputs)
        loss = float(values[program.output])
        if first_nonfinite is None and not math.isfinite(loss):
            first_nonfinite = taken
        if on_step is not None:
            on_step(taken, loss)
    return Descent(taken, loss_before, loss, {name: inputs[name] for name in names}, first_nonfinite)


def _scalar_loss(compiled: Compiled, value: Any) -> float:
    if np.ndim(value) != 0:
        output = compiled.program.instructions[compiled.program.output]
        raise ShapeError(f"descend needs a scalar loss, but the expression has shape {np.shape(value)}; "
                         "reduce it with sum(...) or mean(...)", compiled.text, output.span)
    return float(value)


def descent_record(compiled: Compiled, descent: Descent, lr: float, momentum: float) -> dict[str, Any]:
    """The JSON shape of SPEC section 3 (plus "momentum" when it was asked for)."""
    record: dict[str, Any] = {"expr": compiled.text, "steps": descent.steps, "lr": lr}
    if momentum:
        record["momentum"] = momentum
    record.update(loss_before=descent.loss_before, loss=descent.loss, values=descent.values)
    return record


def descent_warnings(descent: Descent, steps: int) -> list[str]:
    warnings = []
    if descent.first_nonfinite_step is not None:
        when = "at the starting values" if descent.first_nonfinite_step == 0 else f"after step {descent.first_nonfinite_step}"
        warnings.append(f"the loss is not finite {when}; a smaller --lr may help")
    if descent.steps < steps:
        warnings.append(f"interrupted after {descent.steps} of {steps} steps; these are the latest values")
    return warnings


class InterruptFlag:
    """While active, the first Ctrl-C only raises a flag (the loop ends after its current step);
    a second one interrupts at once. Outside the main thread it never raises the flag."""

    def __init__(self) -> None:
        self.raised = False
        self._previous: Any = None

    def __call__(self) -> bool:
        return self.raised

    def _handle(self, signum: int, frame: Any) -> None:
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True

    def __enter__(self) -> InterruptFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class ProgressBar:
    """A one-line bar on a terminal stream, shown only once a run has lasted `delay` seconds."""

    WIDTH = 30

    def __init__(self, stream: TextIO, total: int, delay: float = 0.5, interval: float = 0.1):
        self.stream = stream
        self.total = total
        self.enabled = total > 0 and _is_terminal(stream)
        self._start = time.monotonic()
        self._next_draw = self._start + delay
        self._interval = interval
        self._shown = False

    def update(self, step: int, loss: float) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now < self._next_draw:
            return
        self._next_draw = now + self._interval
        filled = self.WIDTH * step // self.total
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\r[{bar}] {step}/{self.total} steps  loss {loss:.6g}\x1b[K")
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
