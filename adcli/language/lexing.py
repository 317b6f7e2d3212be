"""What a token means from what came before it: the one thing an LALR grammar cannot see.

Lark calls `Retyper` on every token as it lexes (lexing and parsing take turns, so this
runs one token ahead of the parser). It changes a token's type, never its text or span:

- a one-argument function's name not followed by "(" becomes FUNC (`sin x`, `sin^2 x`);
- a "|" opens a bar (BAR_OPEN) where a value is expected; after a value it closes the
  innermost open bar, or, when none is open, opens one as a juxtaposed factor (`2|x|`);
- a "(" right after `sin^2` or `√` becomes CALL_LPAREN: `sin^2(x) y` is sin(x)^2 y;
- the name of `f(x) = ...` at the start of a statement becomes DEFINED.

It keeps a stack of the brackets and bars that are open, which is no recursion: depth costs
one list entry.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ParseError
from .names import BARE_FUNCTIONS, INVERSES, normal

# Tokens after which a value has just ended (so a "|" closes, and a factor would be juxtaposed).
_VALUE_ENDS = frozenset(("NUMBER", "NAME", "RPAREN", "RBRACKET", "BAR", "TRANSPOSE", "SUPERSCRIPT", "DEGREE"))
# Explicit operators and separators: they end a run of juxtaposed factors.
_RUN_ENDS = frozenset(("PLUS", "MINUS", "TIMES", "DIVIDE", "MATMUL", "POWER", "COMPARE", "_COMMA", "ASSIGN",
                       "SEMICOLON", "_NEWLINE"))
_NO_BAR_ACROSS = frozenset(("_COMMA", "SEMICOLON", "_NEWLINE"))
_OPENERS = {"RPAREN": ("LPAREN", "CALL_LPAREN"), "RBRACKET": ("LBRACKET",)}

# `f(x, y) =` at the start of a statement (not `==`).
_FUNCTION_HEAD = re.compile(r"(?m)(?:^|(?<=;))[ \t\f\r]*([^\W\d]\w*)[ \t\f\r]*\(([^()]*)\)[ \t\f\r]*=(?!=)")


def function_heads(text: str) -> dict[int, tuple[str, int]]:
    """Offset of each function definition's name -> (its name, its number of parameters)."""
    if "=" not in text or "(" not in text:
        return {}
    return {match.start(1): (normal(match[1]), match[2].count(",") + 1) for match in _FUNCTION_HEAD.finditer(text)}


def _not_a_name(token: Any, text: str) -> ParseError:
    """The error for a name that NFKC turns into no name ('½x' into '1⁄2x', '①' into '1'): a variable nobody could
    bind with --at; it points at the first character that spoils it."""
    written = token.value
    bad = next(end for end in range(1, len(written) + 1) if not normal(written[:end]).isidentifier()) - 1
    position = token.start_pos + bad
    return ParseError(f"unexpected character {written[bad]!r}: it is not a letter or digit of a name",
                      text, (position, position + 1))


class Retyper:
    """The token callback for one parse at a time (the parser holds a lock around each parse)."""

    def __init__(self) -> None:
        self.reset("", {})

    def reset(self, text: str, heads: dict[int, tuple[str, int]]) -> None:
        self.text = text
        self.heads = heads
        self.bare: set[str] = set()  # user functions of one parameter, defined so far
        self.previous: Any = None  # the last token
        self.before: Any = None  # the token before it
        self.open: list[Any] = []  # open brackets and bars, innermost last
        self.function: Any = None  # the FUNC token whose power or call may follow
        self.stage = 0  # after it: 1 the function, 2 its '^', 3 its power
        self.closed_depth: int | None = None  # depth of the last bar closed, while juxtaposed factors follow it
        self.since_close = 0

    def __call__(self, token: Any) -> Any:
        # Lark calls this for every token of every line of a batch: the common path makes no further call.
        kind = token.type
        if kind == "NAME":
            name = token.value
            if not name.isascii():
                name = normal(name)
                if not name.isidentifier():
                    raise _not_a_name(token, self.text)
            if name in BARE_FUNCTIONS or name in self.bare:
                token.type = kind = "FUNC"
        elif kind == "BAR":
            kind = self._bar(token)
        elif kind == "CALLEE":
            head = self.heads.get(token.start_pos)
            if head is not None:
                token.type = kind = "DEFINED"
                if head[1] == 1:
                    self.bare.add(head[0])
        elif kind == "LPAREN" or kind == "LBRACKET":
            if kind == "LPAREN" and self.stage in (1, 3):
                token.type = kind = "CALL_LPAREN"
            self.open.append(token)
        elif kind in _OPENERS:
            self._close_bracket(token)
        elif kind in _NO_BAR_ACROSS and self.open and self.open[-1].type == "BAR_OPEN":
            raise self.unclosed_bar()
        if self.stage or kind == "FUNC" or kind == "ROOT":
            self._follow_function(token, kind)
        if self.closed_depth is not None:
            self._follow_bars(kind)
        self.before = self.previous
        self.previous = token
        return token

    # -- bars
    def _bar(self, token: Any) -> str:
        after_value = self.previous is not None and self.previous.type in _VALUE_ENDS
        if after_value and self.open and self.open[-1].type == "BAR_OPEN":
            self.open.pop()
            self.closed_depth, self.since_close = len(self.open), -1  # the bar itself is not a factor
            return "BAR"
        if after_value and self.closed_depth == len(self.open) and self.since_close > 0:
            raise ParseError("ambiguous '|': it could close the bar before it or open a new one; "
                             "write abs(...) or put '*' where a product is meant", self.text, _span(token))
        token.type = "BAR_OPEN"
        self.open.append(token)
        return "BAR_OPEN"

    def _follow_bars(self, kind: str) -> None:
        if kind in _RUN_ENDS and len(self.open) == self.closed_depth:
            self.closed_depth = None
        else:
            self.since_close += 1

    def unclosed_bar(self) -> ParseError | None:
        """The error for the innermost bar still open, if the innermost open mark is a bar."""
        if not self.open or self.open[-1].type != "BAR_OPEN":
            return None
        return ParseError("unclosed '|': add the '|' that closes it", self.text, _span(self.open[-1]))

    def _close_bracket(self, token: Any) -> None:
        error = self.unclosed_bar()
        if error is not None:
            raise error
        if self.open and self.open[-1].type in _OPENERS[token.type]:
            self.open.pop()

    # -- powers of functions: sin^2 x, sin²(x), and the sin^-1 that means two things
    def _follow_function(self, token: Any, kind: str) -> None:
        stage = self.stage
        if kind == "FUNC" or kind == "ROOT":
            self.function, self.stage = token, 1
        elif stage == 1 and kind == "POWER":
            self.stage = 2
        elif stage == 1 and kind == "SUPERSCRIPT":
            if token.value.startswith("\u207b"):
                raise self._negative_power(token.end_pos)
            self.stage = 3
        elif stage == 2:
            if kind == "MINUS":
                raise self._negative_power(_digits_end(self.text, token.end_pos))
            negative = _BRACKETED_NEGATIVE.match(self.text, token.start_pos) if kind == "LPAREN" else None
            if negative:  # sin^(-1)(x)
                raise self._negative_power(negative.end())
            if kind != "NUMBER" or not token.value.isdigit() or int(token.value) == 0:
                raise self._power_error(token)
            self.stage = 3
        else:
            self.stage = 0

    def _negative_power(self, end: int) -> ParseError:
        function = self.function
        name = normal(function.value)
        written = self.text[function.start_pos:end]
        power = _power_text(self.text[function.end_pos:end])
        argument = _argument_text(self.text, end)
        reciprocal = f"{name}{argument}^{power}"
        if name in INVERSES and power == "-1":
            message = f"'{written}' has two meanings: write {INVERSES[name]}{argument} for the inverse function " \
                      f"or {reciprocal} for the reciprocal"
        else:
            message = f"a power written on a function is a positive whole number; for this one write {reciprocal}"
        return ParseError(message, self.text, (function.start_pos, end))

    def _power_error(self, token: Any) -> ParseError:
        name = normal(self.function.value)
        return ParseError(f"a power written on a function is a positive whole number ({name}^2 x); "
                          f"for other powers write {name}(x)^...", self.text, _span(token))


def _span(token: Any) -> tuple[int, int]:
    return token.start_pos, max(token.end_pos, token.start_pos + 1)


_BRACKETED_NEGATIVE = re.compile(r"\([ \t]*-[ \t]*[0-9]+[ \t]*\)")


def _digits_end(text: str, start: int) -> int:
    match = re.compile(r"[ \t]*[0-9]+").match(text, start)
    return match.end() if match else start


_SUPERSCRIPT_DIGITS = str.maketrans("\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079", "-0123456789")


def _power_text(written: str) -> str:
    """'-1' for what follows the name in `sin^-1`, `sin ** -1` or `sin⁻¹`."""
    power = written.replace(" ", "").replace("\t", "")
    power = power[2:] if power.startswith("**") else power.removeprefix("^")
    power = power[1:-1] if power.startswith("(") else power
    return power.translate(_SUPERSCRIPT_DIGITS)


def _argument_text(text: str, start: int) -> str:
    """How the argument after `sin^-1` is written, as it would go in parentheses: '(x)' for `(x)` or ` x`."""
    rest = text[start:].lstrip(" \t")
    if rest.startswith("("):
        depth = 0
        for offset, char in enumerate(rest):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0:
                return rest[:offset + 1]
        return "(...)"
    word = re.match(r"[\w.]+", rest)
    return f"({word[0]})" if word else "(x)"
