"""The worker side of a training run: claim the row, load the judgments, train with the Django-free core while
writing progress, curves and heartbeats to the row, then store metrics, per-pair scores and the artifact path.
Runs inside the Celery task (one task per child process) or inline from `manage.py train_reward_model`."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from annotation.models import Judge
from annotation.services.scored_judgments import reward_model_judge_get_or_create
from rewards.models import Evaluation, JobStatus, PairScore, RunMetric, TrainingRun
from rewards.services.base_models import resolve_for_run
from rewards.services.examples import DataFilters, load_examples, source_for
from rewards.services.runs import HEARTBEAT_SECONDS, artifact_root
from rewards.training import TrainingConfig, split_by_group
from workbench.exceptions import ApplicationError

logger = logging.getLogger(__name__)
PROGRESS_EVERY_S = 2.0


class _Heartbeat(threading.Thread):
    """Writes `heartbeat_at` every few seconds while the run lives, from its own thread and connection, so a
    long first step (loading a model, a slow batch) never looks like a dead worker."""

    def __init__(self, run_id: int) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{run_id}")
        self.run_id = run_id
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(HEARTBEAT_SECONDS):
                TrainingRun.objects.filter(pk=self.run_id, status=JobStatus.RUNNING).update(heartbeat_at=timezone.now())
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=HEARTBEAT_SECONDS * 2)


class _Reporter:
    """The core's progress callback and stop check, writing to the row at most every PROGRESS_EVERY_S."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.last_write = 0.0
        self.points: list[RunMetric] = []

    def progress(self, p: Any) -> None:  # rewards.training.Progress
        if p.step > 0:
            self.points += [
                RunMetric(run_id=self.run_id, step=p.step, name="loss", value=float(p.loss)),
                RunMetric(run_id=self.run_id, step=p.step, name="accuracy", value=float(p.accuracy)),
            ]
        now = time.monotonic()
        if now - self.last_write < PROGRESS_EVERY_S and p.step < p.total_steps:
            return
        self.last_write = now
        RunMetric.objects.bulk_create(self.points)
        self.points = []
        TrainingRun.objects.filter(pk=self.run_id).update(
            phase="training", step=p.step, total_steps=p.total_steps, epoch=p.epoch, loss=p.loss,
            accuracy=p.accuracy, samples_per_s=p.samples_per_s, tokens_per_s=p.tokens_per_s, eta_s=p.eta_s,
            heartbeat_at=timezone.now(),
        )  # fmt: skip

    def should_stop(self) -> bool:
        # One indexed read per optimiser step: cancel takes effect before the next step.
        return TrainingRun.objects.filter(pk=self.run_id, cancel_requested=True).exists()

    def flush(self) -> None:
        RunMetric.objects.bulk_create(self.points)
        self.points = []


def _claim(run_id: int) -> TrainingRun | None:
    """queued -> running, conditionally: a message delivered twice, or a run cancelled while queued, does nothing."""
    now = timezone.now()
    claimed = TrainingRun.objects.filter(pk=run_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, phase="loading data",
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )  # fmt: skip
    return TrainingRun.objects.get(pk=run_id) if claimed else None


def training_run_execute(*, run_id: int) -> TrainingRun | None:
    close_old_connections()
    run = _claim(run_id)
    if run is None:
        logger.info("training run %s is not queued; nothing to do", run_id)
        return None
    heartbeat = _Heartbeat(run_id)
    heartbeat.start()
    try:
        _train(run)
    except ApplicationError as error:  # a refusal (e.g. the base model): its reason is the whole story
        logger.warning("training run %s refused: %s", run_id, error.message)
        TrainingRun.objects.filter(pk=run_id).update(
            status=JobStatus.FAILED, finished_at=timezone.now(), error=error.message
        )
    except Exception as error:  # every failure ends visibly on the row, with the reason
        logger.exception("training run %s failed", run_id)
        TrainingRun.objects.filter(pk=run_id).update(
            status=JobStatus.FAILED,
            finished_at=timezone.now(),
            error=f"{type(error).__name__}: {error}\n\n{traceback.format_exc(limit=8)[-4000:]}",
        )
    finally:
        heartbeat.stop()
    return TrainingRun.objects.get(pk=run_id)


def _train(run: TrainingRun) -> None:
    from rewards.training import train  # torch: only in the worker

    config = TrainingConfig.from_dict(run.config)
    # Checked again here, against the user who launched the run: membership may have changed since, and a config
    # from before references may hold a raw path. The config keeps the reference; only `train` sees the folder.
    reference, base_model_path = resolve_for_run(run)
    config = config.replace(base_model=reference)
    if config.num_threads is None and not _has_cuda():
        # Two busy cores: torch's default thread count runs several times slower than one thread here.
        config = config.replace(num_threads=settings.WORKBENCH_TORCH_THREADS)
    source = source_for(
        projects=run.projects.all(),
        judge_kinds=run.judge_kinds,
        judge_names=run.judge_names,
        filters=DataFilters.from_json(run.data_filters),
    )
    examples, response_ids = load_examples(source)
    train_set, held_out = split_by_group(examples, config.eval_fraction, config.seed)
    stats = {"examples": len(examples), "train": len(train_set), "held_out": len(held_out)}
    stats["left_out"] = source.left_out()  # excluded, superseded, suspicious: the run's provenance says how many
    TrainingRun.objects.filter(pk=run.pk).update(data_stats=stats, phase="training")
    if not train_set:
        raise ValueError("No training data: no active judgments from the chosen judges in these projects.")
    output_dir = artifact_root() / str(run.pk) / f"attempt-{run.attempt}"
    reporter = _Reporter(run.pk)
    result = train(
        config, train_set, held_out, reporter.progress, reporter.should_stop,
        output_dir=output_dir, base_model_path=str(base_model_path),
    )  # fmt: skip
    reporter.flush()
    if result.status == "cancelled":
        TrainingRun.objects.filter(pk=run.pk).update(
            status=JobStatus.CANCELLED, finished_at=timezone.now(), phase="", step=result.steps
        )
        return
    summary = result.to_dict()
    metrics = summary.pop("metrics") or {}
    summary.pop("history", None)
    summary["artifact_dir"] = str(output_dir.relative_to(settings.DATA_DIR))  # never a server path on the row
    stats["truncation"] = result.truncation
    with transaction.atomic():
        judge = reward_model_judge(run)
        if result.metrics is not None:
            _store_evaluation(run, result.metrics, metrics, response_ids)
        TrainingRun.objects.filter(pk=run.pk).update(
            status=JobStatus.SUCCEEDED, finished_at=timezone.now(), phase="", step=result.steps,
            total_steps=result.total_steps, metrics=metrics, result=summary, data_stats=stats,
            dataset_fingerprint=result.data_fingerprint,
            artifact_dir=str(output_dir.relative_to(settings.DATA_DIR)), judge=judge,
        )  # fmt: skip


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def reward_model_judge(run: TrainingRun) -> Judge:
    if run.judge_id:
        return run.judge  # type: ignore[return-value]
    name = f"reward-model:run-{run.pk}" + (f" ({run.name})" if run.name else "")
    return reward_model_judge_get_or_create(
        name=name[:200],
        project=run.projects.order_by("pk").first(),  # judges are per project: the run's first; others get copies
        description="Trained in Preference Workbench.",
        metadata={"training_run": run.pk},
    )


def _store_evaluation(
    run: TrainingRun, result: Any, metrics: dict[str, Any], response_ids: dict[str, list[int]]
) -> Evaluation:
    evaluation = Evaluation.objects.create(
        run=run, held_out=True, judge_kinds=run.judge_kinds, status=JobStatus.SUCCEEDED, metrics=metrics,
        finished_at=timezone.now(),
    )  # fmt: skip
    store_pair_scores(evaluation, result.pair_scores, response_ids)
    return evaluation


def store_pair_scores(evaluation: Evaluation, pair_scores: Any, response_ids: dict[str, list[int]]) -> int:
    rows = []
    for pair in pair_scores:
        ids = response_ids[pair.example_id]
        rows.append(
            PairScore(
                evaluation=evaluation,
                judgment_id=int(pair.example_id),
                better_id=ids[pair.a],
                worse_id=ids[pair.b],
                tie=pair.tie,
                reward_better=pair.score_a,
                reward_worse=pair.score_b,
            )  # fmt: skip
        )
    PairScore.objects.bulk_create(rows, batch_size=2000)
    return len(rows)
