"""Import jobs: an uploaded file, its row in ImportJob, and its run (inline for small files, on a worker otherwise).
A command-line import is a job too (`import_job_run_here`), run in the command's own process, so the project's
"Recent imports" lists every import, from the page, the API or the command.

The row is the source of truth: a message delivered twice finds the job no longer queued and does nothing; a job
whose worker died shows as stalled on its page and can be retried (the import's transaction rolled back, so
retrying starts from a clean slate).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from annotation.importers.readers import without_paths
from annotation.models import ImportJob, Project
from annotation.selectors import PROGRESS_KEY
from annotation.services.imports import ImportFailed, ImportReport, ImportTimeLimitExceeded, import_file
from workbench.exceptions import ApplicationError, Conflict

logger = logging.getLogger(__name__)

STALLED_AFTER = timedelta(seconds=90)


def _save_upload(upload: UploadedFile, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / get_valid_filename(Path(upload.name or "upload").name)
    with open(path, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return path


@transaction.atomic
def import_job_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    upload: UploadedFile,
    format_name: str = "",
    options: dict[str, Any] | None = None,
    companion: UploadedFile | None = None,
    origin: str = ImportJob.Origin.PAGE,
) -> ImportJob:
    """Store the upload and queue its import. Small files are imported inside the request (after commit)."""
    if upload.size == 0:
        raise ApplicationError("The uploaded file is empty.")
    if upload.size > settings.WORKBENCH_MAX_UPLOAD_MB * 1024 * 1024:
        raise ApplicationError(f"The file is larger than the {settings.WORKBENCH_MAX_UPLOAD_MB} MB limit.")
    folder = Path(settings.MEDIA_ROOT) / "imports" / uuid.uuid4().hex
    path = _save_upload(upload, folder)
    options = dict(options or {})
    if companion is not None:
        options["conversations"] = str(_save_upload(companion, folder / "companion"))
    job = ImportJob.objects.create(
        project=project,
        created_by=user,
        path=str(path),
        original_name=path.name,
        format=format_name,
        options=options,
        origin=origin,
        bytes_total=path.stat().st_size,
    )
    if job.bytes_total <= settings.WORKBENCH_INLINE_IMPORT_MAX_KB * 1024:
        transaction.on_commit(lambda: import_job_run(job_id=job.pk))
    else:
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> None:
    from annotation.tasks import import_job_run_task

    import_job_run_task.delay(job_id)


def _cleanup_uploads() -> None:
    """Uploads past their retention time go at the start of each import (no process of its own needed)."""
    from annotation.services.uploads import uploads_cleanup

    try:
        uploads_cleanup()
    except Exception:  # noqa: BLE001 - a cleanup problem must never fail the import
        logger.exception("upload cleanup failed")


def import_job_run(*, job_id: int) -> None:
    """Run a queued job; a no-op for a job that is not queued (a duplicate delivery)."""
    _cleanup_uploads()
    now = timezone.now()
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING, started_at=now, heartbeat_at=now, phase="validate", error=""
    )
    if not claimed:
        logger.info("import job %s is not queued; nothing to do", job_id)
        return
    job = ImportJob.objects.select_related("project").get(pk=job_id)
    fields, _, failure = _run(job, time_limit_s=settings.WORKBENCH_IMPORT_TIME_LIMIT_S)
    ImportJob.objects.filter(pk=job_id).update(**fields)
    if failure is not None and not isinstance(failure, Exception):
        raise failure  # a worker shutting down (SystemExit, ...) still shuts down; the job shows as failed


def _progress_to_cache(job_id: int) -> Any:
    key = PROGRESS_KEY.format(job_id)

    def progress(phase: str, bytes_done: int, bytes_total: int, rows: int) -> None:
        cache.set(
            key,
            {"phase": phase, "bytes_done": bytes_done, "bytes_total": bytes_total, "rows": rows, "at": timezone.now()},
            timeout=24 * 3600,
        )

    return progress


def _run(
    job: ImportJob, *, time_limit_s: int | None, fit_project: bool = False, keep_kind: bool = False
) -> tuple[dict[str, Any], ImportReport | None, BaseException | None]:
    """Import the job's file; returns the job's finished fields, the report if it succeeded, and what went wrong."""
    fields: dict[str, Any] = {"finished_at": None}
    report: ImportReport | None = None
    failure: BaseException | None = None
    try:
        report = import_file(
            project=job.project,
            path=job.path,
            format_name=job.format or None,
            options=job.options,
            import_job=job,
            progress=_progress_to_cache(job.pk),
            time_limit_s=time_limit_s,
            fit_project=fit_project,
            keep_kind=keep_kind,
        )
        fields.update(
            status=ImportJob.Status.SUCCEEDED,
            report=report.as_dict(),
            format=report.format,
            rows_done=report.rows,
            content_hash=report.content_hash,
            project_state=report.project_state,
        )
    except ImportFailed as error:
        failure = error
        summary = error.report.summary()[:2000]
        fields.update(status=ImportJob.Status.FAILED, report=error.report.as_dict(), error=summary)
    except ApplicationError as error:
        failure = error
        fields.update(status=ImportJob.Status.FAILED, error=without_paths(error.message))
    except BaseException as error:  # noqa: BLE001 - any crash, an interrupted command too, leaves a visible state
        from celery.exceptions import SoftTimeLimitExceeded

        failure = error
        if isinstance(error, SoftTimeLimitExceeded):  # Celery's backstop, should the service's own check not run
            message = ImportTimeLimitExceeded(settings.WORKBENCH_IMPORT_TIME_LIMIT_S).message
        elif isinstance(error, KeyboardInterrupt):
            message = "The import was interrupted; nothing was written."
        else:
            # The traceback goes to the server log only: users see no code, paths or data from the exception.
            logger.exception("import job %s crashed", job.pk)
            message = f"The import crashed ({type(error).__name__}); the server log has the details (job {job.pk})."
        fields.update(status=ImportJob.Status.FAILED, error=message)
    finally:
        _release_memory()
    fields.update(finished_at=timezone.now(), phase="done", bytes_done=job.bytes_total)
    cache.delete(PROGRESS_KEY.format(job.pk))
    return fields, report, failure


def import_job_run_here(
    *,
    project: Project,
    path: Path | str,
    format_name: str | None = None,
    options: dict[str, Any] | None = None,
    user: AbstractBaseUser | None = None,
    origin: str = ImportJob.Origin.COMMAND,
    fit_project: bool = False,
    keep_kind: bool = False,
) -> tuple[ImportJob, ImportReport]:
    """Import a file in this process as an import job of its own (`manage.py import_data`): the job is listed with
    the others, its progress shows on its page, and it ends succeeded or failed like a worker's. Raises what
    `import_file` raises, after recording it on the job. The file stays where it is (never copied, never deleted:
    see `uploads_cleanup`). Inside a transaction that then rolls back, the job goes with it."""
    path = Path(path).resolve()
    if not path.is_file():
        raise ApplicationError(f"no such file: {path.name}")
    now = timezone.now()
    job = ImportJob.objects.create(
        project=project,
        created_by=user,
        path=str(path),
        original_name=path.name,
        format=format_name or "",
        options=dict(options or {}),
        origin=origin,
        status=ImportJob.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        phase="validate",
        bytes_total=path.stat().st_size,
    )
    fields, report, failure = _run(job, time_limit_s=None, fit_project=fit_project, keep_kind=keep_kind)
    ImportJob.objects.filter(pk=job.pk).update(**fields)
    job.refresh_from_db()
    if failure is not None:
        raise failure
    assert report is not None
    return job, report


def _release_memory() -> None:
    """Hand memory a big or refused import used back to the system, so a worker returns to its baseline: Arrow's
    pool and glibc's malloc otherwise keep freed pages for reuse."""
    gc.collect()
    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    if sys.platform.startswith("linux") and (libc := ctypes.util.find_library("c")):
        try:
            ctypes.CDLL(libc).malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
            pass


def import_job_is_stalled(*, job: ImportJob, live: dict[str, Any] | None) -> bool:
    if job.status != ImportJob.Status.RUNNING:
        return False
    last = (live or {}).get("at") or job.heartbeat_at or job.started_at
    return last is None or timezone.now() - last > STALLED_AFTER


@transaction.atomic
def import_job_retry(*, job: ImportJob) -> ImportJob:
    """Queue a failed or stalled job again. Its previous attempt wrote nothing (one transaction per file)."""
    from annotation.selectors import import_job_live_progress
    from annotation.services.job_liveness import job_liveness

    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    live = import_job_live_progress(job=job)
    stalled = import_job_is_stalled(job=job, live=live)
    if job.status != ImportJob.Status.FAILED and not stalled:
        raise ApplicationError("Only a failed or stalled import can be retried.")
    if stalled:  # only a certainly dead run: a slow one would run twice and its last write would land on this row
        last = (live or {}).get("at") or job.heartbeat_at or job.started_at
        liveness = job_liveness(task_name="annotation.import_job_run", job_id=job.pk, last_sign_of_life=last)
        if not liveness.dead:
            raise Conflict(f"This import has stopped reporting progress but may not be dead. {liveness.reason}")
    if not Path(job.path).exists():
        raise ApplicationError("The uploaded file is gone; upload it again.")
    job.status = ImportJob.Status.QUEUED
    job.report, job.error, job.phase = {}, "", ""
    job.finished_at = None  # started_at stays until the next attempt's claim sets it
    job.save()
    cache.delete(PROGRESS_KEY.format(job.pk))
    transaction.on_commit(lambda: _enqueue(job.pk))
    return job
