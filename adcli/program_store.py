"""Compiled programs kept on disk between processes, so a repeated one-shot command skips Lark.

Importing Lark and loading its parser tables is ~35 ms of a one-shot command's ~85 ms (a
shell loop asks the same formula at many points); reading a stored program is ~0.5 ms.
The store is direct-mapped: a program's text picks one of SLOTS files, a newer program
overwrites an older one there, so it never holds more than SLOTS small files. Each file
holds the text, a stamp of the code that compiled it and a checksum; a file that does not
match, or cannot be read, is a miss: the caller compiles the text as if there were no store.
"""

from __future__ import annotations

import contextlib
import importlib.util
import marshal
import os
import sys
import zlib
from functools import lru_cache

from .locations import PACKAGE, cache_folder, grammar_path
from .engine.program import Instruction, Program

SLOTS = 256
LONGEST_TEXT = 4096  # characters: caps the store near 256 x 50 KB; longer texts are not kept
_FORMAT = 2
_PLAIN_TYPES = (float, int, str)  # what the compiler puts in instructions and `where`: all marshal keeps exactly


def _stamped_files() -> list[str]:
    """The files whose content decides what a text compiles to: adcli's code, its grammar, and
    the installed Lark's and lark-cython's entry modules (which hold their versions)."""
    sources = sorted(os.path.join(folder, name) for folder, _, names in os.walk(PACKAGE)
                     for name in names if name.endswith(".py"))  # every sub-package: a moved or new module counts
    parsers = [importlib.util.find_spec(name) for name in ("lark", "lark_cython")]
    return sources + [grammar_path()] + [
        spec.origin for spec in parsers if spec is not None and spec.origin]


@lru_cache(maxsize=1)
def _code_stamp() -> tuple:
    """The files' paths and a checksum of their bytes (~0.3 ms): file times can be normalised by
    installers, content cannot, so an upgrade or an edit makes every stored program a miss."""
    paths = _stamped_files()
    checksum = 0
    for path in paths:
        with open(path, "rb") as source:
            checksum = zlib.crc32(source.read(), checksum)
    return _FORMAT, tuple(paths), checksum


def _slot_path(text: str) -> str:
    encoded = text.encode("utf-8", "surrogatepass")
    folder = f"programs-{sys.implementation.cache_tag}"
    return os.path.join(cache_folder(), folder, f"{zlib.crc32(encoded) % SLOTS:02x}")


def load(text: str) -> Program | None:
    """The program stored for exactly this text by this adcli, else None."""
    if len(text) > LONGEST_TEXT:
        return None
    try:
        with open(_slot_path(text), "rb") as stored:
            checksum, payload = stored.read(4), stored.read()
        if int.from_bytes(checksum, "little") != zlib.crc32(payload):  # a damaged file
            return None
        stamp, stored_text, (instructions, outputs, variables, where) = marshal.loads(payload)
        if stamp != _code_stamp() or stored_text != text:
            return None
        return Program(text, tuple(Instruction(*instruction) for instruction in instructions), outputs, variables,
                       dict(where))
    except (OSError, EOFError, ValueError, TypeError):  # no file, a foreign one, or no stamp to compare with
        return None


def save(program: Program) -> None:
    """Store the program when its text is short and it holds only plain Python values (not arrays); never fails."""
    fields = _plain_fields(program) if len(program.text) <= LONGEST_TEXT else None
    if fields is None:
        return
    path = _slot_path(program.text)
    partial = f"{path}.{os.getpid()}-{os.urandom(4).hex()}"  # unique even across hosts sharing the folder
    try:
        payload = marshal.dumps((_code_stamp(), program.text, fields))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(partial, "wb") as stored:
            stored.write(zlib.crc32(payload).to_bytes(4, "little") + payload)
        os.replace(partial, path)  # readers see the old file or the new one, never half of one
    except (OSError, ValueError):
        pass
    finally:
        with contextlib.suppress(OSError):
            os.unlink(partial)  # already gone when the file took its place


def _plain_fields(program: Program) -> tuple | None:
    """The program as nested tuples of plain values, or None if anything would not survive marshal
    unchanged (marshal would store a NumPy scalar as its bytes)."""
    where = tuple(program.where.items())
    values = [value for _, value in where]
    for instruction in program.instructions:
        values.extend(value for _, value in instruction.params)
    if not all(type(value) in _PLAIN_TYPES for value in values):
        return None
    instructions = tuple(tuple(instruction) for instruction in program.instructions)
    return instructions, program.outputs, program.variables, where
