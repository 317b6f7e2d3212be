"""Parquet in and out, --output, and --scheduler: a Dask cluster gives byte for byte a local run's output.

The cluster tests start what they need: a LocalCluster inside the test, or a scheduler and
two workers as separate processes on 127.0.0.1 (`dask scheduler`, `dask worker`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from adcli.drivers import cluster, points

from conftest import console_script

pyarrow = pytest.importorskip("pyarrow")  # the test extra installs it: CI runs all of these
pytest.importorskip("distributed")
import pyarrow.parquet as pq  # noqa: E402

DASK = str(Path(sys.executable).with_name("dask"))


def _points(tmp_path: Path, count: int = 3000, seed: int = 1) -> tuple[Path, Path]:
    """The same points as a CSV and as a Parquet file (small row groups): one missing x, one bad y."""
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=count), rng.uniform(-0.2, 2, size=count)
    missing = np.zeros(count, dtype=bool)
    missing[count // 3] = True
    csv = tmp_path / "points.csv"
    with open(csv, "w") as file:
        file.write("x,y\n")
        for i in range(count):
            file.write(("" if missing[i] else repr(float(x[i]))) + "," + repr(float(y[i])) + "\n")
    parquet = tmp_path / "points.parquet"
    pq.write_table(pyarrow.table({"x": pyarrow.array(x, mask=missing), "y": y}), parquet, row_group_size=700)
    return csv, parquet


def _programs(tmp_path: Path, count: int = 4000) -> Path:
    texts = ["x^2 sin(x)", "log(x) where x=-1", "(x+1)(x-2)", "foo(", "sqrt(x y)", "exp(x)/y", "", "# note",
             "x y^3", "sum(x"]
    path = tmp_path / "programs.txt"
    path.write_text("".join(texts[i % len(texts)] + f" + {i}\n" if texts[i % len(texts)] not in ("", "# note")
                            else texts[i % len(texts)] + "\n" for i in range(count)))
    return path


@pytest.fixture
def small_partitions(monkeypatch):
    """Chunks and partitions small enough that chunks straddle partitions and each worker gets many."""
    monkeypatch.setattr(points, "CHUNK_ROWS", 256)
    monkeypatch.setattr(cluster, "SMALLEST_BLOCK", 1 << 12)
    monkeypatch.setattr(cluster, "PARQUET_PARTITION_CHUNKS", 3)


# -- Parquet and --output on one machine ----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "json", "text", "plain"])
def test_parquet_points_give_what_the_same_csv_gives(cli, tmp_path, monkeypatch, fmt):
    monkeypatch.setattr(points, "CHUNK_ROWS", 256)  # chunks that cut row groups of 700
    csv, parquet = _points(tmp_path)
    from_csv = cli("grad", "x^2 log(y)", "--points", str(csv), "--format", fmt)
    from_parquet = cli("grad", "x^2 log(y)", "--points", str(parquet), "--format", fmt)
    assert from_csv.exit_code == from_parquet.exit_code == 1  # the missing x
    assert from_parquet.stdout == from_csv.stdout and from_parquet.stderr == from_csv.stderr
    assert "row 1001: " in from_parquet.stderr + from_parquet.stdout
    assert "column 1 (x) is empty" in from_parquet.stderr + from_parquet.stdout


def test_parquet_points_refuse_text_columns(cli, tmp_path):
    path = tmp_path / "names.parquet"
    pq.write_table(pyarrow.table({"x": [1.0, 2.0], "label": ["a", "b"]}), path)
    run = cli("eval", "x", "--points", str(path))
    assert run.exit_code == 1 and "the Parquet column 'label' holds string, not numbers" in run.stderr


def test_output_file_holds_what_standard_output_would(cli, tmp_path):
    csv, _ = _points(tmp_path, 50)
    to_stdout = cli("grad", "x y", "--points", str(csv), "--format", "csv")
    written = tmp_path / "out.csv"
    to_file = cli("grad", "x y", "--points", str(csv), "--format", "csv", "--output", str(written))
    assert to_file.stdout == "" and written.read_text() == to_stdout.stdout
    assert "row 17: column 1 (x) is empty" in to_file.stderr  # errors still reach the user


def test_output_parquet_of_points_is_a_float_table(cli, tmp_path):
    csv, parquet = _points(tmp_path, 300)
    target = tmp_path / "out.parquet"
    run = cli("grad", "x^2 log(y)", "--points", str(parquet), "--output", str(target))
    assert run.exit_code == 1 and run.stdout == ""
    table = pq.read_table(target)
    assert table.column_names == ["x", "y", "value", "d/dx", "d/dy"]
    assert all(str(field.type) == "double" for field in table.schema)
    assert table.num_rows == 300
    expected = cli("grad", "x^2 log(y)", "--points", str(csv), "--format", "csv").stdout.splitlines()[1:]
    for row, line in zip(table.to_pylist(), expected):
        cells = line.split(",")
        assert [None if c == "" else float(c) for c in cells] == pytest.approx(
            [row[name] for name in table.column_names], nan_ok=True)
    assert table.column("value")[100].as_py() is None  # the row with the missing x


def test_output_parquet_of_a_batch_keeps_lines_and_errors(cli, tmp_path):
    programs = _programs(tmp_path, 20)
    target = tmp_path / "out.parquet"
    run = cli("grad", "--file", str(programs), "--at", "x=2,y=3", "--output", str(target))
    assert run.exit_code == 1
    table = pq.read_table(target).to_pylist()
    json_lines = [json.loads(line) for line in
                  cli("grad", "--file", str(programs), "--at", "x=2,y=3", "--format", "json").stdout.splitlines()]
    assert [row["line"] for row in table] == [record["line"] for record in json_lines]
    assert [json.loads(row["record"]) for row in table] == json_lines
    assert [row["error"] is not None for row in table] == ["error" in record for record in json_lines]


def test_parquet_needs_its_extra(tmp_path):
    _, parquet = _points(tmp_path, 10)
    hide = "import sys; sys.modules['pyarrow'] = None; from adcli.cli import run; run()"
    done = subprocess.run([sys.executable, "-c", hide, "eval", "x", "--points", str(parquet)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "adcli: error: Parquet needs pyarrow, an optional extra: pip install 'adcli[parquet]'" in done.stderr


def test_scheduler_needs_its_extra(tmp_path):
    programs = _programs(tmp_path, 5)
    hide = "import sys; sys.modules['distributed'] = None; from adcli.cli import run; run()"
    done = subprocess.run([sys.executable, "-c", hide, "eval", "--file", str(programs), "--scheduler", "local:1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "adcli: error: --scheduler needs Dask, an optional extra: pip install 'adcli[dask]'" in done.stderr


def test_scheduler_reads_files_not_standard_input(cli):
    run = cli("eval", "-", "--scheduler", "local:2", input="x^2 where x=1\n")
    assert run.exit_code == 1 and "--scheduler reads a file" in run.stderr


def test_output_and_scheduler_go_with_many_inputs(cli):
    run = cli("eval", "x^2", "--at", "x=1", "--output", "out.csv")
    assert run.exit_code == 2 and "--output and --scheduler go with --file" in run.stderr


def test_an_unreachable_scheduler_is_an_error(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 1)
    run = cli("eval", "--file", str(_programs(tmp_path, 5)), "--scheduler", "tcp://127.0.0.1:9")
    assert run.exit_code == 1 and "adcli: error: cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in run.stderr


@pytest.mark.parametrize("count", ["0", "-1", "abc", "", "65"])
def test_a_local_cluster_of_no_whole_number_of_workers_is_refused_at_once(cli, tmp_path, count):
    """local:-1 and local:abc were tried as host names (20 s of waiting, or int()'s own words)."""
    run = cli("eval", "--file", str(_programs(tmp_path, 5)), "--scheduler", f"local:{count}")
    assert run.exit_code == 1
    assert f"adcli: error: --scheduler local:N takes 1 to 64 workers, got '{count}'" in run.stderr


@pytest.mark.parametrize("setting", ["abc", "0", "-1"])
def test_a_block_size_setting_that_is_no_size_is_an_error(cli, tmp_path, monkeypatch, setting):
    """ADCLI_BLOCK_BYTES=-1 cut no partition (no records, exit 0); abc and 0 were internal errors."""
    monkeypatch.setenv("ADCLI_BLOCK_BYTES", setting)
    run = cli("eval", "--file", str(_programs(tmp_path, 5)), "--scheduler", "local:1")
    assert run.exit_code == 1 and run.stdout == ""
    assert f"adcli: error: ADCLI_BLOCK_BYTES must be a whole number of bytes, 1 or more; it is '{setting}'" in run.stderr


# -- partitions ------------------------------------------------------------------------------------


def test_line_counts_cover_every_line_once(tmp_path):
    path = tmp_path / "lines.txt"
    lines = [b"x" * (i % 37) + b"\n" for i in range(1500)] + [b"last line without end"]
    path.write_bytes(b"".join(lines))
    for begin in (0, 3):
        for block in (3, 64, 1000, 10 ** 9):
            size = path.stat().st_size
            counted = [cluster.count_lines(str(path), nominal, block, begin) for nominal in range(begin, size, block)]
            starts = [start for start, count in counted if count]
            total = sum(count for _, count in counted)
            expected = path.read_bytes()[begin:].count(b"\n") + 1
            assert total == expected and starts == sorted(set(starts))


def test_row_partitions_start_on_chunk_boundaries():
    assert cluster.row_partitions(1000, 100, 3) == [(0, 300), (300, 600), (600, 900), (900, 1000)]
    assert cluster.row_partitions(0, 100, 3) == []


# -- on a cluster ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_address():
    """A LocalCluster of two worker processes for this module's tests."""
    from distributed import LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                      host="127.0.0.1") as local:
        yield local.scheduler_address


@pytest.mark.parametrize("fmt", ["json", "text", "plain"])
def test_batch_on_a_cluster_is_byte_for_byte_the_local_run(cli, tmp_path, small_partitions, local_address, fmt):
    programs = _programs(tmp_path)
    arguments = ["grad", "--file", str(programs), "--at", "x=2,y=3", "--format", fmt]
    local, remote = cli(*arguments), cli(*arguments, "--scheduler", local_address)
    assert remote.exit_code == local.exit_code == 1
    assert remote.stdout == local.stdout and remote.stderr == local.stderr


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_points_on_a_cluster_are_byte_for_byte_the_local_run(cli, tmp_path, small_partitions, local_address,
                                                             monkeypatch, kind):
    csv, parquet = _points(tmp_path)
    source = str(csv if kind == "csv" else parquet)
    arguments = ["grad", "x^2 log(y)", "--points", source, "--format", "csv"]
    local = cli(*arguments)
    monkeypatch.setenv("ADCLI_SCHEDULER", local_address)  # the environment's scheduler
    remote = cli(*arguments)
    assert remote.stdout == local.stdout and remote.stderr == local.stderr and remote.exit_code == 1
    assert "warning: row" in remote.stderr  # log of a negative y: warnings come in the local run's place


def test_local_n_starts_and_stops_its_own_workers(cli, tmp_path, small_partitions):
    programs = _programs(tmp_path, 500)
    arguments = ["eval", "--file", str(programs), "--at", "x=2,y=3", "--format", "json"]
    assert cli(*arguments, "--scheduler", "local:2").stdout == cli(*arguments).stdout
    assert cli(*arguments, "--scheduler", "local:0").stderr.startswith("adcli: error: --scheduler local:N takes 1")


def _start(arguments: list[str], tmp_path: Path, name: str) -> subprocess.Popen:
    log = open(tmp_path / f"{name}.log", "w")
    return subprocess.Popen(arguments, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True)


@pytest.fixture
def separate_cluster(tmp_path):
    """A scheduler and two workers, each its own process, on 127.0.0.1; stopped (whole process groups) after."""
    scheduler_file = tmp_path / "scheduler.json"
    processes = [_start([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                         "--scheduler-file", str(scheduler_file)], tmp_path, "scheduler")]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        workers = [_start([DASK, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                           "--host", "127.0.0.1", "--name", f"w{i}"], tmp_path, f"worker{i}") for i in range(2)]
        processes += workers
        from distributed import Client
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for process in processes:
            with_group(process, signal.SIGKILL)
            process.wait(timeout=30)


def with_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def test_a_separate_scheduler_and_workers_give_the_local_run(tmp_path, separate_cluster):
    address, _ = separate_cluster
    csv, _ = _points(tmp_path, 2000)
    arguments = console_script() + ["grad", "x^2 log(y)", "--points", str(csv), "--format", "json"]
    local = subprocess.run(arguments, capture_output=True, text=True, timeout=120)
    remote = subprocess.run(arguments + ["--scheduler", address], capture_output=True, text=True, timeout=120)
    assert remote.returncode == local.returncode == 1
    assert remote.stdout == local.stdout and remote.stderr == local.stderr


def test_a_worker_lost_mid_run_costs_a_retry_not_a_row(tmp_path, separate_cluster, monkeypatch):
    address, workers = separate_cluster
    programs = tmp_path / "programs.txt"
    programs.write_text("".join(f"x^{i % 7} sin(x y) + c where c={i}\n" for i in range(8000)))
    arguments = console_script() + ["grad", "--file", str(programs), "--at", "x=2,y=3", "--format", "json"]
    local = subprocess.run(arguments, capture_output=True, text=True, timeout=300)
    env = {**os.environ, "ADCLI_SCHEDULER": address, "ADCLI_BLOCK_BYTES": "4096"}
    output = tmp_path / "remote.out"
    with open(output, "w") as out:
        run = subprocess.Popen(arguments, stdout=out, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 120
        while output.stat().st_size == 0 and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run.poll() is None, "the run ended before a worker could be lost"
        with_group(workers[0], signal.SIGKILL)
        _, err = run.communicate(timeout=300)
    assert run.returncode == local.returncode == 0, err
    assert output.read_text() == local.stdout  # no line lost, none twice, in order


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_an_output_folder_gets_part_files_written_by_the_workers(cli, tmp_path, small_partitions, local_address, kind):
    csv, parquet = _points(tmp_path)
    local = cli("grad", "x^2 log(y)", "--points", str(csv), "--format", "csv")
    folder = tmp_path / ("parts.parquet" if kind == "parquet" else "parts")
    remote = cli("grad", "x^2 log(y)", "--points", str(parquet), "--format", "csv", "--scheduler", local_address,
                 "--output", f"{folder}/")
    assert remote.exit_code == 1 and remote.stdout == "" and remote.stderr == local.stderr
    parts = sorted(folder.iterdir())
    assert len(parts) > 2 and [part.name for part in parts][:2] == [f"part-00000.{kind}", f"part-00001.{kind}"]
    if kind == "csv":
        header, *rows = local.stdout.splitlines(keepends=True)
        assert all(part.read_text().startswith(header) for part in parts)  # each part reads on its own
        assert "".join(part.read_text()[len(header):] for part in parts) == "".join(rows)
    else:
        table = pq.read_table(folder)
        assert table.num_rows == 3000 and table.column_names == ["x", "y", "value", "d/dx", "d/dy"]


def test_batch_part_files_hold_the_local_records(cli, tmp_path, small_partitions, local_address):
    programs = _programs(tmp_path)
    arguments = ["grad", "--file", str(programs), "--at", "x=2,y=3", "--format", "json"]
    local = cli(*arguments)
    (tmp_path / "parts").mkdir()  # an existing folder needs no trailing '/'
    remote = cli(*arguments, "--scheduler", local_address, "--output", str(tmp_path / "parts"))
    assert remote.stdout == "" and remote.exit_code == 1
    assert "".join(part.read_text() for part in sorted((tmp_path / "parts").iterdir())) == local.stdout


def test_batch_csv_cannot_be_cut_into_partitions(cli, tmp_path, local_address):
    run = cli("grad", "--file", str(_programs(tmp_path, 10)), "--format", "csv", "--scheduler", local_address)
    assert run.exit_code == 1 and "use --format json" in run.stderr


def test_a_line_past_the_limit_ends_a_cluster_batch_where_it_ends_a_local_one(cli, tmp_path, small_partitions,
                                                                             local_address):
    from adcli.drivers.batch import MAX_LINE_BYTES

    good = "".join(f"x^2 + {i}\n" for i in range(3000))
    programs = tmp_path / "programs.txt"
    programs.write_text(good + "x" * (MAX_LINE_BYTES + 10) + "\n" + good)
    arguments = ["grad", "--file", str(programs), "--at", "x=2", "--format", "json"]
    local, remote = cli(*arguments), cli(*arguments, "--scheduler", local_address)
    assert local.exit_code == remote.exit_code == 1
    assert local.stdout.count("\n") == 3001 and "longer than" in local.stdout.splitlines()[-1]
    assert remote.stdout == local.stdout and remote.stderr == local.stderr


def test_a_row_past_the_limit_ends_cluster_points_where_it_ends_local_ones(cli, tmp_path, small_partitions,
                                                                          local_address):
    rows = "".join(f"{i / 1000!r}\n" for i in range(2000))
    path = tmp_path / "points.csv"
    path.write_text("x\n" + rows[:1000 * 6] + "1" * (points.MAX_ROW_BYTES + 5) + "\n" + rows)
    arguments = ["grad", "x^2", "--points", str(path), "--format", "csv"]
    local, remote = cli(*arguments), cli(*arguments, "--scheduler", local_address)
    assert local.exit_code == remote.exit_code == 1 and "the limit for one row" in local.stderr
    assert remote.stdout == local.stdout and remote.stderr == local.stderr
