"""Every `adcli ...` example in README.md and in every --help is pasteable into bash: each passes `bash -n`,
has no unquoted glob character, and the runnable ones run for real through the installed console script."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from adcli.cli.app import main

from conftest import console_script

README = Path(__file__).resolve().parent.parent / "README.md"
# Lines that set up an environment, need a cluster (tests/test_cluster.py runs those) or are fish: bash -n only.
NOT_RUN = re.compile(r"pip install|python3? -m venv|benchmarks/|\.ci/|--scheduler|ADCLI_SCHEDULER=|fish_source")
# Stand-ins for the commands examples pipe from or into, and files examples read.
PRELUDE = """
shopt -s failglob  # an unquoted glob character ([...], *, ?) is an error, as it may expand in a user's folder
set -o pipefail
generate-formulas() { printf '%s\\n' "x^2" "sin(x) x"; }
command -v jq > /dev/null || jq() { cat > /dev/null; }
"""


def joined_lines(text: str) -> list[str]:
    """The text's lines, with lines ending in a backslash joined to the next (as bash reads them)."""
    lines, pending = [], ""
    for line in text.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    return lines


def command_lines(text: str) -> list[str]:
    """The lines that run adcli: `adcli ...`, `$ adcli ...` and pipelines into it; trailing comments kept."""
    found = []
    for line in joined_lines(text):
        stripped = line.strip().removeprefix("$ ")
        if re.search(r"(^|[|&;]\s*|/|^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+)adcli\s", stripped) \
                and not stripped.startswith(("#", "|", "`")):
            found.append(stripped)
    return found


def readme_examples() -> list[str]:
    """Command lines in README code blocks (not Python ones, not the table of commands)."""
    blocks = re.findall(r"```([a-z]*)\n(.*?)```", README.read_text(), flags=re.S)
    return [line for language, block in blocks if language in ("", "bash", "sh", "console")
            for line in command_lines(block)]


def help_examples() -> list[str]:
    runner = CliRunner()
    texts = [runner.invoke(main, ["--help"]).output]
    texts += [runner.invoke(main, [name, "--help"]).output for name in main.commands]
    return [line for text in texts for line in command_lines(text)]


EXAMPLES = sorted(set(readme_examples()) | set(help_examples()))


def test_examples_are_found():
    assert len(readme_examples()) >= 20 and len(help_examples()) >= 15
    assert any("linspace(0,pi,5)" in example for example in EXAMPLES)
    assert any(example.startswith("ADCLI_THREADS=1 adcli") for example in EXAMPLES)  # led by a setting


@pytest.fixture(scope="module")
def example_folder(tmp_path_factory):
    """The small files the examples name: x.npy and y.csv (3 inputs, 2 outputs), points, grids, formulas."""
    folder = tmp_path_factory.mktemp("examples")
    rng = np.random.default_rng(0)
    np.save(folder / "x.npy", rng.standard_normal((8, 3)))
    np.savetxt(folder / "y.csv", rng.standard_normal((8, 2)), delimiter=",")
    np.save(folder / "X.npy", rng.standard_normal((8, 3)))  # the softmax regression's batch, labels and weights
    np.save(folder / "Y.npy", np.eye(4)[rng.integers(0, 4, 8)])
    np.save(folder / "W.npy", 0.1 * rng.standard_normal((3, 4)))
    for name in ("points.csv", "grid.csv"):
        (folder / name).write_text("x,y\n1,2\n0.5,-1\n")
    (folder / "formulas.txt").write_text("x^2 y where x=1, y=2\n\n# a comment\n(x + 2y)^2 where x=1, y=3\n")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": [1.0, 0.5], "y": [2.0, 3.0]}), folder / "points.parquet")
    return folder


def bash(script: str, folder: Path, check_only: bool = False) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=os.path.dirname(console_script()[0]) + os.pathsep + os.environ["PATH"])
    return subprocess.run(["bash", "-n", "-c", script] if check_only else ["bash", "-c", PRELUDE + script],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("example", EXAMPLES)
def test_each_example_is_pasteable(example, example_folder):
    assert bash(example, example_folder, check_only=True).returncode == 0, example
    if NOT_RUN.search(example):
        return
    done = bash(example, example_folder)
    assert done.returncode == 0, (example, done.stderr)
    assert "Traceback" not in done.stderr


def test_the_double_dash_form_takes_options_after_expr(adcli_process):
    run = adcli_process("eval", "--", "-x^2", "--at", "x=3", "--format", "plain")
    assert (run.exit_code, run.stdout) == (0, "-9.0\n")
    run = adcli_process("grad", "--at", "x=3", "--", "--x", "--format", "plain")
    assert (run.exit_code, run.stdout) == (0, "3.0 1.0\n")
