"""Batch and points throughput of the adcli command, side by side with its baselines (not a test).

    python tests/benchmarks/pipeline_speed.py            # 100,000 lines, 10^7 points (~6 minutes)
    python tests/benchmarks/pipeline_speed.py --quick    # 10,000 lines, 10^6 points

Lines: `adcli grad - --format json` over a file of short programs against Lark alone
(`Lark(grammar, parser="lalr")`, no transformer) parsing the same lines. Two files: every
line a different program, and a few programs at many `where` points (the compile cache's case).

Points: `(x + 2y)^2 tanh(x y)`, value and both partial derivatives, against NumPy computing
the value only: once in memory (adcli's chunked tape against one NumPy expression) and once
end to end (`adcli grad --points FILE --format csv` against a NumPy script that reads the
same CSV in chunks and writes x, y and the value).

Each pair runs alternately in one process run; the median of the rounds is kept.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import REPO, adcli_command, alternate, process  # noqa: E402

FORMULA = "(x + 2y)^2 tanh(x y)"
TEMPLATES = [
    "(sqrt(x)+{a})^3", "sin(x)*exp(-x^2/{a}) + log(1+y^2)", "(x + {a}y)^2 tanh(x y)",
    "{a}x^3 - {b}x y + cos(y)", "sqrt(x^2 + y^2) / ({a} + x)", "log(1 + exp({a}x)) - y/{b}", "x y + {a}",
]
CHUNK = 65536


def distinct_programs(count: int, seed: int = 1) -> list[str]:
    """Short programs, no two alike (random constants): every line is parsed."""
    rng = random.Random(seed)
    return [TEMPLATES[i % len(TEMPLATES)].format(a=f"{rng.uniform(1, 9):.3f}", b=f"{rng.uniform(1, 9):.3f}")
            for i in range(count)]


def repeated_programs(count: int, seed: int = 2) -> list[str]:
    """The same seven programs at ever new `where` points: the cache keyed by the text before `where` hits."""
    rng = random.Random(seed)
    heads = [template.format(a="2.5", b="1.5") for template in TEMPLATES]
    return [f"{heads[i % len(heads)]} where x={rng.uniform(0.1, 2):.4f}, y={rng.uniform(0.1, 2):.4f}"
            for i in range(count)]


def write_points(path: Path, count: int, seed: int = 3) -> None:
    """A points CSV `x,y` of `count` rows, written a chunk at a time."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as file:
        file.write("x,y\n")
        for start in range(0, count, CHUNK):
            block = rng.uniform(-2, 2, (min(CHUNK, count - start), 2))
            file.write("\n".join(f"{x!r},{y!r}" for x, y in block.tolist()) + "\n")


def lark_alone(lines: list[str]) -> Callable[[], None]:
    """Lark's parse of each line, tree and all, with no transformer: `Lark(grammar, parser="lalr")`."""
    from lark import Lark

    parser = Lark((REPO / "grammar" / "adcli.lark").read_text(encoding="utf-8"), parser="lalr")
    return lambda: [parser.parse(line) for line in lines]


def line_rates(count: int, rounds: int, folder: Path) -> None:
    for label, lines in (("distinct programs", distinct_programs(count)),
                         ("7 programs at many where points", repeated_programs(count))):
        path = folder / "programs.txt"
        path.write_text("\n".join(lines) + "\n")
        seconds = alternate({
            "adcli": process([*adcli_command(), "grad", "-", "--format", "json", "--at", "x=0.7,y=1.3"], path),
            "lark": lark_alone(lines),
        }, rounds, warmup=0)
        adcli_rate, lark_rate = count / seconds["adcli"], count / seconds["lark"]
        print(f"lines, {label} ({count:,}): adcli grad - --format json {adcli_rate:,.0f} lines/s; "
              f"Lark parse alone {lark_rate:,.0f} lines/s; ratio adcli/Lark {adcli_rate / lark_rate:.2f}")


def numpy_value_csv(source: Path) -> Callable[[], None]:
    """The value-only job with the same I/O: read the CSV in chunks, write x, y and the value."""
    def run() -> None:
        with open(source, "rb") as file, open("/dev/null", "w") as out:
            file.readline()
            out.write("x,y,value\n")
            while True:
                lines = [file.readline() for _ in range(CHUNK)]
                lines = [line for line in lines if line]
                if not lines:
                    return
                table = np.loadtxt(io.StringIO(b"".join(lines).decode()), delimiter=",", ndmin=2)
                x, y = table.T
                value = (x + 2 * y) ** 2 * np.tanh(x * y)
                columns = [list(map(repr, column.tolist())) for column in (x, y, value)]
                out.write("\n".join(map(",".join, zip(*columns))) + "\n")

    return run


def engine_in_memory(count: int) -> dict[str, Callable[[], object]]:
    """adcli's chunked value+gradient through the tape, against NumPy's value, on the same arrays.

    NumPy runs twice: on the whole arrays (one expression, as a user would write it) and on
    the same 65,536-point chunks as adcli (whose temporaries stay in the CPU's caches).
    """
    import adcli
    from adcli.commands.records import grad_outcome

    rng = np.random.default_rng(4)
    x, y = rng.uniform(-2, 2, count), rng.uniform(-2, 2, count)
    compiled = adcli.compile(FORMULA)
    chunks = [(x[start:start + CHUNK], y[start:start + CHUNK]) for start in range(0, count, CHUNK)]

    def value(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a + 2 * b) ** 2 * np.tanh(a * b)

    return {
        "adcli": lambda: [grad_outcome(compiled, {"x": a, "y": b}, None) for a, b in chunks],
        "NumPy value, whole arrays": lambda: value(x, y),
        "NumPy value, same chunks": lambda: [value(a, b) for a, b in chunks],
    }


def point_rates(count: int, rounds: int, folder: Path) -> None:
    seconds = alternate(engine_in_memory(count), rounds)  # one warm-up round
    for baseline in ("NumPy value, whole arrays", "NumPy value, same chunks"):
        print(f"points in memory ({count:,}): adcli value+gradient {count / seconds['adcli']:,.0f} points/s; "
              f"{baseline} {count / seconds[baseline]:,.0f} points/s; "
              f"ratio adcli/NumPy {seconds[baseline] / seconds['adcli']:.3f}")
    path = folder / "points.csv"
    write_points(path, count)
    seconds = alternate({
        "adcli": process([*adcli_command(), "grad", FORMULA, "--points", str(path), "--format", "csv"]),
        "numpy": numpy_value_csv(path),
    }, max(1, rounds // 2), warmup=0)
    print(f"points end to end, CSV in and out ({count:,}): "
          f"adcli grad --points {count / seconds['adcli']:,.0f} points/s; "
          f"NumPy value only {count / seconds['numpy']:,.0f} points/s; "
          f"ratio adcli/NumPy {seconds['numpy'] / seconds['adcli']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 lines and 10^6 points")
    quick = parser.parse_args().quick
    with tempfile.TemporaryDirectory() as folder:
        line_rates(10_000 if quick else 100_000, 3 if quick else 2, Path(folder))
        point_rates(10**6 if quick else 10**7, 3 if quick else 2, Path(folder))


if __name__ == "__main__":
    main()
