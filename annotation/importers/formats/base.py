"""What a format adapter is, the context it parses in, and small strict field readers."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from annotation.importers.records import (
    ImportIssue,
    ImportItem,
    JudgeRef,
    PromptIn,
    ResponseIn,
    RowError,
    canonical_json,
    content_id,
    response_content_id,
)
from annotation.messages import validate_messages

MAX_WARNINGS = 100
# Row numbers of repeated rows kept for the report (the count is always exact).
MAX_REPEATED_ROWS_LISTED = 10_000
JUDGE_KINDS = ("human", "llm", "reward_model", "reference", "imported")


@dataclass
class ParseContext:
    """Per-file state shared by the rows of one import: options, companion files, warnings and counters."""

    project_slug: str
    path: Path
    options: dict[str, Any] = field(default_factory=dict)
    warnings: list[ImportIssue] = field(default_factory=list)
    warning_count: int = 0
    counters: Counter[str] = field(default_factory=Counter)
    cache: dict[str, Any] = field(default_factory=dict)
    # 64-bit hashes of the rows seen in this pass, to find rows repeated in the file.
    seen_rows: set[int] = field(default_factory=set)
    repeated_rows: list[int] = field(default_factory=list)

    def warn(self, row: int | None, field_name: str | None, message: str) -> None:
        self.warning_count += 1
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(ImportIssue(row, field_name, message))

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def default_judge_name(self) -> str:
        return str(self.options.get("judge") or f"{self.project_slug}:imported")


class Format(ABC):
    """A data format: how to recognise it from its columns and turn one row into import items."""

    name: ClassVar[str]
    description: ClassVar[str]
    # Columns that must all be present for detection, and that each row must carry.
    required: ClassVar[frozenset[str]]
    # Columns whose presence rules this format out (so the more specific format wins).
    excluded: ClassVar[frozenset[str]] = frozenset()
    # Rows refer to prompts of an earlier import instead of defining them.
    refers_to_existing: ClassVar[bool] = False
    # The column the prompt id comes from, named in validation errors.
    id_field: ClassVar[str] = "prompt_id"

    def matches(self, columns: set[str]) -> bool:
        return self.required <= columns and not (self.excluded & columns)

    def parse(self, row: dict[str, Any], row_number: int, ctx: ParseContext) -> list[ImportItem]:
        """Turn one source row into import items, or raise RowError naming the field.

        The rules of every format live here: a row repeated in the file (the same bytes of data) is imported once,
        counted and listed by row number; `judge_kind` in the options sets the kind of every judge the file names."""
        if _repeated(row, row_number, ctx):
            return []
        items = self.parse_row(row, row_number, ctx)
        kind = ctx.options.get("judge_kind")
        if kind:
            for item in items:
                for judgment in item.judgments:
                    judgment.judge = JudgeRef(name=judgment.judge.name, kind=str(kind))
        return items

    @abstractmethod
    def parse_row(self, row: dict[str, Any], row_number: int, ctx: ParseContext) -> list[ImportItem]:
        """The format's own reading of one row."""

    def finish(self, ctx: ParseContext) -> None:
        """Called once after every row has been parsed; reports file-level findings."""
        self.summarise(ctx)
        repeats = ctx.counters["repeated_rows"]
        if repeats:
            listed = ", ".join(map(str, ctx.repeated_rows[:50])) + (", ..." if repeats > 50 else "")
            ctx.warn(
                None, None, f"{repeats} rows repeat an earlier row of the file (rows {listed}): each imported once"
            )

    def summarise(self, ctx: ParseContext) -> None:
        """The format's own file-level findings (none by default)."""
        return None


def _repeated(row: dict[str, Any], row_number: int, ctx: ParseContext) -> bool:
    """Whether this row repeats an earlier row of the file; the first is kept, each repeat counted and listed."""
    payload = canonical_json(row)
    if payload is None:
        payload = json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()
    key = int.from_bytes(hashlib.blake2b(payload, digest_size=8).digest(), "big")
    if key not in ctx.seen_rows:
        ctx.seen_rows.add(key)
        return False
    ctx.count("repeated_rows")
    if len(ctx.repeated_rows) < MAX_REPEATED_ROWS_LISTED:
        ctx.repeated_rows.append(row_number)
    ctx.warn(row_number, None, "repeats an earlier row of the file: imported once")
    return True


# --- strict field readers: each raises RowError naming the field ---------------------------------------------


def require(row: dict[str, Any], name: str) -> Any:
    if name not in row:
        raise RowError(name, "missing")
    value = row[name]
    if value is None:
        raise RowError(name, "is null")
    return value


def get_str(row: dict[str, Any], name: str, *, allow_empty: bool = False) -> str:
    value = require(row, name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise RowError(name, f"must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise RowError(name, "is empty")
    return value


def get_optional_str(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None or value == "":
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise RowError(name, f"must be a string, got {type(value).__name__}")
    return value


def get_int(row: dict[str, Any], name: str, *, allowed: set[int] | None = None) -> int:
    value = require(row, name)
    number: int
    if isinstance(value, bool):
        raise RowError(name, "must be an integer, got a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    else:
        raise RowError(name, f"must be an integer, got {value!r}"[:200])
    if allowed is not None and number not in allowed:
        raise RowError(name, f"must be one of {sorted(allowed)}, got {number}")
    return number


def get_optional_float(row: dict[str, Any], name: str) -> float | None:
    value = row.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RowError(name, "must be a number, got a boolean")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise RowError(name, f"must be a number, got {value!r}"[:200]) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise RowError(name, "must be a finite number")
    return number


class CsvCell(str):
    """A value read from a CSV cell: the only kind of string that may hold nested JSON (CSV has no lists)."""


def parse_json_cell(value: Any, name: str) -> Any:
    """CSV cells hold nested values (message lists, lists of scores) as JSON text; other containers are typed."""
    if isinstance(value, CsvCell):
        stripped = value.strip()
        if stripped[:1] in ("[", "{"):
            try:
                return json.loads(stripped)
            except json.JSONDecodeError as error:
                raise RowError(name, f"holds invalid JSON: {error.msg}") from None
    return value


def get_list(row: dict[str, Any], name: str) -> list[Any]:
    value = parse_json_cell(require(row, name), name)
    if not isinstance(value, list):
        raise RowError(name, f"must be a list, got {type(value).__name__}")
    return value


def get_messages(row: dict[str, Any], name: str) -> list[dict[str, str]]:
    value = parse_json_cell(require(row, name), name)
    try:
        return validate_messages(value)
    except ValueError as error:
        raise RowError(name, str(error)) from None


def text_or_messages(row: dict[str, Any], name: str) -> str | list[dict[str, str]]:
    """TRL columns are plain strings or conversational message lists."""
    raw = require(row, name)
    try:
        value = parse_json_cell(raw, name)
    except RowError:
        value = str(raw)  # a CSV cell that merely starts with a bracket is text
    if isinstance(value, list) and isinstance(raw, CsvCell):
        try:
            return validate_messages(value)
        except ValueError:
            value = str(raw)  # JSON-looking text, not a conversation
    if isinstance(value, str):
        if not value.strip():
            raise RowError(name, "is empty")
        return str(value)
    if isinstance(value, list):
        try:
            return validate_messages(value)
        except ValueError as error:
            raise RowError(name, str(error)) from None
    raise RowError(name, f"must be a string or a list of messages, got {type(value).__name__}")


def read_responses(values: list[Any], field_name: str = "responses") -> list[ResponseIn]:
    """Responses as the user wrote them; every error names `responses[i].field`. Empty text is a model that
    answered nothing; identical texts are separate responses (a second copy gets its own id); the generator is
    part of a response's identity, so the same text from two models is two responses."""
    if len(values) < 2:
        raise RowError(field_name, f"needs at least 2 responses, got {len(values)}")
    responses: list[ResponseIn] = []
    seen: dict[str, int] = {}
    for index, value in enumerate(values):
        where = f"{field_name}[{index}]"
        metadata: Any = {}
        if isinstance(value, str):
            text, external_id, generator = value, "", ""
        elif isinstance(value, dict):
            try:
                text = get_str(
                    value, "text" if "text" in value or "response" not in value else "response", allow_empty=True
                )
                external_id = get_optional_str(value, "id")
                generator = get_optional_str(value, "generator") or get_optional_str(value, "model")
            except RowError as error:
                raise RowError(f"{where}.{error.field}", error.message) from None
            metadata = value.get("metadata") or {}
            if not isinstance(metadata, dict):
                raise RowError(f"{where}.metadata", "must be an object")
        else:
            raise RowError(where, f"must be a string or an object, got {type(value).__name__}")
        if external_id:
            if external_id in seen:
                raise RowError(f"{where}.id", f"repeats the id of {field_name}[{seen[external_id]}]")
        else:
            external_id = response_content_id(text, generator=generator)
            occurrence = 0
            while external_id in seen:  # an identical response earlier in the row: a copy of its own
                occurrence += 1
                external_id = response_content_id(text, generator=generator, occurrence=occurrence)
        seen[external_id] = index
        responses.append(
            ResponseIn(external_id=external_id, text=text, generator=generator, metadata=metadata, source_field=where)
        )
    return responses


def row_prompt(row: dict[str, Any], messages: list[dict[str, str]]) -> PromptIn:
    """A row's prompt: its own `prompt_id` if it has one, else an id from the content (so the same prompt in two rows
    is one prompt), and its `category`."""
    return PromptIn(
        external_id=get_optional_str(row, "prompt_id") or content_id(messages, "p-"),
        messages=messages,
        category=get_optional_str(row, "category"),
    )
