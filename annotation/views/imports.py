"""The import pages: upload a file, follow a job, retry a stalled one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.forms import ImportUploadForm
from annotation.selectors import (
    import_job_get,
    import_job_list,
    import_job_live_progress,
    project_get,
)
from annotation.selectors.jobs import RECENT
from annotation.services.import_jobs import import_job_create, import_job_is_stalled, import_job_retry
from workbench.exceptions import ApplicationError
from workbench.http import render_page_or_fragment

ERRORS_PER_PAGE = 100


@require_http_methods(["GET", "POST"])
@login_required
def import_upload(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get(user=request.user, slug=slug)
    form = ImportUploadForm(request.POST, request.FILES) if request.method == "POST" else ImportUploadForm()
    if request.method == "POST" and form.is_valid():
        options: dict[str, object] = {"judge": form.cleaned_data["judge"]} if form.cleaned_data["judge"] else {}
        if form.cleaned_data["as_pairs"]:
            options["as_pairs"] = True
        try:
            job = import_job_create(
                project=project,
                user=request.user,
                upload=form.cleaned_data["file"],
                format_name=form.cleaned_data["format"],
                options=options,
                companion=form.cleaned_data.get("conversations"),
            )
        except ApplicationError as error:
            form.add_error("file", error.message)
        else:
            return redirect("annotation:import_job", job_id=job.pk)
    status = 400 if form.errors else 200
    context = {"project": project, "form": form, "jobs": import_job_list(project=project)[:RECENT]}
    return render(request, "annotation/import_upload.html", context, status=status)


@require_GET
@login_required
def import_job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = import_job_get(user=request.user, job_id=job_id)
    live = import_job_live_progress(job=job)
    percent = job.percent
    if live and live.get("bytes_total"):
        half = 50 if live["phase"] == "write" else 0
        percent = min(99, half + int(50 * live["bytes_done"] / live["bytes_total"]))
    context = {
        "job": job,
        "project": job.project,
        "live": live,
        "percent": percent,
        "stalled": import_job_is_stalled(job=job, live=live),
        # Every bad row is in the report; the page shows them ERRORS_PER_PAGE at a time.
        "errors_page": Paginator((job.report or {}).get("errors") or [], ERRORS_PER_PAGE).get_page(
            request.GET.get("errors_page")
        ),
    }
    return render_page_or_fragment(request, "annotation/import_job.html", "status", context)


@require_POST
@login_required
def import_job_retry_view(request: HttpRequest, job_id: int) -> HttpResponse:
    job = import_job_get(user=request.user, job_id=job_id)
    try:
        import_job_retry(job=job)
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("annotation:import_job", job_id=job.pk)
