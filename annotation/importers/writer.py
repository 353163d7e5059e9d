"""The bulk writer: resolves external ids to rows and inserts new prompts, responses, comparisons, judgments and
placements a batch at a time.

Why not `bulk_create`: a pair is nine rows (prompt, 2 responses, comparison, 2 members, judgment, 2 placements),
and the target is 20,000 pairs/s into PostgreSQL. So ids are reserved up front (a sequence range on PostgreSQL; a
counter under SQLite's write lock) and rows go in with COPY on PostgreSQL and executemany on SQLite. Everything
runs inside the import's transaction: an error anywhere rolls all of it back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Model

from annotation.importers.records import ImportIssue, ImportItem, JudgmentIn
from annotation.models import Comparison, ComparisonResponse, Judge, Judgment, Placement, Project, Prompt, Response

_LOOKUP_CHUNK = 500
# Conflicts found while writing are reported one per row up to this many (then counted), like validation errors.
MAX_REPORTED_CONFLICTS = 100_000
# Statuses that are a judge's outcome on a comparison: at most one per judge, comparison and shown order.
_OUTCOMES = (Judgment.Status.ACTIVE, Judgment.Status.NO_VERDICT)


def _dumps(value: Any) -> str:
    # Exactly as Django's JSONField writes it: SQLite stores the text as given, and the ORM's exact lookups
    # (`messages=[...]`) compare that text, so a compact spelling would never match imported rows there.
    if not value and type(value) is dict:
        return "{}"  # most metadata and criteria: skip the encoder
    return json.dumps(value)


@dataclass
class WriteStats:
    prompts_created: int = 0
    responses_created: int = 0
    comparisons_created: int = 0
    judgments_created: int = 0
    judgments_unchanged: int = 0
    judges_created: int = 0
    conflicts: list[ImportIssue] = field(default_factory=list)
    conflict_count: int = 0


class _Table:
    """Inserts rows with explicit ids into one model's table."""

    def __init__(self, model: type[Model], columns: Sequence[str]) -> None:
        self.table = model._meta.db_table
        self.columns = ["id", *columns]
        self.postgres = connection.vendor == "postgresql"
        self._next_id: int | None = None
        self._sequence: str | None = None
        # The first id this writer reserved: rows with ids at or above it were created by this import (ids only
        # grow), which spares remembering a million ids to know what needs no lookup.
        self.first_reserved: int | None = None

    def created_here(self, pk: int) -> bool:
        return self.first_reserved is not None and pk >= self.first_reserved

    def reserve_ids(self, count: int) -> list[int]:
        if count == 0:
            return []
        with connection.cursor() as cursor:
            if self.postgres:
                if self._sequence is None:
                    # Looked up once: pg_get_serial_sequence inside the query costs more than the nextval it feeds.
                    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [self.table])
                    self._sequence = cursor.fetchone()[0]
                cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [self._sequence, count])
                ids = [row[0] for row in cursor.fetchall()]
                if self.first_reserved is None:
                    self.first_reserved = ids[0]
                return ids
            if self._next_id is None:
                # AUTOINCREMENT never reuses an id, even of a deleted row: start above sqlite_sequence too.
                cursor.execute(
                    f'SELECT MAX(COALESCE((SELECT MAX(id) FROM "{self.table}"), 0), '
                    "COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0))",
                    [self.table],
                )
                self._next_id = cursor.fetchone()[0] + 1
        first = self._next_id
        if self.first_reserved is None:
            self.first_reserved = first
        self._next_id += count
        return list(range(first, first + count))

    def insert(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        columns = ", ".join(f'"{c}"' for c in self.columns)
        with connection.cursor() as cursor:
            if self.postgres:
                with cursor.cursor.copy(f'COPY "{self.table}" ({columns}) FROM STDIN') as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(self.columns))
                cursor.executemany(f'INSERT INTO "{self.table}" ({columns}) VALUES ({marks})', rows)


def prompt_ids_by_external_id(project_id: int, external_ids: list[str]) -> dict[str, int]:
    """{external id: id} of the project's prompts among these ids, one unique-index probe per id.

    Not `filter(project=..., external_id__in=...)`: while an import grows the table, neither database has statistics
    for the new rows, and both then plan that as a scan of every prompt of the project (an index on project_id), once
    per batch, so a million-row import slowed quadratically. Here each id is looked up on (project_id, external_id).
    """
    if not external_ids:
        return {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # OFFSET 0 keeps the planner from flattening the lateral subquery into a hash join over the whole table.
            cursor.execute(
                "SELECT w.external_id, p.id FROM unnest(%s::text[]) AS w(external_id) CROSS JOIN LATERAL "
                f'(SELECT id FROM "{Prompt._meta.db_table}" WHERE project_id = %s AND external_id = w.external_id '
                "OFFSET 0) AS p",
                [external_ids, project_id],
            )
        else:
            # SQLite does not reorder a CROSS JOIN: each id of the list probes the unique index.
            cursor.execute(
                f'SELECT w.value, p.id FROM json_each(%s) AS w CROSS JOIN "{Prompt._meta.db_table}" AS p '
                "WHERE p.project_id = %s AND p.external_id = w.value",
                [json.dumps(external_ids), project_id],
            )
        return dict(cursor.fetchall())


def _chunks(values: list[Any], size: int = _LOOKUP_CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class BulkWriter:
    def __init__(self, *, project: Project, now: datetime, import_job_id: int | None) -> None:
        self.project = project
        self.now = now
        # The timestamp as the driver would send it, converted once rather than twice a row: Django's SQLite adapter
        # writes datetime.isoformat(" "); psycopg's COPY takes the datetime itself.
        # The backend's own spelling (SQLite: naive UTC text without an offset), as the ORM would write it.
        self._stamp: Any = connection.ops.adapt_datetimefield_value(now) if connection.vendor == "sqlite" else now
        self.import_job_id = import_job_id
        self.stats = WriteStats()
        self._judges: dict[str, Judge] = {}
        self._prompts = _Table(
            Prompt, ["project_id", "external_id", "messages", "category", "metadata", "created_at", "updated_at"]
        )
        self._responses = _Table(
            Response,
            ["prompt_id", "external_id", "text", "generator", "metadata", "conversation", "created_at", "updated_at"],
        )
        self._comparisons = _Table(
            Comparison, ["project_id", "prompt_id", "key", "slots_left", "created_at", "updated_at"]
        )
        self._members = _Table(ComparisonResponse, ["comparison_id", "response_id", "position"])
        self._judgments = _Table(
            Judgment,
            [
                "project_id",
                "comparison_id",
                "judge_id",
                "strength",
                "margin",
                "criteria",
                "rationale",
                "shown_order",
                "order_key",
                "duration_ms",
                "source",
                "status",
                "client_token",
                "import_job_id",
                "metadata",
                "created_at",
                "updated_at",
            ],
        )
        self._placements = _Table(Placement, ["judgment_id", "response_id", "rank", "score"])

    # -- judges ----------------------------------------------------------------------------------------------------

    def judge(self, name: str, kind: str) -> Judge:
        """The project's judge of this name (judges are per project), made on first use."""
        judge = self._judges.get(name)
        if judge is None:
            judge, created = Judge.objects.get_or_create(project=self.project, name=name, defaults={"kind": kind})
            self.stats.judges_created += int(created)
            self._judges[name] = judge
        return judge

    # -- one batch ---------------------------------------------------------------------------------------------------

    def write(self, batch: list[tuple[int, ImportItem]]) -> None:
        # Prompts created by this batch have nothing under them yet: their responses and comparisons need no lookup.
        self._batch_new_prompts: set[int] = set()
        prompt_ids = self._write_prompts([item for _, item in batch])
        response_ids = self._write_responses([item for _, item in batch], prompt_ids)
        self._write_judgments(batch, prompt_ids, response_ids)

    def _write_prompts(self, items: list[ImportItem]) -> dict[str, int]:
        wanted = list(dict.fromkeys(item.prompt_external_id for item in items))
        ids = prompt_ids_by_external_id(self.project.pk, wanted)
        new = {}
        for item in items:
            prompt = item.prompt
            if isinstance(prompt, str) or prompt.external_id in ids or prompt.external_id in new:
                continue
            new[prompt.external_id] = prompt
        new_ids = self._prompts.reserve_ids(len(new))
        rows = []
        for pk, prompt in zip(new_ids, new.values(), strict=True):
            ids[prompt.external_id] = pk
            self._batch_new_prompts.add(pk)
            rows.append(
                (
                    pk,
                    self.project.pk,
                    prompt.external_id,
                    _dumps(prompt.messages),
                    prompt.category,
                    _dumps(prompt.metadata),
                    self._stamp,
                    self._stamp,
                )
            )
        self._prompts.insert(rows)
        self.stats.prompts_created += len(rows)
        return ids

    def _write_responses(self, items: list[ImportItem], prompt_ids: dict[str, int]) -> dict[tuple[int, str], int]:
        ids: dict[tuple[int, str], int] = {}
        existing_prompts = sorted({prompt_ids[i.prompt_external_id] for i in items} - self._batch_new_prompts)
        for chunk in _chunks(existing_prompts):
            for pk, prompt_id, external_id in Response.objects.filter(prompt_id__in=chunk).values_list(
                "id", "prompt_id", "external_id"
            ):
                ids[(prompt_id, external_id)] = pk
        new: dict[tuple[int, str], Any] = {}
        for item in items:
            prompt_id = prompt_ids[item.prompt_external_id]
            for response in item.responses:
                key = (prompt_id, response.external_id)
                if key not in ids and key not in new:
                    new[key] = response
        new_ids = self._responses.reserve_ids(len(new))
        rows = []
        for pk, ((prompt_id, external_id), response) in zip(new_ids, new.items(), strict=True):
            ids[(prompt_id, external_id)] = pk
            rows.append(
                (
                    pk,
                    prompt_id,
                    external_id,
                    response.text,
                    response.generator,
                    _dumps(response.metadata),
                    None if response.conversation is None else _dumps(response.conversation),
                    self._stamp,
                    self._stamp,
                )
            )
        self._responses.insert(rows)
        self.stats.responses_created += len(rows)
        return ids

    def _write_judgments(
        self, batch: list[tuple[int, ImportItem]], prompt_ids: dict[str, int], response_ids: dict[tuple[int, str], int]
    ) -> None:
        # Resolve each judgment to (prompt id, its response ids in canonical order, and by external id).
        resolved: list[tuple[int, JudgmentIn, int, list[int], dict[str, int]]] = []
        for row_number, item in batch:
            prompt_id = prompt_ids[item.prompt_external_id]
            for judgment in item.judgments:
                local = {rid: response_ids[(prompt_id, rid)] for rid in judgment.response_ids()}
                resolved.append((row_number, judgment, prompt_id, list(local.values()), local))

        comparison_ids = self._write_comparisons([(p, order) for _, _, p, order, _ in resolved])

        candidates: list[tuple[int, JudgmentIn, int, Judge, dict[str, int]]] = []
        for row_number, judgment, prompt_id, order, local in resolved:
            comparison_id = comparison_ids[(prompt_id, Comparison.key_for(order))]
            judge = self.judge(judgment.judge.name, judgment.judge.kind)
            candidates.append((row_number, judgment, comparison_id, judge, local))

        existing = self._existing_rankings({c for _, _, c, _, _ in candidates})
        new_ids = self._judgments.reserve_ids(len(candidates))
        judgment_rows, placements = [], []
        now, project_id, import_job_id = self._stamp, self.project.pk, self.import_job_id
        source = Judgment.Source.IMPORT.value
        for pk, (row_number, judgment, comparison_id, judge, local) in zip(new_ids, candidates, strict=True):
            ranks = {local[rid]: rank for rank, group in enumerate(judgment.ranking, start=1) for rid in group}
            shown = [local[rid] for rid in judgment.shown_order] if judgment.shown_order else []
            # Human judgments stay one per judge and comparison whatever the order shown; other judges keep one per
            # order they saw (an LLM judge asked both ways round).
            order_key = ",".join(map(str, shown)) if shown and judge.kind != Judge.Kind.HUMAN else ""
            outcome = None if judgment.no_verdict else ranks
            clash = self._clash(existing, judge.pk, comparison_id, order_key, outcome)
            if clash is not None:
                if clash:
                    self._conflict(row_number, f"judge {judgment.judge.name!r} {clash}; exclude it first to replace it")
                else:
                    self.stats.judgments_unchanged += 1
                continue
            existing.setdefault((judge.pk, comparison_id), {})[order_key] = outcome
            judgment_rows.append(
                (
                    pk,
                    project_id,
                    comparison_id,
                    judge.pk,
                    judgment.strength,
                    judgment.margin,
                    _dumps(judgment.criteria),
                    judgment.rationale,
                    _dumps(shown) if shown else "[]",
                    order_key,
                    judgment.duration_ms,
                    source,
                    Judgment.Status.NO_VERDICT.value if judgment.no_verdict else Judgment.Status.ACTIVE.value,
                    None,
                    import_job_id,
                    _dumps(judgment.metadata),
                    now,
                    now,
                )
            )
            if judgment.no_verdict:
                continue
            scores = judgment.scores or {}
            placements.extend((pk, response, ranks[response], scores.get(rid)) for rid, response in local.items())
        # One id reservation for the batch's placements (one query on PostgreSQL, not one per judgment).
        placement_ids = self._placements.reserve_ids(len(placements))
        placement_rows = [(placement_id, *row) for placement_id, row in zip(placement_ids, placements, strict=True)]
        self._judgments.insert(judgment_rows)
        self._placements.insert(placement_rows)
        self.stats.judgments_created += len(judgment_rows)

    def _write_comparisons(self, wanted: list[tuple[int, list[int]]]) -> dict[tuple[int, str], int]:
        ids: dict[tuple[int, str], int] = {}
        existing_prompts = sorted({p for p, _ in wanted} - self._batch_new_prompts)
        for chunk in _chunks(existing_prompts):
            for pk, prompt_id, key in Comparison.objects.filter(prompt_id__in=chunk).values_list(
                "id", "prompt_id", "key"
            ):
                ids[(prompt_id, key)] = pk
        new: dict[tuple[int, str], list[int]] = {}
        for prompt_id, order in wanted:
            key = (prompt_id, Comparison.key_for(order))
            if key not in ids and key not in new:
                new[key] = order
        new_ids = self._comparisons.reserve_ids(len(new))
        rows, members = [], []
        member_ids = self._members.reserve_ids(sum(len(order) for order in new.values()))
        member_id = iter(member_ids)
        for pk, ((prompt_id, key), order) in zip(new_ids, new.items(), strict=True):
            ids[(prompt_id, key)] = pk
            rows.append((pk, self.project.pk, prompt_id, key, self.project.overlap, self._stamp, self._stamp))
            members.extend((next(member_id), pk, response_id, position) for position, response_id in enumerate(order))
        self._comparisons.insert(rows)
        self._members.insert(members)
        self.stats.comparisons_created += len(rows)
        return ids

    @staticmethod
    def _clash(
        existing: dict[tuple[int, int], dict[str, dict[int, int] | None]],
        judge_id: int,
        comparison_id: int,
        order_key: str,
        outcome: dict[int, int] | None,
    ) -> str | None:
        """None: nothing stored for this judge, comparison and order. "": the same outcome is stored (a re-import).
        Otherwise why the new judgment cannot join what is stored."""
        stored = existing.get((judge_id, comparison_id))
        if not stored:
            return None
        if order_key in stored:
            if stored[order_key] == outcome:
                return ""
            if order_key:
                return "already has a different judgment of these responses in this shown order in this project"
            return "already has a different active judgment of these responses in this project"
        if "" in stored or (order_key == "" and stored):
            # An order-less judgment next to ordered ones would count the same verdict twice.
            return "already has a judgment of these responses, with the shown order given in one and not the other"
        return None

    def _existing_rankings(self, comparison_ids: set[int]) -> dict[tuple[int, int], dict[str, dict[int, int] | None]]:
        """Outcomes already stored for these comparisons: (judge, comparison) -> {order key: {response: rank}, or
        None for "no verdict"}.

        Comparisons this import created can only hold this import's judgments, and the validator already refused
        in-file duplicates (repeated rows are skipped by the format), so they are not looked up."""
        outcomes: dict[tuple[int, int], dict[str, dict[int, int] | None]] = {}
        wanted = sorted(c for c in comparison_ids if not self._comparisons.created_here(c))
        if not wanted:
            return outcomes
        for chunk in _chunks(wanted):
            judgments = Judgment.objects.filter(comparison_id__in=chunk, status__in=_OUTCOMES).values_list(
                "id", "judge_id", "comparison_id", "order_key", "status"
            )
            by_id: dict[int, dict[int, int] | None] = {}
            for pk, judge_id, comparison_id, order_key, status in judgments:
                ranks: dict[int, int] | None = None if status == Judgment.Status.NO_VERDICT else {}
                by_id[pk] = ranks
                outcomes.setdefault((judge_id, comparison_id), {})[order_key] = ranks
            placements = Placement.objects.filter(
                judgment__comparison_id__in=chunk, judgment__status=Judgment.Status.ACTIVE
            ).values_list("judgment_id", "response_id", "rank")
            for judgment_id, response_id, rank in placements:
                ranks = by_id[judgment_id]
                if ranks is not None:
                    ranks[response_id] = rank
        return outcomes

    def _conflict(self, row_number: int, message: str) -> None:
        self.stats.conflict_count += 1
        if len(self.stats.conflicts) < MAX_REPORTED_CONFLICTS:
            self.stats.conflicts.append(ImportIssue(row_number, "judgment", message))
