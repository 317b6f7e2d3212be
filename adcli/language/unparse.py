"""Program -> adcli text that compiles back to a program with the same values.

One loop over the instructions builds one string per slot. An operand that is not
atomic is wrapped in parentheses, so the text never relies on precedence. A slot used
more than once, or whose text grew long, becomes a definition (`_t1 = ...`), which
keeps the text linear in the program's size (no re-spelled shared subexpressions, no
quadratic copying along deep chains).
"""

from __future__ import annotations

import json
import math
from typing import Any, NamedTuple

from ..lazy_numpy import np

from ..engine.primitives import FUNCTIONS, PRIMITIVES
from ..engine.program import CONST, VAR, Instruction, Program

INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "matmul": "@", "pow": "^",
         "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
INLINE_LIMIT = 200  # characters; a longer subexpression becomes a definition

# primitive -> the function name the language spells it with (max/min cover two primitives each)
_SPELLING = {primitive: name for name, overloads in FUNCTIONS.items() for primitive in overloads.values()}
_SPELLING.update({"amax": "max", "maximum": "max", "amin": "min", "minimum": "min"})


class Spelled(NamedTuple):
    text: str
    atomic: bool  # safe as an operand without parentheses
    postfix: bool  # safe before `.T` (a name, a call, a bracketed form; not a number)


def to_text(program: Program) -> str:
    """adcli text for `program`: its definitions, its final expression and its where clause."""
    uses = _use_counts(program)
    prefix = _definition_prefix(program)
    spelled: list[Spelled] = []
    lines: list[str] = []
    for slot, instruction in enumerate(program.instructions):
        here = _spell(instruction, spelled)
        shared = uses[slot] > 1 and instruction.op not in (CONST, VAR)
        if (shared or len(here.text) > INLINE_LIMIT) and slot != program.output:
            name = f"{prefix}{len(lines) + 1}"
            lines.append(f"{name} = {here.text}")
            here = Spelled(name, True, True)
        spelled.append(here)
    final = spelled[program.output].text
    if program.where:
        final += " where " + ", ".join(f"{name} = {literal(value)}" for name, value in program.where.items())
    return "\n".join(lines + [final])


def literal(value: Any) -> str:
    """A float64 scalar or array as a constant expression that evaluates to exactly it."""
    text = json.dumps(np.asarray(value, dtype=np.float64).tolist())
    return text.replace("-Infinity", "(-1e999)").replace("Infinity", "1e999").replace("NaN", "(1e999-1e999)")


def _use_counts(program: Program) -> list[int]:
    uses = [0] * len(program.instructions)
    for instruction in program.instructions:
        for arg in instruction.args:
            uses[arg] += 1
    for slot in program.outputs:
        uses[slot] += 1
    return uses


def _definition_prefix(program: Program) -> str:
    """`_t`, with more underscores until no variable could be mistaken for a definition."""
    prefix = "_t"
    names = set(program.variables) | set(program.where)
    while any(name.startswith(prefix) for name in names):
        prefix = "_" + prefix
    return prefix


def _spell(instruction: Instruction, spelled: list[Spelled]) -> Spelled:
    op = instruction.op
    operands = [spelled[arg] for arg in instruction.args]
    if op == CONST:
        return _number(instruction.constant)
    if op == VAR:
        return Spelled(instruction.variable, True, True)
    if op in INFIX:
        left, right = (_operand(o) for o in operands)
        return Spelled(f"{left} {INFIX[op]} {right}", False, False)
    if op == "neg":
        return Spelled(f"-{_operand(operands[0])}", False, False)
    if op == "transpose":
        inner = operands[0]
        return Spelled(f"{inner.text if inner.postfix else f'({inner.text})'}.T", True, True)
    if op == "stack":
        return Spelled("[" + ", ".join(o.text for o in operands) + "]", True, True)
    if op == "index":
        inner = operands[0]
        entries = ", ".join(_index_entry(entry) for entry in params["index"])
        return Spelled(f"{inner.text if inner.postfix else f'({inner.text})'}[{entries}]", True, True)
    if op in _SPELLING:
        keywords = PRIMITIVES[op].params  # the language's keywords; others (clip's `closed`) the compiler derives
        arguments = [o.text for o in operands] + [
            f"{key}={int(value) if isinstance(value, bool) else value}" for key, value in instruction.params
            if key in keywords]
        return Spelled(f"{_SPELLING[op]}({', '.join(arguments)})", True, True)
    raise ValueError(f"'{op}' has no spelling in the adcli language")


def _index_entry(entry: Any) -> str:
    """`2`, `-1`, `1:3`, `::2`, `:`."""
    if isinstance(entry, int):
        return str(entry)
    start, stop, step = ("" if part is None else str(part) for part in entry)
    return f"{start}:{stop}" + (f":{step}" if step else "")


def _number(value: Any) -> Spelled:
    if np.ndim(value) != 0:
        return Spelled(literal(value), True, True)
    text = literal(value)
    if text.startswith(("-", "(")):
        return Spelled(text if text.startswith("(") else f"({text})", True, True)
    return Spelled(text, True, False)


def _operand(spelled: Spelled) -> str:
    return spelled.text if spelled.atomic else f"({spelled.text})"


def polynomial(coefficients: list[float], name: str, point: float) -> str:
    """sum c_k (name - point)^k as adcli text, highest power last: `1 - 0.5*x^2`, `2 + (x - 1)`.

    Zero terms are left out; coefficients print as the shortest text that reads back as the
    same float64 (whole numbers without `.0`). A series with an infinite or nan coefficient
    cannot be read back as a number anyway: those print as NumPy does, `inf` and `nan`.
    """
    base = name if point == 0.0 else f"({name} {'-' if point > 0 else '+'} {_coefficient(abs(point))})"
    terms: list[str] = []
    for power, coefficient in enumerate(coefficients):
        if coefficient == 0.0:
            continue
        negative = coefficient < 0
        size = abs(coefficient)
        factor = "" if power == 0 else base if power == 1 else f"{base}^{power}"
        if not factor:
            text = _coefficient(size)
        else:
            text = factor if size == 1.0 else f"{_coefficient(size)}*{factor}"
        if not terms:
            terms.append(f"-{text}" if negative else text)
        else:
            terms.append(f"{'-' if negative else '+'} {text}")
    return " ".join(terms) if terms else "0"


def _coefficient(value: float) -> str:
    """A non-negative float (or nan) as adcli text: `2`, `0.5`, `1.5e-07`; `inf`, `nan`."""
    if not math.isfinite(value):
        return repr(value)
    if value.is_integer() and value < 1e16:
        return str(int(value))
    return repr(value)
