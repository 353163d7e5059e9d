"""Reads for the judge comparison: every judge's verdicts on a project's pairwise comparisons, as the plain records
the analysis package takes (`annotation.analysis.verdicts.Verdict`), and the comparisons behind a number.

The permission check is the caller's `project_get`; these take the project it returned. Verdicts are read with
written-out SQL in a few streaming passes (comparisons, then judgments with their placements), so a project of a
million judgments becomes records in seconds without an ORM object per row.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Q

from annotation.analysis.verdicts import HUMAN_LOO, HUMAN_MAJORITY, Label, Verdict
from annotation.models import Comparison, Judge, Judgment, Placement, Project, Prompt, Response
from workbench.exceptions import ApplicationError

BATCH = 5000


@dataclass(frozen=True)
class PairInfo:
    prompt: str  # the prompt's external id
    category: str
    a: int  # response ids, a < b (the canonical orientation)
    b: int
    generator_a: str
    generator_b: str
    length_a: int
    length_b: int


def _stream(sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(BATCH):
            yield from rows


def _table(model: type) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def pairwise_comparisons(*, project: Project) -> dict[int, PairInfo]:
    """{comparison id: its prompt, category and two responses} for the project's two-response comparisons."""
    sql = f"""
        SELECT c.id, c.key, p.external_id, p.category, r.id, r.generator, LENGTH(r.text)
        FROM {_table(Comparison)} c
        JOIN {_table(Prompt)} p ON p.id = c.prompt_id
        JOIN {_table(Response)} r ON r.prompt_id = c.prompt_id
        WHERE c.project_id = %s
        ORDER BY c.id, r.id
    """  # noqa: S608 - table names from the models, values as parameters
    out: dict[int, PairInfo] = {}
    current: int | None = None
    members: dict[int, tuple[str, int]] = {}
    meta: tuple[Any, ...] = ()

    def close() -> None:
        ids = Comparison.response_ids_of(meta[0])
        if len(ids) == 2 and all(i in members for i in ids):
            a, b = ids
            out[current] = PairInfo(meta[1], meta[2], a, b, members[a][0], members[b][0], members[a][1], members[b][1])  # type: ignore[index]

    for comparison_id, key, prompt, category, response_id, generator, length in _stream(sql, [project.pk]):
        if comparison_id != current:
            if current is not None:
                close()
            current, members, meta = comparison_id, {}, (key, prompt, category)
        members[response_id] = (generator, int(length or 0))
    if current is not None:
        close()
    return out


def _shown_first(shown_order: Any, pair: PairInfo) -> str | None:
    if isinstance(shown_order, str):
        shown_order = json.loads(shown_order) if shown_order else []
    if not shown_order:
        return None
    first = shown_order[0]
    return "a" if first == pair.a else "b" if first == pair.b else None


def _label(rank_a: int | None, rank_b: int | None) -> Label | None:
    if rank_a is None or rank_b is None:
        return None
    return "T" if rank_a == rank_b else ("A" if rank_a < rank_b else "B")


def judge_verdicts(*, project: Project, include_no_verdict: bool = True) -> list[Verdict]:
    """Every active judgment of a pairwise comparison (and, for coverage, every recorded "no verdict") as a Verdict
    in the comparison's canonical orientation (a = the lower response id)."""
    pairs = pairwise_comparisons(project=project)
    judges = {
        pk: (name, kind) for pk, name, kind in Judge.objects.filter(project=project).values_list("pk", "name", "kind")
    }
    statuses = [Judgment.Status.ACTIVE] + ([Judgment.Status.NO_VERDICT] if include_no_verdict else [])
    marks = ", ".join(["%s"] * len(statuses))
    sql = f"""
        SELECT j.id, j.comparison_id, j.judge_id, j.shown_order, j.metadata, pl.response_id, pl.rank, pl.score
        FROM {_table(Judgment)} j
        LEFT JOIN {_table(Placement)} pl ON pl.judgment_id = j.id
        WHERE j.project_id = %s AND j.status IN ({marks})
        ORDER BY j.id
    """  # noqa: S608 - table names from the models, values as parameters
    verdicts: list[Verdict] = []
    rows = _stream(sql, [project.pk, *statuses])
    for _judgment, group in itertools.groupby(rows, key=itemgetter(0)):
        placed = list(group)
        _, comparison_id, judge_id, shown_order, metadata, *_ = placed[0]
        pair = pairs.get(comparison_id)
        if pair is None:
            continue  # a list comparison: not a pairwise verdict
        ranks = {row[5]: (row[6], row[7]) for row in placed if row[5] is not None}
        rank_a, score_a = ranks.get(pair.a, (None, None))
        rank_b, score_b = ranks.get(pair.b, (None, None))
        name, kind = judges[judge_id]
        verdicts.append(
            Verdict(
                item=comparison_id,
                prompt=pair.prompt,
                judge=name,
                kind=kind,
                label=_label(rank_a, rank_b),
                shown_first=_shown_first(shown_order, pair),  # type: ignore[arg-type]
                category=pair.category,
                generator_a=pair.generator_a,
                generator_b=pair.generator_b,
                length_a=pair.length_a,
                length_b=pair.length_b,
                score_a=score_a,
                score_b=score_b,
                p_a=_soft_preference(metadata, _label(rank_a, rank_b)),
            )
        )
    return verdicts


def _soft_preference(metadata: Any, label: Label | None) -> float | None:
    """P(a better) from an imported soft preference. The file gives it for its own first response, which need not be
    the canonical a; the placements (ranked from it) tell which way it points, so orient it by them."""
    if not metadata or metadata == "{}":
        return None
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    soft = metadata.get("preference")
    if not isinstance(soft, int | float) or label is None:
        return None
    strong = max(float(soft), 1.0 - float(soft))
    return strong if label == "A" else 1.0 - strong if label == "B" else 0.5


def judgments_fingerprint(*, project: Project) -> str:
    """Changes whenever a judgment of the project is added, removed, or changes status: a stored report computed
    under another fingerprint is stale."""
    sql = (
        f"SELECT status, COUNT(*), MAX(id), MAX(updated_at) FROM {_table(Judgment)}"  # noqa: S608
        " WHERE project_id = %s GROUP BY status ORDER BY status"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [project.pk])
        return ";".join(f"{s}:{n}:{m}:{u}" for s, n, m, u in cursor.fetchall())


def judge_names(*, project: Project) -> list[str]:
    """The names of the judges with judgments in this project, in name order."""
    judges = Judge.objects.filter(project=project, judgments__isnull=False).distinct().order_by("name")
    return list(judges.values_list("name", flat=True))


@dataclass(frozen=True)
class JudgedBy:
    judge: str
    kind: str
    groups: list[list[str]]  # response labels ("A", "B") best first; a group of two is a tie
    shown_first: str | None  # "A" or "B"
    status: str
    rationale: str


@dataclass(frozen=True)
class DisagreementItem:
    comparison: Comparison
    prompt: Prompt
    responses: list[tuple[str, Response]]  # ("A", response), ("B", response): a is the lower id
    judge_label: str | None
    other_label: str
    judged_by: list[JudgedBy]


@dataclass(frozen=True)
class DisagreementPage:
    total: int
    items: list[DisagreementItem]
    has_more: bool


PER_PAGE = 10
LABEL_TEXT = {"A": "A better", "B": "B better", "T": "tie", None: "no usable verdict"}


def disagreements(*, project: Project, judge: str, other: str, category: str = "", page: int = 1) -> DisagreementPage:
    """The comparisons where `judge` and `other` (a judge's name, human-majority or human-loo) differ, a page at a
    time, each with the prompt, both responses and the orderings of both sides (the humans' for a majority)."""
    from annotation.analysis.disagreements import disagreeing_items

    names = set(judge_names(project=project))
    if judge not in names:
        raise ApplicationError(f"judge: no judge named {judge!r} in this project.", extra={"field": "judge"})
    if other not in names and other not in (HUMAN_MAJORITY, HUMAN_LOO):
        raise ApplicationError(f"other: no judge named {other!r} in this project.", extra={"field": "other"})
    question = f"{project.pk}\0{judgments_fingerprint(project=project)}\0{judge}\0{other}\0{category}"
    key = "judge-disagreements:" + hashlib.sha256(question.encode()).hexdigest()
    found = cache.get(key)
    if found is None:
        found = [
            (d.item, d.judge_label, d.other_label)
            for d in disagreeing_items(judge_verdicts(project=project), judge=judge, other=other, category=category)
        ]
        cache.set(key, found, timeout=3600)
    start = (page - 1) * PER_PAGE
    shown = found[start : start + PER_PAGE]
    comparisons = {
        c.pk: c
        for c in Comparison.objects.filter(project=project, pk__in=[item for item, _, _ in shown]).select_related(
            "prompt"
        )
    }
    responses: dict[int, Response] = {}
    for comparison in comparisons.values():
        ids = Comparison.response_ids_of(comparison.key)
        responses.update({r.pk: r for r in Response.objects.filter(pk__in=ids)})
    judged = (
        Judgment.objects.filter(comparison_id__in=list(comparisons), status__in=["active", "no_verdict"])
        .select_related("judge")
        .prefetch_related("placements")
        .order_by("comparison_id", "judge__name", "id")
    )
    if other in (HUMAN_MAJORITY, HUMAN_LOO):
        judged = judged.filter(Q(judge__name=judge) | Q(judge__kind=Judge.Kind.HUMAN))
    else:
        judged = judged.filter(judge__name__in=[judge, other])
    by_comparison: dict[int, list[JudgedBy]] = {}
    for judgment in judged:
        a, b = Comparison.response_ids_of(comparisons[judgment.comparison_id].key)[:2]
        letter = {a: "A", b: "B"}
        groups: dict[int, list[str]] = {}
        for placement in judgment.placements.all():
            groups.setdefault(placement.rank, []).append(letter.get(placement.response_id, "?"))
        order = judgment.shown_order or []
        by_comparison.setdefault(judgment.comparison_id, []).append(
            JudgedBy(
                judge=judgment.judge.name,
                kind=judgment.judge.kind,
                groups=[sorted(groups[rank]) for rank in sorted(groups)],
                shown_first=letter.get(order[0]) if order else None,
                status=judgment.status,
                rationale=judgment.rationale,
            )
        )
    items = []
    for item, judge_label, other_label in shown:
        comparison = comparisons.get(item)
        if comparison is None:
            continue
        a, b = Comparison.response_ids_of(comparison.key)[:2]
        items.append(
            DisagreementItem(
                comparison=comparison,
                prompt=comparison.prompt,
                responses=[("A", responses[a]), ("B", responses[b])],
                judge_label=LABEL_TEXT[judge_label],
                other_label=LABEL_TEXT[other_label],
                judged_by=by_comparison.get(item, []),
            )
        )
    return DisagreementPage(total=len(found), items=items, has_more=start + PER_PAGE < len(found))
