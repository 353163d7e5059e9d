"""File writers: JSONL, Parquet (pyarrow, in row groups) and CSV, in bounded memory. No Django.

JSONL and CSV write rows as they come (through a 1 MB buffer). Parquet keeps one row group in memory and sizes the
next from the last one's bytes per row, so a project of long transcripts writes smaller row groups instead of holding
10,000 of them (about 64 MB a group; never more than 10,000 rows). Parquet row groups, and large JSONL writes, are
written on a thread of the writer's own while the next are made (Background).
"""

from __future__ import annotations

import csv
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]  # the C encoder
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from annotation.exports.schema import Column

BUFFER = 1024 * 1024
BACKGROUND_BYTES = 256 * 1024  # a JSONL write this large goes to the writer's thread
ROW_GROUP_BYTES = 64 * 1024 * 1024
ROW_GROUP_MAX_ROWS = 10_000
ROW_GROUP_FIRST_ROWS = 1_000


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class Background:
    """Writes one at a time, in order, on a thread of the writer's own. A file write and pyarrow's encoding and
    compression release the GIL, so the next rows are read and made while the last ones are written (on two cores,
    beside the database server, that is what a large export's speed depends on). A write's error is raised by the
    next call."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._last: Future[Any] | None = None

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.wait()  # at most one write in flight: memory stays bounded by one more batch
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-write")
        self._last = self._executor.submit(fn, *args, **kwargs)

    def wait(self) -> None:
        last, self._last = self._last, None
        if last is not None:
            last.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None


class Writer(ABC):
    suffix = ""

    def __init__(self, path: Path, columns: list[Column]) -> None:
        self.path = Path(path)
        self.columns = columns
        self.rows_written = 0

    @abstractmethod
    def write_rows(self, rows: Iterable[tuple[Any, ...]]) -> None: ...

    def write_batch(self, rows: list[tuple[Any, ...]]) -> None:
        """Many rows at once (a reader's fetch batch): as write_rows, but a writer may convert them together."""
        self.write_rows(rows)

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _json_encoder(column: Column) -> Callable[[Any], str]:
    kind = column.type
    if pa.types.is_string(kind) and not column.free_form:
        return lambda v: "null" if v is None else encode_basestring_ascii(v)
    if pa.types.is_floating(kind):
        return lambda v: "null" if v is None else float.__repr__(float(v))
    if pa.types.is_integer(kind):
        return lambda v: "null" if v is None else str(int(v))
    if pa.types.is_boolean(kind):
        return lambda v: "null" if v is None else ("true" if v else "false")
    # Nested values: message lists, response objects, free-form objects. A prompt repeats on every row of its
    # prompt (one list object), so the last encoding is remembered by identity.
    last: list[Any] = [None, "null"]

    def encode(value: Any) -> str:
        if value is last[0] and value is not None:
            return last[1]
        text = "null" if value is None else _dumps(value)
        last[0], last[1] = value, text
        return text

    return encode


class JsonlWriter(Writer):
    """One JSON object a line, keys in column order, non-ASCII escaped as \\uXXXX (json.dumps' default). `row_encoder`
    (the standard library's encoder) defines each line; `line_encoder` makes the same line faster with orjson where
    the result is ASCII without DEL (orjson writes UTF-8 and leaves DEL as is; its other escapes are the standard
    library's), and any other line is made again by `row_encoder`."""

    suffix = ".jsonl"

    def __init__(self, path: Path, columns: list[Column]) -> None:
        super().__init__(path, columns)
        self._file = open(self.path, "wb", buffering=BUFFER)  # noqa: SIM115
        self._fast = line_encoder(columns)
        self._exact = row_encoder(columns)
        self._background = Background()

    def write_rows(self, rows: Iterable[tuple[Any, ...]]) -> None:
        rows = rows if isinstance(rows, list) else list(rows)
        if not rows:
            return
        blob = self._encode(rows)
        self.rows_written += len(rows)
        self._background.wait()  # in order, one write in flight
        if len(blob) >= BACKGROUND_BYTES:
            self._background.run(self._file.write, blob)  # written while the next rows are made
        else:
            self._file.write(blob)

    def _encode(self, rows: list[tuple[Any, ...]]) -> bytes:
        fast = self._fast
        try:
            lines = [fast(row) for row in rows]
        except TypeError:  # orjson.JSONEncodeError: a string it refuses (a lone surrogate)
            lines = [_fast_or_mark(fast, row) for row in rows]
        blob = b"".join(lines)
        # One check for the batch; only when it fails are the lines looked at one by one.
        if blob.isascii() and blob.find(0x7F) < 0:
            return blob
        exact = self._exact
        return b"".join(
            line if line.isascii() and line.find(0x7F) < 0 else exact(row).encode("ascii")
            for line, row in zip(lines, rows, strict=True)
        )

    def close(self) -> None:
        try:
            self._background.close()
        finally:
            if not self._file.closed:
                self._file.close()


def _fast_or_mark(fast: Callable[[tuple[Any, ...]], bytes], row: tuple[Any, ...]) -> bytes:
    try:
        return fast(row)
    except TypeError:
        return b"\x80"  # not ASCII: made again by the exact encoder


class _Null:
    """`%a` of it is `null`: a number column's None needs no branch in the line template."""

    def __repr__(self) -> str:
        return "null"


def line_encoder(columns: list[Column]) -> Callable[[tuple[Any, ...]], bytes]:
    """The generated `encode(row) -> line` (bytes) with orjson for strings; see JsonlWriter."""
    env: dict[str, Any] = {"_d": orjson.dumps, "_N": _Null()}
    template = []
    values = []
    for i, column in enumerate(columns):
        template.append(("," if i else "{") + encode_basestring_ascii(column.name).replace("%", "%%"))
        kind = column.type
        value = f"r[{i}]"
        if pa.types.is_string(kind) and not column.free_form:
            template[-1] += ":%b"
            values.append(f"_d({value})")  # None is null
        elif pa.types.is_floating(kind):
            template[-1] += ":%a"  # a float's repr, as float.__repr__ in row_encoder
            values.append(f"(float({value}) if {value} is not None else _N)")
        elif pa.types.is_integer(kind):
            template[-1] += ":%a"
            values.append(f"(int({value}) if {value} is not None else _N)")
        elif pa.types.is_boolean(kind):
            template[-1] += ":%b"
            values.append(f"((b'true' if {value} else b'false') if {value} is not None else b'null')")
        else:
            template[-1] += ":%b"
            nested = _json_encoder(column)
            env[f"_n{i}"] = lambda v, nested=nested: nested(v).encode("ascii")
            values.append(f"_n{i}({value})")
    env["_t"] = ("".join(template) + "}\n").encode("ascii")
    source = "def encode(r):\n    return _t % (" + ", ".join(values) + ",)\n"
    exec(source, env)  # noqa: S102 - built here; column names enter only as escaped literals in _t
    return env["encode"]


def row_encoder(columns: list[Column]) -> Callable[[tuple[Any, ...]], str]:
    env: dict[str, Any] = {"_s": encode_basestring_ascii, "_f": float.__repr__}
    template = []
    values = []
    for i, column in enumerate(columns):
        template.append(("," if i else "{") + encode_basestring_ascii(column.name).replace("%", "%%") + ":%s")
        kind = column.type
        value = f"r[{i}]"
        if pa.types.is_string(kind) and not column.free_form:
            expr = f"(_s({value}) if {value} is not None else 'null')"
        elif pa.types.is_floating(kind):
            expr = f"(_f(float({value})) if {value} is not None else 'null')"
        elif pa.types.is_integer(kind):
            expr = f"(int({value}) if {value} is not None else 'null')"
        elif pa.types.is_boolean(kind):
            expr = f"(('true' if {value} else 'false') if {value} is not None else 'null')"
        else:
            env[f"_n{i}"] = _json_encoder(column)
            expr = f"_n{i}({value})"
        values.append(expr)
    env["_t"] = "".join(template) + "}\n"
    # One % format: the line is built in one allocation (a chain of + copies it once per column).
    source = "def encode(r):\n    return _t % (" + ", ".join(values) + ",)\n"
    exec(source, env)  # noqa: S102 - the source is built here; column names enter only as escaped literals in _t
    return env["encode"]


class CsvWriter(Writer):
    """Nested values (message lists, responses, criteria) as JSON text in the cell, as the importer reads them; text
    that a spreadsheet would run as a formula starts with a single quote (FORMULA_STARTS)."""

    suffix = ".csv"

    def __init__(self, path: Path, columns: list[Column]) -> None:
        super().__init__(path, columns)
        self._file = open(self.path, "w", encoding="utf-8", newline="", buffering=BUFFER)  # noqa: SIM115
        self._csv = csv.writer(self._file)
        self._csv.writerow([c.name for c in columns])
        self._convert = [_csv_cell(c) for c in columns]

    def write_rows(self, rows: Iterable[tuple[Any, ...]]) -> None:
        convert = self._convert
        n = 0
        for row in rows:
            self._csv.writerow([f(v) for f, v in zip(convert, row, strict=True)])
            n += 1
        self.rows_written += n

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


# A spreadsheet reads a cell starting with one of these as a formula (CSV injection): such text cells get a leading
# single quote, as OWASP advises. Number and boolean columns hold only what we format, so they are left alone.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _neutralised(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _csv_cell(column: Column) -> Callable[[Any], Any]:
    kind = column.type
    if pa.types.is_boolean(kind):
        return lambda v: "" if v is None else ("true" if v else "false")
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return lambda v: "" if v is None else v
    if pa.types.is_string(kind) and not column.free_form:
        return lambda v: "" if v is None else _neutralised(v)
    return lambda v: "" if v is None else _neutralised(v if isinstance(v, str) else _dumps(v))


def _leaves(path: str, type_: pa.DataType) -> Iterator[tuple[str, pa.DataType]]:
    """The Parquet column paths (and Arrow types) of a field's leaves, named as pyarrow names nested columns."""
    if pa.types.is_struct(type_):
        for i in range(type_.num_fields):
            child = type_.field(i)
            yield from _leaves(f"{path}.{child.name}", child.type)
    elif pa.types.is_list(type_) or pa.types.is_large_list(type_):
        yield from _leaves(f"{path}.list.element", type_.value_type)
    else:
        yield path, type_


def _encoding_options(columns: list[Column]) -> dict[str, Any]:
    """Dictionary encoding and statistics for every leaf but the string leaves of prose columns (Column.prose)."""
    leaves = [(path, type_, c.prose) for c in columns for path, type_ in _leaves(c.name, c.type)]
    rest = [path for path, type_, prose in leaves if not (prose and pa.types.is_string(type_))]
    if len(rest) == len(leaves):
        return {}
    return {"use_dictionary": rest, "write_statistics": rest}


class ParquetWriter(Writer):
    suffix = ".parquet"

    def __init__(self, path: Path, columns: list[Column]) -> None:
        super().__init__(path, columns)
        self.schema = pa.schema([pa.field(c.name, c.type) for c in columns])
        self._writer = pq.ParquetWriter(self.path, self.schema, compression="snappy", **_encoding_options(columns))
        self._buffer: list[tuple[Any, ...]] = []
        self._chunks: list[list[pa.Array]] = []  # rows given by write_arrays, not yet in a row group
        self._chunk_rows = 0
        self._limit = ROW_GROUP_FIRST_ROWS
        self._free_form = [i for i, c in enumerate(columns) if c.free_form]
        self._background = Background()
        self.peak_group_bytes = 0

    def write_rows(self, rows: Iterable[tuple[Any, ...]]) -> None:
        if self._chunks:
            self._flush()  # keeps the order if a caller mixes the two ways in
        buffer = self._buffer
        for row in rows:
            buffer.append(row)
            self.rows_written += 1
            if len(buffer) >= self._limit:
                self._flush()
                buffer = self._buffer

    def write_batch(self, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self.write_arrays(self.arrays(list(zip(*rows, strict=True))))

    def arrays(self, columns: Sequence[Sequence[Any]]) -> list[pa.Array]:
        """Python values, one sequence per column, as this file's Arrow arrays (free-form values as JSON text)."""
        columns = list(columns)
        for i in self._free_form:
            columns[i] = tuple(None if v is None else (v if isinstance(v, str) else _dumps(v)) for v in columns[i])
        return [pa.array(values, type=field.type) for values, field in zip(columns, self.schema, strict=True)]

    def write_arrays(self, arrays: list[pa.Array]) -> None:
        """Rows as Arrow arrays (from `arrays()`), cut into the row groups write_rows makes of the same rows, so both
        give the same file. A reader's fetch batch converted at once frees its Python values with the batch
        instead of holding them until a row group fills (a fragmented heap)."""
        if self._buffer:
            self._flush()
        rows = len(arrays[0]) if arrays else 0
        if not rows:
            return
        self._chunks.append(arrays)
        self._chunk_rows += rows
        self.rows_written += rows
        while self._chunk_rows >= self._limit:
            self._write_batch(self._take_rows(self._limit))

    def _take_rows(self, count: int) -> pa.RecordBatch:
        """The first `count` rows of the chunks as one batch, copied only where chunks meet: the rows left over
        pin no more than the chunk they are in. (A slice's nbytes counts only the rows it holds, so the next row
        group is sized as for the arrays write_rows would have made.)"""
        pieces = []
        need = count
        while need:
            chunk = self._chunks[0]
            if len(chunk[0]) <= need:
                pieces.append(self._chunks.pop(0))
                need -= len(chunk[0])
            else:
                pieces.append([column.slice(0, need) for column in chunk])
                self._chunks[0] = [column.slice(need) for column in chunk]
                need = 0
        self._chunk_rows -= count
        if len(pieces) == 1:
            columns = pieces[0]
        else:
            columns = [pa.concat_arrays([piece[i] for piece in pieces]) for i in range(len(self.schema))]
        del pieces
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)

    def _take_buffer(self) -> list[Any]:
        columns = list(zip(*self._buffer, strict=True))
        self._buffer = []
        return columns

    def _flush(self) -> None:
        if self._chunks:
            self._write_batch(self._take_rows(self._chunk_rows))
        if self._buffer:
            # No local name holds the Python values: they are freed once they are arrays, before the write.
            self._write_batch(pa.RecordBatch.from_arrays(self.arrays(self._take_buffer()), schema=self.schema))

    def _write_batch(self, batch: pa.RecordBatch) -> None:
        self._background.run(self._writer.write_batch, batch, row_group_size=batch.num_rows)
        self.peak_group_bytes = max(self.peak_group_bytes, batch.nbytes)
        per_row = max(1, batch.nbytes // max(1, batch.num_rows))
        self._limit = max(1, min(ROW_GROUP_MAX_ROWS, ROW_GROUP_BYTES // per_row))

    def close(self) -> None:
        if self._writer is None:
            return
        try:
            self._flush()
        finally:
            writer, self._writer = self._writer, None
            try:
                self._background.close()
            finally:
                writer.close()


WRITERS: dict[str, type[Writer]] = {"jsonl": JsonlWriter, "parquet": ParquetWriter, "csv": CsvWriter}


def open_writer(path: Path, file_type: str, columns: list[Column]) -> Writer:
    return WRITERS[file_type](path, columns)


__all__ = ["CsvWriter", "JsonlWriter", "ParquetWriter", "WRITERS", "Writer", "open_writer", "row_encoder"]
