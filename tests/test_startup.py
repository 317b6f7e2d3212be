"""Start-up: a one-shot command imports only what it needs; the parser tables, and programs compiled
by earlier runs, come from caches."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import adcli
from adcli.language import parser as parser_module

PACKAGE = Path(adcli.__file__).resolve().parent

# Modules a one-shot `grad` at a scalar point has no use for, each worth a millisecond or
# more of every start (NumPy itself ~100 ms: scalar programs run on Python floats;
# numpy.random ~12 ms, importlib.resources ~10 ms, pathlib ~3 ms, batch + points + descend ~4.5 ms).
NOT_AT_START = ("numpy._core", "numpy.random", "importlib.resources", "zipfile", "pathlib", "difflib",
                "adcli.drivers.batch", "adcli.drivers.points", "adcli.commands.descend",
                "adcli.drivers.cluster", "adcli.drivers.parquet", "dask", "distributed", "pyarrow")
# Plotting loads for `plot` alone, and matplotlib only for its files.
PLOTTING = ("matplotlib", "adcli.commands.plot", "adcli.render.chart", "adcli.render.figures")

# Runs the command in a fresh interpreter and reports which modules adcli itself imported
# (site hooks may import some of them before adcli does; those do not count).
PROBE = """
import json, sys
before = set(sys.modules)
from adcli.cli.app import main
try:
    main.main(sys.argv[1:], prog_name="adcli", standalone_mode=False)
except SystemExit:
    pass
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def imported_by(*args: str, cache: Path) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "XDG_CACHE_HOME": str(cache)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("command", [
    ("grad", "(sqrt(x)+1)^3", "--at", "x=2"),
    ("grad", "(x+2y)^2 tanh(x y)", "--at", "x=1,y=2", "--format", "json"),
    ("grad", "w*x + b", "--at", "x=1,w=2,b=3", "--format", "csv", "--digits", "5"),
    ("eval", "sin(x) y", "--at", "x=1,y=2", "--format", "plain"),
    # written as on paper: the store and the scalar sweep serve these forms too
    ("grad", "f(x) = x^2 sin x; f(x) + |x - 1|", "--at", "x=2"),
    ("eval", "sin²x + √x + 30° + ln x/2", "--at", "x=2"),
    ("grad", "diff(x^2 sin(x), x) + sin'(x)", "--at", "x=1"),
    ("grad", "where(x > 0, x^2, -x) + (x < 1)", "--at", "x=2"),
])
def test_one_shot_commands_skip_heavy_imports(tmp_path, command):
    first = imported_by(*command, cache=tmp_path)  # builds the parser cache, compiles and stores the program
    assert "lark" in first and [name for name in NOT_AT_START + PLOTTING if name in first] == []
    assert "lark_cython" not in first  # one text: pure-Python Lark, which loads ~9 ms sooner
    again = imported_by(*command, cache=tmp_path)
    assert "adcli.api" in again  # the probe sees adcli's own imports
    assert [name for name in NOT_AT_START + PLOTTING + ("lark", "adcli.language.parser") if name in again] == []


@pytest.mark.parametrize("command", [
    ("hessian", "x^2 y", "--at", "x=1,y=2"),
    ("eval", "sin(x)", "--at", "x=linspace(0,1,5)"),
    ("grad", "log(x)", "--at", "x=0"),
])
def test_other_commands_load_no_plotting(tmp_path, command):
    assert [name for name in PLOTTING if name in imported_by(*command, cache=tmp_path)] == []


def test_the_terminal_chart_needs_no_matplotlib(tmp_path):
    loaded = imported_by("plot", "tan(x)", "--size", "60x16", cache=tmp_path)
    assert "adcli.render.chart" in loaded and "matplotlib" not in loaded


@pytest.mark.parametrize("command", [
    ("grad", "log(x)", "--at", "x=0"),  # an edge: -inf and a warning, in NumPy's conventions
    ("grad", "sum(x^2)", "--at", "x=[1,2]"),  # an array
])
def test_edges_and_arrays_load_numpy_when_they_need_it(tmp_path, command):
    assert "numpy._core" in imported_by(*command, cache=tmp_path)


def test_random_values_still_import_numpy_random_when_asked(tmp_path):
    loaded = imported_by("eval", "x", "--at", "x=rand(2)", "--seed", "1", cache=tmp_path)
    assert "numpy.random" in loaded


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("dependency, owner", [("lark", "language/parser.py"), ("click", "cli/app.py"),
                                               ("matplotlib", "render/figures.py")])
def test_one_module_imports_each_front_end_dependency(dependency, owner):
    importers = sorted(path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")
                       if dependency in _imports(path))
    assert importers == [owner]


# -- the parser cache ----------------------------------------------------------------------

def test_parser_tables_are_cached_in_the_users_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    parser_module.Parser()
    cached = list((tmp_path / "adcli").glob("parser-*.lark"))
    assert len(cached) == 1 and cached[0].stat().st_size > 1000
    stamp = cached[0].stat().st_mtime_ns
    compiler, result = parser_module.Parser().compile("(sqrt(x)+1)^3")  # loaded, not rebuilt
    assert cached[0].stat().st_mtime_ns == stamp
    assert compiler.variables == {"x": 6}


def test_a_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    parser_module.Parser()
    [cached] = (tmp_path / "adcli").glob("parser-*.lark")
    cached.write_bytes(b"not a pickle")
    compiler, result = parser_module.Parser().compile("x y + 1")
    assert list(compiler.variables) == ["x", "y"]
    assert cached.stat().st_size > 1000


def test_an_unusable_cache_folder_means_no_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file: no folder can be made in it
    assert parser_module._cache_path("grammar") is False  # never Lark's own (True: the shared temp folder)
    compiler, result = parser_module.Parser().compile("2x")
    assert list(compiler.variables) == ["x"]


def test_a_changed_grammar_gets_its_own_cache_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    grammar = parser_module._grammar_text()
    assert parser_module._cache_path(grammar) != parser_module._cache_path(grammar + "\n// changed\n")


# -- pure-Python Lark, where lark-cython has no wheel -----------------------------------

SAME_PROGRAMS = ["(sqrt(x)+1)^3", "a = x^2; b = a + 1\na b where x=2", "sum([1, 2, 3] x, axis=0)", "log(x, 2)",
                 "2x y + sin (x)", "(x-4)(x^2+6)", "-x^-2 ** 3", "[[1, 2], [3, 4]].T @ v",
                 "||x| - 1| + sin^2 x cos 2x", "f(x) = x^2 sin x; f'(x) + diff(f(x), x)", "√x² + 30° + π ｘ",
                 "where(x < 1, x, -x)"]
SAME_ERRORS = ["(x+", "sine(x)", "x +* 2", "1..2", "a = = 2", ")", "x where", "f(x", "2 3", "x y = 2",
               "|x", "|x|y|z|", "sin^-1(x)", "sin", "f(x) = f(x); 1", "0 < x < 1"]


def _compiled(parser: parser_module.Parser, text: str) -> tuple:
    compiler, result = parser.compile(text)
    return compiler.builder.instructions, result, compiler.variables, compiler.where


def _error(parser: parser_module.Parser, text: str) -> tuple:
    with pytest.raises(adcli.AdcliError) as caught:
        parser.compile(text)
    return str(caught.value), caught.value.span


def test_pure_python_lark_compiles_the_same_programs_and_errors():
    fast, pure = parser_module.Parser(), parser_module.Parser(accelerated=False)
    assert type(pure._lark.parser.parser).__module__ == "lark.parsers.lalr_parser"
    assert [_compiled(pure, text) for text in SAME_PROGRAMS] == [_compiled(fast, text) for text in SAME_PROGRAMS]
    assert [_error(pure, text) for text in SAME_ERRORS] == [_error(fast, text) for text in SAME_ERRORS]


# Threads that all touch NumPy first, at once, through adcli's lazy `np` (the library used from a
# thread pool): every one must get NumPy whole. With importlib's LazyLoader, on Python 3.11,
# 7 of 8 threads saw a half-loaded module.
RACE = """
import threading
import adcli
from adcli.lazy_numpy import np
threads, barrier, answers = 8, threading.Barrier(8), []

def first_touch():
    barrier.wait()
    try:
        answers.append(float(np.sqrt(np.float64(4.0))))
    except Exception as error:
        answers.append(repr(error))

workers = [threading.Thread(target=first_touch) for _ in range(threads)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
print(answers)
"""


@pytest.mark.parametrize("attempt", range(3))
def test_many_threads_may_load_numpy_at_once(attempt):
    done = subprocess.run([sys.executable, "-c", RACE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str([2.0] * 8)


# One thread touches NumPy first through adcli while another imports a NumPy submodule itself.
# Plain Python fails this too: on Python 3.11 with NumPy 2, `import numpy` in one thread and
# `from numpy.linalg import norm` in another both raise ImportError (a partially initialized
# module). adcli must do no worse than a plain import, and above all not hang, as a lock of
# its own around the load did.
SUBMODULE_RACE = """
import sys, threading, time
import adcli
compiled = adcli.compile("sum([x, 2x])")

def through_adcli():
    compiled.grad(x=1.0)

def numpy_submodule():
    time.sleep(float(sys.argv[1]))
    from numpy.linalg import norm

threads = [threading.Thread(target=through_adcli, daemon=True), threading.Thread(target=numpy_submodule, daemon=True)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(30)
print([thread.is_alive() for thread in threads])
"""


@pytest.mark.parametrize("delay", ["0", "0.001", "0.01", "0.03"])
def test_numpy_loading_in_one_thread_and_a_submodule_import_in_another_do_not_hang(delay):
    done = subprocess.run([sys.executable, "-c", SUBMODULE_RACE, delay], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[False, False]", done.stderr


@pytest.mark.parametrize("command", [
    ("diff", "(x - 4)(x^2 + 6)"),
    ("diff", "x^3 sin(x) + relu(x) + max(x, y) + x^y", "--order", "2", "--wrt", "x,y", "--format", "json"),
    ("diff", "a erf(b x)", "--at", "a=2,b=3", "--format", "latex"),
])
def test_diff_needs_neither_numpy_nor_sympy(tmp_path, command):
    imported_by(*command, cache=tmp_path)
    again = imported_by(*command, cache=tmp_path)
    assert "adcli.symbolic.simplify" in again
    assert [name for name in NOT_AT_START + ("numpy", "sympy", "lark") if name in again] == []


def test_other_commands_do_not_load_the_symbolic_package(tmp_path):
    assert not [name for name in imported_by("grad", "x^2", "--at", "x=1", cache=tmp_path) if "symbolic" in name]
