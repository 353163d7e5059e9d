"""Uploaded files are deleted WORKBENCH_UPLOAD_RETENTION_HOURS after their import finished: by the cleanup every
import job runs when it starts, and by `manage.py cleanup_uploads`. Files of unfinished or recent jobs, files a
request is saving right now, and files outside the uploads folder stay."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from annotation.models import ImportJob
from annotation.services.import_jobs import import_job_create
from annotation.services.uploads import uploads_root
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

ROW = b'{"prompt": "p", "chosen": "a", "rejected": "b"}\n'


def _job(project, name: str, status: str, finished_hours_ago: float | None, root: Path | None = None) -> Path:
    folder = (root or uploads_root()) / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "data.jsonl"
    path.write_bytes(ROW)
    finished = timezone.now() - timedelta(hours=finished_hours_ago) if finished_hours_ago is not None else None
    ImportJob.objects.create(project=project, path=str(path), original_name="data.jsonl", status=status,
                             finished_at=finished)  # fmt: skip
    return path


def _orphan(name: str, age_hours: float) -> Path:
    folder = uploads_root() / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "half-saved.jsonl").write_bytes(ROW)
    stamp = time.time() - age_hours * 3600
    os.utime(folder, (stamp, stamp))
    return folder


@pytest.fixture
def files(settings, tmp_path: Path):
    settings.MEDIA_ROOT = tmp_path / "uploads"
    settings.WORKBENCH_UPLOAD_RETENTION_HOURS = 24
    project = ProjectFactory(slug="up")
    return project, {
        "old_done": _job(project, "a", "succeeded", 30),
        "old_failed": _job(project, "b", "failed", 25),
        "recent": _job(project, "c", "failed", 2),
        "running": _job(project, "d", "running", None),
        "queued": _job(project, "e", "queued", None),
        "outside": _job(project, "cli", "succeeded", 100, root=tmp_path / "elsewhere"),
        "old_orphan": _orphan("f", 30),
        "new_orphan": _orphan("g", 0.1),
    }


def _assert_cleaned(paths: dict[str, Path]) -> None:
    for gone in ("old_done", "old_failed", "old_orphan"):
        assert not paths[gone].exists(), gone
        assert not (paths[gone].parent.exists() and paths[gone].parent != uploads_root()), gone
    for kept in ("recent", "running", "queued", "outside", "new_orphan"):
        assert paths[kept].exists(), kept


def test_cleanup_uploads_command_deletes_only_expired_uploads(files) -> None:
    _, paths = files
    out = StringIO()
    call_command("cleanup_uploads", stdout=out)
    assert "Deleted 3 upload folder(s)" in out.getvalue()
    _assert_cleaned(paths)


def test_each_import_job_cleans_up_when_it_starts(files, django_capture_on_commit_callbacks) -> None:
    project, paths = files
    with django_capture_on_commit_callbacks(execute=True):  # a small upload: imported right after the request
        job = import_job_create(project=project, user=None, upload=SimpleUploadedFile("new.jsonl", ROW))
    job.refresh_from_db()
    assert job.status == "succeeded" and Path(job.path).exists()  # its own file stays for the retention time
    _assert_cleaned(paths)
    # The retry of an expired job says why it cannot run.
    expired = ImportJob.objects.get(path=str(paths["old_failed"]))
    from annotation.services.import_jobs import import_job_retry
    from workbench.exceptions import ApplicationError

    with pytest.raises(ApplicationError, match="The uploaded file is gone"):
        import_job_retry(job=expired)
