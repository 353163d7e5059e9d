"""Containers: JSONL, JSON list, CSV and Parquet, each optionally gzipped, read as a stream of rows.

`iter_rows` yields (row_number, row) where row is a dict, or (row_number, ImportIssue) for a row that could not
be read; a fatal problem (truncated JSON list, broken Parquet) ends the stream with an issue. Memory stays
bounded: JSON lists are parsed incrementally (ijson), JSONL line by line with a size cap, Parquet by batches.

Row numbers: JSONL and CSV give the line number in the file (CSV's header is line 1), so an editor jumps
straight to it; JSON lists and Parquet give the 1-based position of the record.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from annotation.importers.formats.base import CsvCell
from annotation.importers.records import ImportIssue

CONTAINERS = ("jsonl", "json", "csv", "parquet")
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
DEFAULT_MAX_ROW_BYTES = 16 * 1024 * 1024

Row = dict[str, Any]


@dataclass
class Source:
    """An opened file: its container, whether gzipped, and a way to ask how far reading has got."""

    path: Path
    container: str
    gzipped: bool
    size: int
    _raw: IO[bytes] | None = None

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


def _binary_stream(source: Source) -> IO[bytes]:
    assert source._raw is not None
    source._raw.seek(0)
    if source.gzipped:
        return gzip.GzipFile(fileobj=source._raw, mode="rb")  # type: ignore[return-value]
    return source._raw


def iter_rows(source: Source, *, max_row_bytes: int = DEFAULT_MAX_ROW_BYTES) -> Iterator[tuple[int, Row | ImportIssue]]:
    if source.size == 0:
        yield 0, ImportIssue(None, None, "the file is empty")
        return
    reader = {"jsonl": _iter_jsonl, "json": _iter_json_list, "csv": _iter_csv, "parquet": _iter_parquet}[
        source.container
    ]
    try:
        yield from reader(source, max_row_bytes)
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        # A truncated or corrupt gzip stream surfaces here, wherever the reader was.
        yield 0, ImportIssue(None, None, f"cannot read the file: {error}")


def _refuse_constant(name: str) -> Any:
    # Python writes NaN/Infinity into JSON, but JSON has no such values (JSON lists refuse them too, and PostgreSQL's
    # jsonb would fail on them while writing, after validation passed).
    raise ValueError(f"{name} is not a JSON value (write null for a missing value)")


_JSON_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def _decode_json_line(number: int, line: bytes) -> Row | ImportIssue:
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


def _iter_jsonl(source: Source, max_row_bytes: int) -> Iterator[tuple[int, Row | ImportIssue]]:
    stream = _binary_stream(source)
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
        yield number, _decode_json_line(number, line)


def _iter_json_list(source: Source, max_row_bytes: int) -> Iterator[tuple[int, Row | ImportIssue]]:
    import ijson

    stream = _binary_stream(source)
    head = stream.read(4096)
    stripped = head.lstrip()
    if stripped.startswith(b"\xef\xbb\xbf"):
        stripped = stripped[3:].lstrip()
    if not stripped.startswith(b"["):
        yield (
            0,
            ImportIssue(None, None, "a .json file must hold a JSON list of objects (use .jsonl for one object a line)"),
        )
        return
    stream.seek(0)
    number = 0
    try:
        for number, value in enumerate(ijson.items(stream, "item", use_float=True), start=1):
            if not isinstance(value, dict):
                yield number, ImportIssue(number, None, f"expected a JSON object, got {type(value).__name__}")
                continue
            yield number, value
    except UnicodeDecodeError as error:
        yield number + 1, ImportIssue(number + 1, None, f"not valid UTF-8 ({error.reason})")
    except ijson.common.JSONError as error:
        yield number + 1, ImportIssue(number + 1, None, _json_list_error(error, number))


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


def _iter_csv(source: Source, max_row_bytes: int) -> Iterator[tuple[int, Row | ImportIssue]]:
    csv.field_size_limit(max_row_bytes)
    # surrogateescape: a bad byte becomes a lone surrogate in its cell instead of failing the whole read-ahead
    # block, so the error names the right line and column and the rest of the file is still checked.
    text = io.TextIOWrapper(_binary_stream(source), encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader, None)
        if header is None:
            yield 0, ImportIssue(None, None, "the file is empty")
            return
        header = [name.strip() for name in header]
        if bad := _undecodable(header, header):
            yield 1, ImportIssue(1, None, bad[1])
            return
        duplicated = {name for name in header if header.count(name) > 1}
        if duplicated:
            yield 1, ImportIssue(1, ", ".join(sorted(duplicated)), "column appears more than once in the header")
            return
        end = reader.line_num
        for values in reader:
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


def _iter_parquet(source: Source, max_row_bytes: int) -> Iterator[tuple[int, Row | ImportIssue]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    temp_path: str | None = None
    try:
        if source.gzipped:
            # Parquet needs random access: inflate to a temporary file first.
            handle, temp_path = tempfile.mkstemp(suffix=".parquet")
            with os.fdopen(handle, "wb") as out:
                shutil.copyfileobj(_binary_stream(source), out, 1024 * 1024)
            parquet = pq.ParquetFile(temp_path)
        else:
            parquet = pq.ParquetFile(source.path)
        number = 0
        for batch in parquet.iter_batches(batch_size=2048):
            for value in batch.to_pylist():
                number += 1
                yield number, value
    except (pa.ArrowException, OSError) as error:
        yield 0, ImportIssue(None, None, f"cannot read Parquet: {error}")
    finally:
        if temp_path:
            os.unlink(temp_path)


def peek_columns(path: Path | str, *, limit: int = 20) -> set[str]:
    """The union of keys of the first readable rows, for format detection."""
    columns: set[str] = set()
    seen = 0
    with open_source(path) as source:
        for _, row in iter_rows(source):
            if isinstance(row, ImportIssue):
                continue
            columns.update(row.keys())
            seen += 1
            if seen >= limit:
                break
    return columns
