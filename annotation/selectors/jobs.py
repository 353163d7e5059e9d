"""Reads of import and export jobs for the pages and the API, with the permission check in the same place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from django.core.cache import cache
from django.db.models import QuerySet

from annotation.models import ExportJob, ImportJob, Project
from annotation.selectors.projects import User, project_get
from workbench.exceptions import NotFound

RECENT = 20  # jobs a page lists beside its form
Job = TypeVar("Job", ImportJob, ExportJob)


def import_job_list(*, project: Project) -> QuerySet[ImportJob]:
    """A project's imports, newest first: pages show the latest few, the API pages through all."""
    return ImportJob.objects.filter(project=project).select_related("project").order_by("-created_at", "-id")


def _job_get(model: type[Job], *, user: User, job_id: int, missing: str) -> Job:
    """The job if `user` may see its project's jobs (researchers and admins); 404 otherwise."""
    job = model.objects.select_related("project").filter(pk=job_id).first()
    if job is None:
        raise NotFound(missing)
    project_get(user=user, slug=job.project.slug)
    return job


def import_job_get(*, user: User, job_id: int) -> ImportJob:
    return _job_get(ImportJob, user=user, job_id=job_id, missing="No such import.")


PROGRESS_KEY = "import-job-progress:{}"


def import_job_live_progress(*, job: ImportJob) -> dict[str, Any] | None:
    """Progress written by the running import (to the cache, since its transaction hides row updates)."""
    return cache.get(PROGRESS_KEY.format(job.pk))


@dataclass(frozen=True)
class ExportFile:
    name: str  # as listed in ExportJob.files: "train.jsonl", "test.jsonl", "README.md"
    path: Path
    size: int
    content_type: str
    rows: int | None = None  # data rows in the file, from the job's report; None for the dataset card


@dataclass(frozen=True)
class ExportSummary:
    """What a finished export wrote, for its page: headline numbers and what was dropped or kept, and why."""

    stats: list[tuple[str, str]]  # (label, value) cards
    notes: list[str]  # e.g. "tie pairs dropped: 12"
    judges: list[dict]  # [{"name", "kind", "judgments"}], most judgments first


CONTENT_TYPES = {
    ".jsonl": "application/jsonl",
    ".parquet": "application/vnd.apache.parquet",
    ".csv": "text/csv; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
}


def export_job_list(*, project: Project) -> QuerySet[ExportJob]:
    """A project's exports, newest first: pages show the latest few, the API pages through all."""
    return ExportJob.objects.filter(project=project).select_related("project").order_by("-created_at", "-id")


def export_job_get(*, user: User, job_id: int) -> ExportJob:
    return _job_get(ExportJob, user=user, job_id=job_id, missing="No such export.")


def export_job_files(*, job: ExportJob) -> list[ExportFile]:
    """The finished job's files that are on disk, in the order the job lists them (data files, then README.md)."""
    from annotation.services.exports import export_dir

    if job.status != ExportJob.Status.SUCCEEDED:
        return []
    folder = export_dir(job=job)
    rows_by_split = (job.report or {}).get("rows", {})
    out = []
    for name in job.files:
        path = folder / name
        if path.is_file():
            rows = None if path.suffix == ".md" else rows_by_split.get(path.stem, job.rows_done)
            content_type = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
            out.append(ExportFile(name, path, path.stat().st_size, content_type, rows))
    return out


def export_job_summary(*, job: ExportJob) -> ExportSummary | None:
    """The finished job's report as page-sized numbers; None before it has one."""
    report = job.report or {}
    if "rows_total" not in report:
        return None
    agreement = report.get("agreement") or {}
    stats = [
        ("rows", f"{report['rows_total']:,}"),
        ("judgments exported", f"{report['judgments_exported']:,} of {report['judgments_total']:,}"),
        ("prompts", f"{report['prompts']:,}"),
        ("judges", f"{len(report.get('judges', [])):,}"),
    ]
    if agreement.get("comparisons"):
        stats.append(("mean agreement", f"{agreement['mean']:.2f} ({agreement['comparisons']:,} comparisons)"))
    if report.get("seconds") is not None:
        stats.append(("seconds", f"{report['seconds']:.2f}"))
    notes = [f"{key.replace('_', ' ')}: {value:,}" for key, value in sorted(report.get("stats", {}).items())]
    return ExportSummary(stats=stats, notes=notes, judges=report.get("judges", []))


def export_job_file(*, job: ExportJob, name: str) -> ExportFile:
    """One file of a finished job by its listed name (never a path from the request: only listed names resolve)."""
    for file in export_job_files(job=job):
        if file.name == name:
            return file
    raise NotFound("No such file in this export.")
