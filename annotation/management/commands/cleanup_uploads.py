"""Delete uploaded import files past WORKBENCH_UPLOAD_RETENTION_HOURS (see annotation/services/uploads.py). Every
import job runs the same cleanup when it starts; this command is for hosts where imports are rare (cron it)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from annotation.services.uploads import uploads_cleanup


class Command(BaseCommand):
    help = "Delete uploaded import files kept longer than WORKBENCH_UPLOAD_RETENTION_HOURS after their import."

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = uploads_cleanup()
        hours = settings.WORKBENCH_UPLOAD_RETENTION_HOURS
        self.stdout.write(f"Deleted {len(deleted)} upload folder(s) finished more than {hours} h ago.")
