"""Export jobs: an ExportJob row records what was asked (format, file type, filters, options) and is the job's state.

`export_create` validates and records the request, then runs it after commit: inline for a small project, on a
Celery worker otherwise. `export_run` claims a queued job (a duplicate delivery finds it running and does nothing),
streams the export into DATA_DIR/exports/<job id>/ (the split files and README.md), writes progress and a heartbeat to
the row at most every PROGRESS_EVERY_S seconds, and ends with the files and the report, or failed with the error.
A failed or stalled job can be retried; a retry clears the folder first.
"""

from __future__ import annotations

import logging
import shutil
import time
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from annotation.exports.options import ExportSpec, export_spec_validate
from annotation.exports.runner import check_detector, export_project, reproduce_command
from annotation.models import ExportJob, Judgment, Project
from workbench.exceptions import ApplicationError, Conflict

logger = logging.getLogger(__name__)

PROGRESS_EVERY_S = 1.0
STALLED_AFTER = timedelta(seconds=90)
# Projects with at most this many judgments export inside the request (after commit); larger ones on a worker.
INLINE_MAX_JUDGMENTS_DEFAULT = 5000


def export_dir(*, job: ExportJob) -> Path:
    return Path(settings.DATA_DIR) / "exports" / str(job.pk)


def export_spec_of(*, job: ExportJob) -> ExportSpec:
    return export_spec_validate(format=job.format, file_type=job.file_type, filters=job.filters, options=job.options)


@transaction.atomic
def export_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    format: str,
    file_type: str = "jsonl",
    filters: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> ExportJob:
    """Record an export of `project` and run it after commit (inline when small, else on a worker). Raises
    ApplicationError naming the bad field for a bad format, file type, filter or option."""
    spec = export_spec_validate(format=format, file_type=file_type, filters=filters, options=options)
    check_detector(project=project, spec=spec)  # a threshold on a detector without flags: refused now, not later
    judgments = Judgment.objects.filter(project=project)
    if spec.filters.active_only:
        judgments = judgments.filter(status=Judgment.Status.ACTIVE)
    total = judgments.count()
    job = ExportJob.objects.create(
        project=project,
        created_by=user if user is not None and user.is_authenticated else None,
        format=spec.format,
        file_type=spec.file_type,
        filters=spec.filters_json(),
        options=spec.options_json(),
        rows_total=total,
    )
    job.output_dir = str(Path("exports") / str(job.pk))
    job.save(update_fields=["output_dir"])
    limit = getattr(settings, "WORKBENCH_INLINE_EXPORT_MAX_JUDGMENTS", INLINE_MAX_JUDGMENTS_DEFAULT)
    if total <= limit:
        transaction.on_commit(lambda: export_run(job_id=job.pk))
    else:
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> None:
    from annotation.tasks import export_job_run_task

    export_job_run_task.delay(job_id)


class _Heartbeat:
    """Writes progress to the job's row, at most every PROGRESS_EVERY_S seconds (the row, not a cache: the export
    reads on its own connections, so the updates commit at once and any web process sees them)."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.last = time.monotonic()

    def __call__(self, done: int, total: int, rows: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        ExportJob.objects.filter(pk=self.job_id).update(
            rows_done=done, rows_total=total, heartbeat_at=timezone.now(), report={"rows_written": rows}
        )


def export_run(*, job_id: int) -> None:
    """Run a queued job; a no-op for a job that is not queued (a duplicate delivery)."""
    now = timezone.now()
    claimed = ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.QUEUED).update(
        status=ExportJob.Status.RUNNING, started_at=now, heartbeat_at=now, error="", rows_done=0
    )
    if not claimed:
        logger.info("export job %s is not queued; nothing to do", job_id)
        return
    job = ExportJob.objects.select_related("project").get(pk=job_id)
    folder = export_dir(job=job)
    fields: dict[str, Any] = {}
    try:
        spec = export_spec_of(job=job)
        if folder.exists():
            shutil.rmtree(folder)
        result = export_project(
            project=job.project,
            spec=spec,
            out=folder,
            folder=True,
            progress=_Heartbeat(job_id),
            reproduce=reproduce_command(project=job.project, spec=spec, out=f"export-{job.pk}", folder=True),
        )
        fields.update(
            status=ExportJob.Status.SUCCEEDED,
            files=result.files,
            report=result.report,
            rows_done=result.report["judgments_read"],
            rows_total=result.report["judgments_total"],
        )
    except ApplicationError as error:
        fields.update(status=ExportJob.Status.FAILED, error=error.message, files=[])
    except Exception as error:  # noqa: BLE001 - any crash must leave a visible, retryable state
        logger.exception("export job %s crashed", job_id)
        fields.update(
            status=ExportJob.Status.FAILED,
            files=[],
            error=f"The export crashed: {type(error).__name__}: {error}\n\n{traceback.format_exc(limit=5)}"[:4000],
        )
    if fields["status"] == ExportJob.Status.FAILED:
        shutil.rmtree(folder, ignore_errors=True)
    now = timezone.now()
    ExportJob.objects.filter(pk=job_id).update(finished_at=now, heartbeat_at=now, **fields)


def export_job_is_stalled(*, job: ExportJob) -> bool:
    if job.status != ExportJob.Status.RUNNING:
        return False
    last = job.heartbeat_at or job.started_at
    return last is None or timezone.now() - last > STALLED_AFTER


@transaction.atomic
def export_retry(*, job: ExportJob) -> ExportJob:
    """Queue a failed or stalled job again, with the same format, filters and options."""
    from annotation.services.job_liveness import job_liveness

    job = ExportJob.objects.select_for_update().get(pk=job.pk)
    stalled = export_job_is_stalled(job=job)
    if job.status != ExportJob.Status.FAILED and not stalled:
        raise ApplicationError("Only a failed or stalled export can be retried.")
    if stalled:  # only a certainly dead run: a slow one would run twice and its last write would land on this row
        last = job.heartbeat_at or job.started_at
        liveness = job_liveness(task_name="annotation.export_job_run", job_id=job.pk, last_sign_of_life=last)
        if not liveness.dead:
            raise Conflict(f"This export has stopped reporting progress but may not be dead. {liveness.reason}")
    job.status = ExportJob.Status.QUEUED
    job.report, job.error, job.files = {}, "", []
    job.rows_done = 0
    job.finished_at = job.heartbeat_at = None  # started_at stays until the next attempt's claim sets it
    job.save()
    limit = getattr(settings, "WORKBENCH_INLINE_EXPORT_MAX_JUDGMENTS", INLINE_MAX_JUDGMENTS_DEFAULT)
    if job.rows_total <= limit:
        transaction.on_commit(lambda: export_run(job_id=job.pk))
    else:
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job
