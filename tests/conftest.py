"""Shared helpers: run the CLI in-process (Click's CliRunner) and as an installed console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from adcli.cli.app import main


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


@pytest.fixture(scope="session", autouse=True)
def own_cache_folder(tmp_path_factory):
    """The suite's own XDG_CACHE_HOME (Lark's tables, the program store), never the user's, empty at the start."""
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if saved is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = saved


@pytest.fixture
def cli():
    """cli("grad", "x^2", "--at", "x=2", input=None) -> Run, through Click's CliRunner."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Run:
        result = runner.invoke(main, list(args), input=input, catch_exceptions=False)
        return Run(result.exit_code, result.stdout, result.stderr)

    return invoke


def console_script() -> list[str]:
    """The installed `adcli` next to this Python, else `python -m adcli`."""
    script = shutil.which("adcli", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "adcli"]


@pytest.fixture
def adcli_process(tmp_path):
    """adcli_process("grad", ...) -> Run, as a real process started outside the repository."""

    def invoke(*args: str, input: str | None = None) -> Run:
        done = subprocess.run(console_script() + list(args), input=input, capture_output=True, text=True,
                              cwd=tmp_path, timeout=120)
        return Run(done.returncode, done.stdout, done.stderr)

    return invoke
