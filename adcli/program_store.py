"""Compiled programs kept on disk between processes, so a repeated one-shot command skips Lark.

Importing Lark and loading its parser tables is ~35 ms of a one-shot command's ~85 ms (a
shell loop asks the same formula at many points); reading a stored program is ~0.1 ms.
The store is direct-mapped: a program's text picks one of SLOTS files, a newer program
overwrites an older one there, so it never holds more than SLOTS small files. Each file
names the text it holds and the adcli code that compiled it, and a file that does not
match, or cannot be read, is a miss: the caller compiles the text as if there were no store.
"""

from __future__ import annotations

import marshal
import os
import sys
import zlib
from functools import lru_cache
from typing import Any

from .program import Instruction, Program

SLOTS = 256
LONGEST_TEXT = 4096  # characters: caps the store near 256 x 50 KB; longer texts are not kept
_FORMAT = 1
_PLAIN_TYPES = (float, int, str, bool, type(None))


def cache_folder() -> str:
    """adcli's folder in the user's cache ($XDG_CACHE_HOME, else ~/.cache); it may not exist yet."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "adcli")


def grammar_path() -> str:
    """The grammar: in the package when installed from a wheel, beside it in a source checkout.

    Plain os.path, not importlib.resources: that import costs ~10 ms of every start.
    """
    package = os.path.dirname(os.path.abspath(__file__))
    for folder in (package, os.path.dirname(package)):
        path = os.path.join(folder, "grammar", "adcli.lark")
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"adcli's grammar is missing: no grammar/adcli.lark beside {package}")


@lru_cache(maxsize=1)
def _code_stamp() -> tuple:
    """What compiled the stored programs: Python's version, and the size and time of every file of
    adcli's code and grammar, so an upgrade or an edit makes every stored program a miss."""
    package = os.path.dirname(os.path.abspath(__file__))
    sources = sorted(name for name in os.listdir(package) if name.endswith(".py"))
    stats = [os.stat(path) for path in [os.path.join(package, name) for name in sources] + [grammar_path()]]
    return (_FORMAT, sys.version_info[:2], tuple(sources), tuple((stat.st_size, stat.st_mtime_ns) for stat in stats))


def _slot_path(text: str) -> str:
    encoded = text.encode("utf-8", "surrogatepass")
    return os.path.join(cache_folder(), f"programs-py{sys.version_info[0]}{sys.version_info[1]}",
                        f"{zlib.crc32(encoded) % SLOTS:02x}")


def load(text: str) -> Program | None:
    """The program stored for exactly this text by this adcli, else None."""
    try:
        with open(_slot_path(text), "rb") as stored:
            stamp, stored_text, fields = marshal.load(stored)
        if stamp != _code_stamp() or stored_text != text:
            return None
        instructions, outputs, variables, where = fields
        return Program(text, tuple(Instruction(*instruction) for instruction in instructions), outputs, variables,
                       dict(where))
    except (OSError, EOFError, ValueError, TypeError):  # no file, or a damaged or foreign one
        return None


def save(program: Program) -> None:
    """Store the program when its text is short and it holds only plain Python values (not arrays); never fails."""
    fields = _plain_fields(program) if len(program.text) <= LONGEST_TEXT else None
    if fields is None:
        return
    path = _slot_path(program.text)
    partial = f"{path}.{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(partial, "wb") as stored:
            marshal.dump((_code_stamp(), program.text, fields), stored)
        os.replace(partial, path)  # readers see the old file or the new one, never half of one
    except OSError:
        try:
            os.unlink(partial)
        except OSError:
            pass


def _plain_fields(program: Program) -> tuple | None:
    """The program as nested tuples of plain values, or None if anything would not survive marshal
    unchanged (marshal would store a NumPy scalar as its bytes)."""
    where = tuple(program.where.items())
    values: list[Any] = [value for _, value in where]
    for instruction in program.instructions:
        values.extend(value for _, value in instruction.params)
    if not all(type(value) in _PLAIN_TYPES or _is_int_tuple(value) for value in values):
        return None
    instructions = tuple(tuple(instruction) for instruction in program.instructions)
    return instructions, program.outputs, program.variables, where


def _is_int_tuple(value: Any) -> bool:
    return type(value) is tuple and all(type(item) is int for item in value)
