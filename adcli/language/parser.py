"""Text -> Program: Lark's LALR parser calls the compiler below as it reduces each rule.

There is no parse tree and no recursion over the input: every callback appends
instructions to a ProgramBuilder and returns the slot of its result (a `Node`, which also
carries the source span). This is the only module that imports lark.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import sys
import _thread
from functools import lru_cache
from typing import Any, Callable, Iterator, NamedTuple

from ..lazy_numpy import np
from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput

from ..errors import BindingError, NamingError, ParseError, ShapeError, suggestion
from ..locations import grammar_path, private_cache_folder
from ..engine.primitives import CONSTANTS, FUNCTIONS, REDUCTIONS
from ..engine.program import VAR, Program, ProgramBuilder, prune
from ..engine.tape import forward

KEYWORDS = {"axis"}
MOST_AXES = 64  # NumPy's limit on dimensions: a larger axis (1e300) would overflow a C integer, not name an axis
CONSTRUCTOR_NAMES = frozenset(("linspace", "arange", "zeros", "ones", "rand", "randn"))  # bindings.constructors


class Node(NamedTuple):
    slot: int
    start: int
    end: int


class Keyword(NamedTuple):
    name: Token
    value: Node


_BINARY_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "@": "matmul", "^": "pow", "**": "pow"}


def _span(first: Any, last: Any) -> tuple[int, int]:
    start = first.start if isinstance(first, Node) else first.start_pos  # a node, or a token
    end = last.end if isinstance(last, Node) else last.end_pos
    return start, end


class _Compiler(Transformer):
    """Lark callbacks (one per grammar alias) that build a program while the text is parsed.

    Each takes the rule's children as one list, Lark's own calling convention: `v_args(inline=True)`
    would wrap every call in two more Python frames (~5% of batch mode's time).

    `constructors` are the value-only functions (linspace, zeros, ...) allowed in `--at`
    values, where variables are not.
    """

    def __init__(self) -> None:
        self.reset("", None)

    def reset(self, text: str, constructors: dict[str, Callable] | None) -> None:
        self.builder = ProgramBuilder(text)
        self.constructors = constructors
        self.variables: dict[str, int] = {}  # name -> column of first use, in order of first use
        self.definitions: dict[str, Node] = {}
        self.where: dict[str, Any] = {}
        self.result: Node | None = None

    # -- leaves
    def number(self, children: list) -> Node:
        token, = children
        span = token.start_pos, token.end_pos
        return Node(self.builder.const(float(token.value), span), *span)

    def name(self, children: list) -> Node:
        token, = children
        name = token.value
        span = token.start_pos, token.end_pos
        if name in self.definitions:
            return Node(self.definitions[name].slot, *span)
        if name in CONSTANTS:
            return Node(self.builder.const(CONSTANTS[name], span), *span)
        if name in FUNCTIONS or (self.constructors and name in self.constructors):
            raise NamingError(f"'{name}' is a function: call it as {name}(...)", self.builder.text, span)
        if self.constructors is not None:
            raise BindingError(
                f"a value cannot use the variable '{name}'{suggestion(name, CONSTANTS)}", self.builder.text, span)
        self.variables.setdefault(name, span[0])
        return Node(self.builder.var(name, span), *span)

    # -- operators
    def binary(self, children: list) -> Node:
        left, operator, right = children
        return self._emit(_BINARY_OPS[operator.value], (left, right), (operator.start_pos, operator.end_pos),
                          left.start, right.end)

    def implicit_mul(self, children: list) -> Node:
        left, right = children
        return self._emit("mul", (left, right), (right.start, right.start + 1), left.start, right.end)

    def negate(self, children: list) -> Node:
        minus, operand = children
        return self._emit("neg", (operand,), _span(minus, minus), minus.start_pos, operand.end)

    def unary_plus(self, children: list) -> Node:
        plus, operand = children
        return Node(operand.slot, plus.start_pos, operand.end)

    def parens(self, children: list) -> Node:
        lparen, inner, rparen = children
        return Node(inner.slot, lparen.start_pos, rparen.end_pos)

    def transpose(self, children: list) -> Node:
        operand, token = children
        return self._emit("transpose", (operand,), _span(token, token), operand.start, token.end_pos)

    def array(self, children: list) -> Node:
        lbracket, *entries, rbracket = children
        return self._emit("stack", tuple(entries), _span(lbracket, lbracket), lbracket.start_pos, rbracket.end_pos)

    # -- calls
    def arguments(self, children: list) -> list:
        return children

    def keyword(self, children: list) -> Keyword:
        name, _, value = children
        return Keyword(name, value)

    def call(self, children: list) -> Node:
        callee, _, arguments, rparen = children
        name = callee.value
        span = _span(callee, callee)
        positional = [a for a in arguments if isinstance(a, Node)]
        keywords = [a for a in arguments if isinstance(a, Keyword)]
        if self.constructors and name in self.constructors:
            if keywords:
                raise self._error(BindingError, f"{name} takes no keyword arguments", keywords[0].name)
            values = [self._constant(node, f"{name}'s arguments") for node in positional]
            try:
                value = self.constructors[name](*values)
            except (ValueError, TypeError) as error:
                raise BindingError(f"{name}: {error}", self.builder.text, span) from None
            return Node(self.builder.const(value, span), callee.start_pos, rparen.end_pos)
        primitive = self._resolve(name, len(positional), span)
        params = self._params(name, primitive, keywords)
        if primitive == "log_base":
            numerator = self._emit("log", positional[:1], span, callee.start_pos, rparen.end_pos)
            denominator = self._emit("log", positional[1:], span, callee.start_pos, rparen.end_pos)
            return self._emit("div", (numerator, denominator), span, callee.start_pos, rparen.end_pos)
        return self._emit(primitive, tuple(positional), span, callee.start_pos, rparen.end_pos, params)

    def _resolve(self, name: str, count: int, span: tuple[int, int]) -> str:
        if name not in FUNCTIONS:
            known = set(FUNCTIONS) | set(self.constructors or ())
            close = suggestion(name, known)
            if name in CONSTRUCTOR_NAMES:
                message = f"{name}(...) makes a value: use it in --at (--at x={name}(...)), not in the expression"
            elif close:
                message = f"unknown function '{name}'{close}"
            elif name in CONSTANTS or name in self.definitions or self.constructors is None:
                message = f"'{name}' is not a function; for a product write '{name}*(...)'"
            else:
                message = f"unknown function '{name}'"
            raise NamingError(message, self.builder.text, span)
        overloads = FUNCTIONS[name]
        if count not in overloads:
            counts = " or ".join(str(n) for n in sorted(overloads))
            plural = "" if sorted(overloads) == [1] else "s"
            raise NamingError(f"{name} takes {counts} argument{plural}, got {count}", self.builder.text, span)
        return overloads[count]

    def _params(self, name: str, primitive: str, keywords: list[Keyword]) -> tuple:
        params = []
        for keyword in keywords:
            key = keyword.name.value
            if any(key == given for given, _ in params):
                raise self._error(NamingError, f"{name} got the keyword '{key}' twice", keyword.name)
            if key not in KEYWORDS or primitive not in REDUCTIONS:
                allowed = f"; {name} takes axis=" if primitive in REDUCTIONS else ""
                raise self._error(NamingError, f"{name} has no keyword '{key}'{allowed}", keyword.name)
            axis = self._constant(keyword.value, "axis")
            span = (keyword.value.start, keyword.value.end)
            if np.ndim(axis) != 0 or not -MOST_AXES <= float(axis) < MOST_AXES or float(axis) != int(axis):
                whole = np.ndim(axis) == 0 and np.isfinite(axis) and float(axis) == int(axis)
                problem = f"axis {float(axis):g} is out of range: arrays have at most {MOST_AXES} axes" if whole else \
                    "axis must be a whole number"
                raise ShapeError(problem, self.builder.text, span)
            params.append(("axis", int(axis)))
        return tuple(params)

    # -- programs
    def definition(self, children: list) -> None:
        name, _, value = children
        key = name.value
        if key in self.definitions:
            raise self._error(NamingError, f"'{key}' is defined twice", name)
        if key in CONSTANTS or key in FUNCTIONS:
            kind = "constant" if key in CONSTANTS else "function"
            raise self._error(NamingError, f"cannot define '{key}': it is a {kind}", name)
        if key in self.variables:
            raise self._error(NamingError, f"'{key}' is used before its definition", name)
        self.definitions[key] = value

    def binding(self, children: list) -> None:
        name, _, value = children
        key = name.value
        if key in CONSTANTS or key in FUNCTIONS:
            raise self._error(NamingError, f"cannot bind '{key}': it is a {'constant' if key in CONSTANTS else 'function'}", name)
        if key in self.where:
            raise self._error(NamingError, f"'{key}' is bound twice", name)
        if key in self.definitions:
            raise self._error(NamingError, f"'{key}' is a definition, not a variable", name)
        self.where[key] = self._constant(value, f"the value of '{key}'")

    def where_clause(self, children: list) -> None:
        return None

    def start(self, children: list) -> None:
        self.result = [item for item in children if isinstance(item, Node)][-1]

    # -- helpers
    def _emit(self, op: str, operands: tuple, span: tuple[int, int], start: int, end: int, params: tuple = ()) -> Node:
        return Node(self.builder.emit(op, tuple(node.slot for node in operands), params, span), start, end)

    def _constant(self, node: Node, what: str) -> Any:
        """The value of a subexpression that must not depend on variables."""
        instructions, outputs = prune(self.builder.instructions, (node.slot,))
        if any(instruction.op == VAR for instruction in instructions):
            raise BindingError(f"{what} must be a constant (no variables)", self.builder.text, (node.start, node.end))
        return forward(Program(self.builder.text, instructions, outputs, (), {}), {})[outputs[0]]

    def _error(self, kind: type, message: str, token: Token) -> Exception:
        return kind(message, self.builder.text, _span(token, token))


# -- the Lark parser, built once per process --------------------------------------------

_TERMINAL_WORDS = {
    "NUMBER": "a number", "NAME": "a name", "CALLEE": "a function call", "LPAREN": "'('", "RPAREN": "')'",
    "LBRACKET": "'['", "RBRACKET": "']'", "PLUS": "'+'", "MINUS": "'-'", "TIMES": "'*'", "DIVIDE": "'/'",
    "MATMUL": "'@'", "POWER": "'^'", "ASSIGN": "'='", "TRANSPOSE": "'.T'", "COMMA": "','", "WHERE": "'where'",
    "SEMICOLON": "';'", "_NEWLINE": "a new line", "$END": "the end of the text",
}
_OPERAND_STARTS = {"NUMBER", "NAME", "CALLEE", "LPAREN", "LBRACKET", "MINUS", "PLUS"}
_SEPARATORS = {"SEMICOLON", "_NEWLINE"}


def _grammar_text() -> str:
    with open(grammar_path(), encoding="utf-8") as grammar:
        return grammar.read()


def _lark_cython_plugins() -> dict[str, Any]:
    """Lark's Cython lexer and parser when installed (1.3-1.6x faster parses: half of batch mode's time
    is parsing), else pure-Python Lark. Both take the same grammar and callbacks and give the same programs."""
    try:
        import lark_cython
    except ImportError:
        return {}
    return lark_cython.plugins


def _cache_path(grammar: str, cython: bool = False) -> str | bool:
    """Where Lark keeps the built parser tables: the user's private cache folder, else nowhere (False).

    Building the tables from the grammar takes ~80 ms; loading them, ~5 ms. Never Lark's own
    default (True: a predictable name in the shared temp folder): the cache is a pickle that
    Lark loads before it checks anything, so a file planted there runs code. Lark checks the
    grammar, its options and its version against the file and rebuilds it when they differ.
    """
    folder = private_cache_folder()
    if folder is None:
        return False
    digest = hashlib.sha256(grammar.encode("utf-8")).hexdigest()[:16]
    flavour = "-cython" if cython else ""
    path = os.path.join(folder, f"parser-{digest}-py{sys.version_info[0]}{sys.version_info[1]}{flavour}.lark")
    try:
        status = os.lstat(path)
    except OSError:
        return path  # not there yet: Lark builds the tables and writes them
    return path if stat.S_ISREG(status.st_mode) and status.st_uid == os.geteuid() else False  # Lark follows links


class Parser:
    """One Lark LALR parser with the compiler as its inline transformer; thread-safe."""

    def __init__(self, accelerated: bool = True) -> None:
        self._compiler = _Compiler()
        grammar = _grammar_text()
        plugins = _lark_cython_plugins() if accelerated else {}
        # The basic lexer: the grammar needs no context to tell its tokens apart (`where` is a
        # keyword everywhere), and the contextual one compiles a lexer per parser state at the
        # first parse, 1.3 ms of every one-shot command.
        self._lark = Lark(grammar, parser="lalr", lexer="basic", transformer=self._compiler, _plugins=plugins,
                          cache=_cache_path(grammar, cython=bool(plugins)))
        self._lock = _thread.allocate_lock()  # not threading's: that module costs ~1 ms of start-up

    def compile(self, text: str, constructors: dict[str, Callable] | None = None) -> tuple[_Compiler, Node]:
        joined = join_bracketed_lines(text)
        with self._lock:
            compiler = self._compiler
            compiler.reset(text, constructors)
            try:
                self._lark.parse(joined)
            except UnexpectedInput as error:
                raise _parse_error(joined, error, shown=text) from None
            return compiler, compiler.result


# A bracket, a line break, or a comment (taken whole, so that brackets in it do not count).
_BRACKET_OR_BREAK = re.compile(r"#[^\n]*|[()\[\]\n]")
_OPENER = {")": "(", "]": "["}


def _open_brackets(text: str, stop: int | None = None) -> Iterator[tuple[re.Match, list[int]]]:
    """Each bracket, line break and comment before `stop`, with the offsets of the brackets open there
    (a closer of the wrong kind closes nothing)."""
    opened: list[int] = []
    for match in _BRACKET_OR_BREAK.finditer(text, 0, len(text) if stop is None else stop):
        mark = match.group()
        if mark in ("(", "["):
            opened.append(match.start())
        elif mark in _OPENER and opened and text[opened[-1]] == _OPENER[mark]:
            opened.pop()
        yield match, opened


def _innermost_open_bracket(text: str, position: int) -> int | None:
    """The offset of the innermost bracket still open at `position`, if any."""
    opened: list[int] = []
    for _, opened in _open_brackets(text, position):
        pass  # the generator keeps `opened` up to date
    return opened[-1] if opened else None


def join_bracketed_lines(text: str) -> str:
    """The text with line breaks (and comments) inside () or [] turned into spaces, as Python reads them.

    A new line ends a definition, but inside brackets it is whitespace, so that a long
    expression can wrap. A comment there is blanked too, or it would run on into the next
    line. The text keeps its length: every span still points into the original.
    """
    if "\n" not in text:
        return text
    characters: list[str] | None = None
    for match, opened in _open_brackets(text):
        if opened and match.group()[0] in "#\n":
            characters = characters or list(text)
            characters[match.start():match.end()] = " " * (match.end() - match.start())
    return text if characters is None else "".join(characters)


def _bracket_at(text: str, offset: int) -> str:
    """"the '(' at column 5" ("at line 2, column 5" in a text of several lines)."""
    where = ParseError("", text, (offset, offset + 1))
    place = f"line {where.line}, column {where.column}" if "\n" in text else f"column {where.column}"
    return f"the '{text[offset]}' at {place}"


def _with_unclosed(message: str, text: str, position: int) -> str:
    """The message, naming the bracket left open on an earlier line (what usually went wrong) if there is one."""
    opener = _innermost_open_bracket(text, position)
    if opener is None or "\n" not in text[opener:position]:
        return message
    bracket = _bracket_at(text, opener)
    return f"{message} to close {bracket}" if message in ("missing ')'", "missing ']'") else f"{message}; {bracket} is not closed"


def _unexpected_closer(text: str, token: Token, expected: set[str]) -> str:
    """The message for a ')' or ']' that closes nothing, the wrong bracket, or a bracket with nothing in it yet."""
    closer = token.value
    opener = _innermost_open_bracket(text, token.start_pos)
    if opener is None:
        return f"unmatched '{closer}'"
    if text[opener] != _OPENER[closer]:
        return f"'{closer}' does not match {_bracket_at(text, opener)}"
    return f"expected a value before '{closer}'" if expected & _OPERAND_STARTS else f"unmatched '{closer}'"


def _parse_error(text: str, error: UnexpectedInput, shown: str) -> ParseError:
    """The error for `text`, the parsed form of `shown` (join_bracketed_lines), placed in `shown`."""
    if isinstance(error, UnexpectedCharacters):
        return _unexpected_character(shown, error.pos_in_stream)
    expected = set(getattr(error, "expected", ()) or ())
    token = getattr(error, "token", None)
    if token is None or token.type == "$END":
        # Lark's end token borrows the last token's position; point just past its code.
        last_end = token.end_pos if token is not None and token.end_pos is not None else len(text)
        position = len(text[:last_end].rstrip())
        after_separator = text[:last_end].rstrip(" \t\f\r").endswith((";", "\n"))
        message = _with_unclosed(_at_end(expected, after_separator), shown, position)
        return ParseError(message, shown, (position, position + 1))
    span = (token.start_pos, max(token.end_pos, token.start_pos + 1))
    if token.type in ("RPAREN", "RBRACKET") and token.type not in expected:
        return ParseError(_unexpected_closer(shown, token, expected), shown, span)
    message = _unexpected_token(text, token, expected)
    if token.type in ("ASSIGN", "WHERE"):  # a definition or a where clause inside brackets left open
        message = _with_unclosed(message, shown, token.start_pos)
    return ParseError(message, shown, span)


def _unexpected_character(text: str, position: int) -> ParseError:
    char = text[position]
    hint = "; numbers look like 2, 2.5, .5 or 1e-3" if char == "." else ""
    return ParseError(f"unexpected character {char!r}{hint}", text, (position, position + 1))


def _at_end(expected: set[str], after_separator: bool) -> str:
    """The message for text that stops too early."""
    for closer, word in (("RPAREN", "')'"), ("RBRACKET", "']'")):
        if closer in expected:
            return f"missing {word}"
    if expected & _OPERAND_STARTS and after_separator:
        return "missing the final expression: a program ends with an expression after its definitions"
    if expected and expected <= _SEPARATORS:
        return "missing the final expression: end the definition with ';' or a new line, then write the expression"
    if expected & _OPERAND_STARTS:
        return "expected a value, found the end of the text"
    return f"unexpected end of the text{_listed(expected)}"


def _unexpected_token(text: str, token: Token, expected: set[str]) -> str:
    """The message for a token the grammar does not allow where it stands."""
    found = _found(token)
    if token.type in _SEPARATORS:
        for closer, word in (("RPAREN", "')'"), ("RBRACKET", "']'")):
            if closer in expected:
                return f"missing {word}"
    if token.type == "NUMBER" and "TIMES" in expected:
        malformed = _malformed_number(text, token)
        if malformed:
            return f"'{malformed}' is not a number: a number has at most one '.'"
        return f"unexpected number '{token.value}': write '*' between a value and a number that follows it"
    if token.type == "ASSIGN":
        return "unexpected '='; a definition is NAME = EXPR, before the final expression"
    if expected & _OPERAND_STARTS and expected <= _OPERAND_STARTS | _SEPARATORS | {"TRANSPOSE"}:
        return f"expected a value, found {found}"
    return f"unexpected {found}{_listed(expected)}"


def _found(token: Token) -> str:
    if token.type == "_NEWLINE":
        return "a new line"
    if token.type in ("NUMBER", "NAME"):
        return f"{token.type.lower()} '{token.value}'"
    if token.type == "CALLEE":
        return f"a call of '{token.value}'"
    return f"'{token.value}'"


def _malformed_number(text: str, token: Token) -> str | None:
    """'2..5' or '1.2.3' when `token` is the tail of such a run of digits and dots, else None."""
    start = token.start_pos
    if not token.value.startswith(".") or start == 0 or text[start - 1] not in "0123456789.":
        return None
    end = token.end_pos
    while start > 0 and text[start - 1] in "0123456789.":
        start -= 1
    while end < len(text) and text[end] in "0123456789.":
        end += 1
    return text[start:end]


def _listed(expected: set[str]) -> str:
    """'; expected a, b or c' (an empty string when Lark gave no expectations)."""
    words = sorted({_TERMINAL_WORDS.get(name, name.lower()) for name in expected})
    if len(words) > 8:
        return "; expected " + ", ".join(words[:8]) + ", ..."
    if len(words) > 1:
        return "; expected " + ", ".join(words[:-1]) + " or " + words[-1]
    return f"; expected {words[0]}" if words else ""


@lru_cache(maxsize=2)
def parser(accelerated: bool = True) -> Parser:
    """This process's parser; `accelerated=False` is pure-Python Lark, which loads ~9 ms sooner than
    lark-cython and so suits one text per process (a one-shot command) rather than many."""
    return Parser(accelerated)


def compile_program(text: str, accelerated: bool = True) -> Program:
    """Compile a program (definitions, a final expression, an optional where clause)."""
    if not text.strip() or all(not line.split("#")[0].strip() for line in text.splitlines()):
        raise ParseError("empty program", text, None)
    compiler, result = parser(accelerated).compile(text)
    return compiler.builder.build((result.slot,), tuple(compiler.variables), compiler.where)


def compile_value(text: str, constructors: dict[str, Callable]) -> Any:
    """Evaluate a constant expression (a binding's value): no variables, constructors allowed.

    On pure-Python Lark: a run reads its bindings once, and a one-shot command then loads one parser.
    """
    if not text.strip():
        raise BindingError("empty value", text, None)
    compiler, result = parser(accelerated=False).compile(text, constructors)
    if compiler.definitions or compiler.where:
        raise BindingError("a value is one expression (no definitions or where)", text, None)
    return compiler._constant(result, "a value")
