"""Is a background job's process certainly gone? Asked before a stalled import or export is retried: retrying one
whose worker is merely slow would run it twice at once, and the first run's final write would then land on the
retried row (losing its start time).

A job is certainly dead when its last sign of life is older than STALLED_AFTER and either the workers, asked with
`celery inspect active`, answer and none of them is running it, or, when no worker answers at all, the silence has
lasted DEAD_AFTER (a worker that is gone cannot answer; one that is alive but busy in a solo pool cannot either).
"""

from __future__ import annotations

import ast
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

logger = logging.getLogger(__name__)

DEAD_AFTER = timedelta(minutes=5)
INSPECT_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Liveness:
    dead: bool
    reason: str  # why it may not be retried yet, for the refusal


def _runs_job(task: dict, name: str, job_id: int) -> bool:
    if task.get("name") != name:
        return False
    args = task.get("args")
    if isinstance(args, str):  # older workers send the repr
        try:
            args = ast.literal_eval(args)
        except (ValueError, SyntaxError):
            return False
    return bool(args) and list(args)[0] == job_id


def workers_running(*, task_name: str, job_id: int) -> list[str] | None:
    """The workers that report this job's task as active; None when no worker answered."""
    from workbench.celery import app

    try:
        active = app.control.inspect(timeout=INSPECT_TIMEOUT_S).active()
    except Exception:  # noqa: BLE001 - a broker that cannot be reached answers nothing
        logger.warning("celery inspect failed while checking job %s", job_id, exc_info=True)
        return None
    if not active:
        return None
    return [worker for worker, tasks in active.items() if any(_runs_job(t, task_name, job_id) for t in tasks or [])]


def job_liveness(*, task_name: str, job_id: int, last_sign_of_life: datetime | None) -> Liveness:
    silent = timezone.now() - last_sign_of_life if last_sign_of_life else DEAD_AFTER * 2
    running_on = workers_running(task_name=task_name, job_id=job_id)
    if running_on:
        return Liveness(False, f"It is still running on {', '.join(sorted(running_on))}, only slowly; wait for it.")
    if running_on is None and silent <= DEAD_AFTER:
        minutes = int(DEAD_AFTER.total_seconds() // 60)
        return Liveness(
            False,
            f"No worker answered, so it may still be running; it can be retried once it has been silent for "
            f"{minutes} minutes.",
        )
    return Liveness(True, "")
