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
from annotation.views.judges_sections import (
    bias_charts,
    categories_section,
    judge_table,
    leaderboard_section,
    lists_section,
    matrix_section,
)
from workbench.exceptions import ApplicationError


def _request_params(query: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in query.items() if key in FIELDS and value not in ("", None)}


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
    columns, rows, extra = judge_table(project, report, params, sort)
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
        "matrix": matrix_section(project, report, params),
        "charts": bias_charts(project, report, params) if rows else [],
        "leaderboard": leaderboard_section(project, data, params),
        "categories": categories_section(project, report, params),
        "lists": lists_section(data),
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
    behind = {key: request.GET.get(key, "") for key in ("show", "generator", "baseline")}
    behind["show"] = behind["show"] or "disagree"
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    try:
        result = disagreements(project=project, judge=judge, other=other, category=category, page=page, **behind)
    except ApplicationError as error:
        return render(
            request, "annotation/judges_disagreements.html", {"project": project, "error": error.message}, status=400
        )
    base = {"judge": judge, "other": other, **({"category": category} if category else {})}
    base |= {key: value for key, value in behind.items() if value and value != "disagree"}
    context = {
        "project": project,
        "judge": judge,
        "other": other,
        "category": category,
        **behind,
        "result": result,
        "page": page,
        "previous": "?" + urlencode({**base, "page": page - 1}) if page > 1 else "",
        "next": "?" + urlencode({**base, "page": page + 1}) if result.has_more else "",
    }
    return render(request, "annotation/judges_disagreements.html", context)
