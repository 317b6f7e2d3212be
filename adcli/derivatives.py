"""Derivatives built on the tape: gradients, derivative programs, nth derivatives, Hessians, Jacobians.

Higher derivatives come from recording the reverse sweep as a new program (`Tracer`) and
differentiating that program again; there is no second set of derivative rules.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .program import Program, ProgramBuilder
from .tape import Tracer, backward, depends_on, forward, numeric_gradients


def gradient_program(program: Program, wrt: Sequence[str], output: int | None = None) -> Program:
    """A program whose outputs are d(sum of output)/d(each name in wrt), recorded from the reverse sweep."""
    output = program.output if output is None else output
    builder = ProgramBuilder(program.text)
    tracer = Tracer(builder)
    handles = []
    for instruction in program.instructions:  # copy the forward part; slots may merge
        tracer.span = instruction.span
        args = tuple(handles[a].payload for a in instruction.args)
        handles.append(tracer.handle(builder.emit(instruction.op, args, instruction.params, instruction.span)))
    tracer.span = program.instructions[output].span
    seed = tracer("broadcast_like", 1.0, handles[output])
    needs = depends_on(program, wrt)

    def follow(instruction):
        tracer.span = instruction.span

    cotangents = backward(program, handles, {output: seed}, needs, apply=tracer, on_instruction=follow)
    slots = program.variable_slots()
    grads = []
    for name in wrt:
        slot = slots.get(name)
        if slot is None or cotangents[slot] is None:
            variable = handles[slot] if slot is not None else tracer.handle(builder.var(name))
            grads.append(tracer("broadcast_like", 0.0, variable).payload)
        else:
            grads.append(cotangents[slot].payload)
    return builder.build(tuple(grads), program.variables, program.where)


def nth_derivative_program(program: Program, name: str, order: int) -> Program:
    """The program of d^order/d name^order of the (summed) output, by repeated differentiation."""
    for _ in range(order):
        program = gradient_program(program, [name])
    return program


def value_and_gradients(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str]) -> tuple[Any, dict[str, Any]]:
    """The output's value and d(sum of output)/d(name) for each name (zeros for unused ones)."""
    values = forward(program, inputs)
    grads = numeric_gradients(program, values, wrt)
    for name, grad in grads.items():
        if grad is None:
            grads[name] = np.zeros_like(inputs[name], dtype=np.float64)
    return values[program.output], grads


def jacobian(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str]) -> tuple[Any, dict[str, np.ndarray]]:
    """J[name] of shape value.shape + variable.shape: one reverse sweep per output element."""
    values = forward(program, inputs)
    value = np.asarray(values[program.output], dtype=np.float64)
    needs = depends_on(program, wrt)
    slots = program.variable_slots()
    rows: dict[str, list[np.ndarray]] = {name: [] for name in wrt}
    for index in range(value.size):
        seed = np.zeros(value.size)
        seed[index] = 1.0
        with np.errstate(all="ignore"):
            cotangents = backward(program, values, {program.output: seed.reshape(value.shape)}, needs)
        for name in wrt:
            cotangent = cotangents[slots[name]] if name in slots else None
            shape = np.shape(inputs[name])
            rows[name].append(np.zeros(shape) if cotangent is None else np.broadcast_to(cotangent, shape))
    return values[program.output], {
        name: np.reshape(np.array(rows[name], dtype=np.float64), value.shape + np.shape(inputs[name]))
        for name in wrt
    }


def hessian(program: Program, inputs: Mapping[str, Any], wrt: Sequence[str]) -> tuple[Any, dict[str, Any], np.ndarray]:
    """Value, gradient and the Hessian over the wrt variables flattened in C order and concatenated."""
    grad_program = gradient_program(program, wrt)
    values = forward(grad_program, inputs)
    sizes = [int(np.size(inputs[name])) for name in wrt]
    total = sum(sizes)
    needs = depends_on(grad_program, wrt)
    slots = grad_program.variable_slots()
    matrix = np.zeros((total, total))
    row = 0
    for output, size in zip(grad_program.outputs, sizes):
        shape = np.shape(values[output])
        for index in range(size):
            seed = np.zeros(size)
            seed[index] = 1.0
            with np.errstate(all="ignore"):
                cotangents = backward(grad_program, values, {output: seed.reshape(shape)}, needs)
            matrix[row] = np.concatenate([
                np.ravel(np.broadcast_to(_or_zero(cotangents, slots, name), np.shape(inputs[name])))
                for name in wrt
            ])
            row += 1
    value, grads = value_and_gradients(program, inputs, wrt)
    return value, grads, matrix


def _or_zero(cotangents, slots, name):
    slot = slots.get(name)
    return 0.0 if slot is None or cotangents[slot] is None else cotangents[slot]
