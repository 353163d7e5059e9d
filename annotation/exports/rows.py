"""Row builders: a prompt group in, rows (tuples in the order of `columns`) out, one builder per format.

Rows are tuples, not dicts, and the schema is fixed before the first row: Parquet row groups then share one schema,
JSONL rows keep one column order, and no per-row dict is built on the hot path.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from annotation.analysis.consensus import consensus_verdicts, count_votes
from annotation.analysis.pairs import induced_pairs, pair_margin
from annotation.exports.options import ExportSpec
from annotation.exports.schema import MESSAGES, Column
from annotation.exports.source import PromptGroup, Response, iso_timestamp

Messages = list[dict[str, str]]
# One review action in the raw export's provenance: who did what, when and why (undone ones too, with when).
REVIEW = pa.list_(
    pa.struct(
        [
            ("action", pa.string()),
            ("by", pa.string()),
            ("at", pa.string()),
            ("note", pa.string()),
            ("correction_id", pa.int64()),
            ("undone_at", pa.string()),
            ("undone_by", pa.string()),
        ]
    )
)

# A pair record: one pairwise judgment with its texts, as the pair reader gives it (pair_source's query row, or a
# column of its Arrow batches), in this order. TrlPairwise.pair_sources maps its columns onto these fields.
PAIR_RECORD = (
    "prompt",
    "chosen",
    "rejected",
    "margin",
    "tie",
    "prompt_id",
    "chosen_id",
    "rejected_id",
    "judge_id",
    "judgment_id",
    "category",
    "comparison_id",
    "better_id",
    "worse_id",
)


# --- conversations and their plain-text rendering ------------------------------------------------------------------

ROLE_LABELS = {"system": "System", "user": "Human", "assistant": "Assistant"}


def transcript(messages: Messages) -> str:
    """HH-RLHF style: `\\n\\nHuman: ...\\n\\nAssistant: ...`."""
    return "".join(f"\n\n{ROLE_LABELS.get(m['role'], m['role'].title())}: {m['content']}" for m in messages)


def prompt_as_text(messages: Messages) -> str:
    """One user message is its text; a longer conversation is a transcript ending with the assistant's cue."""
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return transcript_prompt(messages)


def transcript_prompt(messages: Messages) -> str:
    text = transcript(messages)
    return text if messages and messages[-1]["role"] == "assistant" else text + "\n\nAssistant:"


def continuation_as_text(messages: Messages) -> str:
    """The turns after a transcript prompt: the first assistant turn right after the cue, then a transcript."""
    if messages and messages[0]["role"] == "assistant":
        return " " + messages[0]["content"] + transcript(messages[1:])
    return transcript(messages)


def full_conversation(prompt: Messages, response: Response) -> Messages:
    return response.conversation or [*prompt, {"role": "assistant", "content": response.text}]


def shared_prompt(prompt: Messages, a: Response, b: Response) -> tuple[Messages, Messages, Messages] | None:
    """(prompt, a's turns after it, b's turns after it) such that prompt + turns is each response's whole
    conversation. A response with its own `conversation` (MT-Bench turn 2, HH transcripts that diverge early) may
    differ from the stored prompt before its last turn: the prompt is then the turns both share, cut back to end on a
    user turn, and each side carries the rest, so nothing a judge saw is lost or misattributed. None when the two
    share no opening user turn."""
    full_a = full_conversation(prompt, a)
    full_b = full_conversation(prompt, b)
    limit = min(len(full_a), len(full_b)) - 1
    shared = 0
    while shared < limit and full_a[shared] == full_b[shared]:
        shared += 1
    while shared > 0 and full_a[shared - 1]["role"] != "user":
        shared -= 1
    if shared == 0:
        return None
    return full_a[:shared], full_a[shared:], full_b[shared:]


def _assistant(text: str) -> Messages:
    return [{"role": "assistant", "content": text}]


# --- builders ------------------------------------------------------------------------------------------------------


class Builder(ABC):
    columns: list[Column]
    # Needs the judgment's provenance columns (criteria, rationale, ...) from the source.
    full = False

    def __init__(self, spec: ExportSpec, judges: dict[int, tuple[str, str]], project_slug: str) -> None:
        self.spec = spec
        self.options = spec.options
        self.judges = judges
        self.project_slug = project_slug
        self.stats: Counter[str] = Counter()

    @abstractmethod
    def rows(self, group: PromptGroup) -> Iterator[tuple[Any, ...]]: ...

    def judge(self, judge_id: int) -> tuple[str, str]:
        return self.judges.get(judge_id) or (f"judge-{judge_id}", "")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


class TrlPairwise(Builder):
    """TRL preference rows: one per induced pair per judgment, or one consensus row per prompt and response pair."""

    def __init__(self, spec: ExportSpec, judges: dict[int, tuple[str, str]], project_slug: str) -> None:
        super().__init__(spec, judges, project_slug)
        o = self.options
        text_type = MESSAGES if o.conversational else pa.string()
        self.with_margin = o.margin != "none"
        self.with_tie = o.ties == "keep"
        self.consensus = o.consensus != "none"
        columns = [Column(name, text_type, prose=True) for name in ("prompt", "chosen", "rejected")]
        if self.with_margin:
            columns.append(Column("margin", pa.float64()))
        if self.with_tie:
            columns.append(Column("tie", pa.bool_()))
        columns += [
            Column("prompt_id", pa.string()),
            Column("chosen_id", pa.string()),
            Column("rejected_id", pa.string()),
        ]
        if self.consensus:
            columns += [
                Column("votes_chosen", pa.int64()),
                Column("votes_rejected", pa.int64()),
                Column("votes_tie", pa.int64()),
            ]
        else:
            columns += [
                Column("judge", pa.string()),
                Column("judge_kind", pa.string()),
                Column("judgment_id", pa.int64()),
            ]
        columns.append(Column("category", pa.string()))
        self.columns = columns

    def _texts(self, group: PromptGroup, better: Response, worse: Response) -> tuple[Any, Any, Any] | None:
        plain = better._conversation is None and worse._conversation is None
        if self.options.conversational:
            if plain:
                return group.messages, _assistant(better.text), _assistant(worse.text)
            return shared_prompt(group.messages, better, worse)
        if plain and group.single_user_turn:
            return group.text, better.text, worse.text
        if plain:
            return transcript_prompt(group.messages), " " + better.text, " " + worse.text
        split = shared_prompt(group.messages, better, worse)
        if split is None:
            return None
        prompt, turns_better, turns_worse = split
        if len(prompt) == 1 and prompt[0]["role"] == "user" and len(turns_better) == 1 and len(turns_worse) == 1:
            return prompt[0]["content"], turns_better[0]["content"], turns_worse[0]["content"]
        return transcript_prompt(prompt), continuation_as_text(turns_better), continuation_as_text(turns_worse)

    def outcome(self, tie: bool, chosen: str | None, rejected: str | None) -> tuple[bool, str | None]:
        """(is the pair written, the stat it counts under): the one rule for every reader, in this order: a dropped
        tie, a missing response (text None), an empty response, a kept tie. The Arrow lane derives its column-wise
        form from this (fast.outcome_table)."""
        if tie and not self.with_tie:
            return False, "tie_pairs_dropped"
        if chosen is None or rejected is None:
            return False, "pairs_missing_response"
        if self.options.drop_empty and not (chosen.strip() and rejected.strip()):
            return False, "pairs_dropped_empty"
        return True, "tie_pairs_kept" if tie else None

    def pair_sources(self) -> list[tuple[str, int]] | None:
        """Where each column (the split column aside) comes from in a pair record (PAIR_RECORD: one pairwise
        judgment as the pair reader gives it): ("record", field index) or ("judge", 0 for the name, 1 for the kind).
        None when a column has no source there (consensus votes): the pair reader then cannot write these rows."""
        sources = []
        for column in self.columns:
            if column.name in ("judge", "judge_kind"):
                sources.append(("judge", 0 if column.name == "judge" else 1))
            elif column.name in PAIR_RECORD:
                sources.append(("record", PAIR_RECORD.index(column.name)))
            else:
                return None
        return sources

    def _pair_texts(
        self, group: PromptGroup, tie: bool, better: Response | None, worse: Response | None
    ) -> tuple[tuple[Any, Any, Any] | None, str | None]:
        """(the row's prompt, chosen and rejected, or None when the pair gives no row, counted), the kept stat."""
        keep, stat = self.outcome(tie, better.text if better else None, worse.text if worse else None)
        if not keep:
            self.stats[stat] += 1  # type: ignore[index]
            return None, None
        texts = self._texts(group, better, worse)  # type: ignore[arg-type]
        if texts is None:
            self.stats["pairs_without_shared_prompt"] += 1
        return texts, stat

    def rows(self, group: PromptGroup) -> Iterator[tuple[Any, ...]]:
        if self.consensus:
            yield from self._consensus_rows(group)
            return
        o = self.options
        keep_ties = self.with_tie
        need_maps = o.margin in ("rank_gap", "score_gap")
        responses = group.responses
        for judgment in group.judgments:
            name, kind = self.judge(judgment.judge_id)
            ranks = {p[0]: p[1] for p in judgment.placements} if need_maps else {}
            scores = {p[0]: p[2] for p in judgment.placements} if need_maps else {}
            for pair in induced_pairs(judgment.placements, o.pairs):
                better_id, worse_id, tie = pair
                better, worse = responses.get(better_id), responses.get(worse_id)
                texts, stat = self._pair_texts(group, tie, better, worse)
                if texts is None:
                    continue
                row: list[Any] = [*texts]
                if self.with_margin:
                    row.append(pair_margin(o.margin, pair, ranks, scores, judgment.margin, judgment.strength))
                if keep_ties:
                    row.append(tie)
                row += [
                    group.external_id,
                    better.external_id,  # type: ignore[union-attr]
                    worse.external_id,  # type: ignore[union-attr]
                    name,
                    kind,
                    judgment.id,
                    group.category,
                ]
                if stat:
                    self.stats[stat] += 1
                yield tuple(row)

    def _consensus_rows(self, group: PromptGroup) -> Iterator[tuple[Any, ...]]:
        votes: dict[tuple[int, int], list[int]] = {}
        for judgment in group.judgments:
            count_votes(induced_pairs(judgment.placements, self.options.pairs), votes)
        for verdict in consensus_verdicts(votes, self.options.consensus):
            better, worse = group.responses.get(verdict.better), group.responses.get(verdict.worse)
            texts, _ = self._pair_texts(group, verdict.tie, better, worse)
            if texts is None:
                continue
            row: list[Any] = [*texts]
            if self.with_margin:
                row.append(verdict.margin)
            if self.with_tie:
                row.append(verdict.tie)
            row += [
                group.external_id,
                better.external_id,  # type: ignore[union-attr]
                worse.external_id,  # type: ignore[union-attr]
                verdict.votes_better,
                verdict.votes_worse,
                verdict.votes_tie,
                group.category,
            ]
            yield tuple(row)


RESPONSE_STRUCT = pa.struct(
    [("id", pa.string()), ("text", pa.string()), ("generator", pa.string()), ("conversation", MESSAGES)]
)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class Listwise(Builder):
    """One row per judgment: the prompt, its responses best first, their ranks (1 = best, equal = tie) and scores.
    The listwise importer reads these rows back (`prompt`, `responses` objects with `id`, `ranks`, `judge`)."""

    full = True

    def __init__(self, spec: ExportSpec, judges: dict[int, tuple[str, str]], project_slug: str) -> None:
        super().__init__(spec, judges, project_slug)
        self.columns = [
            Column("prompt", MESSAGES if self.options.conversational else pa.string(), prose=True),
            Column("responses", pa.list_(RESPONSE_STRUCT)),
            Column("ranks", pa.list_(pa.int64())),
            Column("scores", pa.list_(pa.float64())),
            Column("criteria", pa.string(), free_form=True),
            Column("prompt_id", pa.string()),
            Column("judge", pa.string()),
            Column("judge_kind", pa.string()),
            Column("judgment_id", pa.int64()),
            Column("category", pa.string()),
        ]

    def rows(self, group: PromptGroup) -> Iterator[tuple[Any, ...]]:
        prompt = group.messages if self.options.conversational else prompt_as_text(group.messages)
        for judgment in group.judgments:
            placed = [(group.responses.get(rid), rank, score) for rid, rank, score in judgment.placements]
            if any(r is None for r, _, _ in placed):
                self.stats["judgments_missing_response"] += 1
                continue
            if self.options.drop_empty and any(not r.text.strip() for r, _, _ in placed):  # type: ignore[union-attr]
                self.stats["judgments_dropped_empty"] += 1
                continue
            name, kind = self.judge(judgment.judge_id)
            criteria = _json(judgment.extra[2]) if judgment.extra else None
            ids = [r.external_id for r, _, _ in placed]  # type: ignore[union-attr]
            yield (
                prompt,
                [
                    {"id": r.external_id, "text": r.text, "generator": r.generator, "conversation": r.conversation}
                    for r, _, _ in placed  # type: ignore[union-attr]
                ],
                [rank for _, rank, _ in placed],
                [score for _, _, score in placed],
                _criteria_by_position(criteria, ids, judgment.placements),
                group.external_id,
                name,
                kind,
                judgment.id,
                group.category,
            )


def _criteria_by_position(criteria: Any, ids: list[str], placements: list[tuple[int, int, Any]]) -> Any:
    """{criterion: {response id: value}} (how imports store them) becomes {criterion: [value per response]} in the
    row's response order, as the listwise importer reads it; other shapes pass through unchanged; empty is null."""
    if not criteria:
        return None
    if not isinstance(criteria, dict):
        return criteria
    keys = ids + [str(p[0]) for p in placements]
    out: dict[str, Any] = {}
    for name, values in criteria.items():
        if isinstance(values, dict) and set(values) <= set(keys):
            out[name] = [values.get(i, values.get(str(p[0]))) for i, p in zip(ids, placements, strict=True)]
        else:
            return criteria
    return out


class Raw(Builder):
    """Every judgment with its provenance: judge, kind, source, status, time, placements, strength, margin, criteria,
    rationale, duration and the order the responses were shown in."""

    full = True

    def __init__(self, spec: ExportSpec, judges: dict[int, tuple[str, str]], project_slug: str) -> None:
        super().__init__(spec, judges, project_slug)
        fields = [("response_id", pa.string()), ("rank", pa.int64()), ("score", pa.float64())]
        if self.options.include_text:
            fields += [("text", pa.string()), ("generator", pa.string()), ("conversation", MESSAGES)]
        columns = [Column("judgment_id", pa.int64()), Column("project", pa.string()), Column("prompt_id", pa.string())]
        if self.options.include_text:
            columns.append(Column("prompt", MESSAGES, prose=True))
        columns += [
            Column("category", pa.string()),
            Column("comparison_id", pa.int64()),
            Column("judge", pa.string()),
            Column("judge_kind", pa.string()),
            Column("source", pa.string()),
            Column("status", pa.string()),
            Column("created_at", pa.string()),
            Column("placements", pa.list_(pa.struct(fields))),
            Column("shown_order", pa.list_(pa.string())),
            Column("strength", pa.int64()),
            Column("margin", pa.float64()),
            Column("criteria", pa.string(), free_form=True),
            Column("rationale", pa.string(), prose=True),
            Column("duration_ms", pa.int64()),
            Column("import_job_id", pa.int64()),
            Column("metadata", pa.string(), free_form=True),
        ]
        self.columns = columns
        self.reviews: dict[int, list[dict[str, Any]]] = {}

    def add_reviews(self, reviews: dict[int, list[dict[str, Any]]]) -> None:
        """Review actions by judgment id (REVIEW's fields, oldest first) become a last `review` column. Only a
        project with review actions gets the column, so every other raw export keeps its bytes."""
        self.reviews = reviews
        self.columns = [*self.columns, Column("review", REVIEW)]

    def _placement(self, group: PromptGroup, rid: int, rank: int, score: float | None) -> dict[str, Any]:
        response = group.responses.get(rid)
        out: dict[str, Any] = {
            "response_id": response.external_id if response else str(rid),
            "rank": rank,
            "score": score,
        }
        if self.options.include_text:
            out["text"] = response.text if response else None
            out["generator"] = response.generator if response else None
            out["conversation"] = response.conversation if response else None
        return out

    def rows(self, group: PromptGroup) -> Iterator[tuple[Any, ...]]:
        external = {pk: r.external_id for pk, r in group.responses.items()}
        for judgment in group.judgments:
            created_at, source, criteria, rationale, shown_order, duration_ms, import_job_id, metadata = judgment.extra  # type: ignore[misc]
            name, kind = self.judge(judgment.judge_id)
            shown = [external.get(rid, str(rid)) for rid in (_json(shown_order) or [])]
            criteria_value = _json(criteria)
            metadata_value = _json(metadata)
            row: list[Any] = [judgment.id, self.project_slug, group.external_id]
            if self.options.include_text:
                row.append(group.messages)
            row += [
                group.category,
                judgment.comparison_id,
                name,
                kind,
                source,
                judgment.status,
                iso_timestamp(created_at),
                [self._placement(group, rid, rank, score) for rid, rank, score in judgment.placements],
                shown,
                judgment.strength,
                judgment.margin,
                criteria_value or None,
                rationale,
                duration_ms,
                import_job_id,
                metadata_value or None,
            ]
            if self.reviews:
                row.append(self.reviews.get(judgment.id, []))
            yield tuple(row)


BUILDERS: dict[str, type[Builder]] = {"trl-pairwise": TrlPairwise, "listwise": Listwise, "raw": Raw}


def builder_for(spec: ExportSpec, judges: dict[int, tuple[str, str]], project_slug: str) -> Builder:
    return BUILDERS[spec.format](spec, judges, project_slug)
