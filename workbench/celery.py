"""The Celery app. Workers: `celery -A workbench worker -Q default` (imports, exports, analyses) and
`celery -A workbench worker -Q gpu --concurrency=1 --max-tasks-per-child=1` (training and scoring)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workbench.settings")

app = Celery("workbench")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
