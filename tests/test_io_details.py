"""Small things a new user meets: check's verdict in csv and plain, a 1x1 Hessian in batch CSV, 2-D inputs
with CSV output, plain output that lines up with its input, files with headers or commas in their names,
one Ctrl-D on a terminal, and shell completion of file names."""

from __future__ import annotations

import csv
import io
import os
import pty
import subprocess
import time

import numpy as np
import pytest

from conftest import console_script


@pytest.mark.parametrize("expr, ok", [("x^2", "true"), ("abs(x)", "true")])
def test_check_csv_and_plain_carry_the_verdict(cli, expr, ok):
    run = cli("check", expr, "--at", "x=1", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert rows[0]["ok"] == ok and float(rows[0]["d/dx"]) == pytest.approx(2.0 if expr == "x^2" else 1.0)
    plain = cli("check", expr, "--at", "x=1", "--format", "plain").stdout.split()
    assert plain[0] == ok and len(plain) == 5


def test_a_failed_check_says_false_in_csv_and_plain(cli):
    """With no tolerance at all, differences (never exact to the last bit here) disagree."""
    for fmt in ("csv", "plain"):
        run = cli("check", "exp(sin(x))", "--at", "x=0.3", "--rtol", "0", "--atol", "0", "--format", fmt)
        assert run.exit_code == 1
        assert (list(csv.DictReader(io.StringIO(run.stdout)))[0]["ok"] if fmt == "csv" else run.stdout.split()[0]) == "false"


def test_batch_check_csv_has_an_ok_column(cli):
    run = cli("check", "-", "--at", "x=1", "--format", "csv", input="x^2\nsin(x)\n")
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert [row["ok"] for row in rows] == ["true", "true"]


def test_a_1x1_hessian_in_batch_csv_is_one_number_as_one_shot_prints_it(cli):
    batch = cli("hessian", "-", "--format", "csv", input="x^3 where x=1\n")
    assert batch.exit_code == 0, batch.stdout
    assert batch.stdout.splitlines() == ["line,expr,value,d/dx,hessian,error", "1,x^3 where x=1,1.0,3.0,6.0,"]
    one_shot = cli("hessian", "x^3", "--at", "x=1", "--format", "csv")
    assert one_shot.stdout.splitlines() == ["variable,grad,x", "x,3.0,6.0"]


def test_a_2d_input_does_not_keep_a_result_out_of_csv(cli, tmp_path):
    np.save(tmp_path / "Z.npy", np.arange(6.0).reshape(2, 3))
    run = cli("eval", "sum(Z, axis=0)", "--at", f"Z=@{tmp_path / 'Z.npy'}", "--format", "csv")
    assert (run.exit_code, run.stdout.splitlines()) == (0, ["value", "3.0", "5.0", "7.0"])
    run = cli("grad", "sin(x) + sum(Z)", "--at", "x=[0, 1]", "--at", f"Z=@{tmp_path / 'Z.npy'}", "--wrt", "x",
              "--format", "csv")
    assert run.stdout.splitlines()[0] == "x,value,d/dx"


def test_a_bad_points_cell_leaves_its_column_numeric_for_pandas(cli):
    pandas = pytest.importorskip("pandas")
    run = cli("grad", "x y", "--points", "-", "--format", "csv", input="x,y\n1,2\nabc,3\n4,5\n")
    table = pandas.read_csv(io.StringIO(run.stdout))
    assert table["x"].dtype == np.float64 and table["value"].dtype == np.float64
    assert np.isnan(table["x"][1]) and table["y"][1] == 3.0 and np.isnan(table["value"][1])


def test_plain_batch_output_lines_up_with_its_input_for_paste(cli):
    text = "\nx^2\n\n# a comment\nx^3\nbad(\nx\n"
    run = cli("grad", "-", "--at", "x=2", "--format", "plain", input=text)
    assert run.stdout.split("\n")[:-1] == ["", "4.0 4.0", "", "", "8.0 12.0", "", "2.0 1.0"]
    assert len(run.stdout.splitlines()) == len(text.splitlines())


def test_plain_batch_output_lines_up_with_workers_too(cli, tmp_path):
    path = tmp_path / "programs.txt"
    path.write_text("".join(f"x + {i}\n" + ("\n# note\n" if i % 7 == 0 else "") for i in range(3000)))
    runs = [cli("eval", "--file", str(path), "--at", "x=1", "--format", "plain", "--jobs", jobs) for jobs in "12"]
    assert runs[0].stdout == runs[1].stdout
    assert len(runs[0].stdout.splitlines()) == len(path.read_text().splitlines())


@pytest.mark.parametrize("name, content", [
    ("header.csv", "x,y\n1,2\n3,4\n"),
    ("quoted.csv", '"x","y"\n1,2\n3,4\n'),
    ("spaces.txt", "# saved by hand\nx y\n1 2\n3 4\n"),
    ("adcli.csv", "x,value,d/dx\n1,2,3\n4,5,6\n"),
])
def test_a_csv_with_a_header_row_loads_its_numbers(cli, tmp_path, name, content):
    (tmp_path / name).write_text(content)
    run = cli("eval", "v", "--at", f"v=@{tmp_path / name}", "--format", "json")
    assert run.exit_code == 0, run.stderr
    expected = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]] if name == "adcli.csv" else [[1.0, 2.0], [3.0, 4.0]]
    assert run.json()["value"] == expected


def test_a_file_name_with_a_comma_is_quoted(cli, tmp_path):
    np.save(tmp_path / "a,b.npy", np.array([1.0, 2.0]))
    for quoted in (f'x=@"{tmp_path}/a,b.npy",y=1', f"x=@'{tmp_path}/a,b.npy',y=1"):
        run = cli("eval", "sum(x) + y", "--at", quoted, "--format", "plain")
        assert (run.exit_code, run.stdout) == (0, "4.0\n")
    run = cli("eval", "x", "--at", f"x=@{tmp_path}/a,b.npy")
    assert run.exit_code == 1
    assert f"a file name with a comma is quoted: x=@\"{tmp_path}/a,b.npy\"" in run.stderr


def test_points_from_a_terminal_end_on_one_ctrl_d():
    controller, terminal = pty.openpty()
    process = subprocess.Popen(console_script() + ["eval", "2x", "--points", "-", "--format", "plain"], stdin=terminal,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(terminal)
    try:
        os.write(controller, b"x\n1\n2\n")
        time.sleep(0.5)
        os.write(controller, b"\x04")  # one Ctrl-D, at the start of a line: the end of the input
        stdout, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)
    assert (process.returncode, stdout.split()) == (0, [b"2.0", b"4.0"])
    assert stderr.decode().startswith("adcli: reading points from standard input")


# -- shell completion ----------------------------------------------------------------------

def complete(words: str, folder, cword: int | None = None) -> list[str]:
    """What Click's bash completion answers for COMP_WORDS `words`, completing word `cword` (default: the last)."""
    split = words.split(" ")
    env = dict(os.environ, _ADCLI_COMPLETE="bash_complete", COMP_WORDS=words,
               COMP_CWORD=str(len(split) - 1 if cword is None else cword))
    done = subprocess.run(console_script(), env=env, cwd=folder, capture_output=True, text=True, timeout=60)
    return done.stdout.splitlines()


@pytest.fixture
def files(tmp_path):
    for name in ("data.csv", "data.npy", "notes.md", "points.csv"):
        (tmp_path / name).write_text("1\n")
    (tmp_path / "sub").mkdir()
    return tmp_path


def test_file_and_points_options_complete_file_names(files):
    assert complete("adcli eval --file da", files) == ["file,da"]  # the shell lists the files itself
    assert complete("adcli grad x --points po", files) == ["file,po"]


@pytest.mark.parametrize("words", ["adcli eval x --at x=@da",  # bash without '=' among its word breaks, zsh
                                   "adcli eval x --at x = @da"])  # bash: the word is split at '='
def test_at_values_complete_the_files_at_reads(files, words):
    items = [line.split(",", 1)[1] for line in complete(words, files)]
    head = "x=" if "x=@" in words else ""
    assert items == [f"{head}@data.csv", f"{head}@data.npy"]


def test_at_values_complete_after_a_word_break_at_the_at_sign(files):
    """Debian's bash breaks words at '@' too: COMP_WORDS ends `x`, `=@`, `da`; readline replaces from the '@'."""
    assert complete("adcli eval x --at x =@ da", files) == ["plain,@data.csv", "plain,@data.npy"]
    assert complete("adcli eval x --at x =@ s", files) == ["plain,@sub/"]


def test_the_readme_says_how_to_turn_completion_on():
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md")).read()
    assert '_ADCLI_COMPLETE=bash_source adcli' in readme and "_ADCLI_COMPLETE=zsh_source" in readme
