"""The standard streams as the console script uses them: closed ones noticed, control characters
escaped, and a write that fails turned into one exception that names why."""

from __future__ import annotations

import codecs
import errno
import os
import re
import sys
from typing import Any

from ..errors import escaped

# C0 controls but tab and new line, DEL, C1 controls, and the bidirectional overrides: text that
# would move the cursor, retitle the window or reorder what a terminal shows.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def escape_controls(text: str) -> str:
    r"""`\x1b` for ESC, `\u202e` for a right-to-left override: each control character as the text of its escape."""
    return CONTROL.sub(lambda match: escaped(match[0]), text)


class OutputFault(Exception):
    """Standard output could not take what adcli wrote (a full disk, a closed descriptor, a reader that left)."""

    def __init__(self, problem: OSError):
        super().__init__(problem.strerror or str(problem))
        self.errno = problem.errno
        self.reason = problem.strerror or str(problem)

    @property
    def reader_left(self) -> bool:
        """A closed pipe (`adcli ... | head -1`): the one fault that ends the program quietly."""
        return self.errno == errno.EPIPE


class ClosedStream:
    """Stands for a standard stream whose descriptor was closed when adcli started (`>&-`)."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, name: str):
        self.name = name

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, f"{self.name} is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError(errno.EBADF, f"{self.name} is closed")


class GuardedStream:
    """A text stream whose writes escape control characters and raise OutputFault when they fail.

    Everything else (encoding, fileno, isatty, ...) is the wrapped stream's, so Click writes
    through it as through sys.stdout itself.
    """

    def __init__(self, stream: Any, escape: bool = True):
        self.unguarded = stream
        self.escape = escape

    @property
    def unescaped(self) -> GuardedStream:
        """The same stream for adcli's own terminal controls (colours, a progress bar), never for echoed input."""
        return type(self)(self.unguarded, escape=False)

    def write(self, text: str) -> int:
        if self.escape and CONTROL.search(text):  # a TypeError for bytes, as the text stream itself gives
            text = escape_controls(text)
        try:
            return self.unguarded.write(text)
        except OSError as problem:
            raise OutputFault(problem) from None

    def flush(self) -> None:
        try:
            self.unguarded.flush()
        except OSError as problem:
            raise OutputFault(problem) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.unguarded, name)


class QuietStream(GuardedStream):
    """Standard error: a message that cannot be written cannot be reported either; it is dropped, and remembered."""

    failed = False

    def write(self, text: str) -> int:
        try:
            return super().write(text)
        except OutputFault:
            self.failed = True
            return len(text)

    def flush(self) -> None:
        try:
            super().flush()
        except OutputFault:
            self.failed = True


def guard_standard_streams() -> QuietStream:
    """Install guarded sys.stdout and sys.stderr; returns the standard error stream (did it fail?).

    A standard stream closed at start keeps its descriptor taken by /dev/null, so that no file
    adcli opens later lands on 0, 1 or 2; sys.stdin stays None (reading it is an error) and a
    closed sys.stdout fails on its first write.
    """
    for descriptor in (0, 1, 2):
        if not _is_open(descriptor):
            os.dup2(os.open(os.devnull, os.O_RDWR), descriptor)
    sys.stdout = GuardedStream(_encodable(sys.stdout) if sys.stdout is not None else ClosedStream("standard output"))
    stderr = QuietStream(_encodable(sys.stderr) if sys.stderr is not None else ClosedStream("standard error"))
    sys.stderr = stderr
    return stderr


def _encodable(stream: Any) -> Any:
    r"""A name like θ in a result must never fail a batch line or end a session line in an error: a stream
    that says ASCII (PYTHONIOENCODING=ascii, a broken locale) writes UTF-8, as Click's own echo does there,
    and one in another encoding that lacks a character writes its escape (\u03b8)."""
    try:
        encoding = codecs.lookup(stream.encoding).name
        if encoding == "ascii":
            stream.reconfigure(encoding="utf-8")
        elif encoding != "utf-8" and stream.errors == "strict":
            stream.reconfigure(errors="backslashreplace")
    except (AttributeError, LookupError, TypeError, ValueError, OSError):  # no such encoding, or not reconfigurable
        pass
    return stream


def _is_open(descriptor: int) -> bool:
    try:
        os.fstat(descriptor)
    except OSError:
        return False
    return True


def release_standard_output() -> None:
    """After a fault: point descriptor 1 at /dev/null, so that nothing still buffered can fail or block."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    except OSError:
        pass

