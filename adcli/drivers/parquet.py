"""Parquet in and out: a points table read a row group at a time, and records written as a Parquet table.

pyarrow is imported inside these functions only: it is an optional extra, and nothing else
of adcli loads it.
"""

from __future__ import annotations

import io
import json
from typing import Any, Iterator

from ..lazy_numpy import np

from ..errors import AdcliError, BindingError
from .points import PointsChunk, RowFailure, check_names

INSTALL_HINT = "pip install 'adcli[parquet]'"
ROWS_PER_WRITE = 1 << 16  # rows gathered before they go to the Parquet file as one row group


def is_parquet(path: str | None) -> bool:
    return path is not None and path.lower().endswith((".parquet", ".pq"))


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.csv
        import pyarrow.parquet
    except ImportError:
        raise AdcliError(f"Parquet needs pyarrow, an optional extra: {INSTALL_HINT}") from None
    return pyarrow


class ParquetPoints:
    """A Parquet file of points: its columns name the variables, each row is one point.

    Read in chunks of `chunk_rows` rows, the chunks a CSV of the same points would give; only
    the row groups a chunk needs are in memory. A missing (null) cell makes its row an error
    record, as an empty CSV cell does.
    """

    def __init__(self, path: str, chunk_rows: int):
        pyarrow = _pyarrow()
        self.path = path
        self.chunk_rows = chunk_rows
        try:
            self._file = pyarrow.parquet.ParquetFile(path)
        except (OSError, pyarrow.ArrowException) as problem:
            raise BindingError(f"cannot read '{path}' as Parquet: {problem}") from None
        schema = self._file.schema_arrow
        self.names = list(schema.names)
        check_names(self.names, "the Parquet file's columns")
        for field in schema:
            if not (pyarrow.types.is_floating(field.type) or pyarrow.types.is_integer(field.type)
                    or pyarrow.types.is_boolean(field.type)):
                raise BindingError(f"the Parquet column '{field.name}' holds {field.type}, not numbers")
        self.row_count = self._file.metadata.num_rows

    def __getstate__(self) -> dict[str, Any]:  # a worker opens the file itself
        return {"path": self.path, "chunk_rows": self.chunk_rows}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["chunk_rows"])

    def chunk_arguments(self) -> Iterator[tuple[PointsChunk]]:
        return ((chunk,) for chunk in self.chunks())

    def chunk(self, chunk: PointsChunk) -> PointsChunk:
        return chunk

    def chunks(self, start: int = 0, stop: int | None = None) -> Iterator[PointsChunk]:
        """The chunks of rows start..stop (0-based, stop excluded; `start` on a chunk boundary)."""
        stop = self.row_count if stop is None else min(stop, self.row_count)
        pending: list[Any] = []
        have, first = 0, start
        for table in self._tables(start, stop):
            pending.append(table)
            have += table.num_rows
            while have >= self.chunk_rows or (have and first + have >= stop):
                take = min(self.chunk_rows, have)
                whole = _concat(pending)
                yield self._chunk(whole.slice(0, take), first)
                rest = whole.slice(take)
                pending, have, first = ([rest] if rest.num_rows else []), have - take, first + take

    def _tables(self, start: int, stop: int) -> Iterator[Any]:
        """The rows start..stop, a row group (or a part of one) at a time."""
        metadata = self._file.metadata
        offset = 0
        for group in range(metadata.num_row_groups):
            size = metadata.row_group(group).num_rows
            if offset + size > start and offset < stop:
                table = self._file.read_row_group(group, columns=self.names)
                low, high = max(start - offset, 0), min(stop - offset, size)
                yield table.slice(low, high - low)
            offset += size
            if offset >= stop:
                return

    def _chunk(self, table: Any, first: int) -> PointsChunk:
        rows = np.arange(first + 1, first + 1 + table.num_rows)  # rows are 1-based, as a CSV's after its header
        columns = {name: table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
                   for name in self.names}
        valid = np.ones(table.num_rows, dtype=bool)
        for name in self.names:
            if table.column(name).null_count:
                valid &= ~np.asarray(table.column(name).is_null().to_numpy(zero_copy_only=False), dtype=bool)
        if valid.all():
            return PointsChunk(rows, columns, [])
        failures = [self._failure(int(rows[i]), {name: columns[name][i] for name in self.names}, table, i)
                    for i in np.flatnonzero(~valid)]
        return PointsChunk(rows[valid], {name: column[valid] for name, column in columns.items()}, failures)

    def _failure(self, row: int, values: dict[str, float], table: Any, index: int) -> RowFailure:
        missing = [column for column, name in enumerate(self.names, start=1) if not table.column(name)[index].is_valid]
        cells = ["" if not table.column(name)[index].is_valid else repr(float(values[name])) for name in self.names]
        column = missing[0]
        return RowFailure(row, cells, f"column {column} ({self.names[column - 1]}) is empty", column)


def _concat(tables: list[Any]) -> Any:
    return tables[0] if len(tables) == 1 else _pyarrow().concat_tables(tables)


class ParquetSink:
    """A text stream that turns the records written to it into a Parquet table.

    Points runs write CSV (their header, then a row per point): the table has its columns, all
    float64, with empty cells as nulls. Batch runs write JSON Lines: the table has the columns
    `line`, `expr`, `record` (the whole JSON record) and `error` (the message, null when the
    line succeeded).
    """

    def __init__(self, path: str, kind: str):
        self._pyarrow = _pyarrow()
        self.path = path
        self.kind = kind  # "csv" or "json"
        self._writer: Any = None
        self._header: bytes | None = None
        self._lines: list[str] = []
        self._partial = ""

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        self._lines.extend(lines)
        if len(self._lines) >= ROWS_PER_WRITE:
            self._write_rows()
        return len(text)

    def flush(self) -> None:
        pass  # rows leave in groups: a flush per record would make a row group per record

    def close(self) -> None:
        if self._partial:
            self._lines.append(self._partial)
            self._partial = ""
        self._write_rows(final=True)
        if self._writer is not None:
            self._writer.close()

    def _write_rows(self, final: bool = False) -> None:
        lines, self._lines = self._lines, []
        if self.kind == "csv" and self._header is None and lines:
            self._header = (lines.pop(0) + "\n").encode("utf-8")
        if not lines and not (final and self._writer is None):
            return
        table = self._csv_table(lines) if self.kind == "csv" else self._json_table(lines)
        if self._writer is None:
            try:
                self._writer = self._pyarrow.parquet.ParquetWriter(self.path, table.schema)
            except OSError as problem:
                raise AdcliError(f"cannot write '{self.path}': {problem.strerror or problem}") from None
        self._writer.write_table(table)

    def _csv_table(self, lines: list[str]) -> Any:
        pyarrow = self._pyarrow
        header = self._header or b"\n"
        names = header.decode("utf-8").strip().split(",") if header.strip() else []
        data = header + "".join(line + "\n" for line in lines).encode("utf-8")
        options = pyarrow.csv.ConvertOptions(null_values=[""], column_types={name: pyarrow.float64() for name in names})
        return pyarrow.csv.read_csv(io.BytesIO(data), convert_options=options)

    def _json_table(self, lines: list[str]) -> Any:
        records = [json.loads(line) for line in lines if line]
        return self._pyarrow.table({
            "line": self._pyarrow.array([record.get("line") for record in records], self._pyarrow.int64()),
            "expr": self._pyarrow.array([record.get("expr") for record in records], self._pyarrow.string()),
            "record": self._pyarrow.array([json.dumps(record) for record in records], self._pyarrow.string()),
            "error": self._pyarrow.array([(record.get("error") or {}).get("message") for record in records],
                                         self._pyarrow.string()),
        })
