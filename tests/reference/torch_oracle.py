"""Random scalar programs, evaluated by adcli and by PyTorch float64, compared.

Not a test (it needs torch). Run it from the reference environment:

    PYTHONPATH=/work/main /work/venv-ref/bin/python tests/reference/torch_oracle.py [--count 1500] [--seed 0]

Each program is generated as a small syntax tree, written out as adcli text in one of the
language's many spellings (implicit multiplication, `^` or `**`, unary minus, definitions,
a `where` clause, `pi`/`e`, `log(x, base)`, two-argument functions, reductions over array
literals), and evaluated by torch straight from the same tree: adcli never evaluates its
own text for the reference side. Each program is checked at a random point and at edge
points (0, +-1, integers, negatives). Values and gradients must agree to relative 1e-9
(nan == nan, inf == inf with the same sign). A difference counts as rounding when torch
itself moves that far once its libm results move by an ulp (cancellation amplifies the
last-bit differences between NumPy's and torch's sin, tanh, log, ...), and as torch's own
ambiguity when adcli equals torch's `x ** 0.5` (sqrt path) but not torch.pow(x, tensor(0.5)).
Every other difference is a mismatch; exit status 1 when there is one.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch

import adcli

RTOL = 1e-9
ATOL = 1e-300  # only so that 0 == -0 and subnormal noise compare equal
VARIABLES = ("x", "y", "z")
DEFINITION_NAMES = ("a", "b", "q")
UNARY = ("sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh exp expm1 log log2 log10 "
         "log1p sqrt cbrt abs sign floor ceil sigmoid relu softplus erf").split()
BINARY_CALLS = ("atan2", "hypot", "pow", "max", "min", "log")
REDUCTIONS = ("sum", "mean", "prod", "norm", "max", "min")
NUMBERS = (  # (value, ways to write it)
    (2.0, ("2", "2.", "2.0")), (0.5, (".5", "0.5", "5e-1")), (3.0, ("3",)), (1.0, ("1",)),
    (1.5, ("1.5", "15E-1")), (0.25, ("0.25", "2.5E-1")), (10.0, ("10", "1e1", "1E+1")),
    (0.001, ("1e-3",)), (0.0, ("0",)), (4.0, ("4",)), (1 / 3, ("(1/3)",)),
)
EDGE_VALUES = (0.0, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 0.5, -0.5, 20.0, -20.0, 1e-8)


# -- the syntax tree ----------------------------------------------------------------------

@dataclass
class Node:
    kind: str  # var num const defn neg pos bin call reduce array transpose dot
    name: str = ""  # variable/constant/definition/function name, or the operator
    value: float = 0.0
    text: str = ""  # how a number is written
    args: tuple = ()
    style: str = ""  # spelling choice: star/implicit, ^/**, bracketed, ...


class Generator:
    def __init__(self, rng: random.Random, variables: tuple[str, ...], definitions: tuple[str, ...]):
        self.rng = rng
        self.variables = variables
        self.definitions = definitions

    def leaf(self) -> Node:
        rng = self.rng
        roll = rng.random()
        if self.definitions and roll < 0.2:
            return Node("defn", rng.choice(self.definitions))
        if roll < 0.65:
            return Node("var", rng.choice(self.variables))
        if roll < 0.72:
            return Node("const", rng.choice(("pi", "e")))
        value, spellings = rng.choice(NUMBERS)
        return Node("num", value=value, text=rng.choice(spellings))

    def expr(self, depth: int) -> Node:
        rng = self.rng
        if depth <= 0 or rng.random() < 0.15:
            return self.leaf()
        roll = rng.random()
        if roll < 0.38:
            op = rng.choice("+-*/^")
            style = {"*": rng.choice(("star", "implicit", "implicit")), "^": rng.choice(("^", "**"))}.get(op, "")
            if op == "^" and rng.random() < 0.5:  # mostly small constant exponents
                value, spellings = rng.choice(NUMBERS[:7] + ((-1.0, ("-1",)), (-2.0, ("-2",))))
                exponent = Node("num", value=abs(value), text=spellings[0].lstrip("-"))
                if value < 0:
                    exponent = Node("neg", args=(exponent,))
                return Node("bin", op, args=(self.expr(depth - 1), exponent), style=style)
            return Node("bin", op, args=(self.expr(depth - 1), self.expr(depth - 1)), style=style)
        if roll < 0.45:
            return Node(rng.choice(("neg", "neg", "pos")), args=(self.expr(depth - 1),))
        if roll < 0.80:
            return Node("call", rng.choice(UNARY), args=(self.expr(depth - 1),))
        if roll < 0.93:
            return Node("call", rng.choice(BINARY_CALLS), args=(self.expr(depth - 1), self.expr(depth - 1)))
        if roll < 0.95:
            return Node("transpose", args=(self.expr(depth - 1),), style=rng.choice((".T", "call")))
        if roll < 0.97:
            size = rng.randint(1, 3)
            return Node("dot", args=(self.array(depth, size), self.array(depth, size)), style=rng.choice(("dot", "@")))
        name = rng.choice(REDUCTIONS)
        if rng.random() < 0.25:
            return Node("reduce", name, args=(self.expr(depth - 1),))
        return Node("reduce", name, args=(self.array(depth, rng.randint(1, 4)),), style=rng.choice(("", "", "0", "-1")))

    def array(self, depth: int, size: int) -> Node:
        return Node("array", args=tuple(self.expr(depth - 2) for _ in range(size)))


def constant_expression(rng: random.Random) -> Node:
    """A where-clause value: a constant expression such as `pi/4`, `-0.5`, `2^-1` or `sqrt(2)`."""
    value, spellings = rng.choice(NUMBERS[:7])
    number = Node("num", value=value, text=rng.choice(spellings))
    constant = Node("const", rng.choice(("pi", "e")))
    return rng.choice((
        number,
        Node("neg", args=(number,)),
        Node("bin", "/", args=(constant, Node("num", value=4.0, text="4"))),
        Node("bin", "^", args=(Node("num", value=2.0, text="2"), Node("neg", args=(number,))), style="^"),
        Node("call", "sqrt", args=(number,)),
    ))


# -- writing the tree as adcli text ---------------------------------------------------------

SUM, PRODUCT, UNARY_LEVEL, POWER, ATOM = 1, 2, 3, 4, 5
_NUMBER_THEN_E = re.compile(r"[0-9.][eE]$")


def join(left: str, right: str) -> str:
    """Concatenate without changing the tokens (`2e` then `-1` must not become `2e-1`)."""
    if right[:1] in "+-" and _NUMBER_THEN_E.search(left):
        return left + " " + right
    return left + right


class Writer:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def space(self) -> str:
        return " " if self.rng.random() < 0.6 else ""

    def at_least(self, node: Node, level: int) -> str:
        text, own = self.write(node)
        return text if own >= level else f"({text})"

    def write(self, node: Node) -> tuple[str, int]:
        kind = node.kind
        if kind in ("var", "const", "defn"):
            return node.name, ATOM
        if kind == "num":
            return node.text, ATOM
        if kind in ("neg", "pos"):
            sign = "-" if kind == "neg" else "+"
            return sign + self.space() + self.at_least(node.args[0], UNARY_LEVEL), UNARY_LEVEL
        if kind == "call":
            return self.call(node), ATOM
        if kind == "array":
            return "[" + ", ".join(self.write(item)[0] for item in node.args) + "]", ATOM
        if kind == "reduce":
            axis = f", axis={node.style}" if node.style else ""
            return f"{node.name}({self.write(node.args[0])[0]}{axis})", ATOM
        if kind == "transpose":
            if node.style == "call":
                return f"transpose({self.write(node.args[0])[0]})", ATOM
            operand = self.at_least(node.args[0], ATOM)
            return (f"({operand})" if operand[0].isdigit() or operand[0] == "." else operand) + ".T", ATOM
        if kind == "dot":
            left, right = (self.write(arg)[0] for arg in node.args)
            return (f"dot({left}, {right})", ATOM) if node.style == "dot" else (f"{left} @ {right}", PRODUCT)
        return self.binary(node)

    def call(self, node: Node) -> str:
        parts = [self.write(arg)[0] for arg in node.args]
        return f"{node.name}(" + ("," + self.space()).join(parts) + ")"

    def binary(self, node: Node) -> tuple[str, int]:
        left, right = node.args
        op = node.name
        if op in "+-":
            gap = self.space()
            return join(join(self.at_least(left, SUM) + gap, op + gap), self.at_least(right, PRODUCT)), SUM
        if op == "^":
            gap = self.space()
            return self.at_least(left, ATOM) + gap + node.style + gap + self.at_least(right, UNARY_LEVEL), POWER
        left_text = self.at_least(left, PRODUCT)
        if op == "*" and node.style == "implicit":
            implicit = self.implicit(left_text, right)
            if implicit is not None:
                return implicit, PRODUCT
        gap = self.space()
        return join(left_text + gap, op + gap + self.at_least(right, UNARY_LEVEL)), PRODUCT

    def implicit(self, left_text: str, right: Node) -> str | None:
        """`2x`, `x y`, `(x-4)(x+6)`, `2 sin(x)`: the right factor must start with a name or '('."""
        right_text, level = self.write(right)
        if level < POWER or not (right_text[0].isalpha() or right_text[0] == "("):
            right_text = f"({right_text})"
        if right_text[0] == "(" and (left_text[-1].isalnum() or left_text[-1] == "_"):
            if not left_text[-1].isdigit():
                return None  # `x (` would be a call of x
        needs_space = left_text[-1].isalpha() and right_text[0].isalpha()
        return left_text + (" " if needs_space or self.rng.random() < 0.3 else "") + right_text


# -- torch, straight from the tree -------------------------------------------------------

class Cbrt(torch.autograd.Function):
    """The real cube root, with JAX's derivative g / (3 cbrt(x)^2) (PyTorch has no cbrt)."""

    @staticmethod
    def forward(ctx, x):
        result = torch.sign(x) * torch.abs(x) ** (1.0 / 3.0)
        ctx.save_for_backward(result)
        return result

    @staticmethod
    def backward(ctx, grad):
        (result,) = ctx.saved_tensors
        return grad / (3.0 * result * result)


TORCH_UNARY = {
    "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "asin": torch.asin, "acos": torch.acos,
    "atan": torch.atan, "sinh": torch.sinh, "cosh": torch.cosh, "tanh": torch.tanh, "asinh": torch.asinh,
    "acosh": torch.acosh, "atanh": torch.atanh, "exp": torch.exp, "expm1": torch.expm1, "log": torch.log,
    "log2": torch.log2, "log10": torch.log10, "log1p": torch.log1p, "sqrt": torch.sqrt, "cbrt": Cbrt.apply,
    "abs": torch.abs, "sign": torch.sign, "floor": torch.floor, "ceil": torch.ceil, "sigmoid": torch.sigmoid,
    "relu": torch.relu, "softplus": torch.nn.functional.softplus, "erf": torch.erf,
}
TORCH_BINARY = {
    "atan2": torch.atan2, "hypot": torch.hypot, "pow": torch.pow, "max": torch.maximum, "min": torch.minimum,
}
TORCH_REDUCTIONS = {
    "sum": torch.sum, "mean": torch.mean, "prod": torch.prod, "norm": torch.linalg.vector_norm,
    "max": torch.amax, "min": torch.amin,
}
TORCH_OPERATORS = {"+": torch.add, "-": torch.sub, "*": torch.mul, "/": torch.div, "^": torch.pow}


def scalar(value: float) -> torch.Tensor:
    return torch.tensor(value, dtype=torch.float64)


INEXACT = set(TORCH_UNARY) - {"abs", "sign", "floor", "ceil", "relu"} | {"atan2", "hypot", "pow", "log", "norm", "^"}


@dataclass
class Variant:
    """How to build the torch computation.

    jitter: move every libm result by an ulp, up or down, to see how far rounding alone moves
      the answer (in place behind autograd's back, so backward formulas that reuse the result,
      such as tanh's 1 - y^2, see it too).
    scalar_exponents: write `x ^ 0.5` as `x ** 0.5` with a Python number, which torch computes by
      its sqrt/rsqrt fast path; torch.pow(tensor, tensor) calls C's pow, and the two disagree at
      a base of -inf or -0.
    """

    jitter: random.Random | None = None
    scalar_exponents: bool = False


def to_torch(node: Node, env: dict[str, torch.Tensor], variant: Variant) -> torch.Tensor:
    result = _to_torch(node, env, variant)
    if node.kind in ("call", "reduce", "bin") and node.name in INEXACT:
        wobble(result, variant)
    return result


def wobble(result: torch.Tensor, variant: Variant) -> torch.Tensor:
    if variant.jitter is not None:
        result.data.mul_(1.0 + variant.jitter.choice((-1.0, 1.0)) * 2.0 ** -52)
    return result


def literal(node: Node) -> float | None:
    if node.kind == "num":
        return node.value
    if node.kind == "neg" and node.args[0].kind == "num":
        return -node.args[0].value
    return None


def _to_torch(node: Node, env: dict[str, torch.Tensor], variant: Variant) -> torch.Tensor:
    kind = node.kind
    if kind in ("var", "defn"):
        return env[node.name]
    if kind == "const":
        return scalar(math.pi if node.name == "pi" else math.e)
    if kind == "num":
        return scalar(node.value)
    args = [to_torch(arg, env, variant) for arg in node.args]
    if kind == "neg":
        return torch.neg(args[0])
    if kind == "pos":
        return args[0]
    if kind == "bin":
        exponent = literal(node.args[1])
        if node.name == "^" and variant.scalar_exponents and exponent is not None:
            return args[0] ** exponent
        return TORCH_OPERATORS[node.name](*args)
    if kind == "call" and node.name == "log" and len(args) == 2:  # log(x, base): two logs, each may be off
        return wobble(torch.log(args[0]), variant) / wobble(torch.log(args[1]), variant)
    if kind == "call":
        table = TORCH_UNARY if len(args) == 1 else TORCH_BINARY
        return table[node.name](*args)
    if kind == "array":
        return torch.stack(args)
    if kind == "transpose":
        return args[0]  # of a scalar
    if kind == "dot":
        return torch.dot(*args) if node.style == "dot" else torch.matmul(*args)
    reduction = TORCH_REDUCTIONS[node.name]
    return reduction(args[0], dim=int(node.style)) if node.style else reduction(args[0])


# -- one program ---------------------------------------------------------------------------

@dataclass
class Case:
    text: str
    definitions: list[tuple[str, Node]]
    final: Node
    where: dict[str, Node]
    variables: tuple[str, ...]


def make_case(rng: random.Random) -> Case:
    variables = VARIABLES[: rng.randint(1, 3)]
    writer = Writer(rng)
    definitions: list[tuple[str, Node]] = []
    lines = []
    for name in DEFINITION_NAMES[: rng.choice((0, 0, 0, 1, 1, 2))]:
        node = Generator(rng, variables, tuple(n for n, _ in definitions)).expr(rng.randint(1, 3))
        definitions.append((name, node))
        lines.append(f"{name} = {writer.write(node)[0]}" + rng.choice((";", ";", "\n", "  # a comment\n")))
    final = Generator(rng, variables, tuple(n for n, _ in definitions)).expr(rng.randint(1, 4))
    text = "".join(line if line.endswith("\n") else line + " " for line in lines) + writer.write(final)[0]
    where: dict[str, Node] = {}
    if rng.random() < 0.15:
        where = {name: constant_expression(rng) for name in rng.sample(variables, rng.randint(1, len(variables)))}
        text += " where " + ", ".join(f"{name}={writer.write(value)[0]}" for name, value in where.items())
    return Case(text, definitions, final, where, variables)


def torch_result(case: Case, point: dict[str, float], variant: Variant = Variant()) -> tuple[float, dict[str, float]]:
    leaves = {}
    for name in case.variables:
        value = to_torch(case.where[name], {}, Variant()).item() if name in case.where else point[name]
        leaves[name] = torch.tensor(value, dtype=torch.float64, requires_grad=True)
    env = dict(leaves)
    for name, node in case.definitions:
        env[name] = to_torch(node, env, variant)
    out = to_torch(case.final, env, variant)
    used = list(case.variables) if out.requires_grad else []
    grads = torch.autograd.grad(out, [leaves[n] for n in used], allow_unused=True) if used else []
    result = {name: 0.0 for name in case.variables}
    for name, grad in zip(used, grads):
        result[name] = 0.0 if grad is None else grad.item()
    return out.item(), result


def same(a: float, b: float, rtol: float = RTOL, atol: float = ATOL) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= rtol * max(abs(a), abs(b)) + atol


def rounding_spread(case: Case, point: dict[str, float], tries: int = 8) -> list[float]:
    """How far torch's own value and gradients move when its libm results move by an ulp.

    NumPy's and torch's sin, tanh, log, ... differ in the last bit now and then (even torch's
    sqrt is not correctly rounded here); cancellation can amplify that far beyond 1e-9.
    """
    reference = flat(*torch_result(case, point), case.variables)
    spread = [0.0] * len(reference)
    jitter = Variant(jitter=random.Random(0))
    for _ in range(tries):
        for index, moved in enumerate(flat(*torch_result(case, point, jitter), case.variables)):
            if math.isfinite(moved - reference[index]):
                spread[index] = max(spread[index], abs(moved - reference[index]))
    return spread


def points(rng: random.Random, variables: tuple[str, ...]) -> list[dict[str, float]]:
    random_point = {name: rng.choice((rng.uniform(-3, 3), rng.uniform(0.05, 2.5), rng.uniform(-1, 1)))
                    for name in variables}
    edge_point = {name: rng.choice(EDGE_VALUES) for name in variables}
    mixed = {name: rng.choice((rng.choice(EDGE_VALUES), rng.uniform(-2, 2))) for name in variables}
    return [random_point, edge_point, mixed]


REAL, ROUNDING, POW_PATHS = "MISMATCH", "rounding", "torch's pow paths disagree"


@dataclass
class Mismatch:
    text: str
    point: dict[str, float]
    detail: str
    kind: str  # REAL; ROUNDING: torch itself moves that far when its libm results move by an ulp;
    # POW_PATHS: adcli equals torch's `x ** 0.5` (scalar exponent) and differs from torch.pow(x, tensor)


def flat(value: float, grads: dict[str, float], names: tuple[str, ...]) -> list[float]:
    return [value] + [grads[name] for name in names]


def check(case: Case, point: dict[str, float]) -> Mismatch | None:
    """None when adcli and torch agree, else what differs."""
    try:
        got = flat(*adcli.grad(case.text, **point), case.variables)
    except adcli.AdcliError as error:
        return Mismatch(case.text, point, f"adcli error: {error.message}", REAL)
    expected = flat(*torch_result(case, point), case.variables)
    wrong = [i for i, (a, b) in enumerate(zip(got, expected)) if not same(a, b)]
    if not wrong:
        return None
    labels = ["value"] + [f"d/d{name}" for name in case.variables]
    detail = "; ".join(f"{labels[i]} {got[i]!r} != torch {expected[i]!r}" for i in wrong)
    spread = rounding_spread(case, point)
    if all(math.isfinite(got[i] - expected[i]) and abs(got[i] - expected[i]) <= 4 * spread[i] for i in wrong):
        return Mismatch(case.text, point, detail, ROUNDING)
    scalar_exponents = flat(*torch_result(case, point, Variant(scalar_exponents=True)), case.variables)
    if all(same(a, b) for a, b in zip(got, scalar_exponents)):
        return Mismatch(case.text, point, detail, POW_PATHS)
    return Mismatch(case.text, point, detail, REAL)


def functions_in(case: Case) -> set[str]:
    names, stack = set(), [case.final] + [node for _, node in case.definitions]
    while stack:
        node = stack.pop()
        if node.kind in ("call", "reduce", "bin"):
            names.add(node.name if node.kind != "reduce" else node.name + "(...)")
        stack.extend(node.args)
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=40, help="how many mismatches to print")
    options = parser.parse_args()
    rng = random.Random(options.seed)
    torch.set_default_dtype(torch.float64)
    mismatches: list[Mismatch] = []
    suspects: Counter = Counter()
    evaluations = 0
    for _ in range(options.count):
        case = make_case(rng)
        for point in points(rng, case.variables):
            evaluations += 1
            mismatch = check(case, point)
            if mismatch:
                mismatches.append(mismatch)
                if mismatch.kind == REAL:
                    suspects.update(functions_in(case))
    kinds = Counter(m.kind for m in mismatches)
    shown = sorted(mismatches, key=lambda m: m.kind != REAL)[: options.show]
    for mismatch in shown:
        print(f"{mismatch.kind}: {mismatch.text!r} at {mismatch.point}: {mismatch.detail}")
    print(f"{options.count} programs, {evaluations} evaluations: {len(mismatches)} differ beyond relative {RTOL:g}: "
          f"{kinds[REAL]} real, {kinds[ROUNDING]} rounding (torch itself moves that far when its libm results "
          f"move by an ulp), {kinds[POW_PATHS]} where torch's own two pow paths disagree (adcli matches `x ** c`)")
    if suspects:
        print("operations in real mismatches:", ", ".join(f"{n}={c}" for n, c in suspects.most_common(12)))
    return 1 if kinds[REAL] else 0


if __name__ == "__main__":
    sys.exit(main())
