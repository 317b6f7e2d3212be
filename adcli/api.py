"""The library front end: compile a program once, then evaluate and differentiate it many times."""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .lazy_numpy import np

from . import program_store

from .engine import derivatives
from .errors import BindingError, NamingError, ParseError, suggestion
from .engine.primitives import CONSTANTS
from .language.names import function_hint, is_builtin_function
from .engine.program import Program
from .engine.tape import forward

if TYPE_CHECKING:
    from .engine.taylor import Limit


def as_value(value: Any) -> float | np.ndarray | np.float64:
    """A binding as float64: Python numbers as Python floats (the scalar sweep's), NumPy scalars as
    NumPy scalars, anything else as an array."""
    if type(value) in (float, int):
        return float(value)
    array = np.asarray(value, dtype=np.float64)
    return array[()] if array.ndim == 0 else array


def bound_value(name: str, value: Any) -> float | np.ndarray | np.float64:
    """A library binding as float64 (as_value), or a BindingError that names it: never NumPy's own TypeError,
    nor a None or a string quietly read as nan or as a number."""
    check_bindable(name)
    if type(value) is float or type(value) in (np.ndarray, np.float64) and value.dtype == np.float64:
        return as_value(value)  # the common kinds, checked no further: a Jacobian in a loop binds them each call
    if value is None or isinstance(value, (str, bytes)):
        raise BindingError(f"cannot bind '{name}': {value!r} is not a number or an array of numbers")
    try:
        if type(value) not in (float, int) and np.asarray(value).dtype.kind not in "biufO":
            raise TypeError(f"it holds {np.asarray(value).dtype} values, not real numbers")
        return as_value(value)
    except OverflowError:
        raise BindingError(f"cannot bind '{name}': a whole number too large for float64") from None
    except ValueError:  # NumPy's words for ragged lists
        raise BindingError(f"cannot bind '{name}': its lists are ragged: every row must have the same length") from None
    except TypeError as problem:
        reason = str(problem) if str(problem).startswith("it holds") else \
            f"a value of type {type(value).__name__} is not a number or an array of numbers"
        raise BindingError(f"cannot bind '{name}': {reason}") from None


def whole_number(order: Any, least: int | None = None) -> int:
    """A library call's order as an int (NumPy integers too), at least `least` when given, else a BindingError
    (a formula's order has its own range, which its command checks)."""
    try:
        number = operator.index(order)
    except TypeError:
        number = None
    if number is None or isinstance(order, bool) or least is not None and number < least:
        floor = "" if least is None else f", {least} or more"
        raise BindingError(f"the order must be a whole number{floor}, got {order!r}")
    return number


def to_python(value: Any) -> float | np.ndarray:
    """0-d results as Python floats, arrays as float64 ndarrays."""
    if type(value) is float:
        return value
    return float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=np.float64)


def check_bindable(name: str) -> None:
    if name in CONSTANTS or is_builtin_function(name):
        kind = "constant" if name in CONSTANTS else "function"
        raise BindingError(f"cannot bind '{name}': it is a {kind}")


class Compiled:
    """A compiled program. `variables` are its free names in order of first appearance."""

    def __init__(self, program: Program):
        self.program = program
        self._gradient_programs: dict[tuple, Program] = {}

    @property
    def text(self) -> str:
        return self.program.text

    @property
    def variables(self) -> tuple[str, ...]:
        return self.program.variables

    def __repr__(self) -> str:
        return f"adcli.compile({self.text!r})"

    def rebound(self, text: str, where: Mapping[str, Any]) -> Compiled:
        """The same instructions under another source text and `where` values, sharing derivative programs.

        `text` must start with the text this program was compiled from (its spans point there):
        batch mode reuses one compiled program for every line whose text before `where` matches.
        """
        twin = Compiled(self.program._replace(text=text, where=dict(where)))
        twin._gradient_programs = self._gradient_programs
        return twin

    def inputs(self, bindings: Mapping[str, Any]) -> dict[str, Any]:
        """Every binding as float64, the text's `where` values winning; unbound variables are errors."""
        inputs = {name: bound_value(name, value) for name, value in bindings.items()}
        inputs.update(self.program.where)
        missing = [name for name in self.variables if name not in inputs]
        if missing:
            name = missing[0]
            hint = suggestion(name, [n for n in inputs if n not in self.variables]) or function_hint(name)
            raise NamingError(f"variable '{name}' has no value{hint}; give it one ({name}=...) or write 'where {name}=...'",
                              command_line=f"variable '{name}' has no value{hint}; "
                                           f"bind it with --at {name}=VALUE or 'where {name}=...'")
        return inputs

    def gradient_order(self, inputs: Mapping[str, Any], wrt: Sequence[str] | None) -> list[str]:
        """--wrt order when given, else first appearance, then bound names the program does not use."""
        if wrt is None:
            return list(self.variables) + [name for name in inputs if name not in self.variables]
        wrt = _names(wrt)
        if not wrt:
            raise NamingError("wrt names no variable", command_line="--wrt names no variable")
        repeated = sorted({name for name in wrt if list(wrt).count(name) > 1})
        if repeated:
            raise NamingError(f"wrt names '{repeated[0]}' more than once",
                              command_line=f"--wrt names '{repeated[0]}' more than once")
        for name in wrt:
            if name in CONSTANTS:
                raise NamingError(f"cannot differentiate with respect to '{name}': it is a constant")
            if name not in inputs:
                raise NamingError(f"cannot differentiate with respect to '{name}': it has no value{suggestion(name, inputs)}")
        return list(wrt)

    def eval(self, **bindings: Any) -> float | np.ndarray:
        """The program's value at the bindings."""
        return to_python(self.evaluate(self.inputs(bindings)))

    def evaluate(self, inputs: Mapping[str, Any]) -> Any:
        return forward(self.program, inputs)[self.program.output]

    def grad(self, wrt: Sequence[str] | None = None, **bindings: Any) -> tuple[Any, dict[str, Any]]:
        """(value, {name: d(sum of value)/d name}), for `wrt` or every bound variable."""
        inputs = self.inputs(bindings)
        value, grads = derivatives.value_and_gradients(self.program, inputs, self.gradient_order(inputs, wrt))
        return to_python(value), {name: to_python(g) for name, g in grads.items()}

    def derivative(self, name: str, order: int, **bindings: Any) -> tuple[Any, Any]:
        """(value, d^order/d name^order of the summed value)."""
        inputs = self.inputs(bindings)
        name = self.gradient_order(inputs, [name])[0]
        order = whole_number(order, 1)
        values = forward(self.program, inputs)
        derivative = self.nth_derivative(inputs, values, name, order)
        if derivative is None:
            program = self.derivative_program(name, order, derivatives.shapes_of(inputs))
            derivative = forward(program, inputs)[program.output]
        return to_python(values[self.program.output]), to_python(derivative)

    def nth_derivative(self, inputs: Mapping[str, Any], values: list[Any], name: str, order: int) -> float | None:
        """The nth derivative at a scalar point from one Taylor sweep (order >= 2), or None where the
        nested derivative program answers instead (arrays, kinks and domain edges, non-finite values)."""
        if order < 2:
            return None
        from .engine.taylor import derivative_at  # here: series arithmetic loads only when asked for

        return derivative_at(self.program, inputs, values, name, order)

    def derivative_program(self, name: str, order: int, shapes: Mapping[str, tuple[int, ...]] | None = None) -> Program:
        """The program of the nth derivative, for these shapes of the variables (default: any shapes;
        knowing them makes it smaller)."""
        key = (name, order, tuple(sorted(shapes.items())) if shapes is not None else None)
        if key not in self._gradient_programs:
            self._gradient_programs[key] = derivatives.nth_derivative_program(self.program, name, order, shapes)
        return self._gradient_programs[key]

    def taylor(self, name: str, at: float, order: int = 5, **bindings: Any) -> list[float]:
        """c_k = f^(k)(at) / k! for k = 0..order: the Taylor coefficients in `name` at `at`, from one
        sweep of truncated power series. Other variables are bound by `bindings`."""
        from .engine.taylor import taylor_coefficients  # here: only Taylor mode needs series arithmetic

        inputs = self.inputs({**bindings, _name(name): at})
        return taylor_coefficients(self.program, inputs, self.gradient_order(inputs, [name])[0], whole_number(order, 0))

    def limit(self, name: str, at: float, **bindings: Any) -> Limit:
        """The limits from the left and the right as `name` -> `at` (`.value` when they agree), from the
        leading term of the series: 0/0 in analytic parts cancels, a pole gives signed infinities."""
        from .engine.taylor import limit

        inputs = self.inputs({**bindings, _name(name): at})
        return limit(self.program, inputs, self.gradient_order(inputs, [name])[0])

    def derivative_text(self, name: str, order: int = 1, **bindings: Any) -> str:
        """d^order/d name^order as a formula (adcli text), the bound variables' values substituted:
        `adcli.compile("(x - 4)(x^2 + 6)").derivative_text("x")` is `3x^2 - 8x + 6`."""
        return self.derivative_formula(name, order, **bindings).text

    def derivative_formula(self, name: str, order: int = 1, **bindings: Any):
        """The formula of d^order/d name^order as text, LaTeX and its length (symbolic.formula.Formula)."""
        from .symbolic.formula import derivative_formula  # here: only formulas need the symbolic package

        values = {n: bound_value(n, v) for n, v in bindings.items()}
        return derivative_formula(self.program, _name(name), whole_number(order), values)

    def hessian(self, wrt: Sequence[str] | None = None, **bindings: Any) -> tuple[Any, dict[str, Any], np.ndarray]:
        inputs = self.inputs(bindings)
        value, grads, matrix = derivatives.hessian(self.program, inputs, self.gradient_order(inputs, wrt))
        return to_python(value), {n: to_python(g) for n, g in grads.items()}, matrix

    def jacobian(self, wrt: Sequence[str] | None = None, **bindings: Any) -> tuple[Any, dict[str, np.ndarray]]:
        inputs = self.inputs(bindings)
        value, matrices = derivatives.jacobian(self.program, inputs, self.gradient_order(inputs, wrt))
        return to_python(value), matrices


def _name(name: Any) -> str:
    if not isinstance(name, str):
        raise NamingError(f"variables are named by strings, got {name!r}")
    return name


def _names(wrt: Any) -> list[str]:
    """Variable names as a list: a string is one name, or several with commas as --wrt takes them ("x,y")."""
    if isinstance(wrt, str):
        return [name.strip() for name in wrt.split(",")] if wrt.strip() else []
    try:
        names = list(wrt)
    except TypeError:
        names = [wrt]
    return [_name(name) for name in names]


def compile(text: str) -> Compiled:  # noqa: A001 - the name users expect, as re.compile
    """Parse and compile a program once; evaluate it at many bindings."""
    if not isinstance(text, str):
        raise ParseError(f"a program is text (a str), got {type(text).__name__}", "", None)
    from .language.parser import compile_program  # here: importing Lark is slow, and a stored program needs none of it
    return Compiled(compile_program(text))


def compile_stored(text: str) -> Compiled:
    """compile(text), taken from the program store when an earlier process compiled the same text.

    For one-shot commands, which ask one formula once per process; the store is disk I/O that
    a library user compiling in one process does not need.
    """
    program = program_store.load(text)
    if program is None:
        from .language.parser import compile_program
        program = compile_program(text, accelerated=False)  # one text per process: the parser that loads soonest
        program_store.save(program)
    return Compiled(program)


def evaluate(text: str, **bindings: Any) -> float | np.ndarray:
    """One-off value: `adcli.evaluate("x^2", x=3)`."""
    return compile(text).eval(**bindings)


def grad(text: str, wrt: Sequence[str] | None = None, **bindings: Any) -> tuple[Any, dict[str, Any]]:
    """One-off value and gradient: `adcli.grad("(x+2y)^2", x=1, y=2)`."""
    return compile(text).grad(wrt, **bindings)
