"""Project pages: everyone's project list and a project's overview. Views are thin: fetch with permission
(selectors), call one service, render the page or its htmx fragment."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from annotation.selectors import (
    annotator_projects,
    import_job_list,
    project_counts,
    project_get,
    project_sample,
)
from annotation.selectors.jobs import RECENT
from annotation.selectors.projects import can_create_projects


@require_GET
@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    """Everyone's home: their projects, their role and their own progress in each."""
    rows = annotator_projects(user=request.user)
    context = {"rows": rows, "can_create": can_create_projects(user=request.user)}
    return render(request, "annotation/project_list.html", context)


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


@require_GET
@login_required
def project_overview(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get(user=request.user, slug=slug)
    page = _page_number(request)
    # ?prompt=<id>: one prompt with every judge's ordering, where the progress page links a comparison.
    prompt = request.GET.get("prompt", "")
    prompt_id = int(prompt) if prompt.isdigit() and len(prompt) < 19 else None  # within a 64-bit id
    samples, has_more = project_sample(project=project, page=page, prompt_id=prompt_id)
    context = {
        "project": project,
        "samples": samples,
        "page": page,
        "has_more": has_more,
        "prompt_id": prompt_id,
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "annotation/project_overview.html#sample", context)
    context.update(counts=project_counts(project=project), jobs=import_job_list(project=project)[:RECENT])
    return render(request, "annotation/project_overview.html", context)
