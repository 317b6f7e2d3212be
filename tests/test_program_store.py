"""The program store: one-shot commands reuse programs compiled by earlier processes, and never a wrong one."""

from __future__ import annotations

import marshal
import zlib
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adcli import locations, program_store
from adcli.api import as_value, compile, compile_stored
from adcli.language.bindings import _SIGNED_NUMBER, constructors, parse_value
from adcli.language.parser import compile_value

PROGRAMS = [
    "(sqrt(x)+1)^3", "w*x + b", "(x-4)(x^2+6)", "(x+2y)^2", "sin(x)", "exp(x)",
    "a = x^2; b = a + 1\na b where x=2", "sum([1, 2, 3] x, axis=0)", "log(x, 2)", "-x^-2 ** 3 + 0 * -0.0",
    "[[1, 2], [3, 4]].T @ v", "mean((W @ x + b - y)^2)", "max(x, 0) + min(x)  # a comment",
    "x where x = 1e400", "e^pi x", "1/x \r\n",
    # written as on paper (SPEC section 6): bars, bare functions, Unicode, user functions, derivatives
    "||x| - 1| + sin^2 x + ln x/2", "sin²x + √x + 30° + π θ", "f(x) = x^2 sin x; f(2) + f(y)",
    "diff(x^2 sin(x), x)", "f(x) = x^3; f''(x) + sin'(x)", "where(x > 0, x, -x) + (x <= 1)",
]


@pytest.fixture
def store(tmp_path, monkeypatch):
    """An empty store of its own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "adcli"


def stored_files(store: Path) -> list[Path]:
    return sorted(path for path in store.glob("programs-*/*"))


def typed(value):
    """The value with every leaf's type beside its repr: -0.0, nan and float vs np.float64 all count."""
    if isinstance(value, (tuple, list)):
        return type(value).__name__, [typed(item) for item in value]
    if isinstance(value, dict):
        return "dict", [(typed(key), typed(item)) for key, item in value.items()]
    return type(value).__name__, repr(value)


@pytest.mark.parametrize("text", PROGRAMS)
def test_a_stored_program_is_the_compiled_one_exactly(store, text):
    compiled = compile(text).program
    assert program_store.load(text) is None
    program_store.save(compiled)
    loaded = program_store.load(text)
    assert typed(loaded) == typed(compiled) and type(loaded.instructions[0]) is type(compiled.instructions[0])


def test_compile_stored_compiles_once_then_loads(store, monkeypatch):
    first = compile_stored("(x+2y)^2")
    assert len(stored_files(store)) == 1
    monkeypatch.setattr("adcli.language.parser.compile_program", lambda *args, **options: pytest.fail("compiled again"))
    second = compile_stored("(x+2y)^2")
    assert repr(second.program) == repr(first.program)
    assert second.grad(x=1.0, y=2.0) == (25.0, {"x": 10.0, "y": 20.0})


def test_errors_are_not_stored(store):
    with pytest.raises(Exception):
        compile_stored("(x+")
    assert stored_files(store) == []


@pytest.mark.parametrize("text", ["x + y where y = [1, 2]", "x + y where y = log(0)"])  # an array, a NumPy scalar
def test_programs_holding_numpy_values_are_not_stored(store, text):
    program = compile(text).program
    program_store.save(program)
    assert stored_files(store) == [] and program_store.load(program.text) is None


def test_long_texts_are_not_stored(store):
    longest = "x" + " + x" * ((program_store.LONGEST_TEXT - 1) // 4)
    program_store.save(compile(longest).program)
    program_store.save(compile(longest + " + 1").program)
    assert len(longest) <= program_store.LONGEST_TEXT < len(longest + " + 1")
    assert program_store.load(longest) is not None and program_store.load(longest + " + 1") is None


def test_another_text_in_the_same_slot_is_a_miss(store):
    first, second = "x + 8", "x + 24"
    assert zlib.crc32(first.encode()) % program_store.SLOTS == zlib.crc32(second.encode()) % program_store.SLOTS
    program_store.save(compile(first).program)
    assert program_store.load(second) is None
    program_store.save(compile(second).program)  # the newer program takes the slot
    assert program_store.load(first) is None
    assert program_store.load(second).text == second


def test_the_store_never_holds_more_than_its_slots(store):
    for number in range(3 * program_store.SLOTS):
        program_store.save(compile(f"x * {number}").program)
    files = stored_files(store)
    assert len(files) <= program_store.SLOTS
    assert not [path for path in files if "." in path.name]  # no partial files left behind


@pytest.mark.parametrize("damage", [b"", b"not marshal", b"\xe9" * 50])
def test_a_damaged_file_is_a_miss_and_is_replaced(store, damage):
    program_store.save(compile("x^2").program)
    [path] = stored_files(store)
    path.write_bytes(damage)
    assert program_store.load("x^2") is None
    assert compile_stored("x^2").grad(x=2.0) == (4.0, {"x": 4.0})
    assert program_store.load("x^2") is not None


def test_no_damaged_byte_gives_another_program(store):
    text = "x^2 + 3 where x = 2"
    program = compile(text).program
    program_store.save(program)
    [path] = stored_files(store)
    intact = path.read_bytes()
    for position in range(len(intact)):
        damaged = bytearray(intact)
        damaged[position] ^= 0x10
        path.write_bytes(bytes(damaged))
        assert program_store.load(text) is None, position


def test_a_foreign_but_intact_file_is_a_miss(store):
    program_store.save(compile("x^2").program)
    [path] = stored_files(store)
    payload = marshal.dumps(("another version", "x^2", ((), (), (), ())))
    path.write_bytes(zlib.crc32(payload).to_bytes(4, "little") + payload)
    assert program_store.load("x^2") is None


def test_the_stamp_covers_adcli_its_grammar_and_lark():
    stamped = program_store._stamped_files()
    names = {Path(path).name for path in stamped}
    assert {"parser.py", "program.py", "primitives.py", "tape.py", "adcli.lark"} <= names
    assert any(Path(path).parent.name == "lark" for path in stamped)


def test_changed_content_makes_stored_programs_misses_even_at_the_same_size_and_time(store, tmp_path, monkeypatch):
    source = tmp_path / "code.py"
    source.write_text("A = 1\n")
    monkeypatch.setattr(program_store, "_stamped_files", lambda: [str(source)])
    program_store._code_stamp.cache_clear()
    try:
        program_store.save(compile("x^3").program)
        assert program_store.load("x^3") is not None
        times = source.stat()
        source.write_text("A = 2\n")
        os.utime(source, ns=(times.st_atime_ns, times.st_mtime_ns))
        program_store._code_stamp.cache_clear()
        assert program_store.load("x^3") is None
    finally:
        program_store._code_stamp.cache_clear()


def test_an_unusable_cache_folder_only_costs_the_store(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    program_store.save(compile("2x").program)
    assert program_store.load("2x") is None
    assert compile_stored("2x").grad(x=1.0) == (2.0, {"x": 2.0})


def test_a_failed_save_leaves_no_partial_file(store):
    program_store.save(compile("x^4").program)
    [path] = stored_files(store)
    path.unlink()
    path.mkdir()  # the file cannot take the place of a folder
    program_store.save(compile("x^4").program)
    assert stored_files(store) == [path] and program_store.load("x^4") is None


def test_a_relative_cache_home_is_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")
    assert locations.cache_folder() == str(tmp_path / ".cache" / "adcli")
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    assert locations.cache_folder() == str(tmp_path / ".cache" / "adcli")


# -- through the console script: a stored program answers exactly as a compiled one ----------

SAME_ANSWERS = [
    ("grad", "(sqrt(x)+1)^3", "--at", "x=2"),
    ("grad", "log(x) + sqrt(y)", "--at", "x=0,y=0", "--format", "json"),  # warnings with carets
    ("grad", "x y + z", "--at", "x=1,y=2"),  # an unbound variable, located in the stored text
    ("eval", "a = x^2\na + 1 where x=3", "--format", "plain"),
    ("hessian", "(x+2y)^2 tanh(x y)", "--at", "x=1,y=2"),
    ("check", "x^2 sin(x)", "--at", "x=0.5"),
    ("grad", "sum(w * x)", "--at", "w=[1,2],x=[3,4]", "--format", "json"),
]


@pytest.mark.parametrize("command", SAME_ANSWERS)
def test_the_second_run_answers_exactly_as_the_first(adcli_process, tmp_path, monkeypatch, command):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = adcli_process(*command)
    [stored] = stored_files(tmp_path / "cache" / "adcli")
    written = stored.stat().st_mtime_ns
    second = adcli_process(*command)
    assert stored.stat().st_mtime_ns == written  # read, not compiled and written again
    assert (second.exit_code, second.stdout, second.stderr) == (first.exit_code, first.stdout, first.stderr)
    assert "Traceback" not in first.stderr


# -- --at numbers without the parser ----------------------------------------------------------

TABLE = constructors(lambda: None)


@settings(max_examples=300, deadline=None)
@given(st.from_regex(_SIGNED_NUMBER, fullmatch=True))
def test_plain_numbers_in_at_give_the_parsers_value(text):
    assert repr(parse_value(text, TABLE)) == repr(as_value(compile_value(text, TABLE)))


@pytest.mark.parametrize("text", ["2", "-0", "+.5", "5.", "1e-400", "1e400", "-1e400", "007", "-1.5E+3"])
def test_plain_number_edges_give_the_parsers_value(text):
    assert repr(parse_value(text, TABLE)) == repr(as_value(compile_value(text, TABLE)))


def test_the_number_pattern_is_the_grammars():
    grammar = Path(program_store.grammar_path()).read_text(encoding="utf-8")
    [line] = [line for line in grammar.splitlines() if line.startswith("NUMBER:")]
    assert line.split("/")[1].replace("(", "(?:") in _SIGNED_NUMBER.pattern


