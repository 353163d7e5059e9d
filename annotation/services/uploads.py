"""Uploaded import files are kept for WORKBENCH_UPLOAD_RETENTION_HOURS after their job finished (so a failed
import can be retried) and then deleted. The cleanup runs at the start of every import job and from
`manage.py cleanup_uploads` (cron it where imports are rare); no process of its own is needed.

Only folders under MEDIA_ROOT/imports/ are ever deleted (one per upload): files that `manage.py import_data` or
`load_demo` read from elsewhere are never touched.
"""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from annotation.models import ImportJob

logger = logging.getLogger(__name__)


def uploads_root() -> Path:
    return Path(settings.MEDIA_ROOT) / "imports"


def uploads_cleanup(*, now: datetime | None = None) -> list[Path]:
    """Delete the upload folders whose jobs all finished more than the retention time ago, and folders no job
    names that are older than that (a request that died after saving its file). Returns the folders deleted."""
    root = uploads_root()
    if not root.is_dir():
        return []
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.WORKBENCH_UPLOAD_RETENTION_HOURS)
    keep: set[Path] = set()
    named: set[Path] = set()
    jobs = ImportJob.objects.filter(path__startswith=str(root)).values_list("path", "status", "finished_at")
    for path, status, finished_at in jobs.iterator():
        folder = _folder_of(Path(path), root)
        if folder is None:
            continue
        named.add(folder)
        done = status in (ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED) and finished_at is not None
        if not done or finished_at > cutoff:
            keep.add(folder)
    deleted = []
    for folder in root.iterdir():
        if not folder.is_dir() or folder.is_symlink() or folder in keep:
            continue
        if folder not in named and datetime.fromtimestamp(folder.stat().st_mtime, tz=now.tzinfo) > cutoff:
            continue  # being uploaded right now: its job row comes with the request's commit
        shutil.rmtree(folder, ignore_errors=True)
        deleted.append(folder)
    if deleted:
        logger.info("deleted %d upload folder(s) past the retention time", len(deleted))
    return deleted


def _folder_of(path: Path, root: Path) -> Path | None:
    """MEDIA_ROOT/imports/<folder>/... -> MEDIA_ROOT/imports/<folder>; None for a path elsewhere."""
    try:
        relative = path.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    return root / relative.parts[0] if relative.parts else None
