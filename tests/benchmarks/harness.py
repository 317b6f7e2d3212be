"""Timing, memory and reporting helpers shared by the benchmark workloads.

Every comparison runs its candidates in one process run, alternating (adcli, baseline,
adcli, baseline, ...), and keeps the median of the repetitions, so a busy machine slows
every column alike instead of whichever happened to run during the noise.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

# PyTorch's OpenMP threads keep spinning after each of its operations, taking a core from
# whatever runs next: alternating with PyTorch, adcli's (sqrt(x)+1)^3 at 10^7 points took
# 392 ms instead of 143 ms (157 ms with passive waiting, and PyTorch itself got faster).
# It must be set before anything loads torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OPTIONAL_FRAMEWORKS = {"PyTorch": "torch", "autograd": "autograd", "JAX": "jax"}


@dataclass
class Row:
    """One line of the results table: adcli against the reference its target is stated in."""

    workload: str
    unit: str  # "s" (lower is better) or "lines/s" (higher is better) or "arrays of N"
    adcli: float
    reference_name: str
    reference: float
    target: tuple[str, float] | None = None  # ("<=", 1.0): adcli / reference must be <= 1.0
    # framework -> its measure, or (its measure, adcli / it measured beside it in one process), or why absent
    others: dict[str, float | tuple[float, float] | str] = field(default_factory=dict)
    note: str = ""
    one_thread: float | None = None  # adcli's measure with ADCLI_THREADS=1, beside the others in the same rounds

    @property
    def ratio(self) -> float:
        return self.adcli / self.reference

    @property
    def met(self) -> bool | None:
        return self._meets(self.ratio)

    def _meets(self, ratio: float) -> bool | None:
        if self.target is None:
            return None
        op, bound = self.target
        return ratio <= bound if op == "<=" else ratio >= bound

    def one_thread_cell(self) -> str:
        """adcli on one thread, its ratio to the reference and whether that meets the target; empty when not measured."""
        if self.one_thread is None:
            return ""
        ratio = self.one_thread / self.reference
        mark = {True: " ✅", False: " ❌", None: ""}[self._meets(ratio)]
        return f"{show(self.one_thread, self.unit)} ({ratio:.2f}x{mark})"


# -- optional frameworks -----------------------------------------------------------------

def optional(module: str) -> Any | None:
    """The module when installed, else None (its column then says so)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def installed(module: str) -> bool:
    """Whether `module` could be imported (without the seconds that importing torch takes)."""
    return importlib.util.find_spec(module) is not None


def framework(label: str) -> Any | None:
    """PyTorch, autograd or JAX (in float64, as every column here) when installed, else None."""
    module = optional(OPTIONAL_FRAMEWORKS[label])
    if module is not None and label == "JAX":
        module.config.update("jax_enable_x64", True)
    return module


def framework_versions() -> dict[str, str]:
    versions = {}
    for label, module in OPTIONAL_FRAMEWORKS.items():
        versions[label] = _distribution_version(module) if installed(module) else "not installed"
    return versions


def missing_note(label: str) -> str:
    return f"{label} not installed"


# -- timing ------------------------------------------------------------------------------

def alternate(candidates: Mapping[str, Callable[[], Any]], repeats: int, warmup: int = 1) -> dict[str, float]:
    """Median seconds of each candidate, run in turn `repeats` times after `warmup` rounds."""
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for round_ in range(warmup + repeats):
        for name, candidate in candidates.items():
            gc.collect()
            start = time.perf_counter()
            candidate()
            elapsed = time.perf_counter() - start
            if round_ >= warmup:
                times[name].append(elapsed)
    return {name: statistics.median(values) for name, values in times.items()}


def child_environment() -> dict[str, str]:
    """The environment for timed child processes.

    PYTHONDONTWRITEBYTECODE is dropped: with it every start would compile adcli's modules
    from source while NumPy's bytecode came with its wheel, which is not what a user with
    an installed adcli sees.
    """
    environment = dict(os.environ)
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    return environment


def process(command: Sequence[str], stdin_path: Path | None = None) -> Callable[[], None]:
    """A candidate that runs `command` to completion (output discarded); fails loudly on a non-zero exit."""
    environment = child_environment()

    def run() -> None:
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            completed = subprocess.run(command, stdin=stdin, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, env=environment)
        finally:
            if stdin_path:
                stdin.close()
        if completed.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {completed.returncode}: {completed.stderr.decode()[-500:]}")

    return run


def adcli_command() -> list[str]:
    """How to start adcli as a user would: the console script beside this Python, else `python -m adcli`."""
    script = Path(sys.executable).parent / "adcli"
    if script.is_file() and script.read_text(errors="replace").startswith(f"#!{sys.executable}"):
        return [str(script)]
    return [sys.executable, "-m", "adcli"]


# -- memory ------------------------------------------------------------------------------

POINTS_CHILD = HERE / "points_child.py"


def points_child(*arguments: str) -> dict[str, float]:
    """Run points_child.py in a fresh process (see there) and return its JSON answer."""
    completed = subprocess.run([sys.executable, str(POINTS_CHILD), *arguments], capture_output=True, text=True,
                               env=child_environment())
    if completed.returncode != 0:
        raise RuntimeError(f"points_child.py {' '.join(arguments)} failed: {completed.stderr[-800:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# -- the machine and the table -----------------------------------------------------------

def machine() -> dict[str, str]:
    import adcli
    import numpy

    facts = {
        "adcli": f"{adcli.__version__} from {Path(adcli.__file__).parent}",
        "CPU": _cpu_model(),
        "nproc": str(os.cpu_count()),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "NumPy": numpy.__version__,
    }
    for package in ("lark", "click"):
        module = optional(package)
        facts[package] = _distribution_version(package) if module else "not installed"
    facts.update(framework_versions())
    facts["qalc"] = _qalc_version()
    return facts


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _distribution_version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def _qalc_version() -> str:
    try:
        completed = subprocess.run(["qalc", "--version"], capture_output=True, text=True)
    except OSError:
        return "not installed"
    return completed.stdout.strip() or "installed"


def show(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "lines/s":
        return f"{value:,.0f}/s"
    return f"{value:.2f}"


def _other_cell(row: Row, value: float | tuple[float, float] | str) -> str:
    if isinstance(value, str):
        return value
    measure, ratio = value if isinstance(value, tuple) else (value, row.adcli / value)
    return f"{show(measure, row.unit)} ({ratio:.2f}x)"


def table(rows: Sequence[Row]) -> str:
    """Markdown: each row's adcli number, its reference, the ratio adcli/reference, the target."""
    frameworks = list(OPTIONAL_FRAMEWORKS)
    header = ["workload", "adcli", "reference", "ratio", "target", "adcli, 1 thread", *frameworks, "note"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        target = "" if row.target is None else f"{row.target[0]} {row.target[1]:g}x " + ("✅" if row.met else "❌")
        compared = not math.isnan(row.reference)
        cells = [
            row.workload, show(row.adcli, row.unit),
            f"{row.reference_name}: {show(row.reference, row.unit)}" if compared else "—",
            f"{row.ratio:.2f}x" if compared else "—", target, row.one_thread_cell(), *(_other_cell(row, row.others.get(name, "")) for name in frameworks), row.note,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
