"""Many programs, one per line: read them as a stream, compile each distinct one once, report each in place.

The input is never held: lines are read, computed and written one at a time, so memory stays
flat however long the file. A bounded LRU cache keyed by the text before `where` lets a file
that repeats a formula at many points (`f where x=1`, `f where x=2`, ...) parse it once.
"""

from __future__ import annotations

import os
import re
import stat
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Iterable, Iterator, TextIO

from ..api import Compiled, compile
from ..commands.results import Result
from ..errors import AdcliError, BindingError, ParseError, unexpected
from ..render.formats import LineStream, located
from ..language.parser import compile_program
from ..engine.primitives import CONSTANTS, FUNCTIONS

UTF8_BOM = b"\xef\xbb\xbf"
CACHE_SIZE = 1024
# The longest program line, in bytes (a 1,000,000-term sum is 2 MB): a line is held whole to be parsed.
MAX_LINE_BYTES = 1 << 24
UNBINDABLE = frozenset(CONSTANTS) | frozenset(FUNCTIONS)

TERMINAL_HINT = ("adcli: reading programs from standard input, one per line; "
                 "end with Ctrl-D (or pass a file: --file PATH)")


@dataclass(frozen=True)
class ProgramLine:
    """One line of the input: a program (`problem` set when its bytes are not UTF-8), or a blank or
    comment line, `skipped` but kept so that plain output has a line for it."""

    number: int
    text: str
    problem: AdcliError | None = None
    skipped: bool = False


def strip_line_end(raw: bytes) -> bytes:
    """A line without its LF or CRLF."""
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    return raw[:-1] if raw.endswith(b"\r") else raw


def decode_line(raw: bytes) -> tuple[str, AdcliError | None]:
    """The line as text; undecodable bytes become U+FFFD and an error pointing at the first of them."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as problem:
        text = raw.decode("utf-8", errors="replace")
        column = len(raw[:problem.start].decode("utf-8", errors="replace"))
        message = f"the line is not UTF-8 text (byte 0x{raw[problem.start]:02x})"
        return text, ParseError(message, text, (column, column + 1))


class LineTooLong(BindingError):
    """A line past the limit. Reading stops there: finding where the next line starts would mean reading
    on without bound (`--file /dev/zero` has no line end at all)."""

    def __init__(self, number: int, limit: int, start: bytes):
        super().__init__(f"the line is longer than {byte_size(limit)}, the limit for one line; "
                         "adcli stops reading there")
        self.number = number
        self.limit = limit
        self.start = start  # the line's first bytes, to show what it was


def byte_size(count: int) -> str:
    """1048576 -> '1 MiB'."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size and count % size == 0:
            return f"{count // size} {unit}"
    return f"{count} bytes"


def bounded_lines(stream: BinaryIO, limit: int | None = None, first_line: int = 1) -> Iterator[bytes]:
    """The stream's lines as read (line ends kept), each at most `limit` bytes (MAX_LINE_BYTES), else LineTooLong.

    Never reads again after the end of the input, so a terminal's one Ctrl-D ends it.
    """
    limit = limit or MAX_LINE_BYTES
    read = stream.readline
    number = first_line
    while True:
        try:
            raw = read(limit + 1)
        except OSError as problem:  # a folder on standard input, a device that fails
            raise BindingError(f"cannot read the input: {problem.strerror or problem}") from None
        if not raw:
            return
        if len(raw) > limit and raw[-1:] != b"\n":
            raise LineTooLong(number, limit, raw[:60])
        yield raw
        number += 1


def input_lines(stream: BinaryIO, first_line: int = 1, limit: int | None = None) -> Iterator[tuple[int, bytes]]:
    """(1-based number, bytes without the line end), a UTF-8 byte-order mark on line 1 dropped."""
    for number, raw in enumerate(bounded_lines(stream, limit, first_line), start=first_line):
        if number == 1 and raw.startswith(UTF8_BOM):
            raw = raw[len(UTF8_BOM):]
        yield number, strip_line_end(raw)


def program_lines(stream: BinaryIO, first_line: int = 1) -> Iterator[ProgramLine]:
    """Every line: blank lines and `#` comment lines come `skipped` (counted, and no program).

    A line past MAX_LINE_BYTES is the last: an error in its place, and nothing read after it.
    """
    try:
        for number, raw in input_lines(stream, first_line):
            stripped = raw.strip()
            if not stripped or stripped.startswith(b"#"):
                yield ProgramLine(number, "", skipped=True)
                continue
            text, problem = decode_line(raw)
            yield ProgramLine(number, text, problem)
    except LineTooLong as problem:
        yield ProgramLine(problem.number, problem.start.decode("utf-8", errors="replace") + "...", problem)


# -- compiling each distinct program once -------------------------------------------------

_NAME_OR_COMMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|#")
# The grammar's names, numbers (with a sign) and ignored blanks, for the common `where x=1, y=2`.
_BLANK = r"[ \t\f\r]*"
_PAIR = rf"([A-Za-z_][A-Za-z0-9_]*){_BLANK}={_BLANK}([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
_NUMERIC_CLAUSE = re.compile(rf"{_BLANK}{_PAIR}(?:{_BLANK},{_BLANK}{_PAIR})*{_BLANK};?{_BLANK}")
_NUMERIC_PAIR = re.compile(_PAIR)


def where_position(text: str) -> int | None:
    """Where the `where` keyword starts, if the text has one outside a comment."""
    if "where" not in text:
        return None
    for match in _NAME_OR_COMMENT.finditer(text):
        word = match.group()
        if word == "#":
            return None
        if word == "where":
            return match.start()
    return None


def numeric_where(clause: str) -> dict[str, float] | None:
    """`x=1, y=-2.5` (the text after the keyword) as numbers, or None when it is anything richer."""
    clause = clause.split("#", 1)[0]
    if _NUMERIC_CLAUSE.fullmatch(clause) is None:
        return None
    pairs = _NUMERIC_PAIR.findall(clause)
    values = {name: float(number) for name, number in pairs}
    return values if len(values) == len(pairs) else None  # a name bound twice is the parser's to report


class ProgramCache:
    """Compiled programs keyed by the text before `where`, least recently used dropped first.

    A line whose head is cached only needs its `where` values: plain numbers are read directly;
    anything else is compiled in place of the head. Whenever that shortcut is unsure (the
    clause does not parse alone, or a name it binds could be a definition of the head) the
    whole line is compiled, so results and error messages are exactly a one-off compile's.
    """

    def __init__(self, capacity: int = CACHE_SIZE):
        self.capacity = capacity
        self._heads: OrderedDict[str, Compiled] = OrderedDict()

    def __len__(self) -> int:
        return len(self._heads)

    def compile(self, text: str) -> Compiled:
        where_at = where_position(text)
        head = (text if where_at is None else text[:where_at]).rstrip(" \t\f\r")
        cached = self._heads.get(head)
        if cached is None:
            compiled = compile(text)
            self._remember(head, compiled.rebound(compiled.text, {}))
            return compiled
        self._heads.move_to_end(head)
        if where_at is None:
            return cached.rebound(text, {})
        where = self._where_values(text, where_at, cached)
        return compile(text) if where is None else cached.rebound(text, where)

    def _remember(self, head: str, compiled: Compiled) -> None:
        self._heads[head] = compiled
        if len(self._heads) > self.capacity:
            self._heads.popitem(last=False)

    @staticmethod
    def _where_values(text: str, where_at: int, cached: Compiled) -> dict[str, Any] | None:
        clause = text[where_at + len("where"):]
        where = numeric_where(clause)
        if where is None:
            try:  # the clause after a one-character stand-in for the head: columns stay put
                where = compile_program("0".ljust(where_at) + text[where_at:]).where
            except AdcliError:
                return None
        unused = set(where) - set(cached.variables)
        if unused and ("=" in text[:where_at] or not unused.isdisjoint(UNBINDABLE)):
            return None  # it might name a definition of the head, a constant or a function: the parser's to say
        return where


# -- the run ------------------------------------------------------------------------------


@dataclass
class LineResult:
    """What one line produced: a command's result, or the error that stopped it."""

    line: ProgramLine
    result: Result | None = None
    error: AdcliError | None = None


Compute = Callable[[Compiled], Result]  # a command with its bindings and options applied


def results(lines: Iterable[ProgramLine], compute: Compute, cache: ProgramCache | None = None) -> Iterator[LineResult]:
    """Each program line's result, in order; a line's failure is its result, not the end of the run."""
    cache = cache or ProgramCache()
    for line in lines:
        if line.skipped:
            yield LineResult(line)
            continue
        try:
            if line.problem is not None:
                raise line.problem
            result = compute(cache.compile(line.text))
        except AdcliError as problem:
            yield LineResult(line, error=problem)
            continue
        except Exception as problem:  # noqa: BLE001 - a bug met on one line is that line's error, and the run goes on
            yield LineResult(line, error=unexpected(problem, line.text))
            continue
        yield LineResult(line, result)


class Output:
    """Where a stream of records goes: each one flushed as it is written, so that a pipeline sees a line's
    result as soon as the line is in, unless stdout or the input is a regular file: then nothing waits
    on anyone, and records leave in blocks (a flush per line costs batch mode time)."""

    def __init__(self, out: TextIO, err: TextIO, echo_errors: bool, source: BinaryIO | None = None):
        self.out = out
        self.err = err
        self.echo_errors = echo_errors  # also `adcli: error: ...` on stderr (formats whose stdout stays machine-read)
        self.flush_each = not is_regular_file(out) and not (source is not None and is_regular_file(source))

    def write(self, line: str | None) -> None:
        if line is not None:
            self.write_text(line + "\n")

    def write_text(self, text: str) -> None:
        """Whole lines, each ending in a new line."""
        if text:
            self.out.write(text)
            if self.flush_each:
                self.out.flush()

    def warn(self, where: str, message: str) -> None:
        self.err.write(f"adcli: warning: {where}: {message}\n")

    def error(self, where: str, message: str) -> None:
        if self.echo_errors:
            self.err.write(f"adcli: error: {where}: {message}\n")


def is_regular_file(stream: TextIO | BinaryIO) -> bool:
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):  # not backed by a file descriptor (a test's buffer)
        return False


def write_results(results: Iterable[LineResult], stream: LineStream, output: Output) -> int:
    """Write every line's record (or error record) in order; the exit code: 1 if any line failed."""
    failed = False
    for each in results:
        line, result, error = each.line, each.result, each.error
        if line.skipped:  # a blank or comment line: an empty line in plain output, nothing in the others
            output.write_text(stream.skipped(1))
            continue
        if result is not None:
            for warning in result.warnings:
                output.warn(f"line {line.number}", warning)
            try:
                output.write(stream.result(line.number, line.text, result))
            except ValueError as problem:  # a result this format cannot hold
                error = AdcliError(str(problem))
        if error is not None:
            output.write(stream.failure(line.number, line.text, error))
            output.error(f"line {line.number}", located(error))
        failed = failed or error is not None or result is not None and result.failed()
    output.write(stream.close())
    return 1 if failed else 0
