"""Containers: JSONL, JSON list, CSV and Parquet, each optionally gzipped, read as a stream of rows.

`iter_rows` yields (row_number, row) where row is a dict, or (row_number, ImportIssue) for a row that could not
be read; a fatal problem (truncated JSON list, broken Parquet) ends the stream with an issue. Memory stays
bounded: JSON lists are parsed incrementally (ijson), JSONL line by line with a size cap, Parquet by batches.

Limits (`ImportLimits`, set by WORKBENCH_IMPORT_* settings; docs/security.md) are checked while streaming, before
anything large is built: decompressed size (a counting wrapper around the stream), nesting depth (counted from
parser events or brackets), a row's size, CSV header and Parquet columns, Parquet metadata. A file past a limit
raises `ImportLimitExceeded` (it ends the import) or, for one bounded bad row (a JSONL line, a CSV cell), yields an
issue for that row.

Row numbers: JSONL and CSV give the line number in the file (CSV's header is line 1), so an editor jumps
straight to it; JSON lists and Parquet give the 1-based position of the record.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from annotation.importers.formats.base import CsvCell
from annotation.importers.records import ImportIssue
from workbench.exceptions import ApplicationError

CONTAINERS = ("jsonl", "json", "csv", "parquet")
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
DEFAULT_MAX_ROW_BYTES = 16 * 1024 * 1024
MiB = 1024 * 1024
# yajl rescans a string that spans reads from its start on every read, so a string costs (length / buffer) rescans:
# 256 KiB keeps a 16 MiB string under a second while one read's burst of events stays small.
JSON_READ_BYTES = 256 * 1024
# Rows are turned into Python objects at most this many (estimated) bytes at a time.
PARQUET_SLICE_BYTES = 32 * MiB

Row = dict[str, Any]


@dataclass(frozen=True)
class ImportLimits:
    """What one import may cost; each limit is named with the setting that raises it in the refusal."""

    max_depth: int = 100
    max_columns: int = 1000
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES
    max_decompressed_bytes: int = 10240 * MiB

    @classmethod
    def from_settings(cls) -> ImportLimits:
        from django.conf import settings

        return cls(
            max_depth=settings.WORKBENCH_IMPORT_MAX_DEPTH,
            max_columns=settings.WORKBENCH_IMPORT_MAX_COLUMNS,
            max_row_bytes=settings.WORKBENCH_IMPORT_MAX_ROW_MB * MiB,
            max_decompressed_bytes=settings.WORKBENCH_IMPORT_MAX_DECOMPRESSED_MB * MiB,
        )

    def depth_message(self) -> str:
        return f"nested more than {self.max_depth} levels deep (the limit set by WORKBENCH_IMPORT_MAX_DEPTH)"

    def row_message(self, what: str) -> str:
        return f"{what} is over the {self.max_row_bytes / MiB:g} MiB row limit (WORKBENCH_IMPORT_MAX_ROW_MB)"

    def columns_message(self, what: str) -> str:
        return f"{what} has more than {self.max_columns} columns (the limit set by WORKBENCH_IMPORT_MAX_COLUMNS)"

    def decompressed_message(self, what: str = "the file") -> str:
        return (
            f"{what} decompresses to more than {self.max_decompressed_bytes / MiB:g} MiB "
            "(the limit set by WORKBENCH_IMPORT_MAX_DECOMPRESSED_MB)"
        )


class ImportLimitExceeded(ApplicationError):
    """A file past one of the import limits: the import ends here, before the file costs more."""


class _RowTooLarge(Exception):
    pass


class _CountingReader(io.RawIOBase):
    """Counts the (decompressed) bytes read through it and refuses past the limit, before more is inflated.

    `row_start` lets a reader bound one record: while set, reading more than `max_row_bytes` past it raises
    _RowTooLarge, so a 1 GB string is never handed whole to the parser.
    """

    def __init__(self, inner: IO[bytes], source: Source, limits: ImportLimits) -> None:
        self.inner = inner
        self.source = source
        self.limits = limits
        self.count = 0
        self.row_start: int | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.count > self.limits.max_decompressed_bytes:
            raise ImportLimitExceeded(self.limits.decompressed_message())
        if self.row_start is not None and self.count - self.row_start > self.limits.max_row_bytes:
            raise _RowTooLarge
        n = self.inner.readinto(buffer)  # type: ignore[attr-defined]
        self.count += n
        self.source.decoded_bytes = self.count
        return n


@dataclass
class Source:
    """An opened file: its container, whether gzipped, and a way to ask how far reading has got."""

    path: Path
    container: str
    gzipped: bool
    size: int
    _raw: IO[bytes] | None = None
    # Bytes of rows read so far once decompressed (or decoded, for Parquet): callers batch by it.
    decoded_bytes: int = 0

    def bytes_read(self) -> int:
        if self._raw is None or self._raw.closed:
            return self.size
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0


def detect_container(path: Path, head: bytes) -> tuple[str, bool]:
    """The container from the extension (ignoring .gz), falling back to sniffing the first bytes."""
    gzipped = head.startswith(GZIP_MAGIC)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".gzip"):
        suffixes = suffixes[:-1]
    ext = suffixes[-1].lstrip(".") if suffixes else ""
    ext = {"ndjson": "jsonl", "pq": "parquet"}.get(ext, ext)
    if ext in CONTAINERS:
        return ext, gzipped
    if head.startswith(PARQUET_MAGIC):
        return "parquet", gzipped
    text_head = head.lstrip()
    if gzipped:
        with gzip.open(path, "rb") as stream:
            text_head = stream.read(64).lstrip()
    if text_head.startswith(b"["):
        return "json", gzipped
    if text_head.startswith(b"{"):
        return "jsonl", gzipped
    return "csv", gzipped


@contextmanager
def open_source(path: Path | str) -> Iterator[Source]:
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as raw:
        head = raw.read(8)
        raw.seek(0)
        container, gzipped = detect_container(path, head)
        yield Source(path=path, container=container, gzipped=gzipped, size=size, _raw=raw)


def _counting_stream(source: Source, limits: ImportLimits) -> _CountingReader:
    """The file from its start, decompressed if gzipped, counted (unbuffered: reads go straight through)."""
    assert source._raw is not None
    source._raw.seek(0)
    inner: IO[bytes] = source._raw
    if source.gzipped:
        inner = gzip.GzipFile(fileobj=source._raw, mode="rb")  # type: ignore[assignment]
    return _CountingReader(inner, source, limits)


def _binary_stream(source: Source, limits: ImportLimits) -> IO[bytes]:
    return io.BufferedReader(_counting_stream(source, limits), 1024 * 1024)  # type: ignore[return-value]


_PATH = re.compile(r"(?<![\w.~])/(?:[^\s/'\"():,]+/)+")


def without_paths(text: str) -> str:
    """An error text with directories cut from absolute paths: messages users see never show server paths."""
    return _PATH.sub("", text)


def iter_rows(
    source: Source, *, max_row_bytes: int | None = None, limits: ImportLimits | None = None
) -> Iterator[tuple[int, Row | ImportIssue]]:
    limits = limits or ImportLimits()
    if max_row_bytes is not None:
        limits = replace(limits, max_row_bytes=max_row_bytes)
    if source.size == 0:
        yield 0, ImportIssue(None, None, "the file is empty")
        return
    reader = {"jsonl": _iter_jsonl, "json": _iter_json_list, "csv": _iter_csv, "parquet": _iter_parquet}[
        source.container
    ]
    try:
        yield from reader(source, limits)
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        # A truncated or corrupt gzip stream surfaces here, wherever the reader was.
        yield 0, ImportIssue(None, None, without_paths(f"cannot read the file: {error}"))


def _refuse_constant(name: str) -> Any:
    # Python writes NaN/Infinity into JSON, but JSON has no such values (JSON lists refuse them too, and PostgreSQL's
    # jsonb would fail on them while writing, after validation passed).
    raise ValueError(f"{name} is not a JSON value (write null for a missing value)")


_JSON_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_JSON_TOKENS_BYTES = re.compile(_JSON_TOKENS.pattern.encode(), re.DOTALL)


def _too_deep(text: str | bytes, max_depth: int) -> bool:
    """Whether JSON text nests deeper than max_depth, without parsing it (json recurses, so it cannot be asked)."""
    if isinstance(text, str):
        if text.count("[") + text.count("{") <= max_depth:
            return False
        tokens, opening = _JSON_TOKENS.finditer(text), ("[", "{")
    else:
        if text.count(b"[") + text.count(b"{") <= max_depth:
            return False
        tokens, opening = _JSON_TOKENS_BYTES.finditer(text), (b"[", b"{")  # type: ignore[assignment]
    depth = 0
    for match in tokens:
        token = match.group()
        if len(token) != 1:
            continue  # a string: its brackets are text
        depth += 1 if token in opening else -1
        if depth > max_depth:
            return True
    return False


def _decode_json_line(number: int, line: bytes, limits: ImportLimits) -> Row | ImportIssue:
    if _too_deep(line, limits.max_depth):
        return ImportIssue(number, None, limits.depth_message())
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        return ImportIssue(
            number, None, f"not valid UTF-8 (byte 0x{line[error.start]:02x} at column {error.start + 1})"
        )
    try:
        if text.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)  # as json.loads does
        value = _JSON_DECODER.decode(text)  # json.loads(text, parse_constant=...) would build a decoder every line
    except json.JSONDecodeError as error:
        # json's "Unterminated string starting at" already ends with "at".
        return ImportIssue(number, None, f"invalid JSON: {error.msg.removesuffix(' at')} at column {error.colno}")
    except ValueError as error:
        return ImportIssue(number, None, f"invalid JSON: {error}")
    if not isinstance(value, dict):
        return ImportIssue(number, None, f"expected a JSON object, got {type(value).__name__}")
    if ("\\ud" in text or "\\uD" in text) and _has_lone_surrogate(value):
        # json accepts "\ud800" escapes; such a string cannot be stored (neither database takes it as text).
        return ImportIssue(number, None, "holds a \\uXXXX escape of half a surrogate pair, which is not text")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _iter_jsonl(source: Source, limits: ImportLimits) -> Iterator[tuple[int, Row | ImportIssue]]:
    max_row_bytes = limits.max_row_bytes
    stream = _binary_stream(source, limits)
    number = 0
    while True:
        line = stream.readline(max_row_bytes + 1)
        if not line:
            break
        number += 1
        if len(line) > max_row_bytes and not line.endswith(b"\n"):
            # Skip the rest of the over-long line without holding it in memory.
            skipped = len(line)
            while chunk := stream.readline(1024 * 1024):
                skipped += len(chunk)
                if chunk.endswith(b"\n"):
                    break
            yield (
                number,
                ImportIssue(
                    number, None, f"line is {skipped / 2**20:.1f} MiB, over the {max_row_bytes / 2**20:g} MiB row limit"
                ),
            )
            continue
        if not line.strip():
            continue
        yield number, _decode_json_line(number, line, limits)


def _iter_json_list(source: Source, limits: ImportLimits) -> Iterator[tuple[int, Row | ImportIssue]]:
    import ijson

    head = _binary_stream(source, limits).read(4096)
    stripped = head.lstrip()
    if stripped.startswith(b"\xef\xbb\xbf"):
        stripped = stripped[3:].lstrip()
    if not stripped.startswith(b"["):
        yield (
            0,
            ImportIssue(None, None, "a .json file must hold a JSON list of objects (use .jsonl for one object a line)"),
        )
        return
    stream = _counting_stream(source, limits)
    number = 0
    try:
        for number, value in _json_list_items(ijson.basic_parse(stream, use_float=True, buf_size=JSON_READ_BYTES),
                                              stream, limits):  # fmt: skip
            if not isinstance(value, dict):
                yield number, ImportIssue(number, None, f"expected a JSON object, got {type(value).__name__}")
                continue
            yield number, value
    except _RowTooLarge:
        raise ImportLimitExceeded(limits.row_message(f"record {number + 1}")) from None
    except UnicodeDecodeError as error:
        yield number + 1, ImportIssue(number + 1, None, f"not valid UTF-8 ({error.reason})")
    except ijson.common.JSONError as error:
        yield number + 1, ImportIssue(number + 1, None, _json_list_error(error, number))


def _json_list_items(events: Iterator[tuple[str, Any]], stream: _CountingReader, limits: ImportLimits) -> Any:
    """(position, value) of each item of the top-level list, built from parser events.

    ijson.items would carry a prefix string per event ("item.item.item..."), whose memory grows with the square of
    the depth; basic_parse has none, and counting depth here stops a deep record at the limit.
    """
    from ijson.common import ObjectBuilder

    depth = number = 0  # depth 1 is inside the top-level list
    builder: ObjectBuilder | None = None
    for event, value in events:
        if depth >= 2:
            assert builder is not None
            builder.event(event, value)
            if event == "start_map" or event == "start_array":
                depth += 1
                if depth - 1 > limits.max_depth:
                    raise ImportLimitExceeded(f"record {number}: {limits.depth_message()}")
            elif event == "end_map" or event == "end_array":
                depth -= 1
                if depth == 1:
                    stream.row_start = None
                    yield number, builder.value
        elif depth == 1:
            if event == "end_array":
                depth = 0
                continue
            number += 1
            if event == "start_map" or event == "start_array":
                stream.row_start = stream.count
                builder = ObjectBuilder()
                builder.event(event, value)
                depth = 2
            else:
                yield number, value
        elif event == "start_array":
            depth = 1


def _json_list_error(error: Exception, records_read: int) -> str:
    """yajl reports errors over several lines with a caret drawing (sometimes as a bytes repr): keep the first."""
    text = str(error).strip()
    if text.startswith(("b'", 'b"')):
        text = text[2:].replace("\\n", "\n")
    first = text.splitlines()[0].strip().rstrip(".") if text else ""
    if "invalid bytes in UTF8" in first:
        return f"not valid UTF-8 (in record {records_read + 1})"
    if "premature EOF" in first or not first:
        return f"the file ends before the JSON list does (truncated after {records_read} complete records)"
    return f"invalid JSON after record {records_read}: {first}"


class _RecordLines:
    """The lines of a CSV file for csv.reader, each read with a cap, refusing a record (the header: its columns)
    past the limits before csv builds it: csv.reader holds a whole record, however many lines or cells it has."""

    def __init__(self, text: io.TextIOWrapper, limits: ImportLimits) -> None:
        self.text = text
        self.limits = limits
        self.line = 0  # physical lines read
        self.record_line = 1  # where the record being read starts
        self.record_chars = 0
        self.header_commas: int | None = 0  # None once the header is read

    def __iter__(self) -> _RecordLines:
        return self

    def __next__(self) -> str:
        line = self.text.readline(self.limits.max_row_bytes + 1)
        if not line:
            raise StopIteration
        self.line += 1
        self.record_chars += len(line)
        if self.header_commas is not None:
            # Counted before csv splits the header: a 1 MB line of commas is a million-cell list otherwise.
            self.header_commas += line.count(",")
            if self.header_commas >= self.limits.max_columns:
                raise ImportLimitExceeded(self.limits.columns_message("the CSV header"))
        if self.record_chars > self.limits.max_row_bytes:
            what = "the CSV header" if self.header_commas is not None else f"row {self.record_line}"
            raise ImportLimitExceeded(self.limits.row_message(what))
        return line

    def next_record(self) -> None:
        self.header_commas = None
        self.record_line = self.line + 1
        self.record_chars = 0


def _iter_csv(source: Source, limits: ImportLimits) -> Iterator[tuple[int, Row | ImportIssue]]:
    csv.field_size_limit(limits.max_row_bytes)
    # surrogateescape: a bad byte becomes a lone surrogate in its cell instead of failing the whole read-ahead
    # block, so the error names the right line and column and the rest of the file is still checked.
    text = io.TextIOWrapper(_binary_stream(source, limits), encoding="utf-8-sig", errors="surrogateescape", newline="")
    lines = _RecordLines(text, limits)
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
        lines.next_record()
        if header is None:
            yield 0, ImportIssue(None, None, "the file is empty")
            return
        header = [name.strip() for name in header]
        if bad := _undecodable(header, header):
            yield 1, ImportIssue(1, None, bad[1])
            return
        duplicated = {name for name, count in Counter(header).items() if count > 1}
        if duplicated:
            yield 1, ImportIssue(1, ", ".join(sorted(duplicated)), "column appears more than once in the header")
            return
        end = reader.line_num
        for values in reader:
            lines.next_record()
            # A quoted cell may span lines: report the line the record starts on.
            number, end = end + 1, reader.line_num
            if not any(value.strip() for value in values):
                continue
            if len(values) != len(header):
                yield (
                    number,
                    ImportIssue(number, None, f"has {len(values)} values but the header has {len(header)} columns"),
                )
                continue
            if bad := _undecodable(header, values):
                yield number, ImportIssue(number, bad[0], bad[1])
                continue
            if deep := next((n for n, v in zip(header, values, strict=True) if _too_deep(v, limits.max_depth)), None):
                yield number, ImportIssue(number, deep, f"holds JSON {limits.depth_message()}")
                continue
            yield number, {name: CsvCell(value) for name, value in zip(header, values, strict=True)}
    except UnicodeDecodeError as error:
        yield reader.line_num + 1, ImportIssue(reader.line_num + 1, None, f"not valid UTF-8 ({error.reason})")
    except csv.Error as error:
        yield reader.line_num, ImportIssue(reader.line_num, None, f"malformed CSV: {error}")


def _undecodable(header: list[str], values: list[str]) -> tuple[str, str] | None:
    """(column, reason) for the first cell holding bytes that are not UTF-8 (read as lone surrogates)."""
    for name, value in zip(header, values, strict=False):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            byte = ord(value[error.start]) - 0xDC00
            return name, f"not valid UTF-8 (byte 0x{byte:02x} at character {error.start + 1} of the cell)"
    return None


def _iter_parquet(source: Source, limits: ImportLimits) -> Iterator[tuple[int, Row | ImportIssue]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    temp_path: str | None = None
    try:
        path: Path | str = source.path
        if source.gzipped:
            temp_path = _inflate_parquet(source, limits)
            if temp_path is None:
                yield 0, ImportIssue(None, None, "cannot read Parquet: the gzipped file does not hold a Parquet file")
                return
            path = temp_path
        parquet = pq.ParquetFile(path)
        row_groups = _check_parquet_metadata(parquet, limits)
        # Strings come as dictionary arrays: a value repeated by the file's dictionary encoding stays one value in
        # memory until its row is turned into Python objects, a slice of rows at a time.
        strings = [column.path for column in parquet.schema if column.physical_type == "BYTE_ARRAY"]
        plain = parquet.schema_arrow
        parquet = pq.ParquetFile(path, read_dictionary=strings or None)
        number = 0
        for index, batch_rows in row_groups:
            for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=[index]):
                for value in _parquet_rows(batch, plain, number, source, limits):
                    number += 1
                    yield number, value
    except (pa.ArrowException, OSError) as error:
        yield 0, ImportIssue(None, None, without_paths(f"cannot read Parquet: {error}"))
    finally:
        if temp_path:
            os.unlink(temp_path)


def _inflate_parquet(source: Source, limits: ImportLimits) -> str | None:
    """Parquet needs random access: inflate to a temporary file, counted, once it starts like a Parquet file."""
    stream = _counting_stream(source, limits)
    head = stream.read(len(PARQUET_MAGIC))
    if head != PARQUET_MAGIC:
        return None
    handle, temp_path = tempfile.mkstemp(suffix=".parquet")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(head)
            while chunk := stream.read(1024 * 1024):
                out.write(chunk)
    except BaseException:
        os.unlink(temp_path)
        raise
    return temp_path


def _check_parquet_metadata(parquet: Any, limits: ImportLimits) -> list[tuple[int, int]]:
    """Refuse from the footer alone (columns, nesting, sizes); (row group, rows per batch) for the rest."""
    metadata = parquet.metadata
    if metadata.num_columns > limits.max_columns or len(parquet.schema_arrow) > limits.max_columns:
        raise ImportLimitExceeded(limits.columns_message("the Parquet file"))
    if 1 + max((_type_depth(field.type) for field in parquet.schema_arrow), default=0) > limits.max_depth:
        raise ImportLimitExceeded(f"the Parquet file's columns are {limits.depth_message()}")
    plan, total = [], 0
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        # Decoded size: pages as stored uncompressed, plus a word per value (run-length encoding can turn a few
        # bytes into millions of values).
        size = sum(
            group.column(c).total_uncompressed_size + 8 * group.column(c).num_values for c in range(group.num_columns)
        )
        total += size
        if total > limits.max_decompressed_bytes:
            raise ImportLimitExceeded(limits.decompressed_message("the Parquet file"))
        if group.num_rows and size / group.num_rows > limits.max_row_bytes:
            raise ImportLimitExceeded(limits.row_message(f"the average row of row group {index + 1}"))
        row_bytes = max(1, size // max(group.num_rows, 1))
        plan.append((index, max(1, min(2048, PARQUET_SLICE_BYTES // row_bytes))))
    return plan


def _type_depth(data_type: Any) -> int:
    import pyarrow as pa

    if pa.types.is_struct(data_type):
        return 1 + max((_type_depth(data_type.field(i).type) for i in range(data_type.num_fields)), default=0)
    if pa.types.is_map(data_type):
        return 2 + max(_type_depth(data_type.key_type), _type_depth(data_type.item_type))
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type) or pa.types.is_fixed_size_list(data_type):
        return 1 + _type_depth(data_type.value_type)
    return 0


def _parquet_rows(batch: Any, plain: Any, before: int, source: Source, limits: ImportLimits) -> Iterator[Row]:
    """A batch's rows as dicts, refusing a row over the limit before it becomes Python objects."""
    import numpy as np
    import pyarrow as pa

    sizes = np.zeros(batch.num_rows, dtype=np.int64)
    for column in batch.columns:
        sizes += _value_sizes(column)
    over = np.flatnonzero(sizes > limits.max_row_bytes)
    if len(over):
        raise ImportLimitExceeded(limits.row_message(f"row {before + int(over[0]) + 1}"))
    start = 0
    while start < batch.num_rows:
        # As many rows as fit the slice budget (at least one).
        end = start + max(1, int(np.searchsorted(np.cumsum(sizes[start:]), PARQUET_SLICE_BYTES, side="right")))
        source.decoded_bytes += int(sizes[start:end].sum())
        if source.decoded_bytes > limits.max_decompressed_bytes:
            raise ImportLimitExceeded(limits.decompressed_message("the Parquet file"))
        rows = batch.slice(start, end - start)
        try:
            rows = rows.cast(plain)  # a slice's dictionaries decoded at once: to_pylist is 3 times slower on them
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            pass
        yield from rows.to_pylist()
        start = end


def _value_sizes(array: Any) -> Any:
    """Per-row size estimate of an Arrow array as Python values: text bytes plus a word per value."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    data_type = array.type
    if pa.types.is_dictionary(data_type):
        values = _value_sizes(array.dictionary)
        indices = array.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        return values[indices] if len(values) else np.zeros(len(array), dtype=np.int64)
    if (
        pa.types.is_string(data_type)
        or pa.types.is_binary(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_large_binary(data_type)
    ):
        lengths = pc.binary_length(array).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        return lengths + 8
    if pa.types.is_struct(data_type):
        total = np.full(len(array), 8, dtype=np.int64)
        for child in array.flatten():
            total += _value_sizes(child)
        return total
    if (
        pa.types.is_list(data_type)
        or pa.types.is_large_list(data_type)
        or pa.types.is_map(data_type)
        or (pa.types.is_fixed_size_list(data_type))
    ):
        values = array.flatten()
        parents = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
        child_sizes = _value_sizes(values)
        return 8 + np.bincount(parents, weights=child_sizes, minlength=len(array)).astype(np.int64)
    return np.full(len(array), 8, dtype=np.int64)


def peek_columns(path: Path | str, *, limit: int = 20, limits: ImportLimits | None = None) -> set[str]:
    """The union of keys of the first readable rows, for format detection."""
    columns: set[str] = set()
    seen = 0
    with open_source(path) as source:
        for _, row in iter_rows(source, limits=limits):
            if isinstance(row, ImportIssue):
                continue
            columns.update(row.keys())
            seen += 1
            if seen >= limit:
                break
    return columns
