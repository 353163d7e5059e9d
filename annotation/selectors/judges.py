"""Reads for the judge comparison: every judge's verdicts on a project's pairwise comparisons, as the plain records
the analysis package takes (`annotation.analysis.verdicts.Verdict`), and the comparisons behind a number.

The permission check is the caller's `project_get`; these take the project it returned. Verdicts are read with
written-out SQL in a few streaming passes (comparisons, then judgments with their placements), so a project of a
million judgments becomes records in seconds without an ORM object per row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.core.cache import cache
from django.db import connection
from django.db.models import Q

from annotation.analysis.lists import ListVerdict
from annotation.analysis.verdicts import HUMAN_LOO, HUMAN_MAJORITY, VerdictColumns, factorize
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


def _numbers(query: Any, columns: int, dtype: Any = np.float64) -> np.ndarray:
    """A queryset's values_list rows as one (rows, columns) array, streamed in batches (None becomes NaN)."""
    sql, params = query.query.sql_with_params()
    blocks = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(BATCH * 10):
            blocks.append(np.array(rows, dtype=dtype))  # None becomes NaN
    return np.concatenate(blocks) if blocks else np.zeros((0, columns), dtype=dtype)


def _lookup(sorted_ids: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position in sorted_ids, found) for each value."""
    values = values.astype(np.int64)
    if not len(sorted_ids):
        return np.zeros(len(values), dtype=np.int64), np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_ids, values), len(sorted_ids) - 1)
    return at, sorted_ids[at] == values


def judge_verdict_columns(*, project: Project, include_no_verdict: bool = True) -> VerdictColumns:
    """Every active judgment of a two-response comparison (and, for coverage, every recorded "no verdict") as the
    columns the judge statistics read, in the comparison's canonical orientation (a = the lower response id). Two
    streaming queries of plain numbers (judgments, then placements) and array arithmetic: no object per verdict."""
    pairs = pairwise_comparisons(project=project)
    statuses = [Judgment.Status.ACTIVE] + ([Judgment.Status.NO_VERDICT] if include_no_verdict else [])
    judgments = Judgment.objects.filter(project=project, status__in=statuses)
    rows = _numbers(judgments.order_by("id").values_list("id", "comparison_id", "judge_id", "shown_order__0"), 4)
    placed = _numbers(
        Placement.objects.filter(judgment__in=judgments.values("id")).values_list(
            "judgment_id", "response_id", "rank", "score"
        ),
        4,
    )
    comparison_ids = np.array(sorted(pairs), dtype=np.int64)
    infos = [pairs[int(c)] for c in comparison_ids]
    response_a = np.array([info.a for info in infos], dtype=np.int64)
    response_b = np.array([info.b for info in infos], dtype=np.int64)
    # Judgments of pairwise comparisons only (a list comparison is not a pairwise verdict).
    at, pairwise = _lookup(comparison_ids, rows[:, 1])
    rows, at = rows[pairwise], at[pairwise]
    judgment_ids = rows[:, 0].astype(np.int64)
    # Each placement's judgment; its rank and score go to a or b.
    index, known = _lookup(judgment_ids, placed[:, 0])
    index, placed = index[known], placed[known]
    rank_a, rank_b = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
    score_a, score_b = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
    is_a = placed[:, 1] == response_a[at[index]]
    is_b = placed[:, 1] == response_b[at[index]]
    rank_a[index[is_a]], score_a[index[is_a]] = placed[is_a, 2], placed[is_a, 3]
    rank_b[index[is_b]], score_b[index[is_b]] = placed[is_b, 2], placed[is_b, 3]
    answered = ~np.isnan(rank_a) & ~np.isnan(rank_b)
    label = np.where(rank_a < rank_b, 0, np.where(rank_a > rank_b, 1, 2))
    label = np.where(answered, label, 3).astype(np.int8)
    first = rows[:, 3]
    shown = np.where(first == response_a[at], 0, np.where(first == response_b[at], 1, -1)).astype(np.int8)
    # Judges, prompts, categories and generators as indices into sorted names.
    judge_rows = sorted(Judge.objects.filter(project=project).values_list("pk", "name", "kind"), key=lambda r: r[1])
    judge_index = {pk: i for i, (pk, _, _) in enumerate(judge_rows)}
    prompt, prompts = factorize([info.prompt for info in infos])
    category, categories = factorize([info.category for info in infos])
    generator, generators = factorize([g for info in infos for g in (info.generator_a, info.generator_b)])
    return VerdictColumns(
        judges=[name for _, name, _ in judge_rows],
        kinds=[kind for _, _, kind in judge_rows],
        prompts=prompts,
        categories=categories,
        generators=generators,
        judge=np.array([judge_index[int(j)] for j in rows[:, 2]], dtype=np.int64),
        item=rows[:, 1].astype(np.int64),
        prompt=prompt[at],
        category=category[at],
        label=label,
        shown=shown,
        generator_a=generator[0::2][at],
        generator_b=generator[1::2][at],
        length_a=np.array([info.length_a for info in infos], dtype=np.int64)[at],
        length_b=np.array([info.length_b for info in infos], dtype=np.int64)[at],
        score_a=score_a,
        score_b=score_b,
        p_a=_soft_preferences(judgments, judgment_ids, label),
    )


def _soft_preferences(judgments: Any, judgment_ids: np.ndarray, label: np.ndarray) -> np.ndarray:
    """P(a better) from imported soft preferences (the verdicts format's `preference`, stored in the metadata). The
    file gives it for its own first response, which need not be the canonical a; the placements (ranked from it) tell
    which way it points, so it is oriented by the label."""
    p_a = np.full(len(judgment_ids), np.nan)
    soft = judgments.filter(metadata__has_key="preference").values_list("id", "metadata__preference")
    for judgment_id, value in soft.iterator(chunk_size=BATCH):
        at = int(np.searchsorted(judgment_ids, judgment_id))
        if at >= len(judgment_ids) or judgment_ids[at] != judgment_id or not isinstance(value, int | float):
            continue
        strong = max(float(value), 1.0 - float(value))
        p_a[at] = {0: strong, 1: 1.0 - strong, 2: 0.5}.get(int(label[at]), np.nan)
    return p_a


@dataclass(frozen=True)
class Fingerprint:
    text: str  # changes whenever a judgment of the project is added, removed, or changes status
    judgments: int  # how many there are (every status)


def judgments_fingerprint(*, project: Project) -> Fingerprint:
    """A stored report computed under another fingerprint is stale. One pass over the project's judgments."""
    sql = (
        f"SELECT status, COUNT(*), MAX(id), MAX(updated_at) FROM {_table(Judgment)}"  # noqa: S608
        " WHERE project_id = %s GROUP BY status ORDER BY status"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [project.pk])
        rows = cursor.fetchall()
    return Fingerprint(";".join(f"{s}:{n}:{m}:{u}" for s, n, m, u in rows), sum(n for _, n, _, _ in rows))


def judge_names(*, project: Project) -> list[str]:
    """The names of the project's judges, in name order."""
    # Judges belong to their project (and an import creates one only with its judgments): no join over them.
    return list(Judge.objects.filter(project=project).order_by("name").values_list("name", flat=True))


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


def disagreements(
    *,
    project: Project,
    judge: str,
    other: str,
    category: str = "",
    page: int = 1,
    show: str = "disagree",
    generator: str = "",
    baseline: str = "",
) -> DisagreementPage:
    """The comparisons behind a number, a page at a time, each with the prompt, both responses and the orderings of
    both sides (the humans' for a majority). show="disagree": where `judge` and `other` (a judge's name,
    human-majority or human-loo) differ; "first", "longer", "generator": the judge's verdicts behind its position
    and length bias and a generator's rating (`analysis.disagreements.items_behind`)."""
    from annotation.analysis.disagreements import BEHIND, disagreeing_items, items_behind

    names = set(judge_names(project=project))
    if judge not in names:
        raise ApplicationError(f"judge: no judge named {judge!r} in this project.", extra={"field": "judge"})
    if other not in names and other not in (HUMAN_MAJORITY, HUMAN_LOO):
        raise ApplicationError(f"other: no judge named {other!r} in this project.", extra={"field": "other"})
    if show != "disagree" and show not in BEHIND:
        raise ApplicationError(f"show: one of disagree, {', '.join(BEHIND)}.", extra={"field": "show"})
    if show == "generator" and not generator:
        raise ApplicationError("generator: name the generator whose comparisons to show.", extra={"field": "generator"})
    fingerprint = judgments_fingerprint(project=project).text
    question = "\0".join([str(project.pk), fingerprint, judge, other, category, show, generator, baseline])
    key = "judge-disagreements:" + hashlib.sha256(question.encode()).hexdigest()
    found = cache.get(key)
    if found is None:
        columns = judge_verdict_columns(project=project)
        if show == "disagree":
            rows = disagreeing_items(columns, judge=judge, other=other, category=category)
        else:
            rows = items_behind(
                columns,
                judge=judge,
                show=show,
                category=category or None,
                generator=generator or None,
                baseline=baseline or None,
            )
        found = [(d.item, d.judge_label, d.other_label) for d in rows]
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
                other_label=LABEL_TEXT[other_label] if other_label else "",
                judged_by=by_comparison.get(item, []),
            )
        )
    return DisagreementPage(total=len(found), items=items, has_more=start + PER_PAGE < len(found))


def judge_list_verdicts(*, project: Project) -> list[ListVerdict]:
    """Every active judgment of a comparison of three or more responses, as its ranks by response."""
    lists = Comparison.objects.filter(project=project, key__regex=r"^[0-9]+,[0-9]+,")
    rows = (
        Placement.objects.filter(judgment__comparison__in=lists, judgment__status=Judgment.Status.ACTIVE)
        .order_by("judgment_id")
        .values_list(
            "judgment_id",
            "judgment__comparison_id",
            "judgment__comparison__prompt__external_id",
            "judgment__judge__name",
            "response_id",
            "rank",
        )  # fmt: skip
    )
    out: list[ListVerdict] = []
    current, ranks, head = None, {}, ()
    for judgment_id, comparison_id, prompt, judge, response_id, rank in rows.iterator(chunk_size=BATCH):
        if judgment_id != current:
            if current is not None:
                out.append(ListVerdict(*head, ranks))  # type: ignore[arg-type]
            current, ranks, head = judgment_id, {}, (comparison_id, prompt, judge)
        ranks[response_id] = rank
    if current is not None:
        out.append(ListVerdict(*head, ranks))  # type: ignore[arg-type]
    return out
