"""The session driver: an interactive session (or a replayed script), one line at a time.

A line is a definition (kept for later lines: `f(x) = x^2 sin(x)`, `u = sqrt(x) + 1`), a
binding (`x = 2`, a name equal to a constant, as --at), or an expression, optionally led by a
command word (`grad f(x) at x=1`, `taylor sin(x)/x at x=0 order 6`); plain evaluation
otherwise. `ans` is the last value. Each line's program is the session's definitions, in
order, followed by the line: the compiler's state after each definition is kept (a `Prelude`),
so a line parses only itself, and a line compiled once is reused. Nothing here reads a terminal:
the CLI feeds lines in and prints what comes back.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..api import Compiled, check_bindable
from ..engine.program import VAR
from ..errors import AdcliError, BindingError, NamingError, ParseError
from ..language.parser import EMPTY_PRELUDE, Prelude, parser
from ..language.bindings import split_top_level
from ..language.names import normal

# The words that lead a command line, and what each runs: (compiled, bindings, request) -> a result.
COMMAND_WORDS = ("eval", "grad", "diff", "hessian", "jacobian", "taylor", "limit", "check", "plot")
OPTION_WORDS = ("at", "wrt", "order")
_OPTION = re.compile(r"(?:^|\s)(?:--)?(at|wrt|order)\s+")
_BARE_OPTION = re.compile(r"\s(?:--)?(at|wrt|order)\s*$")  # an option word ending the line, with nothing after it
_ASSIGNMENT = re.compile(r"^\s*([^\W\d]\w*)\s*(\([^()=]*\))?\s*=(?!=)")
# The orders each command word takes, as its command's --order does (`order 0` is no first derivative).
ORDER_RANGES = {"grad": (1, 64), "diff": (1, 16), "check": (1, 2), "taylor": (0, 10000), "plot": (0, 6)}
COMPILED_KEPT = 256  # compiled line texts a session keeps for reuse
_PLACE = re.compile(r"at line (\d+), column (\d+)")  # how a warning names a place in a text of several lines
_ANS = re.compile(r"(?<![\w.])ans(?!\w)")


@dataclass
class Request:
    """What a command line asks: its expression and the options written after it."""

    word: str
    expr: str
    at: dict[str, Any] = field(default_factory=dict)
    wrt: list[str] | None = None
    order: int | None = None


@dataclass
class Reply:
    """What a line gave: a result to show (or a note), and its warnings."""

    result: Any = None
    note: str | None = None


Runner = Callable[[Compiled, dict[str, Any], Request], Any]


class Session:
    """Definitions, bindings and `ans`, and what each line does to them."""

    def __init__(self, evaluate_value: Callable[[str], Any], runners: Mapping[str, Runner] | None = None):
        self.runners = RUNNERS if runners is None else runners
        self.evaluate_value = evaluate_value  # a binding's text -> its value (constants and constructors)
        self.definitions: list[tuple[str, str]] = []  # (name, line), in order
        self.bindings: dict[str, Any] = {}
        self._preludes: list[Prelude] = []  # the compiler's state after each definition
        self._compiled: dict[tuple[str, str], Compiled] = {}

    # -- what a line is
    def run(self, line: str) -> Reply:
        text = line.strip()
        if not text or text.startswith("#"):
            return Reply()
        word, rest = _command_word(text)
        if word is not None:
            return self._command(word, rest)
        assignment = _ASSIGNMENT.match(text)
        if assignment:
            return self._assign(assignment, text)
        return self._command("eval", text)

    def names(self) -> list[str]:
        """The names the session knows: its definitions, functions and bindings (for completion)."""
        return [name for name, _ in self.definitions] + list(self.bindings)

    # -- definitions and bindings
    def _assign(self, assignment: re.Match[str], text: str) -> Reply:
        name, is_function = normal(assignment.group(1)), bool(assignment.group(2))
        value_text = text[assignment.end():].strip()
        value = None if is_function else self._constant_value(value_text)
        if value is not None:
            _check_bindable(name, text, assignment.span(1))
            self._forget_definition(name)
            self.bindings[name] = value
            return Reply(note=f"{name} = {_short(value)}")
        after = _second_statement(text)
        if after is not None:  # the session keeps a line per name: `v` of `u = x; v = 2x` could not be replaced
            raise ParseError("a session line holds one definition: put what follows ';' on a line of its own",
                             text, (after, after + 1))
        self._define(name, text)
        self.bindings.pop(name, None)
        return Reply(note=f"defined {name}")

    def _constant_value(self, value_text: str) -> Any:
        """A binding's value (constants, `ans`, linspace(...), [1, 2]), or None when the text is not one
        (it uses a variable or a definition: then the line is a definition, whose errors point into it)."""
        if not value_text:
            return None
        try:
            return self.evaluate_value(self._with_ans(value_text))
        except AdcliError:
            return None

    def _with_ans(self, value_text: str) -> str:
        """The text with `ans` written out as its value (a binding's value is a constant expression)."""
        if "ans" not in self.bindings:
            return value_text
        return _ANS.sub(f"({_literal(self.bindings['ans'])})", value_text)

    def _define(self, name: str, line: str) -> None:
        """Add (or replace, in its place) a definition, keeping it only when the program still compiles."""
        places = [i for i, (defined, _) in enumerate(self.definitions) if defined == name]
        if places:
            definitions = list(self.definitions)
            definitions[places[0]] = (name, line)
            self._redefine(definitions, places[0])
        else:
            self._redefine(self.definitions + [(name, line)], len(self.definitions))

    def _forget_definition(self, name: str) -> None:
        places = [i for i, (defined, _) in enumerate(self.definitions) if defined == name]
        if places:
            self._redefine(self.definitions[:places[0]] + self.definitions[places[0] + 1:], places[0])

    def _redefine(self, definitions: list[tuple[str, str]], unchanged: int) -> None:
        """Take these definitions, the first `unchanged` of them as they were: only the others are parsed.

        Raises (with a caret in the line) when one no longer compiles; then nothing changes.
        """
        preludes = self._preludes[:unchanged]
        for _, line in definitions[unchanged:]:
            prelude = preludes[-1] if preludes else EMPTY_PRELUDE
            try:
                preludes.append(parser().extend(prelude, line))
            except AdcliError as problem:
                raise _within_line(problem, len(prelude.text) + bool(prelude.text), line) from None
        self.definitions, self._preludes = definitions, preludes

    # -- commands
    def _command(self, word: str, rest: str) -> Reply:
        request = self._request(word, rest)
        compiled = self._compile(request.expr)
        bindings = {name: value for name, value in self.bindings.items()
                    if name in compiled.variables or name in (request.wrt or ())}
        if word == "diff":  # a formula is in the variables: only the line's own `at` values are substituted
            bindings = {}
        if word == "plot":  # a plot sweeps a variable: the first one the line does not give a value
            swept = [name for name in compiled.variables if name not in request.at]
            if swept and all(name in bindings for name in swept):
                del bindings[swept[0]]
        bindings.update(request.at)
        if "ans" in compiled.variables and "ans" not in bindings and word != "diff":
            where = _ANS.search(request.expr)
            raise NamingError("'ans' has no value yet: it is the value of the last line that gave one",
                              request.expr, (where.start(), where.end()) if where else None)
        try:
            result = self.runners[word](compiled, bindings, request)
        except ImportError:  # a command of a later version
            raise NamingError(f"'{word}' is not available in this adcli") from None
        if dataclasses.is_dataclass(result) and getattr(result, "expr", None) == compiled.text:
            result = dataclasses.replace(result, expr=request.expr.strip())  # the line, not the session's program
        if dataclasses.is_dataclass(result) and getattr(result, "warnings", None) and self.definitions:
            result = dataclasses.replace(result, warnings=[self._placed(warning) for warning in result.warnings])
        value = getattr(result, "value", None)
        if value is not None and word in ("eval", "grad", "hessian", "jacobian"):
            self.bindings["ans"] = value
        return Reply(result=result)

    def _placed(self, warning: str) -> str:
        """A warning's place in the session's program (its definitions, one a line, then the line typed) as
        the user sees it: a column of the line, or of the definition it is in."""
        def place(match: re.Match[str]) -> str:
            line, column = int(match.group(1)), match.group(2)
            if line > len(self.definitions):
                return f"at column {column}"
            return f"at column {column} of the definition of {self.definitions[line - 1][0]}"

        return _PLACE.sub(place, warning)

    def _request(self, word: str, rest: str) -> Request:
        expr, options = _split_options(rest)
        if not expr.strip():
            raise NamingError(f"'{word}' needs an expression: {word} EXPR [at x=1] [wrt x,y] [order N]")
        request = Request(word, expr)
        for option, value in options:
            if option == "at":
                for item in split_top_level(value):
                    name, sep, text = item.partition("=")
                    if not sep or not name.strip():
                        raise BindingError(f"'at' takes NAME=VALUE, got {item.strip()!r}")
                    name = normal(name.strip())  # as the parser and --at compare names: a full-width ｘ is x
                    if name in request.at:
                        raise BindingError(f"'{name}' is bound twice with at")
                    request.at[name] = self.evaluate_value(self._with_ans(text.strip()))
            elif option == "wrt":
                request.wrt = [normal(name.strip()) for name in split_top_level(value) if name.strip()]
            else:
                request.order = _order(word, value)
        return request

    # -- compiling
    def _compile(self, expr: str, with_definitions: bool = True) -> Compiled:
        """The program of the definitions followed by `expr`, which alone is parsed; once per distinct line.

        Its variables are those it uses: a definition the line does not reach asks for no value.
        """
        prelude = self._preludes[-1] if with_definitions and self._preludes else EMPTY_PRELUDE
        key = (prelude.text, expr)
        compiled = self._compiled.get(key)
        if compiled is None:
            if not expr.strip():
                raise ParseError("empty program", expr, None)
            try:
                program = parser().compile_after(prelude, expr)
            except AdcliError as problem:
                raise _within_line(problem, len(prelude.text) + bool(prelude.text), expr) from None
            used = {instruction.variable for instruction in program.instructions if instruction.op == VAR}
            compiled = Compiled(program._replace(variables=tuple(name for name in program.variables if name in used)))
            if len(self._compiled) >= COMPILED_KEPT:
                self._compiled.pop(next(iter(self._compiled)))
            self._compiled[key] = compiled
        return compiled


def _second_statement(text: str) -> int | None:
    """Where a ';' outside brackets is followed by more than a comment, or None."""
    depth = 0
    for index, character in enumerate(text):
        if character == "#":
            return None
        depth += (character in "([") - (character in ")]")
        if character == ";" and depth == 0 and text[index + 1:].split("#", 1)[0].strip():
            return index
    return None


def _check_bindable(name: str, line: str, span: tuple[int, int]) -> None:
    """`pi = 3` is refused as --at pi=3 is (the constant would win silently), with a caret at the name."""
    try:
        check_bindable(name)
    except BindingError as problem:
        raise BindingError(problem.message, line, span) from None


def _within_line(problem: AdcliError, offset: int, line: str) -> AdcliError:
    """An error in the line's part of a session program, placed in the line as the user typed it."""
    if problem.span is None or problem.span[0] < offset:
        return problem
    start, end = problem.span
    return type(problem)(problem.message, line, (start - offset, end - offset))


def _command_word(text: str) -> tuple[str | None, str]:
    """('grad', 'x^2 at x=1') for 'grad x^2 at x=1'; (None, text) when the line leads with no command word
    (`diff(x^2, x)` is the language's diff, a call)."""
    head, _, rest = text.partition(" ")
    rest = rest.strip()
    if head in COMMAND_WORDS and rest and not rest.startswith("=") and not (head == "diff" and _is_call(rest)):
        return head, rest
    if head in COMMAND_WORDS and not rest.strip():
        return head, ""
    return None, text


def _is_call(rest: str) -> bool:
    """Whether `diff (...)` is the language's diff(expr, x) (arguments with a comma), not the command word."""
    if not rest.startswith("("):
        return False
    depth = 0
    for character in rest:
        depth += character in "([" 
        depth -= character in ")]"
        if character == "," and depth == 1:
            return True
        if depth == 0:
            return False
    return False


def _split_options(rest: str) -> tuple[str, list[tuple[str, str]]]:
    """The expression and the trailing options (`at x=1, y=2`, `wrt x`, `order 3`), found outside brackets."""
    depth, cuts = 0, []
    position = 0
    while position < len(rest):
        character = rest[position]
        if character in "([":
            depth += 1
        elif character in ")]":
            depth -= 1
        elif depth == 0:
            match = _OPTION.match(rest, position)
            if match and (position == 0 or rest[position].isspace()):
                cuts.append((match.start(), match.end(), match.group(1)))
                position = match.end()
                continue
        position += 1
    if not cuts:
        return rest, []
    expr = rest[:cuts[0][0]]
    options = [(name, rest[end:(cuts[i + 1][0] if i + 1 < len(cuts) else len(rest))].strip())
               for i, (_, end, name) in enumerate(cuts)]
    trailing = _BARE_OPTION.search(options[-1][1])
    if trailing:  # `grad x^2 at x=1 wrt`: the word was read into at's value, as a variable
        word = trailing.group(1)
        example = {"at": "at x=1", "wrt": "wrt x", "order": "order 2"}[word]
        raise BindingError(f"'{word}' at the end of the line needs a value after it, as in '{example}'")
    return expr, options


def _order(word: str, value: str) -> int:
    """The `order N` of a command word, in the range its command's --order takes."""
    if word not in ORDER_RANGES:
        raise BindingError(f"'{word}' takes no order")
    low, high = ORDER_RANGES[word]
    try:
        order = int(value)
    except ValueError:
        raise BindingError(f"'order' takes a whole number, got {value.strip()!r}") from None
    if not low <= order <= high:
        raise BindingError(f"the order of '{word}' must be {low} to {high}, got {order}")
    return order


def _literal(value: Any) -> str:
    """A value as adcli text: a number, or a (nested) list."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    return repr(value).replace("inf", "(1/0)").replace("nan", "(0/0)") if not isinstance(value, list) else \
        "[" + ", ".join(_literal(item) for item in value) + "]"


def _short(value: Any) -> str:
    text = repr(value.tolist() if hasattr(value, "tolist") else value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- what each command word runs ------------------------------------------------------------


def _calculus(compiled: Compiled, bindings: dict[str, Any], request: Request) -> Any:
    from ..commands import calculus
    if request.word == "eval":
        return calculus.value(compiled, bindings)
    if request.word == "grad":
        return calculus.gradient(compiled, bindings, request.wrt, request.order or 1)
    return getattr(calculus, request.word)(compiled, bindings, request.wrt)


def _check(compiled: Compiled, bindings: dict[str, Any], request: Request) -> Any:
    from ..commands.check import check
    return check(compiled, bindings, request.wrt, request.order or 1)


def _diff(compiled: Compiled, bindings: dict[str, Any], request: Request) -> Any:
    from ..commands.formulas import derivatives
    return derivatives(compiled, bindings, request.wrt, request.order or 1)


def _taylor(compiled: Compiled, bindings: dict[str, Any], request: Request) -> Any:
    from ..commands.expansions import taylor
    return taylor(compiled, bindings, request.wrt, request.order if request.order is not None else 5)


def _limit(compiled: Compiled, bindings: dict[str, Any], request: Request) -> Any:
    from ..commands.expansions import limit
    return limit(compiled, bindings, request.wrt)


def _plot(compiled: Compiled, bindings: dict[str, Any], request: Request) -> Any:
    from ..commands.plot import plot
    return plot(compiled, bindings, request.order if request.order is not None else 1)


RUNNERS: dict[str, Runner] = {
    "eval": _calculus, "grad": _calculus, "hessian": _calculus, "jacobian": _calculus, "check": _check,
    "diff": _diff, "taylor": _taylor, "limit": _limit, "plot": _plot,
}
