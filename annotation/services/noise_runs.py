"""Noisy-label runs (docs/noise.md, "Running the detectors"): start one, run its model-free detectors on a worker,
hand the cross-fitted reward model to the `gpu` queue, combine every detector's flags, cancel, retry, and reap runs
whose worker died.

The row is the truth. A task claims its run with a conditional update, and every later write of the run is
conditional on (running, the same attempt): a message delivered twice, a cancelled run, or a run reaped and retried
while a lost worker comes back never lands a stale write. A heartbeat thread keeps `heartbeat_at` fresh while the
worker lives; a running run silent for HEARTBEAT_TIMEOUT, that no answering worker is running, is failed by the reaper
with the reason and can be retried.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotation.analysis.noise.records import NoiseInput
from annotation.analysis.noise.suspicion import Suspicion
from annotation.models import Judgment, LabelFlag, Membership, NoiseRun, Project
from annotation.services.label_flags import label_flags_replace
from workbench.exceptions import ApplicationError, Conflict, NotFound, PermissionDenied
from workbench.heartbeat import Heartbeat

logger = logging.getLogger(__name__)

TASK_NAME = "annotation.noise_run"
CROSSFIT_TASK = "rewards.noise_crossfit"
MODEL_DETECTORS = ("reward_model", "confident_learning")  # computed by the cross-fitted model on the gpu queue
COMBINED = "combined"
MIN_JUDGMENTS = 20
MIN_PROMPTS_PER_FOLD = 2
FOLDS = (2, 10)
SEEDS = (1, 10)
HEARTBEAT_SECONDS = 5
# Longer than the longest single write the task makes (replacing a million flags on SQLite) between two beats.
HEARTBEAT_TIMEOUT = timedelta(seconds=90)
PHASE_AWAITING_MODEL = "waiting for the reward model (gpu queue)"
OPEN = (NoiseRun.Status.QUEUED, NoiseRun.Status.RUNNING)
Status = NoiseRun.Status


def model_free_detectors() -> tuple[str, ...]:
    """The detectors that need no model, in the order the analysis package lists them."""
    from annotation.analysis.noise import detect

    return tuple(detect.DETECTORS)


def known_detectors() -> tuple[str, ...]:
    return (*model_free_detectors(), *MODEL_DETECTORS)


def _require_researcher(user: AbstractBaseUser | AnonymousUser | None, project: Project) -> None:
    """None is the command line (an operator). Others: the project's researchers and admins, as `project_get`."""
    if user is None or user.is_superuser:
        return
    role = Membership.objects.filter(project=project, user_id=user.pk).values_list("role", flat=True).first()
    if not user.is_authenticated or role is None:
        raise NotFound("No such project.")
    if role != Membership.Role.RESEARCHER:
        raise PermissionDenied("Only the project's researchers and admins run the noisy-label detectors.")


def _validated(*, project: Project, detectors: Iterable[str], folds: int, seeds: int) -> list[str]:
    names = [d.strip() for d in detectors if d and d.strip()]
    known = known_detectors()
    if not names:
        raise ApplicationError(f"Choose at least one detector: {', '.join(known)}.", extra={"field": "detectors"})
    unknown = [d for d in names if d not in known]
    if unknown:
        raise ApplicationError(
            f"detectors: unknown detector {unknown[0]!r}; known: {', '.join(known)}.", extra={"field": "detectors"}
        )
    if isinstance(folds, bool) or not isinstance(folds, int) or not FOLDS[0] <= folds <= FOLDS[1]:
        raise ApplicationError(f"folds: give a whole number from {FOLDS[0]} to {FOLDS[1]}.", extra={"field": "folds"})
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not SEEDS[0] <= seeds <= SEEDS[1]:
        raise ApplicationError(f"seeds: give a whole number from {SEEDS[0]} to {SEEDS[1]}.", extra={"field": "seeds"})
    active = Judgment.objects.filter(project=project, status=Judgment.Status.ACTIVE)
    count = active.count()
    if count < MIN_JUDGMENTS:
        raise ApplicationError(
            f"This project has {count} active judgment{'s' if count != 1 else ''}; the detectors need at least "
            f"{MIN_JUDGMENTS}. Import or collect more first.",
            extra={"field": "project"},
        )
    if any(d in MODEL_DETECTORS for d in names):
        prompts = active.values("comparison__prompt_id").distinct().count()
        if prompts < folds * MIN_PROMPTS_PER_FOLD:
            raise ApplicationError(
                f"The cross-fitted reward model splits by prompt: {folds} folds need at least "
                f"{folds * MIN_PROMPTS_PER_FOLD} prompts with judgments, and this project has {prompts}. Use fewer "
                "folds or the detectors that need no model.",
                extra={"field": "folds"},
            )
    return list(dict.fromkeys(names))  # in the order asked, once each


def _enqueue(run_id: int) -> None:
    from annotation.tasks import noise_run_task

    noise_run_task.delay(run_id)


def _lock_project(project: Project) -> None:
    """Serialise starts and retries per project (PostgreSQL row lock; SQLite's write lock serialises them anyway)."""
    Project.objects.select_for_update().filter(pk=project.pk).values_list("pk", flat=True).first()


def _refuse_if_open(project: Project, *, other_than: int | None = None) -> None:
    noise_runs_reap(project=project)
    running = NoiseRun.objects.filter(project=project, status__in=OPEN).exclude(pk=other_than).first()
    if running is not None:
        raise Conflict(
            f"Noise run {running.pk} of this project is still {running.status}; wait for it or cancel it.",
            extra={"run": running.pk},
        )


@transaction.atomic
def noise_run_start(
    *,
    project: Project,
    user: AbstractBaseUser | AnonymousUser | None,
    detectors: list[str],
    folds: int = 5,
    seeds: int = 1,
) -> NoiseRun:
    """Validate, refuse a second open run on the project (409), record the run and queue it after commit."""
    _require_researcher(user, project)
    names = _validated(project=project, detectors=detectors, folds=folds, seeds=seeds)
    _lock_project(project)
    _refuse_if_open(project)
    run = NoiseRun.objects.create(
        project=project,
        created_by=user if user is not None and user.is_authenticated else None,
        detectors=names,
        options={"folds": folds, "seeds": seeds},
        phase="queued",
    )
    transaction.on_commit(lambda: _enqueue(run.pk))
    return run


@transaction.atomic
def noise_run_cancel(*, run: NoiseRun) -> NoiseRun:
    """A queued run, or one waiting for the gpu queue, ends now; a running one stops before its next detector."""
    now = timezone.now()
    ended = dict(status=Status.CANCELLED, finished_at=now, cancel_requested=True, phase="cancelled")
    if NoiseRun.objects.filter(pk=run.pk, status=Status.QUEUED).update(**ended):
        pass
    # Nothing of ours runs while the model waits for a gpu worker: the model task finds the run cancelled and stops.
    elif NoiseRun.objects.filter(pk=run.pk, status=Status.RUNNING, phase=PHASE_AWAITING_MODEL).update(**ended):
        pass
    elif not NoiseRun.objects.filter(pk=run.pk, status=Status.RUNNING).update(cancel_requested=True):
        raise Conflict("This run has already finished.")
    run.refresh_from_db()
    return run


@transaction.atomic
def noise_run_retry(*, run: NoiseRun) -> NoiseRun:
    """Run a failed or cancelled run again from the start (a new attempt, the same detectors and options)."""
    _lock_project(run.project)
    noise_runs_reap(project=run.project)  # a run whose worker died is failed first, so it can be retried
    run.refresh_from_db()
    if run.status not in (Status.FAILED, Status.CANCELLED):
        raise Conflict(f"Only a failed or cancelled run can be retried; this one is {run.status}.")
    _refuse_if_open(run.project, other_than=run.pk)
    NoiseRun.objects.filter(pk=run.pk, status__in=[Status.FAILED, Status.CANCELLED]).update(
        status=Status.QUEUED, attempt=F("attempt") + 1, phase="queued", cancel_requested=False, error="",
        report={}, rows_done=0, started_at=None, finished_at=None, heartbeat_at=None, worker="",
    )  # fmt: skip
    run.refresh_from_db()
    transaction.on_commit(lambda: _enqueue(run.pk))
    return run


def noise_runs_reap(*, project: Project | None = None, now: datetime | None = None) -> int:
    """Fail running runs whose heartbeat is older than HEARTBEAT_TIMEOUT (killed worker, out of memory, machine
    lost), unless a worker that answers says it is still running them. Called before starts and retries, and by the
    pages and APIs that show runs. Returns how many were failed."""
    from annotation.services.job_liveness import workers_running

    now = now or timezone.now()
    cutoff = now - HEARTBEAT_TIMEOUT
    stale = NoiseRun.objects.filter(status=Status.RUNNING, heartbeat_at__lt=cutoff)
    if project is not None:
        stale = stale.filter(project=project)
    reaped = 0
    for run_id, attempt in stale.values_list("pk", "attempt"):
        # Silence past the timeout is the evidence (the heartbeat has a thread of its own); an answering worker
        # that lists the run's task overrules it.
        if any(workers_running(task_name=name, job_id=run_id) for name in (TASK_NAME, CROSSFIT_TASK)):
            continue
        reaped += NoiseRun.objects.filter(
            pk=run_id, status=Status.RUNNING, attempt=attempt, heartbeat_at__lt=cutoff
        ).update(
            status=Status.FAILED,
            finished_at=now,
            phase="failed",
            error=(
                f"The worker running this noise run stopped sending heartbeats for over "
                f"{int(HEARTBEAT_TIMEOUT.total_seconds())} s (killed, out of memory, or its machine went away). "
                "Retry the run to start it again."
            ),
        )
    return reaped


# --- the worker side -------------------------------------------------------------------------------------------


class _Gone(Exception):
    """The run is no longer this attempt's to write (cancelled while waiting, reaped, retried)."""


def _heartbeat(run: NoiseRun) -> Heartbeat:
    """Beats while the run is this attempt's and not handed to the reward-model task (which beats itself)."""
    mine = NoiseRun.objects.filter(pk=run.pk, status=Status.RUNNING, attempt=run.attempt)
    beat = lambda: mine.exclude(phase=PHASE_AWAITING_MODEL).update(heartbeat_at=timezone.now())  # noqa: E731
    return Heartbeat(beat, seconds=HEARTBEAT_SECONDS, name=f"noise-heartbeat-{run.pk}")


def _mine(run: NoiseRun) -> Any:
    return NoiseRun.objects.filter(pk=run.pk, status=Status.RUNNING, attempt=run.attempt)


def _update(run: NoiseRun, **fields: Any) -> None:
    if not _mine(run).update(**fields):
        raise _Gone


def _claim(run_id: int) -> NoiseRun | None:
    """queued -> running, conditionally: a duplicate message, or a run cancelled while queued, does nothing."""
    now = timezone.now()
    claimed = NoiseRun.objects.filter(pk=run_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now, phase="reading judgments",
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )  # fmt: skip
    return NoiseRun.objects.select_related("project").get(pk=run_id) if claimed else None


def _cancel_if_asked(run: NoiseRun, report: dict[str, Any]) -> bool:
    if not _mine(run).filter(cancel_requested=True).exists():
        return False
    _update(run, status=Status.CANCELLED, finished_at=timezone.now(), phase="cancelled", report=report)
    return True


def noise_run_execute(*, run_id: int) -> None:
    """The task `annotation.noise_run`: a no-op unless the run is queued. (Celery's Django fix-up closes stale
    database connections before each task.)"""
    run = _claim(run_id)
    if run is None:
        logger.info("noise run %s is not queued; nothing to do", run_id)
        return
    heartbeat = _heartbeat(run)
    heartbeat.start()
    try:
        _execute(run, heartbeat)
    except _Gone:
        logger.info("noise run %s attempt %s was ended elsewhere; stopping", run.pk, run.attempt)
    except ApplicationError as error:
        _fail(run, error.message)
    except Exception as error:  # every failure ends visibly on the row, with the reason
        logger.exception("noise run %s failed", run.pk)
        _fail(run, f"The run crashed ({type(error).__name__}: {str(error)[:300]}); the server log has the details.")
    finally:
        heartbeat.stop()


def _fail(run: NoiseRun, message: str) -> None:
    _mine(run).update(status=Status.FAILED, finished_at=timezone.now(), phase="failed", error=message)


def _execute(run: NoiseRun, heartbeat: Heartbeat) -> None:
    from annotation.analysis.noise import detect
    from annotation.selectors.noise_input import noise_input_for_project

    started = time.monotonic()
    records = noise_input_for_project(project=run.project)
    judgments = int(len(np.unique(records.judgment_id)))
    if judgments < MIN_JUDGMENTS:
        raise ApplicationError(
            f"The project has {judgments} active judgments with a verdict; the detectors need at least {MIN_JUDGMENTS}."
        )
    report: dict[str, Any] = {
        "judgments": judgments,
        "pairs": len(records),
        "seconds": {"reading": round(time.monotonic() - started, 3)},
        "flags": {},
    }
    _update(run, rows_done=judgments, report=report, heartbeat_at=timezone.now())
    model_free = [name for name in run.detectors if name not in MODEL_DETECTORS]
    computed: dict[str, list[Suspicion]] = {}
    for index, name in enumerate(model_free, start=1):
        if _cancel_if_asked(run, report):
            return
        _update(run, phase=f"{name} ({index} of {len(model_free)})", heartbeat_at=timezone.now())
        began = time.monotonic()
        computed[name] = detect.detect(records, [name]).get(name, [])
        _mine_or_gone(run)
        report["flags"][name] = label_flags_replace(run=run, detector=name, suspicions=computed[name])
        report["seconds"][name] = round(time.monotonic() - began, 3)
        _update(run, report=report, heartbeat_at=timezone.now())
    if _cancel_if_asked(run, report):
        return
    if any(name in MODEL_DETECTORS for name in run.detectors):
        heartbeat.stop()  # the model task beats from here on; no beat of ours may land after the hand-over
        _update(run, phase=PHASE_AWAITING_MODEL, heartbeat_at=None, report=report)
        from workbench.celery import app

        app.send_task(CROSSFIT_TASK, args=[run.pk], queue="gpu")
        return
    noise_run_finish(run=run, computed=computed, records=records)


def _mine_or_gone(run: NoiseRun) -> None:
    if not _mine(run).exists():
        raise _Gone


def _current_flags(project: Project, skip: Iterable[str]) -> dict[str, list[Suspicion]]:
    """Every detector's flags on the project (not the combined ones, nor those in `skip`), as Suspicions."""
    out: dict[str, list[Suspicion]] = {}
    rows = (
        LabelFlag.objects.filter(project=project)
        .exclude(detector__in=[COMBINED, *skip])
        .order_by("detector", "judgment_id")
        .values_list("detector", "judgment_id", "score", "reason", "details")
    )
    for detector, judgment_id, score, reason, details in rows.iterator(chunk_size=5000):
        out.setdefault(detector, []).append(Suspicion(judgment_id, score, reason, details or {}))
    return out


def noise_run_finish(
    *, run: NoiseRun, computed: dict[str, list[Suspicion]] | None = None, records: NoiseInput | None = None
) -> NoiseRun:
    """Combine every detector's current flags on the project into the "combined" flags, fill the report and mark
    the run succeeded. Called by `annotation.noise_run`, or by the reward-model task once it has written its flags.
    `computed`: flags this process already holds (they are not read back). A run no longer running is left alone;
    one whose cancel was asked ends cancelled."""
    from annotation.analysis.noise import detect

    run = NoiseRun.objects.select_related("project").get(pk=run.pk)
    if run.status != Status.RUNNING:
        return run
    report = dict(run.report or {})
    report.setdefault("seconds", {})
    report.setdefault("flags", {})
    if _cancel_if_asked(run, report):
        return NoiseRun.objects.get(pk=run.pk)
    _update(run, phase="combining", heartbeat_at=timezone.now())
    began = time.monotonic()
    flags = _current_flags(run.project, skip=computed or {}) | dict(computed or {})
    combined = detect.combine(flags) if flags else []
    report["flags"][COMBINED] = label_flags_replace(run=run, detector=COMBINED, suspicions=combined)
    report["seconds"][COMBINED] = round(time.monotonic() - began, 3)
    # The page's annotator table (reliability, MACE, NoisyBT, speed, flag rate) is computed once per run, here.
    began = time.monotonic()
    if records is None:
        from annotation.selectors.noise_input import noise_input_for_project

        records = noise_input_for_project(project=run.project)
    report["annotators"] = detect.annotator_table(records, {**flags, COMBINED: combined}) if len(records) else []
    report["seconds"]["annotators"] = round(time.monotonic() - began, 3)
    report["detectors"] = {
        name: {
            "flags": len(items),
            "above_half": sum(1 for s in items if s.score > 0.5),
            "seconds": report["seconds"].get(name),
            "this_run": name in run.detectors,
        }
        for name, items in sorted({**flags, COMBINED: combined}.items())
    }
    _update(run, status=Status.SUCCEEDED, finished_at=timezone.now(), phase="done", report=report)
    return NoiseRun.objects.get(pk=run.pk)
