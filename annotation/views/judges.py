"""The Judges page: every judge against a chosen reference, judge against judge, position and length bias, the
generator leaderboard, per category; and the comparisons behind a number (where two judges disagree)."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET

from annotation.analysis.verdicts import HUMAN_LOO, HUMAN_MAJORITY
from annotation.models import Judge, JudgeReport, Project
from annotation.selectors import project_get
from annotation.selectors.judges import disagreements, judge_names
from annotation.services.judges_report import (
    FIELDS,
    judges_report_is_stalled,
    judges_report_start,
    report_request_validate,
)
from workbench.charts import IntervalPoint, interval_chart
from workbench.exceptions import ApplicationError

COLUMNS = (
    ("coverage", "Coverage", "valid verdicts / items the reference judged"),
    ("accuracy", "Accuracy", "agreement with the reference where neither is a tie (chance 0.5)"),
    ("agreement", "Agreement", "agreement with ties counted (tie = tie only)"),
    ("cohen_kappa", "Cohen's κ", "agreement with ties, corrected for chance"),
    ("accuracy_both_orders", "Acc. both orders", "each shown order scored on its own, averaged"),
    ("correct_both_orders", "Correct both", "right in both shown orders"),
    ("position_consistency", "Consistent", "same verdict when the order is swapped"),
    ("prefers_first", "Prefers first", "picks the response shown first (ideal 0.5)"),
    ("prefers_longer", "Prefers longer", "picks the longer response when lengths differ by > 30 characters"),
)
SCORE_COLUMNS = (
    ("score_accuracy", "Score acc.", "scores ordered as the reference (equal scores wrong)"),
    ("brier", "Brier", "Brier score of σ(s_a − s_b) against the reference"),
    ("ece", "ECE", "expected calibration error, 10 equal-mass bins"),
)


def cell(metric: dict[str, Any] | None, link: str = "", digits: int = 3) -> dict[str, Any]:
    """A metric as the page shows it: value, interval and n, or a dash with the reason."""
    if not metric or metric.get("value") is None:
        return {"text": "–", "reason": (metric or {}).get("reason") or "not computed", "undefined": True}
    interval = metric.get("interval")
    low_digits = max(0, digits - 1)
    return {
        "text": f"{metric['value']:.{digits}f}",
        "value": metric["value"],
        "interval": f"{interval[0]:.{low_digits}f}–{interval[1]:.{low_digits}f}" if interval else "",
        "n": metric.get("n"),
        "link": link,
        "undefined": False,
    }


def _request_params(query: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in query.items() if key in FIELDS and value not in ("", None)}


def _disagreement_link(project: Project, params: dict[str, Any], judge: str, other: str) -> str:
    query = {"judge": judge, "other": other}
    if params.get("category"):
        query["category"] = params["category"]
    return f"{reverse('annotation:judges_disagreements', args=[project.slug])}?{urlencode(query)}"


def _judge_table(
    project: Project, report: dict[str, Any], params: dict[str, Any], sort: str
) -> tuple[list[tuple[str, str, str]], list[dict[str, Any]], list[dict[str, Any]]]:
    rows = report.get("judges", [])
    has_scores = any((row.get("score_accuracy") or {}).get("value") is not None for row in rows)
    columns = list(COLUMNS) + (list(SCORE_COLUMNS) if has_scores else [])
    keys = [key for key, _, _ in columns]
    if sort.lstrip("-") in keys + ["name", "n"]:
        key, descending = sort.lstrip("-"), not sort.startswith("-") and sort not in ("name",)

        def sort_key(row: dict[str, Any]) -> Any:
            if key in ("name", "n"):
                return row[key]
            value = (row.get(key) or {}).get("value")
            return (value is None, -(value or 0) if descending else (value or 0))

        rows = sorted(rows, key=sort_key)
    reference = report.get("reference", "")

    def display(row: dict[str, Any], linked: bool) -> dict[str, Any]:
        link = _disagreement_link(project, params, row["name"], reference) if linked else ""
        return {
            "name": row["name"],
            "kind": row["kind"],
            "n": row["n"],
            "link": link,
            "cells": [cell(row.get(key), link) for key in keys],
            "reference_longer": cell(row.get("reference_prefers_longer")),
        }

    judges = [display(row, True) for row in rows]
    extra = [display(row, False) for row in report.get("baselines", [])]
    if report.get("ceiling"):
        extra.insert(0, display(report["ceiling"], False))
    return columns, judges, extra


def _matrix(project: Project, report: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    matrix = report.get("matrix") or {}
    names = matrix.get("judges", [])
    rows = []
    for i, name in enumerate(names):
        cells = []
        for j, other in enumerate(names):
            kappa = (matrix.get("cohen_kappa") or [[None]])[i][j] if i != j else None
            agreement = (matrix.get("agreement") or [[None]])[i][j] if i != j else None
            n = (matrix.get("n") or [[None]])[i][j] if i != j else None
            value = (kappa or {}).get("value")
            shade = "" if value is None else f"hsl({round(120 * max(0.0, min(1.0, value)))}, 55%, 82%)"
            cells.append(
                {
                    "self": i == j,
                    "kappa": cell(kappa),
                    "agreement": cell(agreement),
                    "n": n,
                    "shade": shade,
                    "link": _disagreement_link(project, params, name, other) if i != j else "",
                }
            )
        rows.append({"name": name, "cells": cells})
    return {"names": names, "rows": rows}


def _lists(data: dict[str, Any]) -> dict[str, Any] | None:
    lists = data.get("lists")
    if not lists:
        return None
    names = lists["judges"]
    rows = []
    for i, name in enumerate(names):
        cells = []
        for j in range(len(names)):
            tau = lists["kendall_tau_b"][i][j]
            value = (tau or {}).get("value")
            shade = "" if value is None else f"hsl({round(120 * max(0.0, min(1.0, value)))}, 55%, 82%)"
            cells.append({"self": i == j, "tau": cell(tau), "shade": shade})
        rows.append({"name": name, "cells": cells})
    return {"names": names, "rows": rows, "lists": lists["lists"], "alpha": cell(lists["krippendorff_alpha"])}


def _bias_charts(report: dict[str, Any]) -> list[str]:
    rows = report.get("judges", [])

    def point(row: dict[str, Any], key: str, marker_key: str | None = None) -> IntervalPoint:
        metric = row.get(key) or {}
        interval = metric.get("interval") or [None, None]
        marker = (row.get(marker_key) or {}).get("value") if marker_key else None
        return IntervalPoint(
            row["name"], metric.get("value"), interval[0], interval[1], metric.get("reason") or "", marker
        )

    first = [point(row, "prefers_first") for row in rows]
    longer = [point(row, "prefers_longer", "reference_prefers_longer") for row in rows]
    return [
        interval_chart(first, title="Position bias: verdicts for the response shown first (ideal 0.5)"),
        interval_chart(longer, title="Length bias: verdicts for the longer response (tick: the reference)"),
    ]


def _leaderboard(report: dict[str, Any]) -> dict[str, Any] | None:
    generators = (report or {}).get("generators")
    if not generators:
        return None
    judges = list(generators.get("judges", {}))
    rows = []
    for name, by_judge in generators.get("generators", {}).items():
        cells = []
        for judge in judges:
            entry = by_judge.get(judge) or {}
            rating = entry.get("bt_rating") or {}
            rank_interval = entry.get("rank_interval")
            cells.append(
                {
                    "rating": cell(rating, digits=0),
                    "rank": entry.get("rank"),
                    "rank_interval": rank_interval,
                    "win_rate": cell(entry.get("win_rate"), digits=1),
                }
            )
        rows.append({"name": name, "cells": cells})
    first = judges[0] if judges else None

    def rating_of(row: dict[str, Any]) -> float:
        value = row["cells"][0]["rating"] if row["cells"] else None
        return -float(value["value"]) if value and not value["undefined"] else float("inf")

    rows.sort(key=rating_of)
    chart = ""
    if first is not None:
        points = []
        for name, by_judge in generators.get("generators", {}).items():
            rating = (by_judge.get(first) or {}).get("bt_rating") or {}
            interval = rating.get("interval") or [None, None]
            reason = rating.get("reason") or ""
            points.append(IntervalPoint(name, rating.get("value"), interval[0], interval[1], reason))
        points.sort(key=lambda p: -(p.value or -1e9))
        values = [v for p in points for v in (p.low, p.high, p.value) if v is not None]
        if values:
            low, high = min(values), max(values)
            pad = max(10.0, (high - low) * 0.05)
            chart = interval_chart(
                points,
                title=f"Bradley–Terry ratings under {first[:40]} (95% intervals)",
                x_range=(low - pad, high + pad),
                guide=1000.0 if low - pad < 1000 < high + pad else None,
                value_format="{:.0f}",
            )
    return {
        "judges": judges,
        "rows": rows,
        "baseline": generators.get("baseline"),
        "chart": chart,
        "warnings": [
            (judge, info["agreement_with_reference"].get("warning"))
            for judge, info in generators.get("judges", {}).items()
            if info.get("agreement_with_reference") and info["agreement_with_reference"].get("warning")
        ],
    }


def _categories(project: Project, report: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Categories as rows, judges as columns: accuracy in each cell (agreement and κ on hover), linked to that
    category's disagreements with the reference."""
    rows = report.get("judges", [])
    reference = report.get("reference", "")
    names = sorted({category for row in rows for category in row.get("categories", {})})
    table = []
    for category in names:
        cells = []
        for row in rows:
            part = row.get("categories", {}).get(category) or {}
            cells.append(
                {
                    "accuracy": cell(
                        part.get("accuracy"),
                        _disagreement_link(project, {**params, "category": category}, row["name"], reference),
                    ),
                    "agreement": cell(part.get("agreement")),
                    "kappa": cell(part.get("cohen_kappa")),
                    "n": part.get("n", 0),
                }
            )
        table.append({"category": category, "cells": cells})
    return {"judges": [row["name"] for row in rows], "rows": table}


def _choices(project: Project) -> dict[str, Any]:
    names = judge_names(project=project)
    return {
        "references": [
            (HUMAN_MAJORITY, "Human majority"),
            (HUMAN_LOO, "Human majority, leave one out"),
            *[(name, name) for name in names],
        ],
        "kinds": Judge.Kind.choices,
    }


def _report_body(project: Project, job: JudgeReport, params: dict[str, Any], sort: str, query: str) -> str:
    """The report's sections as HTML, cached per stored report, sort and staleness: a stored report never changes,
    so a revisit costs the fingerprint query and a cache read instead of rendering a thousand cells."""
    key = "judges-page:" + hashlib.sha256(f"{job.pk}\0{sort}\0{job.stale}\0{query}".encode()).hexdigest()
    html = cache.get(key)
    if html is not None:
        return html
    data = job.report or {}
    report = data.get("judges_report") or {}
    columns, rows, extra = _judge_table(project, report, params, sort)
    context = {
        "project": project,
        "job": job,
        "stale": job.stale,
        "query": query,
        "data": data,
        "report": report,
        "columns": columns,
        "rows": rows,
        "extra_rows": extra,
        "matrix": _matrix(project, report, params),
        "charts": _bias_charts(report) if rows else [],
        "leaderboard": _leaderboard(data),
        "categories": _categories(project, report, params),
        "lists": _lists(data),
        "sort_links": {
            key: "?" + urlencode({**params, "sort": ("-" if sort == key else "") + key})
            for key in [k for k, _, _ in columns] + ["name", "n"]
        },
    }
    html = render_to_string("annotation/judges_report_body.html", context)
    cache.set(key, html, timeout=24 * 3600)
    return html


@require_GET
@login_required
def judges_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get(user=request.user, slug=slug)
    params = _request_params(request.GET.dict() | {"kinds": ",".join(request.GET.getlist("kinds"))})
    sort = request.GET.get("sort", "")
    context: dict[str, Any] = {"project": project, "params": params, "sort": sort, **_choices(project)}
    try:
        report_request = report_request_validate(project=project, data=params)
        force = request.GET.get("recompute") == "1" and not request.htmx  # type: ignore[attr-defined]
        job = judges_report_start(project=project, request=report_request, user=request.user, force=force)
    except ApplicationError as error:
        context["error"] = error.message
        context["job"] = None
        return render(request, "annotation/judges.html", context, status=400)
    context["job"] = job
    context["stalled"] = judges_report_is_stalled(report=job)
    context["stale"] = job.stale
    query = request.GET.copy()
    query.pop("recompute", None)
    context["query"] = query.urlencode()
    if job.status == JudgeReport.Status.SUCCEEDED:
        context["report_body"] = _report_body(project, job, params, sort, query.urlencode())
    if request.htmx:  # type: ignore[attr-defined]
        response = render(request, "annotation/judges.html#status", context)
        if job.is_finished:
            response["HX-Refresh"] = "true"  # the poll ends: the whole page shows the result
        return response
    return render(request, "annotation/judges.html", context)


@require_GET
@login_required
def judges_disagreements(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get(user=request.user, slug=slug)
    judge = request.GET.get("judge", "")
    other = request.GET.get("other", HUMAN_MAJORITY)
    category = request.GET.get("category", "")
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    try:
        result = disagreements(project=project, judge=judge, other=other, category=category, page=page)
    except ApplicationError as error:
        return render(
            request, "annotation/judges_disagreements.html", {"project": project, "error": error.message}, status=400
        )
    base = {"judge": judge, "other": other, **({"category": category} if category else {})}
    context = {
        "project": project,
        "judge": judge,
        "other": other,
        "category": category,
        "result": result,
        "page": page,
        "previous": "?" + urlencode({**base, "page": page - 1}) if page > 1 else "",
        "next": "?" + urlencode({**base, "page": page + 1}) if result.has_more else "",
    }
    return render(request, "annotation/judges_disagreements.html", context)
