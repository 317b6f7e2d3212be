"""Peak resident memory of adcli's streaming modes as the input grows tenfold (not a test).

    python tests/benchmarks/pipeline_memory.py            # 10^5 vs 10^6 lines, 10^6 vs 10^7 points (~10 minutes)
    python tests/benchmarks/pipeline_memory.py --quick    # 10^4 vs 10^5 lines, 10^5 vs 10^6 points

Lines: `adcli grad - --format json` reading short programs, every one different (so the
compile cache fills and evicts), from standard input. Points: `adcli grad "(x + 2y)^2
tanh(x y)" --points FILE --format csv`. Output goes to /dev/null. The peak is the child's
own maximum resident set size (wait4); flat memory shows as a ratio near 1 between the
larger and the smaller input, not 10.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_speed import FORMULA, adcli_command, distinct_programs, write_points  # noqa: E402


def peak_rss(command: list[str], stdin_path: Path | None = None) -> tuple[float, float]:
    """(peak resident MiB, seconds) of one run of `command`."""
    start = time.perf_counter()
    with open(stdin_path or os.devnull, "rb") as stdin, open(os.devnull, "wb") as out:
        child = subprocess.Popen(command, stdin=stdin, stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{command} failed: {child.stderr.read().decode()[-400:]}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start  # ru_maxrss is in KiB on Linux


def write_programs(path: Path, count: int) -> None:
    with open(path, "w") as file:
        for start in range(0, count, 100_000):
            file.write("\n".join(distinct_programs(min(100_000, count - start), seed=start)) + "\n")


def compare(label: str, sizes: tuple[int, int], measure) -> None:
    small, large = (measure(size) for size in sizes)
    print(f"{label}: {sizes[0]:,} -> {small[0]:.1f} MiB ({small[1]:.0f} s); {sizes[1]:,} -> {large[0]:.1f} MiB "
          f"({large[1]:.0f} s); ratio {large[0] / small[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="inputs ten times smaller")
    scale = 10 if parser.parse_args().quick else 1
    baseline, _ = peak_rss([*adcli_command(), "eval", "1"])
    print(f"adcli eval 1 (start-up alone): {baseline:.1f} MiB")
    with tempfile.TemporaryDirectory() as folder:
        def lines(count: int) -> tuple[float, float]:
            path = Path(folder) / "programs.txt"
            write_programs(path, count)
            return peak_rss([*adcli_command(), "grad", "-", "--format", "json", "--at", "x=0.7,y=1.3"], path)

        def points(count: int) -> tuple[float, float]:
            path = Path(folder) / "points.csv"
            write_points(path, count)
            return peak_rss([*adcli_command(), "grad", FORMULA, "--points", str(path), "--format", "csv"])

        compare("lines, adcli grad - --format json", (10**5 // scale, 10**6 // scale), lines)
        compare("points, adcli grad --points --format csv", (10**6 // scale, 10**7 // scale), points)


if __name__ == "__main__":
    main()
