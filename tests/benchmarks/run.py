"""adcli's benchmark suite: adcli and its baselines side by side, as a table of ratios.

    python tests/benchmarks/run.py            # everything; writes tests/benchmarks/RESULTS.md
    python tests/benchmarks/run.py --quick    # smaller sizes, fewer rounds; prints only
    python tests/benchmarks/run.py --only startup,points

On 2 cores the full run takes 20-30 minutes (the 1,000,000-term sum alone takes
minutes), --quick 2-3. PyTorch, autograd and JAX columns appear when they are installed
(`pip install 'adcli[bench]'`; qalc from the system's packages); otherwise the column
says so. Not collected by pytest: benchmarks print ratios, they do not pass or fail.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import batch_rate  # noqa: E402
import big_sum  # noqa: E402
import losses  # noqa: E402
import points  # noqa: E402
import startup  # noqa: E402
import taylor_mode  # noqa: E402
import training  # noqa: E402
from harness import HERE, Row, machine, table  # noqa: E402

SECTIONS = {
    "startup": startup.run,
    "batch": batch_rate.run,
    "points": points.time_rows,
    "memory": points.memory_rows,
    "sum": big_sum.run,
    "training": training.run,
    "taylor": taylor_mode.run,
    "losses": losses.run,
}
RESULTS = HERE / "RESULTS.md"
NOTES = "\n## Measurements behind the code's choices\n"  # a hand-kept section of RESULTS.md that a full run keeps


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "unknown"


def report(rows: list[Row], facts: dict[str, str], quick: bool, seconds: float, load: str) -> str:
    machine_line = "; ".join(f"{key} {value}" for key, value in facts.items())
    return "\n".join([
        "# adcli benchmark results",
        "",
        f"Machine: {machine_line}.",
        f"Run: `python tests/benchmarks/run.py{' --quick' if quick else ''}`, {time.strftime('%Y-%m-%d')}, "
        f"{seconds:.0f} s, load average {load} at the start and {_load()} at the end. "
        "Each cell is the median of alternating rounds in one process run.",
        "",
        "ratio = adcli / reference (times and memory: lower is better; lines/s: higher is better). "
        "Framework cells give their own number and adcli / that number.",
        "",
        table(rows),
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer rounds; does not write RESULTS.md")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--write", type=Path, default=None, help=f"write the table here (default: {RESULTS} on full runs)")
    options = parser.parse_args()
    chosen = [name.strip() for name in options.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")
    start, load = time.perf_counter(), _load()
    rows: list[Row] = []
    for name in chosen:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.extend(SECTIONS[name](options.quick))
    text = report(rows, machine(), options.quick, time.perf_counter() - start, load)
    print(text)
    destination = options.write or (None if options.quick or len(chosen) < len(SECTIONS) else RESULTS)
    if destination:
        destination.write_text(text + _kept_notes(destination), encoding="utf-8")
        print(f"wrote {destination}", file=sys.stderr)


def _kept_notes(path: Path) -> str:
    """The hand-kept section of the file being replaced (from NOTES on), or nothing."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    _, marker, notes = old.partition(NOTES)
    return marker + notes


if __name__ == "__main__":
    main()
