"""Caches are private or absent: nothing adcli reads back from disk can run code or change an answer.

Lark unpickles its parser cache, and the program store unmarshals programs; both live only in
the user's own cache folder (0700, owned by them, no one else able to swap it), else there is
no cache at all. Whatever is in a stored file, loading it is a miss or the program stored there.
"""

from __future__ import annotations

import marshal
import os
import pickle
import tempfile
import time
import zlib
from pathlib import Path

import lark
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adcli import AdcliError, locations, program_store
from adcli.api import Compiled, compile, compile_stored
from adcli.language import parser as parser_module


class Planted:
    """A pickle that, once loaded, leaves a file behind: proof that adcli ran code it was fed."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


def planted_pickle(marker: Path) -> bytes:
    return b"0" * 64 + b"\n" + pickle.dumps(Planted(marker))  # Lark's layout: a hash line, then pickles


@pytest.fixture
def cache_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "cache"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


def stored_files(home: Path) -> list[Path]:
    return sorted((home / "adcli").glob("programs-*/*"))


def store_payload(home: Path, text: str, payload: bytes) -> None:
    """Write `payload` with a valid checksum into the slot the store reads for `text`."""
    path = Path(program_store._slot_path(text, str(home / "adcli")))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(zlib.crc32(payload).to_bytes(4, "little") + payload)


def stored_fields(text: str) -> tuple:
    return program_store._plain_fields(compile(text).program)


# -- the folder --------------------------------------------------------------------------

def test_the_cache_folder_is_made_private(cache_home):
    folder = locations.private_cache_folder()
    assert folder == str(cache_home / "adcli")
    assert os.stat(folder).st_mode & 0o777 == 0o700


def test_an_older_folder_readable_by_others_is_made_private(cache_home):
    (cache_home / "adcli").mkdir(mode=0o755)
    os.chmod(cache_home / "adcli", 0o755)
    assert locations.private_cache_folder() == str(cache_home / "adcli")
    assert os.stat(cache_home / "adcli").st_mode & 0o777 == 0o700


@pytest.mark.parametrize("mode", [0o775, 0o757, 0o777])
def test_a_folder_others_can_write_is_no_cache(cache_home, mode):
    (cache_home / "adcli").mkdir()
    os.chmod(cache_home / "adcli", mode)
    assert locations.private_cache_folder() is None
    assert os.stat(cache_home / "adcli").st_mode & 0o777 == mode  # left as it is: another user may have files there


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777])
def test_a_cache_home_others_can_write_is_no_cache(cache_home, mode):
    os.chmod(cache_home, mode)  # another user could rename adcli's folder and put their own in its place
    assert locations.private_cache_folder() is None
    assert list(cache_home.iterdir()) == []  # and nothing is made there


def test_a_sticky_shared_folder_above_is_fine(cache_home):
    os.chmod(cache_home, 0o1777)  # as /tmp: no one can rename what another user made in it
    assert locations.private_cache_folder() == str(cache_home / "adcli")


def test_someone_elses_folder_is_no_cache(cache_home, monkeypatch):
    assert locations.private_cache_folder() is not None
    monkeypatch.setattr(locations.os, "geteuid", lambda: os.getuid() + 4242)
    assert locations.private_cache_folder() is None


def test_a_link_as_the_folder_is_no_cache(cache_home, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o700)
    (cache_home / "adcli").symlink_to(victim)
    assert locations.private_cache_folder() is None
    compile_stored("x^2 + 1")
    parser_module.Parser()
    assert list(victim.iterdir()) == []


@pytest.mark.parametrize("cache_home_value", ["/dev/null", "/proc/version"])
def test_an_impossible_folder_is_no_cache(monkeypatch, cache_home_value):
    monkeypatch.setenv("XDG_CACHE_HOME", cache_home_value)
    assert locations.private_cache_folder() is None
    assert parser_module._cache_path("grammar") is False


# -- Lark's pickle --------------------------------------------------------------------------

def lark_default_cache_name(tmp_path: Path, monkeypatch, accelerated: bool) -> str:
    """The name Lark itself gives its cache in the temp folder for adcli's grammar (cache=True)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = set(os.listdir(tmp_path))
    plugins = parser_module._lark_cython_plugins() if accelerated else {}
    lark.Lark(parser_module._grammar_text(), parser="lalr", lexer="basic", _plugins=plugins,
              transformer=parser_module._Compiler(), cache=True)
    [name] = set(os.listdir(tmp_path)) - before
    os.unlink(tmp_path / name)
    return name


@pytest.mark.parametrize("accelerated", [True, False])
@pytest.mark.parametrize("cache_home_value", ["/dev/null", "world-writable"])
def test_a_pickle_planted_in_the_temp_folder_is_never_loaded(tmp_path, monkeypatch, accelerated, cache_home_value):
    shared = tmp_path / "shared-temp"
    shared.mkdir()
    name = lark_default_cache_name(shared, monkeypatch, accelerated)
    marker = tmp_path / "marker"
    (shared / name).write_bytes(planted_pickle(marker))
    if cache_home_value == "world-writable":
        cache_home_value = str(tmp_path / "open")
        os.mkdir(cache_home_value)
        os.chmod(cache_home_value, 0o777)
    monkeypatch.setenv("XDG_CACHE_HOME", cache_home_value)
    monkeypatch.setenv("HOME", "/nonexistent")
    compiler, _ = parser_module.Parser(accelerated).compile("x^2")
    assert list(compiler.variables) == ["x"]
    assert not marker.exists()
    assert sorted(os.listdir(shared)) == [name]  # nothing written there either


def test_a_pickle_planted_in_a_folder_others_can_write_is_never_loaded(tmp_path, monkeypatch):
    home = tmp_path / "open"
    home.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    parser_module.Parser()  # as if the victim once had a private cache there
    [cache_file] = (home / "adcli").glob("parser-*.lark")
    os.chmod(home, 0o777)
    marker = tmp_path / "marker"
    cache_file.write_bytes(planted_pickle(marker))
    parser_module.Parser().compile("x + 1")
    assert not marker.exists()


def test_a_link_in_place_of_lark_cache_is_not_written_through(cache_home, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    parser_module.Parser()
    [cache_file] = (cache_home / "adcli").glob("parser-*.lark")
    cache_file.unlink()
    cache_file.symlink_to(victim)
    assert parser_module._cache_path(parser_module._grammar_text(), cython=bool(parser_module._lark_cython_plugins())) \
        is False
    parser_module.Parser().compile("x + 1")
    assert victim.read_text() == "precious"


# -- the program store -------------------------------------------------------------------

def test_a_planted_program_in_a_folder_others_can_write_changes_no_answer(tmp_path, monkeypatch):
    home = tmp_path / "open"
    home.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    os.chmod(home, 0o777)
    payload = marshal.dumps((program_store._code_stamp(), "x^2", stored_fields("x^3")))  # a valid, wrong program
    store_payload(home, "x^2", payload)
    assert program_store.load("x^2") is None
    assert compile_stored("x^2").grad(x=3.0) == (9.0, {"x": 6.0})


def test_the_store_reads_no_link(cache_home, tmp_path):
    program_store.save(compile("x^2").program)
    [path] = stored_files(cache_home)
    elsewhere = tmp_path / "elsewhere"
    path.rename(elsewhere)
    path.symlink_to(elsewhere)
    assert program_store.load("x^2") is None
    program_store.save(compile("x^2").program)  # the link is replaced, not written through
    assert not path.is_symlink() and program_store.load("x^2") is not None


def test_the_store_reads_no_file_past_its_size_limit(cache_home):
    program_store.save(compile("x^2").program)
    [path] = stored_files(cache_home)
    with path.open("ab") as grown:
        grown.truncate(program_store.LARGEST_FILE + 1)
    assert program_store.load("x^2") is None


def test_a_store_file_of_someone_else_is_a_miss(cache_home, monkeypatch):
    program_store.save(compile("x^2").program)
    assert program_store.load("x^2") is not None
    monkeypatch.setattr(program_store.os, "geteuid", lambda: os.getuid() + 4242)
    assert program_store.load("x^2") is None


def valid(text: str) -> tuple:
    return program_store._code_stamp(), text, stored_fields(text)


def with_instruction(text: str, slot: int, **changes) -> bytes:
    stamp, _, (instructions, outputs, variables, where) = valid(text)
    changed = list(instructions)
    changed[slot] = tuple(program_store.Instruction(*changed[slot])._replace(**changes))
    return marshal.dumps((stamp, text, (tuple(changed), outputs, variables, where)))


def with_fields(text: str, **changes) -> bytes:
    stamp, _, (instructions, outputs, variables, where) = valid(text)
    fields = dict(instructions=instructions, outputs=outputs, variables=variables, where=where) | changes
    return marshal.dumps((stamp, text, tuple(fields.values())))


CRAFTED = {
    "a tuple of 2^31 items in 5 bytes": b"(\xff\xff\xff\x7f",
    "a list of 2^31 items": b"[\xff\xff\xff\x7f",
    "a string of 2 GB": b"u\xff\xff\xff\x7f",
    "a long int of 2^31 digits": b"l\xff\xff\xff\x7f",
    "a dict": marshal.dumps({"a": 1}),
    "a code object": marshal.dumps(compile.__code__),
    "nested 100,000 deep": b")\x01" * 100_000 + b"N",
    "bytes after the object": marshal.dumps(valid("x^2")) + b"\x00",
    "an unknown operation": with_instruction("x^2", 2, op="system"),
    "an operand after its instruction": with_instruction("x^2", 2, args=(0, 2)),
    "an operand out of range": with_instruction("x^2", 2, args=(0, 99)),
    "a negative operand": with_instruction("x^2", 2, args=(0, -1)),
    "too few operands": with_instruction("x^2", 2, args=(0,)),
    "a float operand": with_instruction("x^2", 2, args=(0, 1.0)),
    "an unknown parameter": with_instruction("x^2", 2, params=(("axis", 0),)),
    "a span past the text": with_instruction("x^2", 2, span=(0, 99)),
    "a variable of another name": with_instruction("x^2", 0, params=(("name", "y"),)),
    "a constant that is a string": with_instruction("x^2", 1, params=(("value", "2"),)),
    "an output out of range": with_fields("x^2", outputs=(7,)),
    "no output": with_fields("x^2", outputs=()),
    "a list of instructions": with_fields("x^2", instructions=list(valid("x^2")[2][0])),
    "a wrong stamp": marshal.dumps(("another adcli",) + valid("x^2")[1:]),
}


@pytest.mark.parametrize("payload", CRAFTED.values(), ids=CRAFTED.keys())
def test_a_crafted_payload_is_a_miss_and_fast(cache_home, payload, monkeypatch):
    store_payload(cache_home, "x^2", payload)
    unmarshalled = []
    monkeypatch.setattr(program_store.marshal, "loads", lambda data: unmarshalled.append(data) or marshal.loads(data))
    started = time.process_time()
    assert program_store.load("x^2") is None
    assert time.process_time() - started < 1.0  # far from the 52 s the 5 bytes once took; not a benchmark
    assert compile_stored("x^2").grad(x=3.0) == (9.0, {"x": 6.0})
    if payload[:1] in (b"(", b"[", b"u", b"l", b"{", b"\xfb", b"\xe3"):
        assert unmarshalled == []  # refused before marshal could allocate what it declares


def test_every_stored_program_passes_the_checks(cache_home):
    texts = ["(sqrt(x)+1)^3", "a = x^2; b = a + 1\na b where x=2", "sum([1, 2, 3] x, axis=0)", "log(x, 2)",
             "[[1, 2], [3, 4]].T @ v", "mean((W @ x + b - y)^2)", "max(x, 0) + min(x)", "x where x = 1e400",
             "e^pi x", "prod(x, axis=-1) + norm(y)", "atan2(y, x) hypot(x, y)", "x" + " + x" * 1000,
             "sum([" + ", ".join(f"{i}.5 x" for i in range(300)) + "])"]
    for text in texts:
        program_store.save(compile(text).program)
        assert program_store.load(text) == compile(text).program, text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_damage_with_a_valid_checksum_is_a_miss_or_a_program_that_runs(cache_home, data):
    text = "sum(x * [1.5, 2], axis=0) + log(y) where y = 3"
    payload = bytearray(marshal.dumps(valid(text)))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(payload) - 1))
        action = data.draw(st.sampled_from(["flip", "set", "cut", "insert"]))
        byte = data.draw(st.integers(0, 255))
        if action == "flip":
            payload[position] ^= 1 << (byte % 8)
        elif action == "set":
            payload[position] = byte
        elif action == "cut":
            del payload[position:position + 1 + byte % 8]
        else:
            payload[position:position] = bytes([byte]) * (1 + byte % 5)
        if not payload:
            payload = bytearray(b"\x00")
    store_payload(cache_home, text, bytes(payload))
    loaded = program_store.load(text)
    if loaded is not None:
        try:
            Compiled(loaded).grad(x=[1.0, 2.0])
        except AdcliError:
            pass
