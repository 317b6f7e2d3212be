"""Values for variables: `--at NAME=VALUE` text, constant expressions, constructors and files."""

from __future__ import annotations

import functools
import io
import math
import os
import re
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterable

from ..lazy_numpy import np

from ..api import as_value, check_bindable
from ..errors import AdcliError, BindingError
from .names import normal

if TYPE_CHECKING:
    from pathlib import Path

NPY_MAGIC = b"\x93NUMPY"
JSON_WORDS = {"nan", "inf", "-inf"}  # how adcli's own JSON writes non-finite numbers
MAX_DIMENSIONS = 64  # NumPy's limit
# The largest text file (.csv, .txt, .json) an @value reads (a .npy's header must match its size).
MAX_FILE_BYTES = 1 << 26


def split_top_level(text: str, separator: str = ",") -> list[str]:
    """Split at separators outside brackets, parentheses and quotes: 'x=[1,2],y=3' -> ['x=[1,2]', 'y=3'];
    `x=@"a,b.npy"` stays whole (a file name with a comma is quoted)."""
    parts, depth, start, quote = [], 0, 0, ""
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


# -- constructors: linspace, arange, zeros, ones, rand, randn ----------------------------

def _whole(value: Any) -> int:
    if np.ndim(value) != 0:
        raise ValueError("sizes must be whole numbers >= 0, got an array")
    if not math.isfinite(value) or float(value) != int(value) or value < 0:
        raise ValueError(f"sizes must be whole numbers >= 0, got {float(value):g}")
    return int(value)


def _shape(arguments: tuple[Any, ...]) -> tuple[int, ...]:
    """zeros(2, 3) and zeros([2, 3]) alike."""
    if len(arguments) == 1 and np.ndim(arguments[0]) == 1:
        arguments = tuple(arguments[0])
    return tuple(_whole(size) for size in arguments)


def _arange(*bounds: Any) -> np.ndarray:
    if len(bounds) == 3 and bounds[2] == 0:
        raise ValueError("the step must not be 0")
    return np.arange(*bounds, dtype=np.float64)


def _constructor(usage: str, counts: range, build: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """`build`, checking the number of arguments and turning NumPy's complaints into plain ones."""
    def construct(*arguments: Any) -> np.ndarray:
        if len(arguments) not in counts:
            raise ValueError(f"call it as {usage}, got {len(arguments)} argument{'s' * (len(arguments) != 1)}")
        try:
            return build(*arguments)
        except MemoryError:
            raise ValueError("not enough memory for that many elements") from None

    return construct


def constructors(rng: Callable[[], np.random.Generator]) -> dict[str, Callable[..., np.ndarray]]:
    """The functions a binding's value may call besides the language's own; `rng()` gives the generator."""
    any_count = range(1, MAX_DIMENSIONS + 1)
    return {
        "linspace": _constructor("linspace(start, stop, count)", range(3, 4),
                                 lambda start, stop, count: np.linspace(start, stop, _whole(count))),
        "arange": _constructor("arange(stop), arange(start, stop) or arange(start, stop, step)", range(1, 4), _arange),
        "zeros": _constructor("zeros(size, ...)", any_count, lambda *sizes: np.zeros(_shape(sizes))),
        "ones": _constructor("ones(size, ...)", any_count, lambda *sizes: np.ones(_shape(sizes))),
        "rand": _constructor("rand(size, ...)", any_count, lambda *sizes: rng().random(_shape(sizes))),
        "randn": _constructor("randn(size, ...)", any_count, lambda *sizes: rng().standard_normal(_shape(sizes))),
    }


# -- --at options ------------------------------------------------------------------------

def parse_assignments(options: Iterable[str], seed: int | None = None) -> dict[str, Any]:
    """Every `--at` option (each may hold several comma-separated NAME=VALUE) as one ordered dict.

    rand/randn draw from one generator seeded by `seed`, in the order the values are written.
    """
    if seed is not None and seed < 0:
        raise BindingError(f"--seed takes a whole number >= 0, got {seed}")
    # The generator is made on first use: importing numpy.random would slow every start.
    table = constructors(functools.cache(lambda: np.random.default_rng(seed)))
    pairs = [_split_assignment(part, option, previous)
             for option in options for previous, part in _with_previous(split_top_level(option))]
    bindings: dict[str, Any] = {}
    for name, value in pairs:  # every NAME=VALUE checked before any value is read
        if name in bindings:
            raise BindingError(f"'{name}' is bound twice with --at")
        bindings[name] = parse_value(value.strip(), table, name)
    return bindings


def _with_previous(parts: list[str]) -> list[tuple[str, str]]:
    return list(zip(["", *parts], parts))


def _split_assignment(part: str, option: str, previous: str = "") -> tuple[str, str]:
    name, equals, value = part.partition("=")
    name = name.strip()
    if not equals or not name.isidentifier():
        hint = ""
        if previous.partition("=")[2].strip().startswith("@"):
            file = f"{previous.partition('=')[2].strip()[1:]},{part}"
            hint = f"; a file name with a comma is quoted: {previous.partition('=')[0].strip()}=@\"{file}\""
        raise BindingError(f"--at takes NAME=VALUE, got '{part.strip() or option}'{hint}")
    name = normal(name)  # as the parser compares names: a full-width ｘ is x
    check_bindable(name)
    if not value.strip():
        raise BindingError(f"--at {name}= needs a value")
    return name, value


# The grammar's NUMBER with an optional sign (tests hold the two together).
_SIGNED_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# nan and inf, as a points file's cells and NumPy's text files write them; not names of the language.
_NONFINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


def parse_value(text: str, table: dict[str, Callable], name: str = "") -> Any:
    """A constant expression, or `@path` for a file; errors say which --at they are about."""
    if _SIGNED_NUMBER.fullmatch(text):
        number = float(text)
        if math.isfinite(number):  # the parser's value exactly, without importing Lark
            return number
    if _NONFINITE.fullmatch(text.strip()):
        return float(text)
    try:
        if text.startswith("@"):
            return load_file(_unquoted(text[1:].strip()))
        from .parser import compile_value
        return as_value(compile_value(text, table))
    except AdcliError as error:
        if not name:
            raise
        raise type(error)(f"--at {name}: {error.message}", error.text, error.span) from None


# -- files -------------------------------------------------------------------------------

def _unquoted(path_text: str) -> str:
    """`"a,b.npy"` or `'a,b.npy'` -> `a,b.npy`: a file name with a comma (or a bracket) is quoted in --at."""
    if len(path_text) >= 2 and path_text[0] == path_text[-1] and path_text[0] in "\"'":
        return path_text[1:-1]
    return path_text


def load_file(path_text: str) -> Any:
    """.npy (never pickles), .csv/.txt (numbers separated by commas or blanks), .json (nested lists)."""
    if not path_text:
        raise BindingError("'@' needs a file name after it, as in @data.csv")
    from pathlib import Path  # here, not at the top: only files need it, and every start would pay for it

    path = Path(path_text).expanduser()
    suffix = path.suffix.lower()
    loaders = {".npy": _load_npy, ".csv": _load_text, ".txt": _load_text, ".json": _load_json}
    if suffix not in loaders:
        kind = f"unknown file type '{suffix}'" if suffix else "a file name without an extension"
        raise BindingError(f"cannot read '{path_text}': {kind} (use .npy, .csv, .txt or .json)")
    try:
        return as_value(loaders[suffix](path))
    except OSError as error:
        raise BindingError(f"cannot read '{path_text}': {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise BindingError(f"cannot read '{path_text}': it is not UTF-8 text") from None
    except (ValueError, TypeError) as error:
        raise BindingError(f"cannot read '{path_text}': {error}") from None


def _load_npy(path: Path) -> np.ndarray:
    with path.open("rb") as stream:
        if stream.read(len(NPY_MAGIC)) != NPY_MAGIC:
            raise ValueError("it is not a NumPy .npy file")
        _check_npy_header(stream)
    return np.load(path, allow_pickle=False)


def _check_npy_header(stream: BinaryIO) -> None:
    """Refuse a header whose shape and type do not match the bytes that follow it, before NumPy allocates
    what the header claims (128 bytes claiming shape (1e11,) asked for 745 GB)."""
    stream.seek(0)
    version = np.lib.format.read_magic(stream)
    read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
    if read_header is None:
        raise ValueError(f"it is a .npy file of version {version[0]}.{version[1]}, which adcli does not read")
    shape, _, dtype = read_header(stream)
    if dtype.hasobject:
        raise ValueError("it holds Python objects, which load only through pickle; "
                         "adcli never unpickles, so save a numeric array instead")
    if dtype.kind not in "biuf":
        raise ValueError(f"it holds {dtype} values, not real numbers")
    claimed = math.prod(shape) * dtype.itemsize
    held = os.fstat(stream.fileno()).st_size - stream.tell()
    if claimed != held:
        raise ValueError(f"its header says shape {tuple(shape)} of {dtype} ({claimed} bytes), but {held} bytes follow")


def _read_text(path: Path) -> str:
    """The file as text, read no further than MAX_FILE_BYTES (`@z.csv` may be a link to /dev/zero)."""
    with path.open("rb") as stream:
        data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"it is larger than {MAX_FILE_BYTES >> 20} MiB, the limit for a text file; "
                         "save large arrays as .npy")
    return data.decode("utf-8-sig")


def _load_text(path: Path) -> np.ndarray:
    """numpy.loadtxt's shapes (one line or one column is 1-D, one number 0-d), with plain errors.

    A first line with no number in it (`x,y`, as a points file, adcli's CSV or pandas has) is a header,
    and skipped.
    """
    text = _without_header(_read_text(path))
    uncommented = text if "#" not in text else "\n".join(_content(line) for line in text.splitlines())
    if not uncommented.strip():
        raise ValueError("the file holds no numbers")
    delimiter = "," if "," in uncommented else None  # else blanks
    try:
        array = np.loadtxt(io.StringIO(text), dtype=np.float64, delimiter=delimiter, ndmin=0)
    except ValueError as error:
        raise ValueError(_text_problem(text, delimiter) or str(error)) from None
    return array


def _without_header(text: str) -> str:
    """The text with its first line blanked (so line numbers stay) when no cell of it is a number."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        content = _content(line)
        if not content:
            continue
        cells = [cell.strip().strip('"').strip() for cell in re.split(r"[,\s]+", content)]
        if not any(_is_number(cell) for cell in cells):
            lines[index] = ""
            return "\n".join(lines)
        return text
    return text


def _content(line: str) -> str:
    return line.split("#", 1)[0].strip()


def _text_problem(text: str, delimiter: str | None) -> str | None:
    """The first line that keeps the text from being a table of numbers, said plainly."""
    width, first = 0, 0
    for number, line in enumerate(text.splitlines(), 1):
        content = _content(line)
        if not content:
            continue
        cells = [cell.strip() for cell in content.split(delimiter)] if delimiter else content.split()
        for cell in cells:
            if not _is_number(cell):
                return f"line {number}: {repr(cell) + ' is not a number' if cell else 'an empty cell'}"
        if not width:
            width, first = len(cells), number
        elif len(cells) != width:
            return f"line {number} has {len(cells)} numbers but line {first} has {width} (the rows are ragged)"
    return None


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return "_" not in cell and cell.isascii()  # as --at: ASCII digits only


def _load_json(path: Path) -> np.ndarray:
    import json  # here: every start-up would pay for it otherwise

    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as error:
        raise ValueError(f"it is not valid JSON ({error})") from None
    except RecursionError:
        raise ValueError("its lists are nested too deeply") from None
    _check_json_numbers(data)
    try:
        return np.asarray(data, dtype=np.float64)
    except OverflowError:
        raise ValueError("it holds a whole number too large for float64") from None
    except ValueError:
        raise ValueError("its lists are ragged: every row must have the same length") from None


def _check_json_numbers(data: Any) -> None:
    """Every leaf is a number (or "nan", "inf", "-inf"), at most 64 lists deep; a walk with a stack."""
    import json

    pending = [(data, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, list):
            if depth == MAX_DIMENSIONS:
                raise ValueError(f"its lists are nested more than {MAX_DIMENSIONS} deep")
            pending.extend((child, depth + 1) for child in item)
        elif isinstance(item, bool) or item is None or isinstance(item, dict) or (
                isinstance(item, str) and item not in JSON_WORDS):
            raise ValueError(f"it holds {json.dumps(item)[:40]}, which is not a number")
