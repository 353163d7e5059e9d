"""The judge comparison of a project: validate what was asked, compute it (the statistics are the analysis package's),
store it with the fingerprint of the judgments it read, and run it on a worker when the project is big.

A stored report is reused while the project's judgments keep the same fingerprint (count, last id and last change per
status); any added, removed, excluded or restored judgment makes it stale, and the page offers to recompute.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from annotation.analysis.generators import generator_report, generator_reports_by_category
from annotation.analysis.judges import judges_report
from annotation.analysis.lists import lists_report
from annotation.analysis.verdict_table import VerdictTable
from annotation.analysis.verdicts import HUMAN_LOO, HUMAN_MAJORITY
from annotation.models import Judge, JudgeReport, Project
from annotation.selectors.judges import judge_list_verdicts, judge_names, judge_verdict_columns, judgments_fingerprint
from workbench.exceptions import ApplicationError

logger = logging.getLogger(__name__)

# Projects with at most this many judgments are compared inside the request; larger ones on a worker.
INLINE_MAX_JUDGMENTS_DEFAULT = 50_000
STALLED_AFTER_S = 120
HUMAN_POOL = "humans (pooled)"  # the humans' leaderboard under a human-majority reference
MIN_CATEGORY_COMPARISONS = 100
Progress = Callable[[str], None]
FIELDS = ("reference", "baseline_generator", "category", "kinds", "generators", "humans")


@dataclass(frozen=True)
class ReportRequest:
    reference: str = HUMAN_MAJORITY  # a judge's name, human-majority or human-loo
    baseline_generator: str = ""  # "": no win rates against a baseline (Bradley-Terry ratings still)
    category: str = ""  # "": every category (the per-category table is always there)
    kinds: tuple[str, ...] = ()  # judge kinds to compare (the reference is always kept); (): all
    generators: tuple[str, ...] = ()  # only comparisons that involve one of these generators; (): all
    # The judges whose votes make the human majority and the MT-Bench agreement: names or shell-style patterns
    # (`mtbench:expert_*`, FastChat's experts without the authors); (): every judge of kind human.
    humans: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["kinds"], data["generators"], data["humans"] = list(self.kinds), list(self.generators), list(self.humans)
        return data

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.as_json(), sort_keys=True).encode()).hexdigest()[:32]


def _as_list(value: Any, field: str) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ApplicationError(f"{field}: give a list of names.", extra={"field": field})
    return tuple(sorted({v.strip() for v in value}))


def report_request_validate(*, project: Project, data: Mapping[str, Any]) -> ReportRequest:
    """A ReportRequest from page, API or command parameters; ApplicationError naming the field otherwise (unknown
    parameters included)."""
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ApplicationError(
            f"Unknown parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. Known: {', '.join(FIELDS)}.",
            extra={"field": unknown[0]},
        )
    reference = str(data.get("reference") or HUMAN_MAJORITY).strip()
    judges = set(judge_names(project=project))
    if reference not in (HUMAN_MAJORITY, HUMAN_LOO) and reference not in judges:
        raise ApplicationError(
            f"reference: no judge named {reference!r} in this project; use a judge's name, {HUMAN_MAJORITY} or "
            f"{HUMAN_LOO}.",
            extra={"field": "reference"},
        )
    kinds = _as_list(data.get("kinds"), "kinds")
    bad_kinds = [k for k in kinds if k not in Judge.Kind.values]
    if bad_kinds:
        raise ApplicationError(
            f"kinds: unknown judge kind {bad_kinds[0]!r}; one of {', '.join(Judge.Kind.values)}.",
            extra={"field": "kinds"},
        )
    humans = _as_list(data.get("humans"), "humans")
    for pattern in humans:
        if not fnmatch.filter(judges, pattern):
            raise ApplicationError(f"humans: {pattern!r} matches no judge in this project.", extra={"field": "humans"})
    return ReportRequest(
        humans=humans,
        reference=reference,
        baseline_generator=str(data.get("baseline_generator") or "").strip(),
        category=str(data.get("category") or "").strip(),
        kinds=kinds,
        generators=_as_list(data.get("generators"), "generators"),
    )


def judges_report_compute(
    *, project: Project, request: ReportRequest, progress: Progress | None = None
) -> tuple[dict[str, Any], str]:
    """The report as JSON-ready data, and the fingerprint of the judgments it read."""
    started = time.monotonic()
    say = progress or (lambda phase: None)
    fingerprint = judgments_fingerprint(project=project).text
    say("reading verdicts")
    verdicts = judge_verdict_columns(project=project)
    read_s = time.monotonic() - started
    say("comparing judges")
    categories = [request.category] if request.category else None
    names = judge_names(project=project) if request.humans else []
    humans = {name for pattern in request.humans for name in fnmatch.filter(names, pattern)} or None
    list_verdicts = judge_list_verdicts(project=project)
    if not len(verdicts) and not list_verdicts:
        raise ApplicationError("This project has no verdicts to compare judges on yet.")
    if not len(verdicts):  # a listwise project: τ-b and α over the lists only
        return _lists_only(project, request, list_verdicts, fingerprint)
    report = judges_report(
        verdicts,
        humans=humans,
        reference=request.reference,
        categories=categories,
        kinds=set(request.kinds) or None,
        generators=set(request.generators) or None,
    )
    data: dict[str, Any] = {
        "project": project.slug,
        "request": request.as_json(),
        "verdicts": len(verdicts),
        "judges_report": report.to_dict(),
        "reference_labels": _label_counts(report),
        "against_best": _against_best(report),
    }
    # Free the judge statistics' arrays and resamples and the verdict columns before the generator statistics build
    # their own: at a million verdicts this keeps the peak under 1 GB (docs/benchmarks.md).
    del report
    kinds = zip(verdicts.judges, verdicts.kinds, strict=True)
    pool = sorted(humans if humans is not None else [name for name, kind in kinds if kind == "human"])
    say("rating generators")
    table = VerdictTable.from_columns(verdicts)
    del verdicts
    counts = np.bincount(np.concatenate([table.generator_a, table.generator_b]), minlength=len(table.generators))
    generator_counts = Counter({name: int(n) for name, n in zip(table.generators, counts, strict=True) if name and n})
    if request.baseline_generator and request.baseline_generator not in generator_counts:
        raise ApplicationError(
            f"baseline_generator: no response in these comparisons was written by {request.baseline_generator!r}.",
            extra={"field": "baseline_generator"},
        )
    data["generators"], data["generators_by_category"] = None, {}
    if len(generator_counts) >= 2:
        # Without a chosen baseline, win rates are against the generator in the most comparisons (AlpacaEval's
        # fixed-baseline layout); the report says which.
        baseline = request.baseline_generator or generator_counts.most_common(1)[0][0]
        reference: str | None = request.reference
        if request.reference in (HUMAN_MAJORITY, HUMAN_LOO):
            # A majority is per comparison, not a leaderboard: the humans' leaderboard pools all their votes (as
            # MT-Bench pools its experts'), and judges' leaderboards and self-preference are compared with it.
            table = table.with_pool(pool, HUMAN_POOL)
            reference = HUMAN_POOL if HUMAN_POOL in table.judges else None
        options = {"baseline": baseline, "reference": reference}
        data["generators"] = generator_report(table, category=request.category or None, **options).to_dict()
        data["generators"]["baseline_chosen"] = not request.baseline_generator
        data["generators_by_category"] = _generators_by_category(table, request, options)
    data["lists"] = lists_report(list_verdicts).to_dict() if list_verdicts else None
    data["seconds"] = {"read": round(read_s, 2), "total": round(time.monotonic() - started, 2)}
    return data, fingerprint


def _against_best(report: Any) -> dict[str, Any] | None:
    """Each judge against the most accurate one: the paired accuracy difference with its interval and McNemar's
    exact test on the items where the reference and both judges decide."""
    accuracy = {row.name: row.metrics["accuracy"].value for row in report.judges}
    ranked = [name for name, value in accuracy.items() if value is not None]
    if len(ranked) < 2:
        return None
    best = max(ranked, key=lambda name: accuracy[name])
    return {
        "judge": best,
        "rows": [report.mcnemar(name, best).to_dict() for name in accuracy if name != best],
    }


def _label_counts(report: Any) -> dict[str, int]:
    """How often the reference says a, b or tie on the items it judged (e.g. the human majority's label counts)."""
    labels = report.context.reference_labels if report.context is not None else []
    return {label: int((labels == code).sum()) for code, label in enumerate(("A", "B", "T"))}


def _generators_by_category(table: VerdictTable, request: ReportRequest, options: dict[str, Any]) -> dict[str, Any]:
    """Generator statistics per category with enough comparisons to rate anything; the rest are listed as left out
    (a leaderboard from a handful of battles is all interval)."""
    if request.category:
        return {}
    _, first = np.unique(table.item, return_index=True)  # a comparison's category is its prompt's: one per item
    counts = np.bincount(table.category[first], minlength=len(table.categories))
    rated = counts >= MIN_CATEGORY_COMPARISONS
    small = sorted(name for name, ok in zip(table.categories, rated, strict=True) if not ok)
    keep = rated[table.category]
    out: dict[str, Any] = {}
    if keep.any():
        reports = generator_reports_by_category(table.select(keep), **options)
        out = {category: part.to_dict() for category, part in reports.items()}
    if small:
        out["_left_out"] = {"categories": small, "reason": f"fewer than {MIN_CATEGORY_COMPARISONS} comparisons"}
    return out


def _lists_only(
    project: Project, request: ReportRequest, list_verdicts: list[Any], fingerprint: str
) -> tuple[dict[str, Any], str]:
    data = {
        "project": project.slug,
        "request": request.as_json(),
        "verdicts": len(list_verdicts),
        "judges_report": None,
        "reference_labels": None,
        "against_best": None,
        "generators": None,
        "generators_by_category": {},
        "lists": lists_report(list_verdicts).to_dict(),
        "seconds": {},
    }
    return data, fingerprint


def judges_report_current(*, project: Project, request: ReportRequest) -> JudgeReport | None:
    """The latest stored or running report for this request (fresh or stale: `is_stale` tells)."""
    return JudgeReport.objects.filter(project=project, key=request.key).order_by("-created_at", "-id").first()


def judges_report_start(
    *,
    project: Project,
    request: ReportRequest,
    user: AbstractBaseUser | None,
    force: bool = False,
    schedule: bool = True,
) -> JudgeReport:
    """The fresh stored report for this request, or a new job computing it: here and now when the project is small
    (the page answers with the numbers), else on a worker (the page polls); `schedule=False`: the caller runs it. A
    job already queued or running for the same request is returned, not duplicated."""
    limit = getattr(settings, "WORKBENCH_INLINE_JUDGES_REPORT_MAX_JUDGMENTS", INLINE_MAX_JUDGMENTS_DEFAULT)
    fingerprint = judgments_fingerprint(project=project)
    small = fingerprint.judgments <= limit
    current = judges_report_current(project=project, request=request)
    if current is not None and not force:
        if current.status in (JudgeReport.Status.QUEUED, JudgeReport.Status.RUNNING):
            return current
        if current.status == JudgeReport.Status.SUCCEEDED:
            current.stale = current.fingerprint != fingerprint.text
            # A big project's stale report stays on show (marked) until someone asks to recompute it: judgments
            # change all day while annotators work, and each recomputation is a worker's minute.
            if not current.stale or not small:
                return current
    job = JudgeReport.objects.create(
        project=project,
        key=request.key,
        options=request.as_json(),
        created_by=user if user is not None and user.is_authenticated else None,
    )
    if not schedule:
        return job
    if small:
        judges_report_run(job_id=job.pk)
    else:
        transaction.on_commit(lambda: _enqueue(job.pk))
    job.refresh_from_db()
    return job


def _enqueue(job_id: int) -> None:
    from annotation.tasks import judges_report_run_task

    judges_report_run_task.delay(job_id)


def judges_report_run(*, job_id: int) -> None:
    """Compute a queued report; a no-op for one that is not queued (a duplicate delivery)."""
    now = timezone.now()
    claimed = JudgeReport.objects.filter(pk=job_id, status=JudgeReport.Status.QUEUED).update(
        status=JudgeReport.Status.RUNNING, started_at=now, heartbeat_at=now, phase="starting", error=""
    )
    if not claimed:
        return
    job = JudgeReport.objects.select_related("project").get(pk=job_id)

    def progress(phase: str) -> None:
        JudgeReport.objects.filter(pk=job_id).update(phase=phase, heartbeat_at=timezone.now())

    fields: dict[str, Any]
    try:
        request = report_request_validate(project=job.project, data=job.options)
        data, fingerprint = judges_report_compute(project=job.project, request=request, progress=progress)
        fields = {"status": JudgeReport.Status.SUCCEEDED, "report": data, "fingerprint": fingerprint}
    except ApplicationError as error:
        fields = {"status": JudgeReport.Status.FAILED, "error": error.message}
    except Exception as error:  # noqa: BLE001 - a crash must leave a visible, retryable state
        logger.exception("judges report %s crashed", job_id)
        fields = {
            "status": JudgeReport.Status.FAILED,
            "error": f"The comparison crashed ({type(error).__name__}); the server log has the details (job {job_id}).",
        }
    JudgeReport.objects.filter(pk=job_id).update(finished_at=timezone.now(), phase="done", **fields)


def judges_report_is_stalled(*, report: JudgeReport) -> bool:
    """A running job whose worker stopped sending heartbeats (killed worker): shown as failed, can be recomputed."""
    if report.status != JudgeReport.Status.RUNNING or report.heartbeat_at is None:
        return False
    return (timezone.now() - report.heartbeat_at).total_seconds() > STALLED_AFTER_S
