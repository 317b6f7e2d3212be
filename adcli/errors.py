"""Errors that carry the source text and span they are about, and render their own caret."""

from __future__ import annotations

import difflib
from typing import Iterable


class AdcliError(Exception):
    """An error in something a user typed or fed in.

    `span` is a (start, end) pair of character offsets into `text`, or None when the
    error is about no particular place (an unbound variable, a missing file).
    """

    def __init__(self, message: str, text: str = "", span: tuple[int, int] | None = None):
        super().__init__(message)
        self.message = message
        self.text = text
        self.span = span

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
        if self.span is None:
            return self.message
        start = self.span[0]
        line_start = self.text.rfind("\n", 0, start) + 1
        line_end = self.text.find("\n", start)
        if line_end == -1:
            line_end = len(self.text)
        source_line = self.text[line_start:line_end]
        width = max(1, min(self.span[1], line_end) - start)
        where = f"column {self.column}" if "\n" not in self.text else f"line {self.line}, column {self.column}"
        caret = " " * (start - line_start) + "^" * min(width, 40)
        return f"{self.message} (at {where})\n  {source_line}\n  {caret}"

    def __str__(self) -> str:
        return self.render()


class ParseError(AdcliError):
    """The text does not follow the grammar."""


class NamingError(AdcliError):
    """An unknown function, a misused constant, a redefinition, an unbound variable."""


class ShapeError(AdcliError):
    """Operands whose shapes an operator cannot combine."""


class BindingError(AdcliError):
    """A bad `--at` value, file or binding."""


def suggestion(name: str, known: Iterable[str]) -> str:
    """`; did you mean 'sin'?` for the closest known name, or an empty string."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
