"""Compiled programs kept on disk between processes, so a repeated one-shot command skips Lark.

Importing Lark and loading its parser tables is a large part of a one-shot command, and a
shell loop asks the same formula at many points; reading a stored program is nearly free.
The store is direct-mapped: a program's text picks one of SLOTS files, a newer program
overwrites an older one there, so it never holds more than SLOTS small files. Each file
holds the text, a stamp of the code that compiled it and a checksum; a file that does not
match, or cannot be read, is a miss: the caller compiles the text as if there were no store.

The store lives only in the user's private cache folder (locations.private_cache_folder), and
what it reads back is checked before use: the file's size before reading, every size the
marshal stream declares before unmarshalling (marshal trusts them: five crafted bytes ask for
a 16 GB tuple), and the program's structure (known operations, operands that are earlier
slots, parameters the operation takes, plain values) before it runs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import marshal
import os
import stat
import sys
import zlib
from functools import lru_cache

from .locations import PACKAGE, grammar_path, private_cache_folder
from .engine.primitives import PRIMITIVES
from .engine.program import CONST, VAR, Instruction, Program

SLOTS = 256
LONGEST_TEXT = 4096  # characters: caps the store near 256 x 50 KB; longer texts are not kept
LARGEST_FILE = 1 << 20  # bytes: a stored program of LONGEST_TEXT characters takes ~50 KB
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
    """The files' paths and a checksum of their bytes: file times can be normalised by
    installers, content cannot, so an upgrade or an edit makes every stored program a miss."""
    paths = _stamped_files()
    checksum = 0
    for path in paths:
        with open(path, "rb") as source:
            checksum = zlib.crc32(source.read(), checksum)
    return _FORMAT, tuple(paths), checksum


def _slot_path(text: str, folder: str) -> str:
    encoded = text.encode("utf-8", "surrogatepass")
    return os.path.join(folder, f"programs-{sys.implementation.cache_tag}", f"{zlib.crc32(encoded) % SLOTS:02x}")


def load(text: str) -> Program | None:
    """The program stored for exactly this text by this adcli, else None (also for anything wrong with the file)."""
    folder = private_cache_folder() if len(text) <= LONGEST_TEXT else None
    if folder is None:
        return None
    try:
        stored = _read_own_file(_slot_path(text, folder))
        if stored is None:
            return None
        checksum, payload = stored[:4], stored[4:]
        if int.from_bytes(checksum, "little") != zlib.crc32(payload) or not _plain_marshal(payload):
            return None
        stamp, stored_text, fields = marshal.loads(payload)
        if stamp != _code_stamp() or stored_text != text:
            return None
        return _checked_program(text, *fields)
    except Exception:  # noqa: BLE001 - whatever a damaged or crafted file raises, it is a miss, never a crash
        return None


def _read_own_file(path: str) -> bytes | None:
    """The bytes of a regular file of this user's of at most LARGEST_FILE bytes, else None; links are not followed."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with open(descriptor, "rb") as stored:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode) or status.st_uid != os.geteuid() or status.st_size > LARGEST_FILE:
            return None
        return stored.read(LARGEST_FILE + 1)


_SIZED = {ord("("): 4, ord(")"): 1}  # a tuple: how many bytes give its length
_STRINGS = {ord("z"): 1, ord("Z"): 1, ord("a"): 4, ord("A"): 4, ord("u"): 4, ord("t"): 4}
_NUMBERS = {ord("i"): 4, ord("g"): 8}  # int32, binary float
_REFERENCE = ord("r")
_REFERABLE = 0x80  # a flag on an object's type: later references may name it by its number


def _plain_marshal(payload: bytes) -> bool:
    """Whether the marshal stream holds only tuples, strings, ints and floats, every declared length fitting in the
    bytes that follow (so marshal.loads allocates no more than the payload's size), and nothing after them.

    A reference may name a number, a string or a tuple of at most two items (a span, a parameter and its
    value, the empty tuple: what the compiler's instructions share), never a longer tuple: each reference would
    stand for its whole content again, and the checks that follow would walk it once per reference.
    """
    position, end, pending = 0, len(payload), 1
    referable: list[bool] = []
    while pending:
        if position >= end:
            return False
        code = payload[position] & ~_REFERABLE
        flagged = bool(payload[position] & _REFERABLE)
        position += 1
        pending -= 1
        if code == _REFERENCE:
            if flagged:
                return False  # marshal gives a reference no number of its own: the two counts would drift apart
            index = int.from_bytes(payload[position:position + 4], "little", signed=True)
            if not 0 <= index < len(referable) or not referable[index]:
                return False
            position += 4
        elif code in _NUMBERS:
            position += _NUMBERS[code]
        elif code == ord("l"):  # a long int: a signed count of 15-bit digits, two bytes each
            digits = abs(int.from_bytes(payload[position:position + 4], "little", signed=True))
            position += 4 + 2 * digits
        elif code in _SIZED or code in _STRINGS:
            width = _SIZED.get(code) or _STRINGS[code]
            length = int.from_bytes(payload[position:position + width], "little", signed=width == 4)
            position += width
            if not 0 <= length <= end - position:
                return False
            if code in _SIZED:
                pending += length
            else:
                position += length
        else:
            return False  # any other type: nothing the store writes
        if flagged:
            referable.append(code not in _SIZED or length <= 2)
    return position == end


def _checked_program(text: str, instructions: tuple, outputs: tuple, variables: tuple, where: tuple) -> Program:
    """The stored fields as a Program once they pass as one the compiler could have made; else ValueError."""
    names = _checked_names(variables, where)
    program = tuple(_checked_instruction(text, slot, fields, names) for slot, fields in enumerate(instructions))
    _require(type(outputs) is tuple and len(outputs) > 0 and all(_is_slot(slot, len(program)) for slot in outputs))
    return Program(text, program, outputs, variables, dict(where))


def _checked_names(variables: tuple, where: tuple) -> set[str]:
    _require(type(variables) is tuple and all(type(name) is str for name in variables))
    _require(type(where) is tuple and all(type(pair) is tuple and len(pair) == 2 and type(pair[0]) is str
                                          and type(pair[1]) in _PLAIN_TYPES for pair in where))
    return set(variables) | {name for name, _ in where}


def _checked_instruction(text: str, slot: int, fields: tuple, names: set[str]) -> Instruction:
    _require(type(fields) is tuple and len(fields) == len(Instruction._fields))
    instruction = Instruction(*fields)
    op, args, params, span = instruction.op, instruction.args, instruction.params, instruction.span
    _require(type(args) is tuple and all(_is_slot(arg, slot) for arg in args))
    _require(type(params) is tuple and all(type(pair) is tuple and len(pair) == 2 and type(pair[0]) is str
                                           and type(pair[1]) in _PLAIN_TYPES for pair in params))
    _require(type(span) is tuple and len(span) == 2 and all(type(end) is int for end in span)
             and 0 <= span[0] <= span[1] <= len(text))
    keys = tuple(key for key, _ in params)
    if op == CONST:
        _require(args == () and keys == ("value",) and type(params[0][1]) in (float, int))
    elif op == VAR:
        _require(args == () and keys == ("name",) and params[0][1] in names)
    else:
        primitive = PRIMITIVES.get(op) if type(op) is str else None
        _require(primitive is not None and primitive.arity in (None, len(args))
                 and len(set(keys)) == len(keys) and set(keys) <= set(primitive.params))
    return instruction


def _is_slot(slot: object, before: int) -> bool:
    return type(slot) is int and 0 <= slot < before


def _require(condition: bool) -> None:
    if not condition:
        raise ValueError("not a program this adcli stores")


def save(program: Program) -> None:
    """Store the program when its text is short and it holds only plain Python values (not arrays); never fails."""
    fields = _plain_fields(program) if len(program.text) <= LONGEST_TEXT else None
    folder = private_cache_folder() if fields is not None else None
    if folder is None:
        return
    path = _slot_path(program.text, folder)
    partial = f"{path}.{os.getpid()}-{os.urandom(4).hex()}"  # unique even across hosts sharing the folder
    try:
        payload = marshal.dumps((_code_stamp(), program.text, fields))
        if len(payload) + 4 > LARGEST_FILE:
            return
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
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
