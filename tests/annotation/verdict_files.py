"""Writes verdicts-format files (docs/formats.md, "verdicts") for tests, in every container the importer reads."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any

Row = dict[str, Any]


def verdict_row(
    tag: str,
    *,
    judge: str = "gpt-judge",
    kind: str | None = "llm",
    responses: list[Any] | None = None,
    **verdict: Any,
) -> Row:
    """One judge's verdict on one comparison; `verdict` holds winner / ranks / scores / preference and any extras."""
    row: Row = {
        "prompt": f"{tag}: which answer is better?",
        "responses": responses
        if responses is not None
        else [
            {"text": f"{tag} answer one", "generator": "model-x"},
            {"text": f"{tag} answer two", "generator": "model-y"},
        ],
        "judge": judge,
    }
    if kind is not None:
        row["judge_kind"] = kind
    row.update(verdict)
    return row


def write_verdicts(path: Path, rows: list[Row]) -> Path:
    """By suffix: .jsonl, .json (a list), .csv (nested values as JSON text), .parquet; a trailing .gz gzips."""
    name = path.name.removesuffix(".gz")
    if name.endswith(".jsonl"):
        data = "".join(json.dumps(row) + "\n" for row in rows).encode()
    elif name.endswith(".json"):
        data = json.dumps(rows).encode()
    elif name.endswith(".csv"):
        columns = list(dict.fromkeys(key for row in rows for key in row))
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(column)) for column in columns])
        data = buffer.getvalue().encode()
    elif name.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows)  # nested values as Parquet lists and structs
        sink = io.BytesIO()
        pq.write_table(table, sink)
        data = sink.getvalue()
    else:
        raise ValueError(f"unknown container for {path.name}")
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)
