"""Gradient descent: the update of `torch.optim.SGD` on a program compiled once.

Every step is one forward sweep and one reverse sweep of the same program; the
parameters are replaced by `p - lr * g` (with momentum, `g` is PyTorch's velocity
buffer `buf = momentum * buf + g`, started at the first gradient). After the first
step the inputs keep their kinds, so the sweeps' NumPy calls are recorded once and
replayed (backends/replay.py), bit for bit the same.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

from ..lazy_numpy import np

from ..api import Compiled
from ..backends.replay import Replay, value_and_gradients_replay
from ..errors import ShapeError
from .results import Descent
from ..engine.sweeps import backward, depends_on
from ..engine.tape import NUMPY, forward

OnStep = Callable[[int, float], None]


def _never() -> bool:
    return False


def _under(state: Mapping[str, str], function: Callable[..., Any]) -> Callable[..., Any]:
    """`function`, called under NumPy error state `state`."""
    def call(*args: Any) -> Any:
        with np.errstate(**state):
            return function(*args)
    return call


def descend(
    compiled: Compiled,
    bindings: Mapping[str, Any],
    wrt: Sequence[str],
    lr: float,
    steps: int,
    momentum: float = 0.0,
    on_step: OnStep | None = None,
    should_stop: Callable[[], bool] = _never,
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
    trained_names = [name for name, _ in trained]
    velocity: dict[str, Any] = {}
    seed = {program.output: np.float64(1.0)}
    gradients: list[Any] | None = None  # at the current values, when a replay has computed them with the loss
    replay: Replay | None = None
    taken = 0
    caller = np.geterr()  # callbacks run under the caller's NumPy error state, the steps under "ignore"
    should_stop = should_stop if should_stop is _never else _under(caller, should_stop)
    on_step = None if on_step is None else _under(caller, on_step)
    with np.errstate(all="ignore"):  # once, not per step: entering it costs as much as a few replayed calls
        while taken < steps and not should_stop():
            if gradients is None:
                cotangents = backward(program, values, seed, needs, NUMPY)
                gradients = [cotangents[slot] for _, slot in trained]
            for (name, _), gradient in zip(trained, gradients):
                if gradient is None:
                    continue
                if momentum:
                    velocity[name] = gradient if name not in velocity else momentum * velocity[name] + gradient
                    gradient = velocity[name]
                inputs[name] = inputs[name] - lr * gradient
            if taken == 0:  # from here on every step sweeps inputs of the same kinds: record them once
                replay = value_and_gradients_replay(program, inputs, trained_names)
            if replay is not None and replay.fits(inputs, trained_names):
                value, *gradients = replay(inputs)  # the next step's gradients come with this loss
            else:
                values, gradients = forward(program, inputs), None
                value = values[program.output]
            taken += 1
            loss = float(value)
            if first_nonfinite is None and not math.isfinite(loss):
                first_nonfinite = taken
            if on_step is not None:
                on_step(taken, loss)
    result = Descent(compiled.text, taken, lr, momentum or None, loss_before, loss,
                     {name: inputs[name] for name in names}, first_nonfinite)
    result.warnings = descent_warnings(result, steps)
    return result


def _scalar_loss(compiled: Compiled, value: Any) -> float:
    if np.ndim(value) != 0:
        output = compiled.program.instructions[compiled.program.output]
        raise ShapeError(f"descend needs a scalar loss, but the expression has shape {np.shape(value)}; "
                         "reduce it with sum(...) or mean(...)", compiled.text, output.span)
    return float(value)


def descent_warnings(descent: Descent, steps: int) -> list[str]:
    warnings = []
    if descent.first_nonfinite_step is not None:
        if descent.first_nonfinite_step == 0:  # no step was taken: the learning rate is not the cause
            warnings.append("the loss is not finite at the starting values; start from others with --at")
        else:
            warnings.append(f"the loss is not finite after step {descent.first_nonfinite_step}; a smaller --lr may help")
    if descent.steps < steps:
        warnings.append(f"interrupted after {descent.steps} of {steps} steps; these are the latest values")
    return warnings
