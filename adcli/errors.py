"""Errors that carry the source text and span they are about, and render their own caret."""

from __future__ import annotations

import re
from typing import Iterable


CARET_WIDTH = 40  # at most this many '^'
CONTEXT = 60  # characters of a long line shown on each side of the caret
LONG_WORD = re.compile(r"[A-Za-z0-9_.]{%d,}" % (CONTEXT + 1))  # a name or number too long to repeat in full


class AdcliError(Exception):
    """An error in something a user typed or fed in.

    `span` is a (start, end) pair of character offsets into `text`, or None when the
    error is about no particular place (an unbound variable, a missing file).
    """

    def __init__(self, message: str, text: str = "", span: tuple[int, int] | None = None,
                 command_line: str | None = None):
        super().__init__(message)
        self.message = message
        self.text = text
        self.span = span
        self.command_line = command_line  # the message in the command line's words, where they differ

    def in_command_line_words(self) -> AdcliError:
        """This error as the command line says it: its options' names where the library names arguments."""
        if self.command_line is None:
            return self
        import copy

        worded = copy.copy(self)
        worded.message, worded.args, worded.command_line = self.command_line, (self.command_line,), None
        return worded

    @property
    def line(self) -> int | None:
        """1-based line of the span's start, or None."""
        if self.span is None:
            return None
        return self.text.count("\n", 0, self.span[0]) + 1

    @property
    def column(self) -> int | None:
        """1-based column of the span's start within its line, or None."""
        if self.span is None:
            return None
        line_start = self.text.rfind("\n", 0, self.span[0]) + 1
        return self.span[0] - line_start + 1

    def render(self) -> str:
        """The message, then (when the error has a place) the source line with a caret."""
        message = LONG_WORD.sub(_shorten, self.message)
        if self.span is None:
            return message
        where = f"column {self.column}" if "\n" not in self.text else f"line {self.line}, column {self.column}"
        source_line, caret = self._excerpt()
        return f"{message} (at {where})\n  {source_line}\n  {caret}"

    def _excerpt(self) -> tuple[str, str]:
        """The span's line (a window of it around the span, when long) and a caret line under the span."""
        start = self.span[0]
        line_start = self.text.rfind("\n", 0, start) + 1
        line_end = self.text.find("\n", start)
        if line_end == -1:
            line_end = len(self.text)
        width = min(max(1, min(self.span[1], line_end) - start), CARET_WIDTH)
        shown_start = max(line_start, start - CONTEXT)
        shown_end = min(line_end, start + width + CONTEXT)
        before = "..." if shown_start > line_start else ""
        after = "..." if shown_end < line_end else ""
        source_line = before + printable(self.text[shown_start:shown_end]) + after
        caret_start = len(before) + len(printable(self.text[shown_start:start]))
        caret_width = min(max(1, len(printable(self.text[start:min(self.span[1], line_end)]))), CARET_WIDTH)
        return source_line, " " * caret_start + "^" * caret_width

    def __str__(self) -> str:
        return self.render()


def _shorten(match: re.Match) -> str:
    word = match[0]
    return f"{word[:24]}...{word[-12:]}"


def printable(line: str) -> str:
    r"""The line with a tab as a blank and any other control character, stray surrogate or the like
    as its escape (`\x1b`), so that a terminal shows it and is not driven by it."""
    return "".join(char if char.isprintable() else " " if char == "\t" else escaped(char) for char in line)


def escaped(char: str) -> str:
    r"""A character as the text of its escape: `\x1b`, `\u202e`."""
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class ParseError(AdcliError):
    """The text does not follow the grammar."""


class NamingError(AdcliError):
    """An unknown function, a misused constant, a redefinition, an unbound variable."""


class ShapeError(AdcliError):
    """Operands whose shapes an operator cannot combine."""


class BindingError(AdcliError):
    """A bad `--at` value, file or binding."""


class SettingError(AdcliError):
    """An environment variable of adcli's with a value it cannot use (ADCLI_THREADS=two)."""


class SeriesError(AdcliError):
    """Taylor mode cannot expand the program at the point: a function that is not analytic there, a pole."""


class InternalError(AdcliError):
    """Something adcli did not foresee went wrong (a bug): reported as any error is, never as a traceback."""


class ResourceError(AdcliError):
    """The run needs more memory than the machine gives it (a Hessian of 100,000 entries is 75 GiB)."""


def unexpected(problem: BaseException, text: str = "") -> AdcliError:
    """An exception that is not an AdcliError, as one: the run reports it in place and goes on."""
    if isinstance(problem, MemoryError):  # a limit of the machine, not a bug to report
        return ResourceError(f"not enough memory: {problem or 'the run needs more than the machine gives it'}", text, None)
    return InternalError(f"internal error ({type(problem).__name__}: {problem}); please report it with the input",
                         text, None)


def suggestion(name: str, known: Iterable[str]) -> str:
    """`; did you mean 'sin'?` for the closest known name, or an empty string."""
    import difflib  # here, not at the top: only errors need it, and every start would pay for it

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
