"""Text -> Program: Lark's LALR parser calls the compiler below as it reduces each rule.

There is no parse tree and no recursion over the input: every callback appends
instructions to a ProgramBuilder and returns the slot of its result (a `Node`, which also
carries the source span). This is the only module that imports lark.
"""

from __future__ import annotations

import hashlib
import math
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
from ..engine.primitives import COMPARISONS, CONSTANTS, FUNCTIONS, PRIMITIVES
from ..engine.program import VAR, Instruction, Program, ProgramBuilder, prune
from ..engine.tape import forward
from .inlining import UserFunction, derivative_program, inline, instantiate, parameter_variable, record_function
from .lexing import Retyper, function_heads
from .names import (ALIASES, RECIPROCALS, builtin_arities, is_builtin_function, known_functions, normal,
                    suggest_function)

MOST_AXES = 64  # NumPy's limit on dimensions: a larger axis (1e300) would overflow a C integer, not name an axis
CONSTRUCTOR_NAMES = frozenset(("linspace", "arange", "zeros", "ones", "rand", "randn"))  # bindings.constructors
MAX_DERIVATIVE_ORDER = 64  # as `grad --order`


class Node(NamedTuple):
    slot: int
    start: int
    end: int


class Keyword(NamedTuple):
    name: Token
    value: Node


class FunctionPower(NamedTuple):
    """The 2 of `sin^2 x` or `sin²x`."""
    value: float
    start: int
    end: int


class Entry(NamedTuple):
    """One entry of a subscript: an integer, or a slice as (start, stop, step) with None for a part left out."""

    value: int | tuple[int | None, int | None, int | None]
    start: int
    end: int


class _Defining(NamedTuple):
    """The user function whose body is being compiled."""
    name: str
    parameters: dict[str, int]  # parameter -> the slot of the variable standing for it
    first_slot: int
    span: tuple[int, int]


_PRIMES = {"'": 1, "\u2032": 1, "\u2033": 2, "\u2034": 3}  # f'(x), f′(x), f″(x), f‴(x)
_BINARY_OPS = {"PLUS": "add", "MINUS": "sub", "TIMES": "mul", "DIVIDE": "div", "MATMUL": "matmul", "POWER": "pow"}
_SUPERSCRIPTS = str.maketrans("\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079", "0123456789")
WHOLE_AXIS = (None, None, None)  # `:`
LARGEST_INDEX = 2.0 ** 62  # NumPy takes indices as C integers: a larger one would overflow, not name an entry


def _span(first: Any, last: Any) -> tuple[int, int]:
    start = first.start if isinstance(first, Node) else first.start_pos  # a node, or a token
    end = last.end if isinstance(last, Node) else last.end_pos
    return start, end


class _Compiler(Transformer):
    """Lark callbacks (one per grammar alias) that build a program while the text is parsed.

    Each takes the rule's children as one list, Lark's own calling convention: `v_args(inline=True)`
    would wrap every call in two more Python frames, which batch mode would feel.

    `constructors` are the value-only functions (linspace, zeros, ...) allowed in `--at`
    values, where variables are not.
    """

    def __init__(self) -> None:
        self.reset("", None)

    def reset(self, text: str, constructors: dict[str, Callable] | None,
              heads: dict[int, tuple[str, int]] | None = None) -> None:
        self.builder = ProgramBuilder(text)
        self.constructors = constructors
        self.variables: dict[str, int] = {}  # name -> column of first use, in order of first use
        self.definitions: dict[str, Node] = {}
        self.functions: dict[str, UserFunction] = {}
        self.heads = heads or {}  # every function definition of the text: offset -> (name, parameters)
        self.defining: _Defining | None = None
        self.derivatives: dict[tuple[str, int], tuple[Program, str]] = {}  # (function, order) -> its program
        self.where: dict[str, Any] = {}
        self.result: Node | None = None

    def restore(self, prelude: Prelude) -> None:
        """Continue after a prelude's definitions (copies: the prelude stays as it is)."""
        self.builder.resume(prelude.built)
        self.variables = dict(prelude.variables)
        self.definitions = dict(prelude.definitions)
        self.functions = dict(prelude.functions)
        self.derivatives = dict(prelude.derivatives)

    # -- leaves
    def number(self, children: list) -> Node:
        token, = children
        span = token.start_pos, token.end_pos
        return Node(self.builder.const(float(token.value), span), *span)

    def degrees(self, children: list) -> Node:
        number, degree = children
        span = number.start_pos, degree.end_pos
        return Node(self.builder.const(float(number.value) * math.pi / 180.0, span), *span)

    def name(self, children: list) -> Node:
        token, = children
        name = token.value if token.value.isascii() else normal(token.value)
        span = token.start_pos, token.end_pos
        if self.defining is not None and name in self.defining.parameters:
            return Node(self.defining.parameters[name], *span)
        if name in self.definitions:
            return Node(self.definitions[name].slot, *span)
        if name in CONSTANTS:
            return Node(self.builder.const(CONSTANTS[name], span), *span)
        if self._is_function(name):
            raise NamingError(f"'{name}' is a function: call it as {name}(...)", self.builder.text, span)
        if self.constructors is not None:
            raise BindingError(
                f"a value cannot use the variable '{name}'{suggestion(name, CONSTANTS)}", self.builder.text, span)
        self.variables.setdefault(name, span[0])
        return Node(self.builder.var(name, span), *span)

    # -- operators
    def binary(self, children: list) -> Node:
        left, operator, right = children
        return self._emit(_BINARY_OPS[operator.type], (left, right), (operator.start_pos, operator.end_pos),
                          left.start, right.end)

    def compare(self, children: list) -> Node:
        left, operator, right = children
        return self._emit(COMPARISONS[operator.value], (left, right), (operator.start_pos, operator.end_pos),
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

    def superscript(self, children: list) -> Node:
        """x² is x^2 and x⁻¹ is x^-1, the same instructions as those are."""
        base, token = children
        return self._power(base, FunctionPower(*_superscript_value(token)), token.end_pos)

    def parens(self, children: list) -> Node:
        lparen, inner, rparen = children
        return Node(inner.slot, lparen.start_pos, rparen.end_pos)

    def bars(self, children: list) -> Node:
        opening, inner, closing = children
        return self._emit("abs", (inner,), _span(opening, opening), opening.start_pos, closing.end_pos)

    def transpose(self, children: list) -> Node:
        operand, token = children
        return self._emit("transpose", (operand,), _span(token, token), operand.start, token.end_pos)

    def array(self, children: list) -> Node:
        lbracket, *entries, rbracket = children
        return self._emit("stack", tuple(entries), _span(lbracket, lbracket), lbracket.start_pos, rbracket.end_pos)

    # -- indexing
    def subscript(self, children: list) -> Node:
        """a[i, j:k]: one `index` instruction per entry, the last axis first, so that every entry still finds its
        axis where it was written and an out-of-range error points at its own entry (a `:` before the last is
        left out: it changes nothing)."""
        operand, _, entries, rbracket = children
        slot = operand.slot
        for axis in range(len(entries) - 1, -1, -1):
            entry = entries[axis]
            if entry.value != WHOLE_AXIS or axis == len(entries) - 1:  # the last one checks the number of axes
                index = (WHOLE_AXIS,) * axis + (entry.value,)
                slot = self.builder.emit("index", (slot,), (("index", index),), (entry.start, entry.end))
        return Node(slot, operand.start, rbracket.end_pos)

    def subscripts(self, children: list) -> list[Entry]:
        return [child if isinstance(child, Entry) else Entry(self._whole_number(child, "an index"), child.start,
                                                               child.end) for child in children]

    def slice(self, children: list) -> Entry:
        start, _, stop, _, step = children
        parts = [None if node is None else self._whole_number(node, "a slice's bounds and step")
                 for node in (start, stop, step)]
        if parts[2] == 0:
            raise ShapeError("a slice's step cannot be 0", self.builder.text, (step.start, step.end))
        present = [child for child in children if child is not None]
        return Entry(tuple(parts), *_span(present[0], present[-1]))

    def _whole_number(self, node: Node, what: str) -> int:
        value = self._constant(node, what)
        if np.ndim(value) != 0 or not np.isfinite(value) or float(value) != int(value):
            raise ShapeError(f"{what} must be a whole number", self.builder.text, (node.start, node.end))
        if abs(value) >= LARGEST_INDEX:
            raise ShapeError(f"{what} must be smaller than 2^62 in size", self.builder.text, (node.start, node.end))
        return int(value)

    # -- calls
    def arguments(self, children: list) -> list:
        return children

    def keyword(self, children: list) -> Keyword:
        name, _, value = children
        return Keyword(name, value)

    def call(self, children: list) -> Node:
        callee, _, arguments, rparen = children
        return self._call(callee, arguments, callee.start_pos, rparen.end_pos)

    def function_power(self, children: list) -> FunctionPower:
        if len(children) == 1:
            return FunctionPower(*_superscript_value(children[0]))
        power, number = children
        return FunctionPower(float(number.value), power.start_pos, number.end_pos)

    def bare_call(self, children: list) -> Node:
        """`sin x`, `sin^2 x`, `√x`: a one-argument function applied to what follows it."""
        function, *power, argument = children
        node = self._call(function, [argument], function.start_pos, argument.end)
        return self._power(node, power[0], argument.end) if power else node

    def power_call(self, children: list) -> Node:
        """`sin^2(x)` and `√(x + 1)`: the parenthesised argument is the whole argument."""
        function, *power, _, argument, rparen = children
        node = self._call(function, [argument], function.start_pos, rparen.end_pos)
        return self._power(node, power[0], rparen.end_pos) if power else node

    def primed_call(self, children: list) -> Node:
        """`f'(x)`, `sin''(x)`: a derivative of a function of one variable, at the argument."""
        primed, _, arguments, rparen = children
        written = primed.value.rstrip("".join(_PRIMES))
        name = normal(written)
        order = sum(_PRIMES[mark] for mark in primed.value[len(written):])
        span = primed.start_pos, primed.end_pos
        self._check_order(order, span)
        positional = self._positional(name + "'" * order, arguments)
        if len(positional) != 1:
            raise NamingError(f"{name}{chr(39) * order} takes 1 argument, got {len(positional)}", self.builder.text, span)
        self._check_not_recursive(name, span)
        program, variable = self._prime_program(name, order, span)
        return Node(inline(self.builder, program, {variable: positional[0].slot}), primed.start_pos, rparen.end_pos)

    # -- how calls are resolved
    def _call(self, callee: Token, arguments: list, start: int, end: int) -> Node:
        name = normal(callee.value)
        span = callee.start_pos, callee.end_pos
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
            return Node(self.builder.const(value, span), start, end)
        self._check_not_recursive(name, span)
        if name in self.functions:
            return Node(self._user_call(name, positional, keywords, span), start, end)
        name = ALIASES.get(name, name)
        if name == "diff":
            return Node(self._diff(positional, keywords, span), start, end)
        if name in RECIPROCALS:  # sec x is 1 / cos x, with that quotient's gradient
            inner = self._emit(self._resolve(RECIPROCALS[name], len(positional), span, name), tuple(positional),
                               span, start, end, self._params(name, RECIPROCALS[name], keywords))
            return self._emit("div", (Node(self.builder.const(1.0, span), *span), inner), span, start, end)
        primitive = self._resolve(name, len(positional), span)
        arity = PRIMITIVES[primitive].arity if primitive in PRIMITIVES else len(positional)
        positional, as_keywords = positional[:arity], positional[arity:]
        params = self._params(name, primitive, keywords, as_keywords)
        if primitive == "clip" and any(self._varies(node) for node in positional[1:]):
            params = (("closed", True),)  # bounds that are variables: PyTorch's clamp with tensor bounds
        if primitive == "log_base":
            numerator = self._emit("log", positional[:1], span, start, end)
            denominator = self._emit("log", positional[1:], span, start, end)
            return self._emit("div", (numerator, denominator), span, start, end)
        return self._emit(primitive, tuple(positional), span, start, end, params)

    def _is_function(self, name: str) -> bool:
        return name in self.functions or is_builtin_function(name) or bool(
            self.constructors and name in self.constructors)

    def _resolve(self, name: str, count: int, span: tuple[int, int], written: str | None = None) -> str:
        if name not in FUNCTIONS:
            close = suggest_function(name, known_functions(self.functions) | set(self.constructors or ()))
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
        if count in overloads:
            return overloads[count]
        for arity, primitive in sorted(overloads.items()):
            keywords = PRIMITIVES[primitive].params if primitive in PRIMITIVES else ()
            if arity < count <= arity + len(keywords):
                return primitive  # the extra arguments are its keywords, in order: softmax(a, 0), leaky_relu(x, 0.2)
        raise NamingError(_argument_count(written or name, sorted(overloads), count), self.builder.text, span)

    def _params(self, name: str, primitive: str, keywords: list[Keyword], positional: list[Node] = ()) -> tuple:
        """The call's static parameters (axis=, keepdims=, slope=, alpha=), sorted as the tracer sorts them."""
        allowed = PRIMITIVES[primitive].params if primitive in PRIMITIVES else ()
        given = [(Token("NAME", key, start_pos=node.start, end_pos=node.end), node) for key, node in zip(allowed, positional)]
        given += [(keyword.name, keyword.value) for keyword in keywords]
        params: dict[str, Any] = {}
        for token, node in given:
            key = token.value
            if key in params:
                raise self._error(NamingError, f"{name} got the keyword '{key}' twice", token)
            if key not in allowed:
                takes = f"; {name} takes " + " and ".join(f"{k}=" for k in allowed) if allowed else ""
                raise self._error(NamingError, f"{name} has no keyword '{key}'{takes}", token)
            params[key] = self._param_value(key, node)
        return tuple(sorted((key, value) for key, value in params.items() if value is not None))

    def _param_value(self, key: str, node: Node) -> Any:
        """A keyword's value: a whole number for axis, 0 or 1 for keepdims (None, left out, for 0), else a number."""
        value = self._constant(node, key)
        span = (node.start, node.end)
        if key == "axis":
            if np.ndim(value) != 0 or not -MOST_AXES <= float(value) < MOST_AXES or float(value) != int(value):
                whole = np.ndim(value) == 0 and np.isfinite(value) and float(value) == int(value)
                problem = f"axis {float(value):g} is out of range: arrays have at most {MOST_AXES} axes" if whole else \
                    "axis must be a whole number"
                raise ShapeError(problem, self.builder.text, span)
            return int(value)
        if np.ndim(value) != 0 or not np.isfinite(value):
            raise ShapeError(f"{key} must be a finite number", self.builder.text, span)
        if key == "keepdims":
            if value not in (0.0, 1.0):
                raise ShapeError("keepdims must be 0 or 1", self.builder.text, span)
            return True if value else None
        return float(value)

    def _varies(self, node: Node) -> bool:
        """Whether a subexpression depends on a variable."""
        instructions, _ = prune(self.builder.instructions, (node.slot,))
        return any(instruction.op == VAR for instruction in instructions)

    def _positional(self, name: str, arguments: list) -> list[Node]:
        for argument in arguments:
            if isinstance(argument, Keyword):
                raise self._error(NamingError, f"{name} takes no keyword arguments", argument.name)
        return arguments

    # -- user functions
    def _user_call(self, name: str, positional: list[Node], keywords: list[Keyword], span: tuple[int, int]) -> int:
        function = self.functions[name]
        self._positional(name, keywords)
        if len(positional) != len(function.parameters):
            raise NamingError(_argument_count(name, [len(function.parameters)], len(positional)), self.builder.text, span)
        return instantiate(self.builder, function, tuple(node.slot for node in positional))

    def _check_not_recursive(self, name: str, span: tuple[int, int]) -> None:
        """A call of the function being defined, or of one defined after the caller, is an error."""
        if name in self.functions:
            return
        if self.defining is not None and name == self.defining.name:
            raise NamingError(f"recursion: '{name}' calls itself (a function cannot call itself)", self.builder.text, span)
        later = [offset for offset, (defined, _) in self.heads.items() if defined == name and offset > span[0]]
        if not later:
            return
        caller = self.defining.name if self.defining is not None else None
        if caller is not None and re.search(rf"(?<!\w){re.escape(caller)}(?!\w)", _statement_at(self.builder.text, later[0])):
            message = f"recursion: '{caller}' calls '{name}', which calls '{caller}'"
        else:
            message = f"'{name}' is used before its definition: define a function before what calls it"
        raise NamingError(message, self.builder.text, span)

    def function_head(self, children: list) -> _Defining:
        defined, _, *parameters, _, _ = children
        name = normal(defined.value)
        self._check_definable(name, defined, "define")
        first_slot = len(self.builder.instructions)
        slots: dict[str, int] = {}
        for token in parameters:
            parameter = normal(token.value)
            if parameter in slots:
                raise self._error(NamingError, f"'{parameter}' is a parameter of '{name}' twice", token)
            if parameter in CONSTANTS or self._is_function(parameter):
                kind = "constant" if parameter in CONSTANTS else "function"
                raise self._error(NamingError, f"'{parameter}' cannot be a parameter: it is a {kind}", token)
            slots[parameter] = self.builder.var(parameter_variable(name, parameter), _span(token, token))
        self.defining = _Defining(name, slots, first_slot, _span(defined, defined))
        return self.defining

    def function_definition(self, children: list) -> None:
        head, body = children
        self.functions[head.name] = record_function(self.builder, head.name, tuple(head.parameters),
                                                    tuple(head.parameters.values()), head.first_slot, body.slot,
                                                    head.span)
        self.defining = None

    def _check_definable(self, name: str, token: Token, verb: str) -> None:
        if name in CONSTANTS:
            raise self._error(NamingError, f"cannot {verb} '{name}': it is a constant", token)
        if is_builtin_function(name) or name in CONSTRUCTOR_NAMES:
            raise self._error(NamingError, f"cannot {verb} '{name}': it is a function", token)
        if name in self.definitions or name in self.functions:
            raise self._error(NamingError, f"'{name}' is defined twice", token)
        if name in self.variables:
            raise self._error(NamingError, f"'{name}' is used before its definition", token)

    # -- derivatives
    def _diff(self, positional: list[Node], keywords: list[Keyword], span: tuple[int, int]) -> int:
        """diff(expr, x) and diff(expr, x, n): the engine's derivative program of expr, inlined."""
        self._positional("diff", keywords)
        if len(positional) not in (2, 3):
            raise NamingError(_argument_count("diff", [2, 3], len(positional)), self.builder.text, span)
        expression, variable = positional[:2]
        instruction = self.builder.instructions[variable.slot]
        if instruction.op != VAR:
            raise ParseError("diff(expr, x): x must be a variable", self.builder.text, (variable.start, variable.end))
        order = 1
        if len(positional) == 3:
            count = positional[2]
            value = self._constant(count, "diff's order")
            if np.ndim(value) != 0 or float(value) != int(value) or value < 1:
                raise ParseError("diff(expr, x, n): n must be a whole number of at least 1", self.builder.text,
                                 (count.start, count.end))
            order = int(value)
            self._check_order(order, (count.start, count.end))
        program = derivative_program(self.builder, expression.slot, instruction.params[0][1], order)
        return inline(self.builder, program, {})

    def _prime_program(self, name: str, order: int, span: tuple[int, int]) -> tuple[Program, str]:
        """The derivative program of `name` (a function of one variable) to this order, and its variable;
        made once per program."""
        if (name, order) in self.derivatives:
            return self.derivatives[(name, order)]
        if name in self.functions:
            function = self.functions[name]
            if len(function.parameters) != 1:
                raise NamingError(f"'{name}' has {len(function.parameters)} parameters: a prime needs one "
                                  f"(for the others write diff({name}(...), x))", self.builder.text, span)
            variable, result = parameter_variable(name, function.parameters[0]), function.result
        else:
            canonical = ALIASES.get(name, name)
            if 1 not in builtin_arities(name) or not (canonical in RECIPROCALS or PRIMITIVES[FUNCTIONS[canonical][1]].elementwise):
                if not is_builtin_function(name):
                    self._resolve(name, 1, span)  # the unknown-function error, with its suggestion
                raise NamingError(f"'{name}' is not a function of one number: write diff({name}(...), x)",
                                  self.builder.text, span)
            variable = f"parameter:{name}'"
            placeholder = Node(self.builder.var(variable, span), *span)
            result = self._call(_NameToken(name, *span), [placeholder], *span).slot
        self.derivatives[(name, order)] = derivative_program(self.builder, result, variable, order), variable
        return self.derivatives[(name, order)]

    def _check_order(self, order: int, span: tuple[int, int]) -> None:
        if order > MAX_DERIVATIVE_ORDER:
            raise ParseError(f"derivatives go up to order {MAX_DERIVATIVE_ORDER}, not {order}", self.builder.text, span)

    # -- programs
    def definition(self, children: list) -> None:
        name, _, value = children
        key = normal(name.value)
        self._check_definable(key, name, "define")
        self.definitions[key] = value

    def binding(self, children: list) -> None:
        name, _, value = children
        key = normal(name.value)
        if key in CONSTANTS or self._is_function(key):
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

    def _power(self, base: Node, power: FunctionPower, end: int) -> Node:
        """base ^ power, emitted as `base^2` or `base^-1` would be (a negative power is the negation of a number)."""
        span = power.start, power.end
        exponent = Node(self.builder.const(abs(power.value), span), *span)
        if power.value < 0:
            exponent = self._emit("neg", (exponent,), (power.start, power.start + 1), *span)
        return self._emit("pow", (base, exponent), span, base.start, end)

    def _constant(self, node: Node, what: str) -> Any:
        """The value of a subexpression that must not depend on variables."""
        if self._varies(node):
            raise BindingError(f"{what} must be a constant (no variables)", self.builder.text, (node.start, node.end))
        instructions, outputs = prune(self.builder.instructions, (node.slot,))
        return forward(Program(self.builder.text, instructions, outputs, (), {}), {})[outputs[0]]

    def _error(self, kind: type, message: str, token: Token) -> Exception:
        return kind(message, self.builder.text, _span(token, token))


class _NameToken(NamedTuple):
    """A stand-in for a name's token, for a call the compiler makes itself (a built-in's prime)."""
    value: str
    start_pos: int
    end_pos: int


def _superscript_value(token: Token) -> tuple[float, int, int]:
    """(value, start, end) of a run of superscript digits, `⁻` first for a negative one."""
    digits = token.value.lstrip("\u207b").translate(_SUPERSCRIPTS)
    sign = -1.0 if token.value.startswith("\u207b") else 1.0
    return sign * float(digits), token.start_pos, token.end_pos


def _argument_count(name: str, counts: list[int], given: int) -> str:
    plural = "" if counts == [1] else "s"
    return f"{name} takes {' or '.join(str(n) for n in counts)} argument{plural}, got {given}"


def _statement_at(text: str, offset: int) -> str:
    """The statement that starts at `offset` (up to its ';' or new line)."""
    return re.split(r"[;\n]", text[offset:], maxsplit=1)[0]


# -- the Lark parser, built once per process --------------------------------------------

_TERMINAL_WORDS = {
    "NUMBER": "a number", "NAME": "a name", "CALLEE": "a function call", "LPAREN": "'('", "RPAREN": "')'",
    "LBRACKET": "'['", "RBRACKET": "']'", "PLUS": "'+'", "MINUS": "'-'", "TIMES": "'*'", "DIVIDE": "'/'",
    "MATMUL": "'@'", "POWER": "'^'", "ASSIGN": "'='", "COLON": "':'", "TRANSPOSE": "'.T'", "_COMMA": "','", "WHERE": "'where'",
    "FUNC": "a function", "ROOT": "a root", "BAR": "'|'", "BAR_OPEN": "'|'", "CALL_LPAREN": "'('",
    "PRIMED": "a derivative", "DEFINED": "a function definition", "SUPERSCRIPT": "a superscript power",
    "DEGREE": "'°'", "COMPARE": "a comparison",
    "SEMICOLON": "';'", "_NEWLINE": "a new line", "$END": "the end of the text",
}
_OPERAND_STARTS = {"NUMBER", "NAME", "CALLEE", "LPAREN", "LBRACKET", "MINUS", "PLUS", "FUNC", "ROOT", "BAR_OPEN",
                   "PRIMED"}
_SEPARATORS = {"SEMICOLON", "_NEWLINE"}


def _grammar_text() -> str:
    with open(grammar_path(), encoding="utf-8") as grammar:
        return grammar.read()


def _lark_cython_plugins() -> dict[str, Any]:
    """Lark's Cython lexer and parser when installed (faster parses, and half of batch mode's time
    is parsing), else pure-Python Lark. Both take the same grammar and callbacks and give the same programs."""
    try:
        import lark_cython
    except ImportError:
        return {}
    return lark_cython.plugins


def _cache_path(grammar: str, cython: bool = False) -> str | bool:
    """Where Lark keeps the built parser tables: the user's private cache folder, else nowhere (False).

    Building the tables from the grammar takes far longer than loading them. Never Lark's own
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


def _terminal_names(grammar: str) -> list[str]:
    """The grammar's named terminals that reach the parser (not comments), for the token callback."""
    return [name for name in re.findall(r"(?m)^([A-Z_][A-Z0-9_]*)(?:\.\d+)?\s*:", grammar) if name != "COMMENT"]


class Parser:
    """One Lark LALR parser with the compiler as its inline transformer; thread-safe."""

    def __init__(self, accelerated: bool = True) -> None:
        self._compiler = _Compiler()
        self._retyper = Retyper()
        grammar = _grammar_text()
        plugins = _lark_cython_plugins() if accelerated else {}
        # The basic lexer: the grammar needs no context to tell its tokens apart (`where` is a
        # keyword everywhere), and the contextual one compiles a lexer per parser state at the
        # first parse, which every one-shot command would pay. What the lexer cannot tell from the
        # text alone (is this "|" opening or closing?) the retyper tells from the tokens before.
        callbacks = {name: self._retyper for name in _terminal_names(grammar)}
        self._lark = Lark(grammar, parser="lalr", lexer="basic", transformer=self._compiler, _plugins=plugins,
                          lexer_callbacks=callbacks, cache=_cache_path(grammar, cython=bool(plugins)))
        self._lock = _thread.allocate_lock()  # not threading's: importing that module costs start-up

    def compile(self, text: str, constructors: dict[str, Callable] | None = None,
                finish: Callable[[_Compiler], Any] | None = None) -> Any:
        """`finish(compiler)` after parsing `text`, called while the lock is held (the next parse, in any
        thread, resets the compiler); without `finish`, (compiler, result) for one thread's use."""
        with self._lock:
            compiler = self._parse(text, constructors)
            return finish(compiler) if finish is not None else (compiler, compiler.result)

    def compile_after(self, prelude: Prelude, text: str) -> Program:
        """The program of `prelude.text`, a new line and `text`, parsing `text` alone."""
        with self._lock:
            return _program(self._parse(text, None, prelude))

    def extend(self, prelude: Prelude, definition: str) -> Prelude:
        """The prelude with one more line of definitions, parsing that line alone."""
        with self._lock:
            try:
                compiler = self._parse(definition + "\n0", None, prelude)  # a program ends in an expression
            except ParseError as problem:
                end = len(prelude.text) + bool(prelude.text) + len(definition)
                if problem.span is not None and problem.span[0] >= end:
                    self._parse(definition, None, prelude)  # met at the closing 0: the line's own error (a missing ')')
                raise
            if compiler.where:
                raise ParseError("a definition cannot have a where clause", compiler.builder.text,
                                 (len(prelude.text), len(compiler.builder.text)))
            builder = compiler.builder
            closing = (len(builder.text) - 1, len(builder.text))
            if builder.instructions[-1].span == closing:  # the closing 0 made a slot of its own
                builder.drop_last()
            return Prelude(builder.text[:-2], builder.snapshot(),
                           dict(compiler.variables), dict(compiler.definitions), dict(compiler.functions),
                           dict(compiler.derivatives), frozenset(self._retyper.bare))

    def _parse(self, text: str, constructors: dict[str, Callable] | None, prelude: Prelude | None = None) -> _Compiler:
        """Run the compiler over `text`, after the prelude's definitions when one is given.

        A prelude's place in the text is held by blanks, which the lexer skips in one match: so
        every position (spans, errors, the function heads) counts from the start of the whole
        program, as when it is compiled from its text, and the definitions are not parsed again.
        """
        joined = join_bracketed_lines(text)
        if prelude is not None and prelude.text:
            text = prelude.text + "\n" + text
            joined = " " * (len(prelude.text) + 1) + joined
        compiler = self._compiler
        heads = function_heads(joined)
        compiler.reset(text, constructors, heads)
        self._retyper.reset(text, heads)
        if prelude is not None:
            compiler.restore(prelude)
            self._retyper.bare.update(prelude.bare)
        try:
            self._lark.parse(joined)
        except UnexpectedInput as error:
            raise _parse_error(joined, error, shown=text, retyper=self._retyper) from None
        return compiler


class Prelude(NamedTuple):
    """The compiler's state after some lines of definitions, so that later lines can use them
    without parsing them again (an interactive session's definitions). `EMPTY_PRELUDE.extend`
    makes the first."""

    text: str
    built: tuple[tuple[Instruction, ...], dict[Any, int]]  # the builder's snapshot: instructions, what they share
    variables: dict[str, int]
    definitions: dict[str, Node]
    functions: dict[str, UserFunction]
    derivatives: dict[tuple[str, int], tuple[Program, str]]
    bare: frozenset[str]  # user functions of one parameter, applied without brackets


EMPTY_PRELUDE = Prelude("", ((), {}), {}, {}, {}, {}, frozenset())


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


def _parse_error(text: str, error: UnexpectedInput, shown: str, retyper: Retyper) -> ParseError:
    """The error for `text`, the parsed form of `shown` (join_bracketed_lines), placed in `shown`."""
    if isinstance(error, UnexpectedCharacters):
        return _unexpected_character(shown, error.pos_in_stream)
    expected = set(getattr(error, "expected", ()) or ())
    token = getattr(error, "token", None)
    function = _function_before(retyper, token)
    if function is not None:
        name = normal(function.value)
        if token is not None and token.type == "MINUS":
            message = f"'{name}' is a function: write {name}(-...) for a negative argument"
        else:
            message = f"'{name}' is a function: call it as {name}(...)"
        return ParseError(message, shown, (function.start_pos, function.end_pos))
    if token is not None and token.type == "COMPARE" and "COMPARE" not in expected:
        return ParseError("comparisons do not chain: write (a < b) * (b < c) for both", shown,
                          (token.start_pos, token.end_pos))
    if token is None or token.type == "$END" or token.type in ("BAR", "BAR_OPEN"):
        unclosed = retyper.unclosed_bar()
        if unclosed is not None:
            return unclosed
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


def _function_before(retyper: Retyper, token: Token | None) -> Token | None:
    """The bare function name (FUNC or √) right before the unexpected token, if that is what it follows."""
    if token is None or token.type == "$END":
        last = retyper.previous
    elif token is retyper.previous or (token.start_pos == getattr(retyper.previous, "start_pos", None)):
        last = retyper.before
    else:
        return None
    return last if last is not None and last.type in ("FUNC", "ROOT") else None


def _unexpected_character(text: str, position: int) -> ParseError:
    char = text[position]
    hint = "; numbers look like 2, 2.5, .5 or 1e-3" if char == "." else ""
    if char == "'" and position > 0 and (text[position - 1].isalnum() or text[position - 1] in "_'"):
        hint = "; a prime is written on a call: f'(x)"
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
    if token.type == "LBRACKET" and text[:token.start_pos].rstrip()[-1:] in "0123456789.":
        return "unexpected '[': a number cannot be indexed; for a product write '*' before the array"
    if expected & _OPERAND_STARTS and expected <= _OPERAND_STARTS | _SEPARATORS | {"TRANSPOSE", "DEFINED"}:
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
    """This process's parser; `accelerated=False` is pure-Python Lark, which loads sooner than
    lark-cython and so suits one text per process (a one-shot command) rather than many."""
    return Parser(accelerated)


def compile_program(text: str, accelerated: bool = True) -> Program:
    """Compile a program (definitions, a final expression, an optional where clause)."""
    if not text.strip() or all(not line.split("#")[0].strip() for line in text.splitlines()):
        raise ParseError("empty program", text, None)
    return parser(accelerated).compile(text, finish=_program)


def _program(compiler: _Compiler) -> Program:
    return compiler.builder.build((compiler.result.slot,), tuple(compiler.variables), compiler.where)


def compile_value(text: str, constructors: dict[str, Callable]) -> Any:
    """Evaluate a constant expression (a binding's value): no variables, constructors allowed.

    On pure-Python Lark: a run reads its bindings once, and a one-shot command then loads one parser.
    """
    if not text.strip():
        raise BindingError("empty value", text, None)
    def value(compiler: _Compiler) -> Any:
        if compiler.definitions or compiler.where:
            raise BindingError("a value is one expression (no definitions or where)", text, None)
        return compiler._constant(compiler.result, "a value")

    return parser(accelerated=False).compile(text, constructors, value)
