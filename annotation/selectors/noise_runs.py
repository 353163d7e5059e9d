"""Reads of noisy-label runs for the pages, the API and the command, with the permission check in the same place:
the project's researchers and admins see its runs; annotators are refused (403) and everyone else finds nothing
(404), as for imports and exports."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from annotation.models import NoiseRun, Project
from annotation.selectors.projects import User, project_get
from annotation.services.noise_runs import COMBINED
from workbench.exceptions import NotFound


def noise_run_list(*, project: Project) -> QuerySet[NoiseRun]:
    """A project's runs, newest first."""
    return NoiseRun.objects.filter(project=project).select_related("project").order_by("-created_at", "-id")


def noise_run_latest(*, project: Project) -> NoiseRun | None:
    return noise_run_list(project=project).first()


def noise_run_get(*, user: User, run_id: int) -> NoiseRun:
    """The run if `user` may see its project's runs; NotFound or PermissionDenied otherwise."""
    run = NoiseRun.objects.select_related("project").filter(pk=run_id).first()
    if run is None:
        raise NotFound("No such noise run.")
    project_get(user=user, slug=run.project.slug)
    return run


@dataclass(frozen=True)
class NoiseRunProgress:
    done: int  # detectors finished (the combined suspicion counts as the last step)
    total: int
    percent: int


def noise_run_progress(*, run: NoiseRun) -> NoiseRunProgress:
    """How far a run has come, from what its report records: each requested detector, then the combined step.
    The reward model and confident learning report as one step when the model task writes them."""
    total = len(run.detectors) + 1
    flags = (run.report or {}).get("flags", {})
    done = sum(1 for name in [*run.detectors, COMBINED] if name in flags)
    if run.status == NoiseRun.Status.SUCCEEDED:
        done = total
    return NoiseRunProgress(done=done, total=total, percent=int(100 * done / total))
