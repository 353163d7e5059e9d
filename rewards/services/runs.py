"""Writes on training runs from the web side: create (and enqueue), cancel, restart, and the reaper that ends
runs whose worker stopped sending heartbeats. The web process never imports torch: only the config is built here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from annotation.models import Judge, LabelFlag, Project
from rewards.models import JobStatus, RunMetric, TrainingRun
from rewards.services.base_models import DEFAULT_BASE_MODEL, base_model_parse, base_model_resolve
from rewards.services.examples import DataFilters
from rewards.training import TrainingConfig
from workbench.exceptions import ApplicationError, Conflict

# A running run writes a heartbeat every HEARTBEAT_SECONDS; one silent for HEARTBEAT_TIMEOUT is declared lost.
HEARTBEAT_SECONDS = 5
HEARTBEAT_TIMEOUT = timedelta(seconds=60)
DEFAULT_JUDGE_KINDS = (Judge.Kind.HUMAN, Judge.Kind.IMPORTED)
# What a run launched without settings trains with: the launch page's initial values, the API's and the command's
# defaults (base model: the shipped MiniLM). Chosen so that the default run on the HH-RLHF demo project learns on
# CPU in a few minutes, its held-out interval above chance: bench/default_run.py measures it (docs/benchmarks.md),
# tests/rewards/test_launch_defaults.py pins these to what it measured. The 1-epoch, 5e-5 defaults before them
# left the loss flat at 0.69 (held-out 0.52 [0.35, 0.68] on 31 pairs): too few steps for 270 pairs to move MiniLM.
LAUNCH_DEFAULTS: dict[str, object] = {
    "loss": "bradley_terry",
    "epochs": 3.0,  # ~40 optimiser steps on 215 pairs: one pass is ~14, too few to move the loss
    "batch_size": 16,
    "max_length": 256,  # the last turns of a conversation; 512 doubles the cost for little
    "learning_rate": 1e-4,
    "truncation_side": "left",
    "warmup_ratio": 0.1,
    "weight_decay": 0.0,
    "grad_accum": 1,
    "seed": 0,
    "epsilon": None,
    "lora": False,  # every layer trains (full fine-tuning)
    "precision": "auto",
    "list_pairs": "together",
    "eval_fraction": 0.3,  # ~90 held-out pairs of 300: an interval narrow enough to tell learning from chance
    "max_steps": None,
}


def _enqueue(run: TrainingRun) -> None:
    from rewards.tasks import training_run_task

    transaction.on_commit(lambda: training_run_task.delay(run.pk))


def config_from(values: dict[str, object]) -> TrainingConfig:
    values = {"base_model": DEFAULT_BASE_MODEL} | {k: v for k, v in values.items() if k != "base_model" or v}
    """A TrainingConfig from user input; a bad value becomes a 400 naming it (TrainingConfig raises ValueError).
    The base model is a reference (rewards.services.base_models); empty means the shipped MiniLM."""
    try:
        config = TrainingConfig.from_dict(values)
    except (TypeError, ValueError) as error:
        raise ApplicationError(f"Invalid training settings: {error}") from error
    base_model_parse(config.base_model)  # a reference, never a path: resolved with the user's permission at launch
    return config


@transaction.atomic
def training_run_create(
    *,
    user: AbstractBaseUser | None,
    projects: Sequence[Project],
    config: TrainingConfig,
    judge_kinds: Sequence[str] = DEFAULT_JUDGE_KINDS,
    judge_names: Sequence[str] = (),
    name: str = "",
    enqueue: bool = True,
    data_filters: DataFilters | None = None,
) -> TrainingRun:
    """`data_filters`: the review and suspicion filters (default: leave out excluded and superseded judgments)."""
    if not projects:
        raise ApplicationError("Choose at least one project whose judgments to train on.")
    unknown = set(judge_kinds) - set(Judge.Kind.values)
    if not judge_kinds or unknown:
        raise ApplicationError(f"Judge kinds must be some of {', '.join(Judge.Kind.values)}.")
    data_filters = data_filters or DataFilters()
    _check_detector(projects, data_filters)
    base_model_resolve(user=user, reference=config.base_model)  # checked again on the worker
    run = TrainingRun.objects.create(
        name=name.strip()[:200],
        created_by=user,
        judge_kinds=list(judge_kinds),
        judge_names=list(judge_names),
        config=config.to_dict(),
        data_filters=data_filters.as_json(),
    )
    run.projects.set(projects)
    if enqueue:
        _enqueue(run)
    return run


def _check_detector(projects: Sequence[Project], filters: DataFilters) -> None:
    """A suspicion threshold needs the detector's flags: without them it would leave nothing out, silently."""
    if filters.max_suspicion is None:
        return
    flags = LabelFlag.objects.filter(project__in=list(projects))
    if flags.filter(detector=filters.suspicion_detector).exists():
        return
    known = sorted(set(flags.values_list("detector", flat=True)))
    raise ApplicationError(
        f"suspicion_detector: no judgment of these projects has a {filters.suspicion_detector!r} flag; "
        + (f"detectors with flags: {', '.join(known)}" if known else "run the noisy-label detectors first"),
        extra={"field": "suspicion_detector"},
    )


@transaction.atomic
def training_run_cancel(*, run: TrainingRun) -> TrainingRun:
    """A queued run ends now; a running one is asked to stop and does so before its next optimiser step."""
    if TrainingRun.objects.filter(pk=run.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now(), cancel_requested=True
    ):
        run.refresh_from_db()
        return run
    if not TrainingRun.objects.filter(pk=run.pk, status=JobStatus.RUNNING).update(cancel_requested=True):
        raise Conflict("This run has already finished.")
    run.refresh_from_db()
    return run


@transaction.atomic
def training_run_restart(*, run: TrainingRun) -> TrainingRun:
    """Run a failed or cancelled run again from the start, with the same data and config (a new attempt)."""
    fresh = {
        "status": JobStatus.QUEUED, "phase": "", "cancel_requested": False, "step": 0, "total_steps": 0,
        "epoch": 0, "loss": None, "accuracy": None, "samples_per_s": None, "tokens_per_s": None, "eta_s": None,
        "heartbeat_at": None, "started_at": None, "finished_at": None, "worker": "", "error": "", "metrics": {},
        "result": {}, "data_stats": {}, "artifact_dir": "",
    }  # fmt: skip
    updated = TrainingRun.objects.filter(pk=run.pk, status__in=[JobStatus.FAILED, JobStatus.CANCELLED]).update(
        attempt=run.attempt + 1, **fresh
    )
    if not updated:
        raise Conflict("Only a failed or cancelled run can be restarted.")
    RunMetric.objects.filter(run=run).delete()
    run.refresh_from_db()
    _enqueue(run)
    return run


def training_runs_reap(*, now=None) -> int:  # noqa: ANN001 - a datetime
    """Runs marked running whose worker has been silent past the timeout (killed, out of memory, machine lost)
    end as failed with a clear message and can be restarted. Called by the pages that show runs and by workers."""
    now = now or timezone.now()
    stale = TrainingRun.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=now - HEARTBEAT_TIMEOUT)
    return stale.update(
        status=JobStatus.FAILED,
        finished_at=now,
        error=(
            f"The worker running this training stopped sending heartbeats for over "
            f"{int(HEARTBEAT_TIMEOUT.total_seconds())} s (killed, out of memory, or its machine went away). "
            "Restart the run to train again."
        ),
    )


def artifact_root() -> Path:
    return Path(settings.DATA_DIR) / "runs"
