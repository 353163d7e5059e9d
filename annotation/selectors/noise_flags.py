"""Reads for the Noisy labels page, the review screen and the review API: flagged judgments sorted by suspicion with
filters, the annotator table, one judgment with everything a reviewer weighs, and its review history. Researchers
and admins of the project only (annotators get 403, outsiders 404: `project_get`)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Max, Q, QuerySet

from annotation.models import (
    Judge,
    Judgment,
    LabelFlag,
    NoiseRun,
    Placement,
    Project,
)
from workbench.exceptions import ApplicationError

REVIEW_ROLES = ("admin", "researcher")
PER_PAGE = 25
MAX_PER_PAGE = 200
# A judgment counts as flagged in the annotator table when some detector gives it at least this suspicion.
FLAGGED_AT = 0.5
FILTER_FIELDS = ("detector", "judge", "annotator", "category", "min_score", "max_score", "status")


@dataclass(frozen=True)
class FlagFilters:
    detector: str = ""
    judge: str = ""
    annotator: str = ""
    category: str = ""
    min_score: float | None = None
    max_score: float | None = None
    status: str = LabelFlag.Status.OPEN  # "" = any status

    def as_query(self) -> dict[str, str]:
        """The filters as URL parameters (only those set, status always), for links that keep them."""
        values = {name: getattr(self, name) for name in FILTER_FIELDS}
        return {k: str(v) for k, v in values.items() if v not in ("", None) or k == "status"}


def _score(params: dict[str, Any], name: str) -> float | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ApplicationError(f"{name} must be a number between 0 and 1.", extra={"field": name}) from None
    if not 0.0 <= value <= 1.0:
        raise ApplicationError(f"{name} must be a number between 0 and 1.", extra={"field": name})
    return value


def flag_filters_from(params: dict[str, Any]) -> FlagFilters:
    """Filters from query parameters, checked: a bad score or status is a 400 naming the field."""
    status = str(params.get("status", LabelFlag.Status.OPEN))
    if status not in ("", "any", *LabelFlag.Status.values):
        known = ", ".join([*LabelFlag.Status.values, "any"])
        raise ApplicationError(f"Unknown status {status!r}; known: {known}.", extra={"field": "status"})
    text = {name: str(params.get(name, "")).strip()[:200] for name in ("detector", "judge", "annotator", "category")}
    return FlagFilters(
        **text,
        min_score=_score(params, "min_score"),
        max_score=_score(params, "max_score"),
        status="" if status == "any" else status,
    )


def _matching_flags(*, project: Project, filters: FlagFilters) -> QuerySet[LabelFlag]:
    flags = LabelFlag.objects.filter(project=project)
    if filters.detector:
        flags = flags.filter(detector=filters.detector)
    if filters.status:
        flags = flags.filter(status=filters.status)
    if filters.min_score is not None:
        flags = flags.filter(score__gte=filters.min_score)
    if filters.max_score is not None:
        flags = flags.filter(score__lte=filters.max_score)
    if filters.judge:
        flags = flags.filter(judgment__judge__name=filters.judge)
    if filters.annotator:
        flags = flags.filter(judgment__judge__name=filters.annotator, judgment__judge__kind=Judge.Kind.HUMAN)
    if filters.category:
        flags = flags.filter(judgment__comparison__prompt__category=filters.category)
    return flags


@dataclass(frozen=True)
class FlagChip:
    detector: str
    score: float
    reason: str
    status: str


@dataclass(frozen=True)
class FlagRow:
    judgment_id: int
    suspicion: float  # the highest score among the flags that match the filters
    judge: str
    judge_kind: str
    judgment_status: str
    category: str
    prompt_preview: str
    review_status: str
    flags: list[FlagChip]


@dataclass(frozen=True)
class FlagPage:
    rows: list[FlagRow]
    total: int
    page: int
    per_page: int

    @property
    def has_more(self) -> bool:
        return self.page * self.per_page < self.total


def _preview(messages: list[dict[str, Any]], limit: int = 140) -> str:
    text = next((m.get("content", "") for m in reversed(messages or []) if m.get("role") == "user"), "")
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def flag_list(*, project: Project, filters: FlagFilters, page: int = 1, per_page: int = PER_PAGE) -> FlagPage:
    """One row per flagged judgment that has a flag matching the filters, most suspicious first (by its highest
    matching score, then id); each row carries all of the judgment's flags."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, page)
    grouped = (
        _matching_flags(project=project, filters=filters)
        .values("judgment_id")
        .annotate(top=Max("score"))
        .order_by("-top", "judgment_id")
    )
    total = grouped.count()
    start = (page - 1) * per_page
    chosen = list(grouped[start : start + per_page])
    ids = [row["judgment_id"] for row in chosen]
    judgments = Judgment.objects.select_related("judge", "comparison__prompt").in_bulk(ids)
    chips: dict[int, list[FlagChip]] = {}
    for f in LabelFlag.objects.filter(judgment_id__in=ids).order_by("-score", "detector"):
        chips.setdefault(f.judgment_id, []).append(FlagChip(f.detector, f.score, f.reason, f.status))
    rows = []
    for row in chosen:
        judgment = judgments[row["judgment_id"]]
        own = chips.get(judgment.pk, [])
        rows.append(
            FlagRow(
                judgment_id=judgment.pk,
                suspicion=row["top"],
                judge=judgment.judge.name,
                judge_kind=judgment.judge.kind,
                judgment_status=judgment.status,
                category=judgment.comparison.prompt.category,
                prompt_preview=_preview(judgment.comparison.prompt.messages),
                review_status=own[0].status if own else LabelFlag.Status.OPEN,
                flags=own,
            )
        )
    return FlagPage(rows=rows, total=total, page=page, per_page=per_page)


def next_flagged_judgment(*, project: Project, filters: FlagFilters, after: int | None = None) -> int | None:
    """The most suspicious judgment still open under the filters, other than `after` (the one just reviewed)."""
    flags = _matching_flags(project=project, filters=filters).filter(status=LabelFlag.Status.OPEN)
    if after is not None:
        flags = flags.exclude(judgment_id=after)
    row = flags.values("judgment_id").annotate(top=Max("score")).order_by("-top", "judgment_id").first()
    return row["judgment_id"] if row else None


def flag_filter_choices(*, project: Project) -> dict[str, list[str]]:
    """What the filter menus offer: detectors, judges and categories that have flags."""
    flags = LabelFlag.objects.filter(project=project)
    return {
        "detectors": sorted(set(flags.values_list("detector", flat=True).distinct())),
        "judges": sorted(set(flags.values_list("judgment__judge__name", flat=True).distinct())),
        "categories": sorted(
            c for c in set(flags.values_list("judgment__comparison__prompt__category", flat=True).distinct()) if c
        ),
        "statuses": list(LabelFlag.Status.values),
    }


# -- the annotator table ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnnotatorRow:
    judge: str
    judgments: int
    flagged: int
    open_flags: int
    mean_suspicion: float | None
    median_seconds: float | None
    first_shown_rate: float | None  # pairwise non-tie verdicts for the response shown first; ideal 0.5
    first_shown_n: int
    reliability: float | None  # from the latest detector run's report, where its detectors estimate one

    @property
    def flag_rate(self) -> float | None:
        return self.flagged / self.judgments if self.judgments else None


def _first_shown(project: Project) -> dict[int, tuple[int, int]]:
    """judge id -> (verdicts for the response shown first, pairwise non-tie verdicts with a known shown order)."""
    winners: dict[int, list[int]] = {}
    for judgment_id, response_id in Placement.objects.filter(
        judgment__project=project, judgment__judge__kind=Judge.Kind.HUMAN, rank=1
    ).values_list("judgment_id", "response_id"):
        winners.setdefault(judgment_id, []).append(response_id)
    counts: dict[int, list[int]] = {}
    for judgment_id, judge_id, shown in (
        Judgment.objects.filter(project=project, judge__kind=Judge.Kind.HUMAN)
        .exclude(status=Judgment.Status.NO_VERDICT)
        .values_list("id", "judge_id", "shown_order")
    ):
        won = winners.get(judgment_id, [])
        if not isinstance(shown, list) or len(shown) != 2 or len(won) != 1:
            continue  # a list, a tie, or an unknown shown order
        tally = counts.setdefault(judge_id, [0, 0])
        tally[0] += won[0] == shown[0]
        tally[1] += 1
    return {judge_id: (first, n) for judge_id, (first, n) in counts.items()}


def _reliability(project: Project) -> dict[int | str, float]:
    """Per-annotator reliability from the latest finished run's report, where its detectors estimated one:
    `report["annotators"]` as the rows of `analysis.noise.detect.annotator_table` (keyed by `judge_id`) or as
    {judge name: {"reliability": ...}}. Empty when the run stored none."""
    run = NoiseRun.objects.filter(project=project, status=NoiseRun.Status.SUCCEEDED).order_by("-created_at").first()
    annotators = ((run.report or {}).get("annotators") if run else None) or {}
    items: list[tuple[Any, Any]] = []
    if isinstance(annotators, dict):
        items = [(str(name), values) for name, values in annotators.items()]
    elif isinstance(annotators, list):
        items = [(row.get("judge_id"), row) for row in annotators if isinstance(row, dict)]
    out: dict[int | str, float] = {}
    for key, values in items:
        value = values.get("reliability") if isinstance(values, dict) else None
        if key is not None and isinstance(value, (int, float)):
            out[key] = float(value)
    return out


def annotator_table(*, project: Project) -> list[AnnotatorRow]:
    """Every annotator (human judge) of the project with judgments: how many, how many flagged (some flag ≥
    FLAGGED_AT), the open ones, mean suspicion, median time per item, first-shown rate, reliability; most flagged
    first."""
    # Reviewers' correction judges (services/review.py) are not annotators: their orderings were not blind.
    judges = list(
        Judge.objects.filter(project=project, kind=Judge.Kind.HUMAN)
        .exclude(metadata__has_key="reviewer")
        .values_list("id", "name")
    )
    if not judges:
        return []
    counted = Judgment.objects.filter(project=project, judge__kind=Judge.Kind.HUMAN).exclude(
        status=Judgment.Status.NO_VERDICT
    )
    totals = dict(counted.values("judge_id").annotate(n=Count("id")).values_list("judge_id", "n"))
    tops = (
        LabelFlag.objects.filter(project=project, judgment__judge__kind=Judge.Kind.HUMAN)
        .values("judgment_id", "judgment__judge_id")
        .annotate(top=Max("score"), open=Count("id", filter=Q(status=LabelFlag.Status.OPEN)))
    )
    per_judge: dict[int, list[tuple[float, int]]] = {}
    for row in tops:
        per_judge.setdefault(row["judgment__judge_id"], []).append((row["top"], row["open"]))
    durations: dict[int, list[int]] = {}
    for judge_id, ms in counted.filter(duration_ms__isnull=False).values_list("judge_id", "duration_ms"):
        durations.setdefault(judge_id, []).append(ms)
    first_shown = _first_shown(project)
    reliability = _reliability(project)
    rows = []
    for judge_id, name in judges:
        if not totals.get(judge_id):
            continue
        scores = per_judge.get(judge_id, [])
        first, n_first = first_shown.get(judge_id, (0, 0))
        rows.append(
            AnnotatorRow(
                judge=name,
                judgments=totals[judge_id],
                flagged=sum(1 for top, _ in scores if top >= FLAGGED_AT),
                open_flags=sum(1 for top, n_open in scores if n_open and top >= FLAGGED_AT),
                mean_suspicion=statistics.fmean(top for top, _ in scores) if scores else None,
                median_seconds=statistics.median(durations[judge_id]) / 1000 if durations.get(judge_id) else None,
                first_shown_rate=first / n_first if n_first else None,
                first_shown_n=n_first,
                reliability=reliability.get(judge_id, reliability.get(name)),
            )
        )
    rows.sort(key=lambda r: (-(r.flag_rate or 0.0), r.judge))
    return rows


def latest_noise_run(*, project: Project) -> NoiseRun | None:
    return NoiseRun.objects.filter(project=project).order_by("-created_at", "-id").first()
