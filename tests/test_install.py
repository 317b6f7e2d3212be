"""The wheel, installed into a fresh virtual environment, works from outside the repository."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from test_tutorial import EXAMPLES

REPOSITORY = Path(__file__).resolve().parent.parent


def run(command: list[str], cwd: Path, input: str | None = None) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run(command, cwd=cwd, input=input, capture_output=True, text=True, timeout=600,
                          env=environment)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel built from this checkout installed (not editable)."""
    root = tmp_path_factory.mktemp("install")
    wheels = root / "wheels"
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), str(REPOSITORY)], root)
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("adcli-*.whl")
    environment = root / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    done = run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], root)
    assert done.returncode == 0, done.stderr
    return environment


@pytest.fixture
def outside(tmp_path) -> Path:
    """A working directory that is not the repository, and holds no copy of adcli."""
    assert REPOSITORY not in tmp_path.parents
    return tmp_path


def test_console_script_runs_the_main_example(installed, outside):
    done = run([str(installed / "bin" / "adcli"), "grad", "(sqrt(x)+1)^3", "--at", "x=2", "--format", "json"], outside)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    root2 = math.sqrt(2)
    assert record["value"] == pytest.approx((root2 + 1) ** 3, rel=1e-15)
    assert record["grad"]["x"] == pytest.approx(3 * (root2 + 1) ** 2 / (2 * root2), rel=1e-15)


def test_python_dash_m(installed, outside):
    done = run([str(installed / "bin" / "python"), "-m", "adcli", "grad", "(x+2y)^2", "--at", "x=1,y=2",
                "--format", "plain"], outside)
    assert (done.returncode, done.stdout.split()) == (0, ["25.0", "10.0", "20.0"]), done.stderr


@pytest.mark.parametrize("expr, bindings, value, grads", EXAMPLES)
def test_tutorial_examples(installed, outside, expr, bindings, value, grads):
    at = ",".join(f"{name}={number!r}" for name, number in bindings.items())
    done = run([str(installed / "bin" / "adcli"), "grad", expr, "--at", at, "--format", "json"], outside)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["value"] == pytest.approx(value, rel=1e-12, abs=1e-15)
    assert record["grad"] == pytest.approx(grads, rel=1e-12)


def test_errors_and_version_from_the_installed_package(installed, outside):
    done = run([str(installed / "bin" / "adcli"), "eval", "sine(x)", "--at", "x=1"], outside)
    assert done.returncode == 1
    assert done.stderr.startswith("adcli: error: unknown function 'sine'; did you mean 'sin'?")
    assert "Traceback" not in done.stderr
    version = run([str(installed / "bin" / "adcli"), "--version"], outside)
    assert version.returncode == 0 and version.stdout.startswith("adcli, version ")


def test_library_and_grammar_come_from_the_installed_package(installed, outside):
    script = ("import adcli, json\nfrom importlib import resources\n"
              "grammar = resources.files('adcli').joinpath('grammar', 'adcli.lark')\n"
              "print(json.dumps([adcli.__file__, grammar.is_file(), adcli.grad('x^3', x=2.0)]))\n")
    done = run([str(installed / "bin" / "python"), "-c", script], outside)
    assert done.returncode == 0, done.stderr
    location, grammar_shipped, (value, grads) = json.loads(done.stdout)
    assert Path(location).resolve().is_relative_to(installed.resolve())
    assert grammar_shipped
    assert (value, grads) == (8.0, {"x": 12.0})
