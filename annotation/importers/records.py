"""Normalised import records: what every format adapter turns a source row into.

Adapters know nothing of the database; they produce these plain dataclasses (or raise RowError), and the
writer resolves external ids to rows. A ranking is a list of groups of response external ids, best group
first; ids inside one group are tied.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


class RowError(Exception):
    """A problem with one field of one row; the service adds the row number."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class ImportIssue:
    row: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = "file" if self.row is None else f"row {self.row}"
        return f"{where}, {self.field or '-'}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


@dataclass
class ResponseIn:
    external_id: str
    text: str
    generator: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    conversation: list[dict[str, str]] | None = None
    # Where the row wrote this response (`responses[2]`), so errors found later name the user's field.
    source_field: str = ""


@dataclass
class PromptIn:
    external_id: str
    messages: list[dict[str, str]]
    category: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JudgeRef:
    name: str
    kind: str  # a Judge.Kind value


@dataclass
class JudgmentIn:
    judge: JudgeRef
    ranking: list[list[str]]
    scores: dict[str, float] | None = None
    margin: float | None = None
    strength: int | None = None
    criteria: dict[str, Any] = field(default_factory=dict)
    rationale: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    duration_ms: int | None = None
    # Canonical response order of the comparison (A, B, ...); defaults to the ranking flattened.
    comparison_order: list[str] | None = None
    # The order the judge saw the responses in (response external ids), when the source says; a judge that saw a
    # comparison in both orders has one judgment per order. None: unknown.
    shown_order: list[str] | None = None
    # The judge was asked and gave no usable verdict (unparsable output): `ranking` is empty, and the judgment is
    # stored with status "no_verdict" so coverage counts it.
    no_verdict: bool = False

    def response_ids(self) -> list[str]:
        if self.comparison_order is not None:
            return list(self.comparison_order)
        return [rid for group in self.ranking for rid in group]


@dataclass
class ImportItem:
    """One prompt with the responses a row brings and the judgments it carries.

    `prompt` is a PromptIn when the row defines the prompt, or the external id (str) of a prompt that must
    already exist in the project (judge verdict files that refer to an earlier import).
    """

    prompt: PromptIn | str
    responses: list[ResponseIn] = field(default_factory=list)
    judgments: list[JudgmentIn] = field(default_factory=list)

    @property
    def prompt_external_id(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt.external_id


def content_id(value: Any, prefix: str) -> str:
    """A stable external id from content, for sources that carry no ids (TRL pairs, HH transcripts).

    The id hashes `json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))` in UTF-8; ids are
    stored, so that spelling must never change. Strings, lists and string-keyed dicts of them (every TRL prompt and
    response) are spelled by `canonical_json`, which writes the same bytes about twice as fast; anything else goes
    through json.dumps."""
    payload = canonical_json(value)
    if payload is None:
        payload = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return f"{prefix}{hashlib.blake2b(payload, digest_size=10).hexdigest()}"


def response_content_id(
    text: str, *, generator: str = "", conversation: list[dict[str, str]] | None = None, occurrence: int = 0
) -> str:
    """The content-derived id of a response without one. The generator is part of its identity (the same text from
    two models is two responses, each keeping its generator), and `occurrence` tells apart identical responses in
    one row (1 for the second copy, ...). Without a generator, conversation or occurrence it is the id TRL and HH
    rows always had; migration 0004 re-keyed stored responses to this spelling."""
    value: list[Any] = [text] if conversation is None else [text, conversation]
    if generator:
        value.append({"generator": generator})
    if occurrence:
        value.append({"occurrence": occurrence})
    return content_id(value, "r-")


# Bytes that json.dumps(ensure_ascii=False) escapes: control characters, the quote and the backslash.
_JSON_SPECIAL = bytes(range(0x20)) + b'"\\'
# Control characters json escapes as \u00XX rather than with a short escape.
_JSON_RARE_CONTROL = bytes(c for c in range(0x20) if c not in b"\b\f\n\r\t")
_JSON_SHORT_ESCAPES = (
    (b"\\", b"\\\\"),
    (b'"', b'\\"'),
    (b"\n", b"\\n"),
    (b"\r", b"\\r"),
    (b"\t", b"\\t"),
    (b"\b", b"\\b"),
    (b"\f", b"\\f"),
)


def _json_string(text: str) -> bytes:
    """UTF-8 of json.dumps(text, ensure_ascii=False): the escaping runs on bytes, and only for what is there."""
    raw = text.encode()
    if len(raw.translate(None, _JSON_SPECIAL)) == len(raw):
        return b'"' + raw + b'"'
    if len(raw.translate(None, _JSON_RARE_CONTROL)) != len(raw):
        return json.encoder.encode_basestring(text).encode()
    for char, escaped in _JSON_SHORT_ESCAPES:  # the backslash first, so later escapes are not doubled
        if char in raw:
            raw = raw.replace(char, escaped)
    return b'"' + raw + b'"'


def canonical_json(value: Any) -> bytes | None:
    """The canonical JSON of strings, lists and str-keyed dicts (sorted keys, no spaces); None for anything else."""
    if isinstance(value, str):
        return _json_string(value)
    if type(value) is list:
        parts = [_json_string(v) if isinstance(v, str) else canonical_json(v) for v in value]
        if None in parts:
            return None
        return b"[" + b",".join(parts) + b"]"
    if type(value) is dict:
        if not all(isinstance(key, str) for key in value):
            return None
        parts = []
        for key in sorted(value):
            item = value[key]
            part = _json_string(item) if isinstance(item, str) else canonical_json(item)
            if part is None:
                return None
            parts.append(_json_key(key) + part)
        return b"{" + b",".join(parts) + b"}"
    return None


_KEYS: dict[str, bytes] = {}


def _json_key(key: str) -> bytes:
    """`"key":`, remembered for the few keys that recur (role, content, ...)."""
    spelled = _KEYS.get(key)
    if spelled is None:
        spelled = _json_string(key) + b":"
        if len(_KEYS) < 1024:
            _KEYS[key] = spelled
    return spelled


def ranking_from_scores(scores: dict[str, float]) -> list[list[str]]:
    """Higher score is better; equal scores are tied."""
    by_score: dict[float, list[str]] = {}
    for rid, score in scores.items():
        by_score.setdefault(score, []).append(rid)
    return [by_score[score] for score in sorted(by_score, reverse=True)]


def ranking_from_ranks(ranks: dict[str, int]) -> list[list[str]]:
    """Lower rank is better; equal ranks are tied. Gaps are allowed here; placements are made dense later."""
    by_rank: dict[int, list[str]] = {}
    for rid, rank in ranks.items():
        by_rank.setdefault(rank, []).append(rid)
    return [by_rank[rank] for rank in sorted(by_rank)]
