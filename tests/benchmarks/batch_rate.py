"""Many short programs: lines per second through `adcli grad -` against Lark's parse alone and eval-based frameworks.

The programs come from a few templates with random constants, so no two lines share a
text and no compiled-program cache can help. Each template is written twice: in adcli's
language, and in Python for the eval-based baselines (which have no parser of their own).
"""

from __future__ import annotations

import ast
import json
import os
import random
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable

from harness import REPO, Row, adcli_command, alternate, child_environment, framework, missing_note, process

X, Y = 0.7, 1.3
TEMPLATES = [  # (adcli, Python)
    ("(sqrt(x)+{a})^3", "(sqrt(x)+{a})**3"),
    ("sin(x)*exp(-x^2/{a}) + log(1+y^2)", "sin(x)*exp(-x**2/{a}) + log(1+y**2)"),
    ("(x + {a}y)^2 tanh(x y)", "(x + {a}*y)**2 * tanh(x*y)"),
    ("{a}x^3 - {b}x y + cos(y)", "{a}*x**3 - {b}*x*y + cos(y)"),
    ("sqrt(x^2 + y^2) / ({a} + x)", "sqrt(x**2 + y**2) / ({a} + x)"),
    ("log(1 + exp({a}x)) - y/{b}", "log(1 + exp({a}*x)) - y/{b}"),
    ("x y + {a}", "x*y + {a}"),
]


def programs(count: int, seed: int = 6) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    lines = []
    for index in range(count):
        adcli_text, python_text = TEMPLATES[index % len(TEMPLATES)]
        constants = {"a": f"{rng.uniform(1, 9):.3f}", "b": f"{rng.uniform(1, 9):.3f}"}
        lines.append((adcli_text.format(**constants), python_text.format(**constants)))
    return lines


def grammar_text() -> str:
    import adcli

    for path in (Path(adcli.__file__).parent / "grammar" / "adcli.lark", REPO / "grammar" / "adcli.lark"):
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise FileNotFoundError("grammar/adcli.lark")


def has_batch_mode() -> bool:
    """Whether this adcli reads programs from standard input (`adcli grad -`)."""
    completed = subprocess.run([*adcli_command(), "grad", "-", "--format", "json", "--at", "x=1"], input="x^2\n",
                               capture_output=True, text=True, env=child_environment())
    try:
        return completed.returncode == 0 and json.loads(completed.stdout.splitlines()[0]).get("line") == 1
    except (ValueError, IndexError, AttributeError):
        return False


def has_jobs_option() -> bool:
    """Whether this adcli shares a batch file out to worker processes (`--jobs`)."""
    completed = subprocess.run([*adcli_command(), "eval", "-", "--jobs", "1"], input="1\n", capture_output=True,
                               text=True, env=child_environment())
    return completed.returncode == 0


def lark_parse(lines: list[str]) -> Callable[[], None]:
    from lark import Lark

    parser = Lark(grammar_text(), parser="lalr")
    return lambda: [parser.parse(line) for line in lines]


def library_loop(lines: list[str]) -> Callable[[], None]:
    import adcli

    return lambda: [adcli.compile(line).grad(x=X, y=Y) for line in lines]


FUNCTIONS = ("sin", "cos", "exp", "log", "sqrt", "tanh")  # what the templates call


def torch_eval(lines: list[str], torch: Any) -> Callable[[], None]:
    names = {name: getattr(torch, name) for name in FUNCTIONS}

    def run() -> None:
        for line in lines:
            x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
            y = torch.tensor(Y, dtype=torch.float64, requires_grad=True)
            out = eval(line, {**names, "x": x, "y": y})  # the baseline's own way: Python is its parser
            out.backward()
            (out.item(), x.grad, y.grad)  # y.grad is None where the line has no y

    return run


def functional_eval(lines: list[str], value_and_grad: Callable, math: Any) -> Callable[[], None]:
    """`value_and_grad(f)(X, Y)` of each line, where f evaluates the line with `math`'s functions."""
    names = {name: getattr(math, name) for name in FUNCTIONS}

    def run() -> None:
        for line in lines:
            code = compile(line, "<line>", "eval")
            value_and_grad(lambda x, y: eval(code, {**names, "x": x, "y": y}))(X, Y)

    return run


def autograd_eval(lines: list[str], autograd: Any) -> Callable[[], None]:
    import autograd.numpy as anp

    return functional_eval(lines, lambda f: autograd.value_and_grad(f, argnum=(0, 1)), anp)


def jax_eval(lines: list[str], jax: Any) -> Callable[[], None]:
    """Eager, no jit: every line is a new function, and compiling each would cost far more."""
    return functional_eval(lines, lambda f: jax.value_and_grad(f, argnums=(0, 1)), jax.numpy)


def run(quick: bool) -> list[Row]:
    count = 10_000 if quick else 100_000
    eval_count = 2_000 if quick else 10_000  # eval-based baselines manage ~2,000 lines/s: a slice of the same lines
    pairs = programs(count)
    adcli_lines = [a for a, _ in pairs]
    python_lines = [p for _, p in pairs[:eval_count]]
    repeats = 3
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "programs.txt"
        path.write_text("\n".join(adcli_lines) + "\n", encoding="utf-8")
        batch = has_batch_mode()
        candidates = {"Lark parse": lark_parse(adcli_lines), "library": library_loop(adcli_lines[:eval_count])}
        if batch:
            command = [*adcli_command(), "grad", "-", "--format", "json", "--at", f"x={X},y={Y}"]
            candidates["adcli"] = process(command, stdin_path=path)
            if has_jobs_option():
                candidates["adcli, one process"] = process([*command, "--jobs", "1"], stdin_path=path)
        candidates["ast.parse"] = lambda: [ast.parse(line, mode="eval") for line in python_lines]
        for label, make in {"PyTorch": torch_eval, "autograd": autograd_eval, "JAX": jax_eval}.items():
            found = framework(label)
            if found:
                candidates[label] = make(python_lines, found)
        seconds = alternate(candidates, repeats, warmup=0)
    sizes = {"Lark parse": count, "adcli": count, "adcli, one process": count, "library": eval_count, "ast.parse": eval_count,
             "PyTorch": eval_count, "autograd": eval_count, "JAX": eval_count}
    rates = {name: sizes[name] / time for name, time in seconds.items()}
    others = {label: rates.get(label, missing_note(label)) for label in ("PyTorch", "autograd", "JAX")}
    note = f"ast.parse {rates['ast.parse']:,.0f}/s; library loop (compile+grad) {rates['library']:,.0f}/s"
    if "adcli, one process" in rates:
        note = (f"{os.cpu_count()} processes (the default for a file); one process (--jobs 1) "
                f"{rates['adcli, one process']:,.0f}/s; " + note)
    if batch:
        adcli_rate, what = rates["adcli"], f"`adcli grad - --format json`, {count:,} short programs"
    else:
        adcli_rate, what = rates["library"], f"no `grad -` yet: library compile+grad loop, {eval_count:,} programs"
    rows = [Row(f"batch: {what}", "lines/s", adcli_rate, "Lark parse alone", rates["Lark parse"], (">=", 1.0),
                others, note)]
    if "PyTorch" in rates:
        rows.append(Row("batch: against PyTorch's eval-based rate", "lines/s", adcli_rate, "PyTorch eval",
                        rates["PyTorch"], (">=", 1.5)))
    return rows
