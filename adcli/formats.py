"""Results as text for people, JSON for programs, CSV for spreadsheets and plain numbers for shells.

A result is a dict (a "record") whose values are floats, arrays, strings or dicts of them;
each format renders any record.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from typing import Any, Iterable, Mapping

import numpy as np

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


def render_json(record: Mapping[str, Any], digits: int | None = None) -> str:
    return json.dumps(to_json_data(record, digits), allow_nan=False)


def render_array(value: Any, digits: int | None = None) -> str:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return format_number(array, digits)
    return np.array2string(
        array, separator=", ", threshold=sys.maxsize, max_line_width=100,
        formatter={"float_kind": lambda v: format_number(v, digits)},
    )


def labelled_values(record: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    """The record's entries as (label, value) pairs, in order, for the text and plain formats."""
    for key, value in record.items():
        if key in ("expr", "line"):
            continue
        if key == "grad" or key == "finite_difference" or key == "values":
            prefix = {"grad": "d/d", "finite_difference": "fd d/d", "values": ""}[key]
            for name, item in value.items():
                yield f"{prefix}{name}", item
        elif key == "jacobian":
            for name, item in value.items():
                yield f"jacobian d/d{name}", item
        elif key == "derivative":
            order = record.get("order", 1)
            yield f"d^{order}/d{record.get('wrt')}^{order}", value
        elif key in ("wrt", "order") and "derivative" in record:
            continue
        else:
            yield key, value


def render_text(record: Mapping[str, Any], digits: int | None = None) -> str:
    pairs = list(labelled_values(record))
    width = max((len(label) for label, _ in pairs), default=0)
    lines = []
    for label, value in pairs:
        shown = _text_value(value, digits)
        indent = " " * (width + 2)
        shown = shown.replace("\n", "\n" + indent)
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


def render_plain(record: Mapping[str, Any], digits: int | None = None) -> str:
    """Numbers only, space separated: the value first, then the rest in order (arrays in C order)."""
    numbers = []
    for _, value in labelled_values(record):
        if isinstance(value, (str, bool, list, tuple)):
            continue
        numbers.extend(format_number(item, digits) for item in np.ravel(np.asarray(value, dtype=np.float64)))
    return " ".join(numbers)


def csv_columns(record: Mapping[str, Any], inputs: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
    """The record as CSV columns of equal length (inputs, value, derivatives): scalars or 1-D only."""
    columns: dict[str, Any] = {}
    for name, value in (inputs or {}).items():
        columns[name] = value
    for label, value in labelled_values(record):
        if isinstance(value, (str, bool, list, tuple)):
            continue
        columns[label] = value
    lengths = {np.size(v) for v in columns.values() if np.ndim(v) == 1}
    if any(np.ndim(v) > 1 for v in columns.values()) or len(lengths) > 1:
        raise ValueError("CSV holds scalars and 1-D arrays of one length; use --format json for this result")
    rows = lengths.pop() if lengths else 1
    return {label: np.broadcast_to(np.asarray(v, dtype=np.float64), (rows,)) for label, v in columns.items()}


def render_csv(record: Mapping[str, Any], digits: int | None = None, inputs: Mapping[str, Any] | None = None,
               header: bool = True) -> str:
    columns = csv_columns(record, inputs)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(columns)
    for row in zip(*columns.values()):
        writer.writerow(format_number(v, digits) for v in row)
    return buffer.getvalue().rstrip("\n")


def render(record: Mapping[str, Any], fmt: str, digits: int | None = None,
           inputs: Mapping[str, Any] | None = None) -> str:
    if fmt == "json":
        return render_json(record, digits)
    if fmt == "plain":
        return render_plain(record, digits)
    if fmt == "csv":
        return render_csv(record, digits, inputs)
    return render_text(record, digits)
