"""User functions and derivatives written in the language, inlined into the program being built.

A user function's body is compiled once, with its parameters as variables of names no one
can type; a call re-emits the body's instructions that depend on the parameters, with the
arguments' slots in their place (hash-consing shares whatever is the same). So the program
stays a flat list: no call stack at run time, and broadcasting over arrays as for any
expression. A derivative (`f'(x)`, `diff(expr, x, n)`) is the engine's own derivative
program of the expression (the recording behind `--order`), inlined the same way, so it is
differentiable again and shares every slot it has in common with the rest of the program.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

from ..engine.program import VAR, Instruction, Program, ProgramBuilder, prune


class UserFunction(NamedTuple):
    name: str
    parameters: tuple[str, ...]
    parameter_slots: tuple[int, ...]
    body: tuple[tuple[int, Instruction], ...]  # (slot, instruction) for each slot that depends on a parameter
    result: int
    span: tuple[int, int]  # the name in its definition


def parameter_variable(function: str, parameter: str) -> str:
    """The variable standing for a parameter inside a body (no user name has a colon)."""
    return f"parameter:{function}:{parameter}"


def record_function(builder: ProgramBuilder, name: str, parameters: tuple[str, ...], parameter_slots: tuple[int, ...],
                    first_slot: int, result: int, span: tuple[int, int]) -> UserFunction:
    """The function whose body was compiled into slots first_slot onwards, ending at `result`."""
    dependent = set(parameter_slots)
    body = []
    for slot in range(first_slot, len(builder.instructions)):
        instruction = builder.instructions[slot]
        if instruction.op != VAR and any(arg in dependent for arg in instruction.args):
            dependent.add(slot)
            body.append((slot, instruction))
    return UserFunction(name, parameters, parameter_slots, tuple(body), result, span)


def instantiate(builder: ProgramBuilder, function: UserFunction, arguments: tuple[int, ...]) -> int:
    """Emit a call of `function` on the argument slots; the slot of its value."""
    slots = dict(zip(function.parameter_slots, arguments))
    for slot, (op, args, params, span) in function.body:
        slots[slot] = builder.emit(op, tuple(slots.get(arg, arg) for arg in args), params, span)
    return slots.get(function.result, function.result)


def derivative_program(builder: ProgramBuilder, output: int, variable: str, order: int) -> Program:
    """The program of d^order/d variable^order of slot `output` (summed over its elements, as `grad` does)."""
    from ..engine.derivatives import nth_derivative_program  # only programs that take derivatives load it

    instructions, outputs = prune(builder.instructions, (output,))
    variables = tuple(instruction.params[0][1] for instruction in instructions if instruction.op == VAR)
    return nth_derivative_program(Program(builder.text, instructions, outputs, variables, {}), variable, order)


def inline(builder: ProgramBuilder, program: Program, substitutions: Mapping[str, int]) -> int:
    """Emit `program` into the builder, the named variables replaced by slots; the slot of its output."""
    return builder.inline(program, substitutions)[program.output]
