"""Points on one process, on the local fork pool and on a 2-worker Dask cluster, side by side in one run.

    python tests/benchmarks/cluster.py [--points 10000000] [--rounds 3]

For each input (CSV and Parquet of the same points) it times `adcli grad F --points FILE
--format csv > /dev/null` as one process (`--jobs 1`), on the fork pool (`--jobs 2`) and on
a Dask cluster of two worker processes (a separate `dask scheduler` and two `dask worker`s,
started once, so the times are runs, not cluster start-ups), alternating the contenders
round by round, and prints the medians, throughput per worker as a ratio to one process,
and each worker's peak resident memory after the CSV runs and after both inputs (neither should
grow with the number of points; `ADCLI_BLOCK_BYTES` sets a CSV partition's size).
Needs `pip install 'adcli[dask]'`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FORMULA = "(x + 2y)^2 tanh(x y)"
DASK = str(Path(sys.executable).with_name("dask"))
ADCLI = [str(Path(sys.executable).with_name("adcli"))]


def write_inputs(folder: Path, count: int) -> dict[str, Path]:
    import pyarrow
    import pyarrow.parquet

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=count), rng.normal(size=count)
    csv = folder / "points.csv"
    with open(csv, "w") as file:
        file.write("x,y\n")
        for start in range(0, count, 1 << 20):
            block = np.column_stack([x[start:start + (1 << 20)], y[start:start + (1 << 20)]])
            np.savetxt(file, block, delimiter=",", fmt="%.17g")
    parquet = folder / "points.parquet"
    pyarrow.parquet.write_table(pyarrow.table({"x": x, "y": y}), parquet, row_group_size=1 << 20)
    return {"csv": csv, "parquet": parquet}


def start_cluster(folder: Path) -> tuple[str, list[subprocess.Popen]]:
    scheduler_file = folder / "scheduler.json"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
    processes = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                   "--scheduler-file", str(scheduler_file)], **quiet)]
    while not scheduler_file.exists():
        time.sleep(0.1)
    address = json.loads(scheduler_file.read_text())["address"]
    processes += [subprocess.Popen([DASK, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                                    "--host", "127.0.0.1"], **quiet) for _ in range(2)]
    from distributed import Client
    with Client(address) as client:
        client.wait_for_workers(2)
    return address, processes


def worker_peaks(address: str) -> list[float]:
    """Each worker process's peak resident memory so far, in MiB."""
    import resource

    from distributed import Client
    with Client(address) as client:
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return [kib / 1024 for kib in peaks.values()]


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=10**6)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        inputs = write_inputs(folder, options.points)
        address, processes = start_cluster(folder)
        try:
            print(f"{options.points:,} points of {FORMULA}, median of {options.rounds} rounds, 2 cores")
            print("| input | one process | fork pool (2) | Dask (2 workers) | per worker vs one process |")
            print("|---|---|---|---|---|")
            peaks: dict[str, list[float]] = {}
            for kind, path in inputs.items():
                base = ADCLI + ["grad", FORMULA, "--points", str(path), "--format", "csv"]
                contenders = {"one": base + ["--jobs", "1"], "pool": base + ["--jobs", "2"],
                              "dask": base + ["--scheduler", address]}
                times: dict[str, list[float]] = {label: [] for label in contenders}
                for _ in range(options.rounds):
                    for label, command in contenders.items():
                        times[label].append(timed(command))
                median = {label: statistics.median(values) for label, values in times.items()}
                per_worker = median["one"] / median["dask"] / 2
                print(f"| {kind} | {median['one']:.2f} s | {median['pool']:.2f} s ({median['one'] / median['pool']:.2f}x)"
                      f" | {median['dask']:.2f} s ({median['one'] / median['dask']:.2f}x) | {per_worker:.2f} |")
                peaks[kind] = worker_peaks(address)  # the peak so far: after CSV, then after both inputs
            for kind, values in peaks.items():
                print(f"peak resident memory per worker after {kind} (MiB):", ", ".join(f"{peak:.0f}" for peak in values))
        finally:
            for process in processes:
                os.killpg(process.pid, 9)


if __name__ == "__main__":
    main()
