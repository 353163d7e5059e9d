"""The columns of an export: names and Arrow types, fixed before the first row. No Django."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    # A free-form object (criteria, metadata): native JSON in JSONL, JSON text in Parquet and CSV, because its keys
    # differ from row to row and a Parquet file has one schema.
    free_form: bool = False
    # Prose (prompts, responses, rationales): long and seldom repeated. Parquet writes its string leaves plainly,
    # without the dictionary pyarrow would otherwise build for every page and then abandon, and without min/max
    # statistics, which no reader filters texts by.
    prose: bool = False
