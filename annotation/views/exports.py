"""The export page: choose format, filters and options; the job page polls until the files are ready."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.forms import ExportForm
from annotation.selectors import project_get
from annotation.selectors.jobs import (
    RECENT,
    export_job_file,
    export_job_files,
    export_job_get,
    export_job_list,
    export_job_summary,
)
from annotation.services.exports import export_create, export_job_is_stalled, export_retry
from workbench.exceptions import ApplicationError
from workbench.http import render_page_or_fragment


@require_http_methods(["GET", "POST"])
@login_required
def export_new(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get(user=request.user, slug=slug)
    form = ExportForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        fmt, file_type, filters, options = form.spec()
        try:
            job = export_create(
                project=project, user=request.user, format=fmt, file_type=file_type, filters=filters, options=options
            )
        except ApplicationError as error:
            form.add_error(None, f"{error.extra.get('field', '')}: {error.message}".lstrip(": "))
        else:
            return redirect("annotation:export_job", job_id=job.pk)
    context = {"project": project, "form": form, "jobs": export_job_list(project=project)[:RECENT]}
    return render(request, "annotation/export_new.html", context, status=400 if form.errors else 200)


@require_GET
@login_required
def export_job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = export_job_get(user=request.user, job_id=job_id)
    context = {
        "job": job,
        "project": job.project,
        "files": export_job_files(job=job),
        "summary": export_job_summary(job=job),
        "stalled": export_job_is_stalled(job=job),
        "percent": 100 if job.is_finished else (int(100 * job.rows_done / job.rows_total) if job.rows_total else 0),
    }
    return render_page_or_fragment(request, "annotation/export_job.html", "status", context)


@require_POST
@login_required
def export_job_retry(request: HttpRequest, job_id: int) -> HttpResponse:
    job = export_job_get(user=request.user, job_id=job_id)
    try:
        export_retry(job=job)
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("annotation:export_job", job_id=job.pk)


@require_GET
@login_required
def export_file(request: HttpRequest, job_id: int, name: str) -> HttpResponse:
    job = export_job_get(user=request.user, job_id=job_id)
    file = export_job_file(job=job, name=name)
    return FileResponse(file.path.open("rb"), as_attachment=True, filename=f"{job.project.slug}-{job.pk}-{file.name}")
