"""Results as text for people, JSON for programs, CSV for spreadsheets and plain numbers for shells.

A command's result is a typed dataclass (commands/results.py). JSON shows its record;
text, plain and CSV show its labelled entries (entries.py), except where a kind has a table
of its own (CSV_TABLES). `json` and `csv` are imported by the functions that use them: the
default text output of a one-shot command needs neither.
"""

from __future__ import annotations

import io
import math
from typing import Any, Iterable, Mapping

from ..lazy_numpy import np

from ..commands.results import Derivative, Gradient, Hessian, Jacobian, Result, Value
from ..errors import AdcliError
from .entries import entries

FORMATS = ("text", "json", "csv", "plain")


def format_number(value: float, digits: int | None = None) -> str:
    """Round-trip precision (Python's repr), or `digits` significant digits; nan, inf, -inf."""
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if digits is None:
        return repr(value)
    return f"{value:.{digits}g}"


def json_number(value: float, digits: int | None = None) -> float | str:
    """A JSON-safe number: non-finite values become the strings "nan", "inf", "-inf"."""
    value = float(value)
    if not math.isfinite(value):
        return format_number(value)
    return float(format_number(value, digits)) if digits is not None else value


def to_json_data(value: Any, digits: int | None = None) -> Any:
    """Records to plain JSON data: arrays become nested lists."""
    if type(value) is float:  # most of them, so first
        return json_number(value, digits)
    if isinstance(value, Mapping):
        return {key: to_json_data(item, digits) for key, item in value.items()}
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [to_json_data(item, digits) for item in value]
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return json_number(array, digits)
    flat = [json_number(item, digits) for item in array.ravel().tolist()]
    return np.array(flat, dtype=object).reshape(array.shape).tolist()


def render_json(data: Mapping[str, Any], digits: int | None = None) -> str:
    import json
    if digits is None:
        try:  # finite numbers in plain containers, the usual record, need no conversion
            return json.dumps(data, allow_nan=False)
        except (TypeError, ValueError):  # an array, a nan or an inf
            pass
    return json.dumps(to_json_data(data, digits), allow_nan=False)


TEXT_WIDTH = 100  # characters per line before a long row of an array wraps


def render_array(value: Any, digits: int | None = None, width: int = TEXT_WIDTH) -> str:
    """An array as NumPy prints it, but every element in full: nested brackets, decimal points
    aligned down the columns, rows wider than `width` wrapped (never summarised with `...`)."""
    if isinstance(value, float):
        return format_number(value, digits)
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return format_number(array, digits)
    if array.size == 0:
        return "[]"
    cells = _aligned_cells(array.ravel().tolist(), digits)
    ndim, row_length = array.ndim, array.shape[-1]
    per_line = max(1, (width - ndim) // (len(cells[0]) + 2))
    row_count = len(cells) // row_length
    index = [0] * (ndim - 1)  # the row's position along the leading axes, advanced like an odometer
    pieces = []
    for row in range(row_count):
        opens = 1 + _trailing(index, lambda axis, i: i == 0)
        closes = 1 + _trailing(index, lambda axis, i: i == array.shape[axis] - 1)
        body = _wrapped(cells[row * row_length:(row + 1) * row_length], per_line, ndim)
        pieces.append(" " * (ndim - opens) + "[" * opens + body + "]" * closes)
        if row < row_count - 1:
            pieces.append("," + "\n" * closes)  # a blank line between blocks, as NumPy
        _advance(index, array.shape)
    return "".join(pieces)


def _aligned_cells(numbers: list[float], digits: int | None) -> list[str]:
    """Each number as text, padded so that the decimal points (or ends) line up."""
    texts = [format_number(number, digits) for number in numbers]
    splits = [_point(text) for text in texts]
    head = max(split for split in splits)
    tail = max(len(text) - split for text, split in zip(texts, splits))
    return [(" " * (head - split) + text).ljust(head + tail) for text, split in zip(texts, splits)]


def _point(text: str) -> int:
    """Where a number's fraction (or exponent) starts; its length when it has neither."""
    for position, char in enumerate(text):
        if char in ".e":
            return position
    return len(text)


def _trailing(index: list[int], holds: Any) -> int:
    """How many of the last axes of `index` satisfy `holds(axis, i)`, counting from the end."""
    count = 0
    for axis in range(len(index) - 1, -1, -1):
        if not holds(axis, index[axis]):
            break
        count += 1
    return count


def _advance(index: list[int], shape: tuple[int, ...]) -> None:
    for axis in range(len(index) - 1, -1, -1):
        index[axis] += 1
        if index[axis] < shape[axis]:
            return
        index[axis] = 0


def _wrapped(cells: list[str], per_line: int, indent: int) -> str:
    lines = [", ".join(cells[start:start + per_line]) for start in range(0, len(cells), per_line)]
    return (",\n" + " " * indent).join(lines)


def render_text(result: Result, digits: int | None = None) -> str:
    pairs = entries(result)
    width = max((len(label) for label, _ in pairs), default=0)
    lines = []
    for label, value in pairs:
        shown = _matrix_table(value, matrix_labels(result), digits) if label in MATRICES else _text_value(value, digits)
        indent = " " * (width + 2)
        first, *rest = shown.split("\n")
        shown = "\n".join([first] + [line and indent + line for line in rest])  # blank lines stay blank
        lines.append(f"{label.ljust(width)}  {shown}")
    return "\n".join(lines)


def _text_value(value: Any, digits: int | None) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return "; ".join(str(item) for item in value) if value else "none"
    if isinstance(value, int):
        return str(value)
    return render_array(value, digits)


def render_plain(result: Result, digits: int | None = None) -> str:
    """Numbers only, space separated: the value first, then the rest in order (arrays in C order)."""
    numbers = []
    for _, value in entries(result):
        if not _in_cells(value):
            continue
        numbers.extend(_cell(item, digits) for item in ((value,) if isinstance(value, (float, int)) else np.ravel(value)))
    return " ".join(numbers)


def _in_cells(value: Any) -> bool:
    """Whether CSV and plain show an entry: numbers and verdicts (check's `ok`), not words or lists of them."""
    return not isinstance(value, (str, list, tuple))


def _cell(value: Any, digits: int | None) -> str:
    """A number for CSV and plain output: counts (steps, orders) as integers, the rest as floats; a verdict
    as true or false (as JSON writes it, and as pandas reads it)."""
    if isinstance(value, float):  # first: a float needs no NumPy to tell it from a count
        return format_number(value, digits)
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(value)
    return format_number(value, digits)


def csv_columns(result: Result, inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The result as CSV columns of equal length (inputs, value, derivatives): scalars or 1-D only."""
    results = {label: value for label, value in entries(result) if _in_cells(value)}
    numbers = (float, int)  # checked first: a record of plain numbers needs no NumPy
    result_rows = {np.size(value) for value in results.values() if not isinstance(value, numbers) and np.ndim(value) == 1}
    # An input is a column when it is a number or has a row per result row: a 2-D input (a matrix reduced
    # by the expression) or one of another length is shown by json and text, not refused.
    columns = {name: value for name, value in (inputs or {}).items()
               if isinstance(value, numbers) or np.ndim(value) == 0 or np.ndim(value) == 1 and np.size(value) in result_rows}
    columns.update(results)
    if all(isinstance(value, (float, int)) for value in columns.values()):
        return {label: (value,) for label, value in columns.items()}  # one row; NumPy not needed
    for label, value in columns.items():
        if np.ndim(value) > 1:
            raise ValueError(f"CSV cannot hold '{label}' of shape {np.shape(value)}: it holds scalars and 1-D "
                             "arrays (one row per element); use --format json or text for this result")
    lengths = {label: np.size(v) for label, v in columns.items() if np.ndim(v) == 1}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"'{label}' has {length}" for label, length in lengths.items())
        raise ValueError(f"CSV needs its 1-D columns to have one length ({listed}); use --format json for this result")
    rows = max(lengths.values(), default=1)
    totals = [label for label, v in columns.items() if label.startswith("d/d") and np.ndim(v) == 0]
    if rows > 1 and totals:
        raise ValueError(f"'{totals[0]}' is one total over all {rows} rows, not a value per row; "
                         "use --format json or text for this result")
    return {label: np.broadcast_to(np.asarray(v), (rows,)) for label, v in columns.items()}


def render_csv(result: Result, digits: int | None = None, inputs: Mapping[str, Any] | None = None,
               header: bool = True) -> str:
    import csv
    table = CSV_TABLES.get(type(result))
    columns = table(result) if table is not None else csv_columns(result, inputs)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(columns)
    for row in zip(*columns.values()):
        writer.writerow(v if isinstance(v, str) else _cell(v, digits) for v in row)  # labels stay words
    return buffer.getvalue().rstrip("\n")


# -- matrices: the Hessian as a labelled table, Jacobians as one CSV row per output entry ------

MATRICES = ("hessian", "fd hessian")  # square, rows and columns labelled by the wrt entries


def entry_labels(name: str, shape: tuple[int, ...]) -> list[str]:
    """A variable's entries in C order: `x` for a scalar, `x[0]`, `x[1,2]`, ... for an array."""
    if not shape:
        return [name]
    return [f"{name}[{','.join(str(i) for i in index)}]" for index in np.ndindex(*shape)]


def matrix_labels(result: Any) -> list[str]:
    """The Hessian's row (and column) labels: each wrt variable's entries, in wrt order."""
    return [label for name in result.wrt or () for label in entry_labels(name, np.shape(result.grad[name]))]


def _matrix_table(matrix: Any, labels: list[str], digits: int | None) -> str:
    """A square matrix with its labels above the columns and before the rows, decimal points aligned."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.size == 0 or len(labels) != matrix.shape[0]:
        return render_array(matrix, digits)
    cells = np.reshape(_aligned_cells(matrix.ravel().tolist(), digits), matrix.shape)
    width = max(len(cells[0][0]), *(len(label) for label in labels))
    margin = max(len(label) for label in labels)
    lines = [" " * margin + "  " + "  ".join(label.ljust(width) for label in labels)]
    for label, row in zip(labels, cells):
        lines.append(label.ljust(margin) + "  " + "  ".join(cell.ljust(width) for cell in row))
    return "\n".join(line.rstrip() for line in lines)


def hessian_csv_columns(result: Hessian) -> dict[str, list]:
    """A row per wrt entry: its label, gradient and Hessian row."""
    labels = matrix_labels(result)
    grads = [g for name in result.wrt for g in np.ravel(result.grad[name])]
    matrix = np.asarray(result.hessian, dtype=np.float64).reshape(len(labels), len(labels))
    return {"variable": labels, "grad": grads, **{label: list(matrix[:, j]) for j, label in enumerate(labels)}}


def jacobian_csv_columns(result: Jacobian) -> dict[str, list]:
    """A row per entry of the value, in C order: the value, then d value_i / d each entry."""
    value = np.ravel(np.asarray(result.value, dtype=np.float64))
    columns: dict[str, list] = {"value": list(value)}
    for name, matrix in result.jacobian.items():
        matrix = np.asarray(matrix, dtype=np.float64)
        shape = matrix.shape[np.ndim(result.value):]
        flat = matrix.reshape(value.size, int(np.prod(shape)))
        for j, label in enumerate(entry_labels(name, shape)):
            columns[f"d/d{label}"] = list(flat[:, j])
    return columns


def render_progress(step: int, loss: float, fmt: str, digits: int | None = None, header: bool = False) -> str:
    """One progress line of `descend --every`: the step and the loss after it."""
    import json
    loss_text = format_number(loss, digits)
    if fmt == "json":
        return json.dumps({"step": step, "loss": json_number(loss, digits)})
    if fmt == "csv":
        return ("step,loss\n" if header else "") + f"{step},{loss_text}"
    if fmt == "plain":
        return f"{step} {loss_text}"
    return f"step {step}  loss {loss_text}"


CSV_TABLES: dict[type, Any] = {Hessian: hessian_csv_columns, Jacobian: jacobian_csv_columns}  # kinds with a table of their own
CSV_WITH_BINDINGS = frozenset((Value, Gradient, Derivative))  # kinds whose CSV shows the point beside the result


def render(result: Result, fmt: str, digits: int | None = None, bindings: Mapping[str, Any] | None = None) -> str:
    if fmt == "json":
        return render_json(result.record(), digits)
    if fmt == "plain":
        return render_plain(result, digits)
    if fmt == "csv":
        return render_csv(result, digits, bindings if type(result) in CSV_WITH_BINDINGS else None)
    return render_text(result, digits)


# -- streams: one record per program line (batch mode) or per point (--points) ---------------


def line_record(line: int, shown: Mapping[str, Any], warnings: Iterable[str] = ()) -> dict[str, Any]:
    """A batch record: its line number first, its non-finite warnings listed under "warnings"."""
    merged = {"line": line, **shown}
    warnings = list(warnings)
    if warnings:
        merged["warnings"] = list(dict.fromkeys([*shown.get("warnings", ()), *warnings]))  # check lists its own
    return merged


def error_record(line: int, expr: str, error: AdcliError) -> dict[str, Any]:
    return {"line": line, "expr": expr, "error": {"message": error.message, "column": error.column}}


def located(error: AdcliError) -> str:
    """The message and its column, on one line (for CSV cells and standard error)."""
    return error.message if error.column is None else f"{error.message} (at column {error.column})"


def _indented(text: str, indent: str) -> str:
    return indent + text.replace("\n", "\n" + indent)


def _numeric_entries(result: Result) -> list[tuple[str, Any]]:
    """The result's labelled numbers (what CSV and plain print), without its strings and lists."""
    return [(label, value) for label, value in entries(result) if _in_cells(value)]


def _json_key(key: str) -> str:
    """A JSON object key for a %-template."""
    import json
    return json.dumps(key).replace("%", "%%")


def _csv_row(cells: Iterable[Any]) -> str:
    import csv
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    return buffer.getvalue()


class LineStream:
    """Batch output: the text for each program line's result or failure, in the chosen format.

    `result` and `failure` return None when there is nothing to write yet (CSV holds rows back
    until the first result names its columns). Text shows a failure in place; plain leaves an
    empty line there, and for each blank or comment line, so line k of the output stays line k of the input.
    """

    def __init__(self, fmt: str, digits: int | None = None):
        self.fmt = fmt
        self.digits = digits
        self._csv = CsvLines(digits) if fmt == "csv" else None

    def result(self, line: int, expr: str, result: Result) -> str | None:
        """Raises ValueError for a result this format cannot hold (an array in a CSV row)."""
        if self.fmt == "json":
            return render_json(line_record(line, result.record(), result.warnings), self.digits)
        if self.fmt == "plain":
            return render_plain(result, self.digits)
        if self._csv is not None:
            return self._csv.result(line, expr, result)
        return f"line {line}: {expr}\n" + _indented(render_text(result, self.digits), "  ")

    def failure(self, line: int, expr: str, error: AdcliError) -> str | None:
        if self.fmt == "json":
            return render_json(error_record(line, expr, error))
        if self.fmt == "plain":
            return ""
        if self._csv is not None:
            return self._csv.failure(line, expr, located(error))
        first, _, rest = error.render().partition("\n")
        return f"line {line}: error: {first}" + ("\n" + _indented(rest, "  ") if rest else "")

    def skipped(self, count: int) -> str:
        """What stands for `count` blank or comment lines: in plain, an empty line each (output line k is input
        line k, so `paste` lines them up); the other formats number their records instead."""
        return "\n" * count if self.fmt == "plain" else ""

    def close(self) -> str | None:
        """What is still held back when the input ends."""
        return self._csv.close() if self._csv is not None else None


class CsvLines:
    """Batch CSV: `line,expr,<the first result's columns>,error`, the header written once.

    Failures before the first result wait for it (at most HELD of them; past that the header
    has no result columns, and results that do not fit it become failures).
    """

    HELD = 1000

    def __init__(self, digits: int | None):
        self.digits = digits
        self.labels: list[str] | None = None
        self._held: list[tuple[int, str, str]] = []

    def result(self, line: int, expr: str, result: Result) -> str:
        cells = self._cells(result)
        if self.labels is None:
            self.labels = list(cells)
            return self._release() + "\n" + _csv_row([line, expr, *cells.values(), ""])
        extra = [label for label in cells if label not in self.labels]
        if extra:
            raise ValueError(f"the header, made from the first result, has no column {', '.join(extra)}; "
                             "choose the columns with --wrt, or use --format json")
        return _csv_row([line, expr, *(cells.get(label, "") for label in self.labels), ""])

    def failure(self, line: int, expr: str, message: str) -> str | None:
        if self.labels is not None:
            return self._failure_row(line, expr, message)
        self._held.append((line, expr, message))
        if len(self._held) < self.HELD:
            return None
        self.labels = []
        return self._release()

    def close(self) -> str | None:
        if self.labels is not None:
            return None
        self.labels = []
        return self._release()

    def _cells(self, result: Result) -> dict[str, str]:
        cells = {}
        for label, value in _numeric_entries(result):
            if np.size(value) == 1:  # a 1x1 Hessian, a gradient of shape (1,): one number
                value = value if np.ndim(value) == 0 else np.ravel(value)[0]
            else:
                raise ValueError(f"a CSV row holds one number per column, and '{label}' has shape {np.shape(value)}; "
                                 "use --format json for array results")
            cells[label] = _cell(value, self.digits)
        return cells

    def _failure_row(self, line: int, expr: str, message: str) -> str:
        return _csv_row([line, expr, *[""] * len(self.labels or ()), message])

    def _release(self) -> str:
        rows = [_csv_row(["line", "expr", *(self.labels or ()), "error"])]
        rows += [self._failure_row(*held) for held in self._held]
        self._held.clear()
        return "\n".join(rows)


def number_strings(values: Any, count: int, digits: int | None = None, json_safe: bool = False) -> list[str]:
    """`count` numbers (a scalar repeated) as format_number writes them; json_safe quotes nan and inf."""
    array = np.broadcast_to(np.asarray(values, dtype=np.float64), (count,))
    if digits is None:
        texts = list(map(repr, array.tolist()))  # repr is format_number's, and already writes nan, inf, -inf
    elif json_safe:
        texts = [repr(float(f"{value:.{digits}g}")) for value in array.tolist()]
    else:
        texts = [f"{value:.{digits}g}" for value in array.tolist()]
    if json_safe:
        for index in np.flatnonzero(~np.isfinite(array)).tolist():
            texts[index] = f'"{format_number(array[index])}"'
    return texts


def _number_or_blank(cell: str, digits: int | None) -> str:
    """A cell of a row that could not be read: its number as adcli writes numbers, or empty when it is not one,
    so that a CSV reader finds a missing number there rather than text in a column of numbers."""
    text = cell.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].strip()
    try:
        return "" if "_" in text else format_number(float(text), digits)
    except ValueError:
        return ""


class PointStream:
    """--points output, a chunk of rows at a time: each row's inputs, then the result's numbers.

    CSV: `NAME,...,value,d/dNAME,...`; JSON Lines: `{"row": N, "at": {...}, "value": ..., "grad": {...}}`;
    text: `row N: x=1.0, y=2.0  value 25.0  d/dx 10.0`; plain: the result's numbers only.
    A row that could not be read keeps its place: an error record (JSON), a `row N: error:`
    line (text), its cells with empty results (CSV), an empty line (plain).
    """

    def __init__(self, fmt: str, digits: int | None, names: list[str]):
        self.fmt = fmt
        self.digits = digits
        self.names = names
        self._result_columns = 0

    def header(self, result: Result) -> str | None:
        """The CSV header (the names and the result's labels); None for the other formats."""
        labels = [label for label, _ in _numeric_entries(result)]
        self._result_columns = len(labels)
        return _csv_row([*self.names, *labels]) if self.fmt == "csv" else None

    def rows(self, rows: np.ndarray, inputs: Mapping[str, np.ndarray], result: Result) -> list[str]:
        """One line per point, from the inputs' columns and the result's arrays (or scalars)."""
        count = len(rows)
        columns: list[list[str]] = [list(map(str, rows.tolist()))] if self.fmt in ("json", "text") else []
        json_safe = self.fmt == "json"
        if self.fmt != "plain":
            columns += [number_strings(inputs[name], count, self.digits, json_safe) for name in self.names]
        if json_safe:
            results = {key: value for key, value in result.record().items() if key != "expr"}
            template = '{"row": %s, "at": {' + ", ".join(f'"{name}": %s' for name in self.names) + "}"
            template += "".join(f", {_json_key(key)}: {self._json_template(value, count, columns)}"
                                for key, value in results.items()) + "}"
        else:
            numeric = _numeric_entries(result)
            columns += [number_strings(value, count, self.digits) for _, value in numeric]
            template = self._flat_template([label for label, _ in numeric])
        return [template % values for values in zip(*columns)]

    def _flat_template(self, labels: list[str]) -> str:
        if self.fmt == "csv":
            return ",".join(["%s"] * (len(self.names) + len(labels)))
        if self.fmt == "plain":
            return " ".join(["%s"] * len(labels))
        inputs = ", ".join(f"{name}=%s" for name in self.names)
        return f"row %s: {inputs}  " + "  ".join(f"{label.replace('%', '%%')} %s" for label in labels)

    def _json_template(self, value: Any, count: int, columns: list[list[str]]) -> str:
        """The JSON text of one record entry, with `%s` where each row's number goes."""
        import json
        if isinstance(value, Mapping):
            return "{" + ", ".join(f"{_json_key(key)}: {self._json_template(item, count, columns)}"
                                   for key, item in value.items()) + "}"
        if isinstance(value, (str, bool, int)) or value is None:
            return json.dumps(value).replace("%", "%%")
        columns.append(number_strings(value, count, self.digits, json_safe=True))
        return "%s"

    def failure(self, row: int, cells: list[str], message: str, column: int | None) -> str:
        """`column` is the bad cell's place in the row (1-based), when one cell is to blame."""
        import json
        if self.fmt == "json":
            return json.dumps({"row": row, "error": {"message": message, "column": column}})
        if self.fmt == "plain":
            return ""
        if self.fmt == "csv":
            inputs = [_number_or_blank(cell, self.digits) for cell in (list(cells) + [""] * len(self.names))[:len(self.names)]]
            return _csv_row([*inputs, *[""] * self._result_columns])
        return f"row {row}: error: {message}"
