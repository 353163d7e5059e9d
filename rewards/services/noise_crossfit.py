"""The worker side of the cross-fitted reward-model detector (and confident learning on its probabilities): the task
`rewards.noise_crossfit` that `annotation.services.noise_runs` sends to the `gpu` queue once the model-free
detectors are done. It takes over the run from the hand-over phase, trains the K x S fold models with the Django-free
core (`rewards/training/crossfit.py`) while writing phase, rows done and heartbeats to the row, writes both detectors'
flags, stores cleanlab's flip-rate estimate in the run's report, and lets `noise_run_finish` combine and close it.

Every write is conditional on (running, the same attempt): a cancelled, reaped or retried run is left alone."""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from annotation.models import Judge, NoiseRun
from annotation.services.label_flags import label_flags_replace
from annotation.services.noise_runs import HEARTBEAT_SECONDS, PHASE_AWAITING_MODEL, noise_run_finish
from rewards.services.base_models import DEFAULT_BASE_MODEL, base_model_resolve
from rewards.services.examples import load_examples, source_for
from rewards.services.runs import config_from
from rewards.training import TrainingConfig
from workbench.exceptions import ApplicationError
from workbench.heartbeat import Heartbeat

logger = logging.getLogger(__name__)
Status = NoiseRun.Status
PROGRESS_EVERY_S = 2.0
REWARD_MODEL, CONFIDENT_LEARNING = "reward_model", "confident_learning"
# A reward model's own orderings are not labels to learn from (and would teach the model itself).
LABEL_KINDS = (Judge.Kind.HUMAN, Judge.Kind.IMPORTED, Judge.Kind.LLM, Judge.Kind.REFERENCE)
# Small enough for a CPU worker: one epoch of MiniLM at 256 tokens. `options["training"]` overrides any of these.
DEFAULT_TRAINING: dict[str, Any] = {
    "base_model": DEFAULT_BASE_MODEL,
    "epochs": 1.0,
    "max_length": 256,
    "batch_size": 16,
    "learning_rate": 5e-5,
    "bootstrap_samples": 100,
}


class _Gone(Exception):
    """The run is no longer this attempt's (cancelled while waiting, reaped, retried)."""


def _mine(run_id: int, attempt: int) -> Any:
    return NoiseRun.objects.filter(pk=run_id, status=Status.RUNNING, attempt=attempt)


class _Reporter:
    """The core's progress callback and stop check, writing to the row at most every PROGRESS_EVERY_S."""

    def __init__(self, run: NoiseRun, folds: int, seeds: int) -> None:
        self.run, self.folds, self.seeds = run, folds, seeds
        self.last_write = 0.0

    def progress(self, p: Any) -> None:  # rewards.training.crossfit.CrossfitProgress
        now = time.monotonic()
        if now - self.last_write < PROGRESS_EVERY_S and p.step < p.total_steps:
            return
        self.last_write = now
        phase = (
            f"reward model {p.model} of {p.models} (fold {p.fold + 1}/{self.folds}, seed {p.member + 1}/"
            f"{self.seeds}): step {p.step}/{p.total_steps}"
        )
        if not _mine(self.run.pk, self.run.attempt).update(
            phase=phase[:64], rows_done=p.judgments_scored, heartbeat_at=timezone.now()
        ):
            raise _Gone

    def should_stop(self) -> bool:
        # One indexed read per optimiser step: a cancel (or the run leaving this attempt) stops within one step.
        return not _mine(self.run.pk, self.run.attempt).filter(cancel_requested=False).exists()


def _claim(run_id: int) -> NoiseRun | None:
    """Take the run over from the hand-over phase, conditionally: a duplicate message, or a run cancelled while it
    waited for a gpu worker, does nothing."""
    claimed = NoiseRun.objects.filter(pk=run_id, status=Status.RUNNING, phase=PHASE_AWAITING_MODEL).update(
        phase="reward model: reading judgments",
        heartbeat_at=timezone.now(),
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    return NoiseRun.objects.select_related("project", "created_by").get(pk=run_id) if claimed else None


def noise_crossfit_execute(*, run_id: int) -> None:
    """The task `rewards.noise_crossfit`: a no-op unless the run waits for the reward model."""
    close_old_connections()
    run = _claim(run_id)
    if run is None:
        logger.info("noise run %s is not waiting for the reward model; nothing to do", run_id)
        return
    heartbeat = Heartbeat(
        lambda: _mine(run.pk, run.attempt).update(heartbeat_at=timezone.now()),
        seconds=HEARTBEAT_SECONDS,
        name=f"crossfit-heartbeat-{run.pk}",
    )
    heartbeat.start()
    try:
        _execute(run)
    except _Gone:
        logger.info("noise run %s attempt %s was ended elsewhere; stopping", run.pk, run.attempt)
    except ApplicationError as error:
        _fail(run, error.message)
    except ValueError as error:  # the core's refusals (too few prompts, no untied pairs) read as reasons
        _fail(run, f"The reward-model detector could not run: {error}")
    except Exception as error:  # every failure ends visibly on the row, with the reason
        logger.exception("noise run %s failed in the reward-model detector", run.pk)
        _fail(run, f"The reward-model detector crashed ({type(error).__name__}: {str(error)[:300]}).")
    finally:
        heartbeat.stop()


def _fail(run: NoiseRun, message: str) -> None:
    _mine(run.pk, run.attempt).update(status=Status.FAILED, finished_at=timezone.now(), phase="failed", error=message)


def training_config_for(run: NoiseRun) -> tuple[TrainingConfig, str]:
    """The fold models' config from `run.options["training"]` over the CPU-sized defaults, and the base model's
    folder, checked against the user who started the run (as a training run's base model is)."""
    values = {**DEFAULT_TRAINING, **dict(run.options.get("training") or {})}
    config = config_from(values)
    folder = base_model_resolve(user=run.created_by, reference=config.base_model)
    if config.num_threads is None:
        # Two busy cores: torch's default thread count runs several times slower than one thread (execution.py).
        config = config.replace(num_threads=settings.WORKBENCH_TORCH_THREADS)
    return config, str(folder)


def _execute(run: NoiseRun) -> None:
    from rewards.training.crossfit import (
        confident_learning,
        confident_learning_suspicions,
        crossfit,
        reward_model_suspicions,
    )

    began = time.monotonic()
    folds, seeds = int(run.options.get("folds", 5)), int(run.options.get("seeds", 1))
    config, folder = training_config_for(run)
    kinds = tuple(run.options.get("judge_kinds") or LABEL_KINDS)
    examples, _ = load_examples(source_for(projects=[run.project], judge_kinds=kinds))
    if not examples:
        raise ApplicationError("No active judgments to train the reward-model detector on.")
    reporter = _Reporter(run, folds, seeds)
    result = crossfit(
        examples, config, folds=folds, seeds=seeds, progress=reporter.progress, should_stop=reporter.should_stop,
        base_model_path=folder,
    )  # fmt: skip
    fresh = _mine(run.pk, run.attempt).values_list("report", "cancel_requested").first()
    if fresh is None:
        raise _Gone
    report, cancel = dict(fresh[0] or {}), fresh[1]
    if result.status == "cancelled" or cancel:
        _mine(run.pk, run.attempt).update(status=Status.CANCELLED, finished_at=timezone.now(), phase="cancelled")
        return
    _mine(run.pk, run.attempt).update(phase="reward model: confident learning", heartbeat_at=timezone.now())
    cl = confident_learning(result)
    computed = {}
    if REWARD_MODEL in run.detectors:
        computed[REWARD_MODEL] = reward_model_suspicions(result)
    if CONFIDENT_LEARNING in run.detectors:
        computed[CONFIDENT_LEARNING] = confident_learning_suspicions(result, cl)
    flags = report.setdefault("flags", {})
    for name, suspicions in computed.items():
        flags[name] = label_flags_replace(run=run, detector=name, suspicions=suspicions)
    seconds = round(time.monotonic() - began, 3)
    report.setdefault("seconds", {}).update({name: seconds for name in computed})
    report[REWARD_MODEL] = _model_report(result, config, kinds)
    # The flip rate for a later run's noise-robust loss (TrainingConfig.epsilon must be in [0, 0.5)).
    cl_report = cl.report()
    if cl.flip_rate is not None:
        cl_report["epsilon_for_robust_loss"] = round(min(max(cl.flip_rate, 0.0), 0.49), 4)
    report[CONFIDENT_LEARNING] = cl_report
    if not _mine(run.pk, run.attempt).update(report=report, rows_done=len(examples), heartbeat_at=timezone.now()):
        raise _Gone
    noise_run_finish(run=run, computed=computed)


def _model_report(result: Any, config: TrainingConfig, kinds: tuple[str, ...]) -> dict[str, Any]:
    accuracies = [m.held_out_accuracy for m in result.models if m.held_out_accuracy is not None]
    return {
        "folds": result.folds,
        "seeds": result.seeds,
        "models": len(result.models),
        "judgments_scored": len(result.scores),
        "judgments_unscored": len(result.unscored),  # ties only: nothing to order
        "fold_accuracy_mean": sum(accuracies) / len(accuracies) if accuracies else None,
        "judge_kinds": list(kinds),
        "base_model": config.base_model,
        "epochs": config.epochs,
        "max_length": config.max_length,
    }
