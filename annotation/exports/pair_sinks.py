"""Writing the fast path's rows (pair_source's layout) in the general path's exact output: the same bytes in JSONL,
the same rows and row groups in Parquet, the same cells in CSV. No Django.

JSONL: each line is built by one generated function (as writers.row_encoder does), with orjson escaping the strings
in a third of the time the standard library's C escaper takes on ~1 kB of text (~3 us a row against ~10 on the
benchmark machine). orjson writes UTF-8 and leaves DEL (0x7f) as is, where the general path writes `\\uXXXX`;
otherwise its escapes are the same (`\\"`, `\\\\`, `\\n`, `\\u001f`...). So a line that comes out all ASCII without
DEL is the general path's line byte for byte, and any other line (a non-ASCII text, a string orjson refuses) is
encoded again by the general path's own encoder. Numbers are formatted as the general encoder formats them (`%a`
of a float is its repr; `%d` of an int its str).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]  # the C encoder
from typing import Any

import orjson

from annotation.exports.pair_source import (
    CATEGORY,
    CHOSEN,
    CHOSEN_ID,
    JUDGE,
    JUDGMENT,
    MARGIN,
    PROMPT,
    PROMPT_ID,
    REJECTED,
    REJECTED_ID,
    TIE,
)
from annotation.exports.schema import Column
from annotation.exports.writers import CsvWriter, JsonlWriter, ParquetWriter, Writer, row_encoder

Row = tuple[Any, ...]

# The fast row's position of each output column that is read straight from it (judge and judge_kind are looked up
# by judge id; split is the run's).
_SOURCE = {
    "prompt": PROMPT,
    "chosen": CHOSEN,
    "rejected": REJECTED,
    "margin": MARGIN,
    "tie": TIE,
    "prompt_id": PROMPT_ID,
    "chosen_id": CHOSEN_ID,
    "rejected_id": REJECTED_ID,
    "judgment_id": JUDGMENT,
    "category": CATEGORY,
}


class Judges(dict[int, tuple[str, str]]):
    """{judge id: (name, kind)}; an unknown id reads as the general builder's stand-in (`judge-<id>`, no kind)."""

    def __missing__(self, judge_id: int) -> tuple[str, str]:
        return (f"judge-{judge_id}", "")


def output_row(columns: list[Column], judges: Judges, split: str) -> Callable[[Row], Row]:
    """Fast row -> the general path's row tuple for `columns` (its split column included)."""
    getters = []
    for column in columns:
        if column.name == "judge":
            getters.append(lambda r: judges[r[JUDGE]][0])
        elif column.name == "judge_kind":
            getters.append(lambda r: judges[r[JUDGE]][1])
        elif column.name == "split":
            getters.append(lambda r: split)
        else:
            getters.append(lambda r, i=_SOURCE[column.name]: r[i])
    return lambda row: tuple(get(row) for get in getters)


class Sink(ABC):
    """Takes runs of fast rows (consecutive rows of one split) for a writer, and writes them at `flush()` (once a
    fetch batch), each writer's runs together: a test split cuts the rows into runs of a few rows each."""

    def __init__(self, columns: list[Column], judges: Judges) -> None:
        self.columns = columns
        self.judges = judges
        self._runs: dict[int, tuple[Writer, list[tuple[list[Row], str]]]] = {}

    def write(self, writer: Writer, rows: list[Row], split: str) -> None:
        """Take `rows` (the caller hands the list over) for `writer`, to be written at the next flush."""
        entry = self._runs.get(id(writer))
        if entry is None:
            entry = self._runs[id(writer)] = (writer, [])
        entry[1].append((rows, split))

    def flush(self) -> None:
        runs, self._runs = self._runs, {}
        for writer, writer_runs in runs.values():
            self._write(writer, writer_runs)

    @abstractmethod
    def _write(self, writer: Writer, runs: list[tuple[list[Row], str]]) -> None: ...


class JsonlSink(Sink):
    def __init__(self, columns: list[Column], judges: Judges) -> None:
        super().__init__(columns, judges)
        self.general = row_encoder(columns)
        self.encode = _line_encoder(columns, judges)
        self._split_json: dict[str, bytes] = {}

    def _write(self, writer: Writer, runs: list[tuple[list[Row], str]]) -> None:
        assert isinstance(writer, JsonlWriter)
        encoded = [self._lines(rows, split) for rows, split in runs]
        blob = b"".join(line for lines in encoded for line in lines)
        # One check for everything; only when it fails are the lines looked at one by one.
        if not blob.isascii() or blob.find(0x7F) >= 0:
            lines = []
            for (rows, split), run_lines in zip(runs, encoded, strict=True):
                make = output_row(self.columns, self.judges, split)
                lines += [
                    line if line.isascii() and line.find(0x7F) < 0 else self.general(make(row)).encode("ascii")
                    for line, row in zip(run_lines, rows, strict=True)
                ]
            blob = b"".join(lines)
            del lines
        del encoded
        writer.write_encoded(blob, sum(len(rows) for rows, _ in runs))

    def _lines(self, rows: list[Row], split: str) -> list[bytes]:
        split_json = self._split_json.get(split)
        if split_json is None:
            split_json = self._split_json[split] = encode_basestring_ascii(split).encode()
        encode = self.encode
        try:
            return [encode(row, split_json) for row in rows]
        except TypeError:  # orjson.JSONEncodeError: a string it refuses (a lone surrogate)
            return [self._encode_or_mark(row, split_json) for row in rows]

    def _encode_or_mark(self, row: Row, split_json: bytes) -> bytes:
        try:
            return self.encode(row, split_json)
        except TypeError:
            return b"\x80"  # not ASCII: encoded again by the general encoder


class _JudgeJson(dict[int, bytes]):
    """{judge id: its name (part 0) or kind (part 1) as a JSON string}, encoded as the general encoder does."""

    def __init__(self, judges: Judges, part: int) -> None:
        super().__init__()
        self.judges = judges
        self.part = part

    def __missing__(self, judge_id: int) -> bytes:
        value = self[judge_id] = encode_basestring_ascii(self.judges[judge_id][self.part]).encode()
        return value


def _line_encoder(columns: list[Column], judges: Judges) -> Callable[[Row, bytes], bytes]:
    """The generated `encode(row, split_json) -> line` for these columns (see the module's docstring)."""
    env: dict[str, Any] = {"_d": orjson.dumps, "_jn": _JudgeJson(judges, 0), "_jk": _JudgeJson(judges, 1)}
    template = []
    values = []
    for i, column in enumerate(columns):
        key = encode_basestring_ascii(column.name).replace("%", "%%")
        name = column.name
        if name == "margin":
            template.append(f"{key}:%a")  # a float's repr, as float.__repr__ in the general encoder
            values.append(f"r[{MARGIN}]")
        elif name == "tie":
            template.append(f"{key}:%b")
            values.append(f"(b'true' if r[{TIE}] else b'false')")
        elif name == "judgment_id":
            template.append(f"{key}:%d")
            values.append(f"r[{JUDGMENT}]")
        elif name == "judge":
            template.append(f"{key}:%b")
            values.append(f"_jn[r[{JUDGE}]]")
        elif name == "judge_kind":
            template.append(f"{key}:%b")
            values.append(f"_jk[r[{JUDGE}]]")
        elif name == "split":
            template.append(f"{key}:%b")
            values.append("s")
        else:
            template.append(f"{key}:%b")
            values.append(f"_d(r[{_SOURCE[name]}])")
        template[-1] = ("," if i else "{") + template[-1]
    env["_t"] = ("".join(template) + "}\n").encode("ascii")
    source = "def encode(r, s):\n    return _t % (" + ", ".join(values) + ",)\n"
    exec(source, env)  # noqa: S102 - built here; column names enter only as escaped literals in _t
    return env["encode"]


class ParquetSink(Sink):
    """A writer's runs to columns by one transposition, made Arrow arrays at once (writer.write_arrays)."""

    def _write(self, writer: Writer, runs: list[tuple[list[Row], str]]) -> None:
        assert isinstance(writer, ParquetWriter)
        rows = runs[0][0] if len(runs) == 1 else [row for run, _ in runs for row in run]
        if not rows:
            return
        transposed = list(zip(*rows, strict=True))
        del rows
        judges = self.judges
        out: list[Any] = []
        for column in self.columns:
            if column.name == "judge":
                out.append([judges[j][0] for j in transposed[JUDGE]])
            elif column.name == "judge_kind":
                out.append([judges[j][1] for j in transposed[JUDGE]])
            elif column.name == "split":
                out.append([split for run, split in runs for _ in run])
            else:
                out.append(transposed[_SOURCE[column.name]])
        del transposed
        writer.write_arrays(writer.arrays(out))


class CsvSink(Sink):
    def _write(self, writer: Writer, runs: list[tuple[list[Row], str]]) -> None:
        assert isinstance(writer, CsvWriter)
        for rows, split in runs:
            make = output_row(self.columns, self.judges, split)
            writer.write_rows(make(row) for row in rows)


SINKS: dict[str, type[Sink]] = {"jsonl": JsonlSink, "parquet": ParquetSink, "csv": CsvSink}


def sink_for(file_type: str, columns: list[Column], judges: dict[int, tuple[str, str]]) -> Sink:
    return SINKS[file_type](columns, Judges(judges))
