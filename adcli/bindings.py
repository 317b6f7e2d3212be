"""Values for variables: `--at NAME=VALUE` text, constant expressions, constructors and files."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from .api import as_value, check_bindable
from .errors import BindingError
from .parser import compile_value


def split_top_level(text: str, separator: str = ",") -> list[str]:
    """Split at separators outside brackets and parentheses: 'x=[1,2],y=3' -> ['x=[1,2]', 'y=3']."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _shape(values: Iterable[Any]) -> tuple[int, ...]:
    shape = []
    for value in values:
        if np.ndim(value) != 0 or float(value) != int(value) or value < 0:
            raise ValueError("sizes must be whole numbers >= 0")
        shape.append(int(value))
    return tuple(shape)


def _count(value: Any) -> int:
    return _shape([value])[0]


def constructors(rng: np.random.Generator) -> dict[str, Callable[..., np.ndarray]]:
    """The functions a binding's value may call besides the language's own."""
    return {
        "linspace": lambda start, stop, count: np.linspace(start, stop, _count(count)),
        "arange": lambda *bounds: np.arange(*bounds, dtype=np.float64),
        "zeros": lambda *shape: np.zeros(_shape(shape)),
        "ones": lambda *shape: np.ones(_shape(shape)),
        "rand": lambda *shape: rng.random(_shape(shape)),
        "randn": lambda *shape: rng.standard_normal(_shape(shape)),
    }


def parse_assignments(options: Iterable[str], seed: int | None = None) -> dict[str, Any]:
    """Every `--at` option (each may hold several comma-separated NAME=VALUE) as one ordered dict."""
    rng = np.random.default_rng(seed)
    table = constructors(rng)
    bindings: dict[str, Any] = {}
    for option in options:
        for part in split_top_level(option):
            name, value = _split_assignment(part, option)
            if name in bindings:
                raise BindingError(f"'{name}' is bound twice with --at")
            bindings[name] = parse_value(value.strip(), table, name)
    return bindings


def _split_assignment(part: str, option: str) -> tuple[str, str]:
    name, equals, value = part.partition("=")
    name = name.strip()
    if not equals or not name.isidentifier():
        raise BindingError(f"--at takes NAME=VALUE, got '{part.strip() or option}'")
    check_bindable(name)
    if not value.strip():
        raise BindingError(f"--at {name}= needs a value")
    return name, value


def parse_value(text: str, table: dict[str, Callable], name: str = "") -> Any:
    """A constant expression, or `@path` for a file."""
    if text.startswith("@"):
        return load_file(text[1:])
    try:
        return as_value(compile_value(text, table))
    except BindingError as error:
        prefix = f"--at {name}: " if name else ""
        raise BindingError(prefix + error.message, error.text, error.span) from None


def load_file(path_text: str) -> Any:
    """.npy (never pickles), .csv/.txt (numbers separated by commas or blanks), .json (nested lists)."""
    path = Path(path_text)
    suffix = path.suffix.lower()
    loaders = {".npy": _load_npy, ".csv": _load_text, ".txt": _load_text, ".json": _load_json}
    if suffix not in loaders:
        raise BindingError(f"cannot read '{path_text}': unknown file type '{suffix}' (use .npy, .csv, .txt or .json)")
    try:
        return as_value(loaders[suffix](path))
    except OSError as error:
        raise BindingError(f"cannot read '{path_text}': {error.strerror or error}") from None
    except (ValueError, TypeError) as error:
        raise BindingError(f"cannot read '{path_text}': {error}") from None


def _load_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as error:
        if "pickle" in str(error):
            raise ValueError("it holds Python objects (a pickle); adcli loads numeric arrays only") from None
        raise
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise ValueError("it does not hold a numeric array")
    return array


def _load_text(path: Path) -> np.ndarray:
    text = path.read_text(encoding="utf-8-sig").replace(",", " ")
    if not text.strip():
        raise ValueError("the file holds no numbers")
    return np.loadtxt(io.StringIO(text), dtype=np.float64)


def _load_json(path: Path) -> np.ndarray:
    data = json.loads(path.read_text(encoding="utf-8-sig"))
    try:
        array = np.asarray(data, dtype=np.float64)
    except ValueError:
        raise ValueError("it is not a number or nested lists of numbers of one shape") from None
    return array
