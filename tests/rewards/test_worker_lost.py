"""A training run on a real Celery worker process of the gpu queue (prefork, one task per child, as deployed):
the worker is killed mid-run; the run does not stay "running": the reaper ends it with a clear message once its
heartbeats stop, and a restart on a new worker trains it to the end."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from annotation.services.imports import import_file
from rewards.models import JobStatus, TrainingRun
from rewards.services.runs import (
    HEARTBEAT_TIMEOUT,
    config_from,
    training_run_create,
    training_run_restart,
    training_runs_reap,
)
from tests.factories import ProjectFactory
from tests.rewards.conftest import keyword_pairs_file
from tests.workers import kill, start_worker, stop, wait_until

LOG = Path(os.environ["WORKBENCH_DATA_DIR"]) / "gpu-worker.log"
GPU_WORKER = {"queues": "gpu", "pool": "prefork", "extra": ("--concurrency", "1", "--max-tasks-per-child", "1")}


def wait(run: TrainingRun, condition, worker, timeout: float = 120) -> TrainingRun:  # noqa: ANN001
    return wait_until(run, condition, worker, LOG, timeout)


@pytest.mark.worker
@pytest.mark.slow
def test_a_killed_worker_leaves_a_failed_run_that_restarts(
    transactional_db, tmp_path: Path, tiny_model_ref: str
) -> None:
    project = ProjectFactory(slug="lost")
    import_file(project=project, path=keyword_pairs_file(tmp_path / "pairs.jsonl", 120), options={"judge": "src"})
    # Long enough (~400 optimiser steps) that even a fast machine is still training when the kill comes; progress
    # reaches the row every couple of seconds, so the kill waits for the first one rather than a step count.
    config = config_from({"base_model": tiny_model_ref, "max_length": 64, "batch_size": 2, "epochs": 8,
                          "learning_rate": 2e-3, "eval_fraction": 0.2, "bootstrap_samples": 100})  # fmt: skip
    run = training_run_create(user=None, projects=[project], config=config)  # enqueued on commit

    worker = start_worker(LOG, **GPU_WORKER)
    try:
        run = wait(run, lambda r: r.status == JobStatus.RUNNING and r.phase == "training" and r.step >= 1, worker)
        assert training_runs_reap() == 0  # alive: its heartbeats are fresh
        kill(worker)
    finally:
        if worker.poll() is None:
            stop(worker)
    run.refresh_from_db()
    assert run.step < run.total_steps, "the run ended before the kill: make it longer"
    assert run.status == JobStatus.RUNNING  # nobody is left to say otherwise...
    # ...until its heartbeat is older than the timeout (simulated here rather than waited for).
    assert training_runs_reap(now=timezone.now() + HEARTBEAT_TIMEOUT + timedelta(seconds=1)) == 1
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED and "stopped sending heartbeats" in run.error

    training_run_restart(run=run)
    worker = start_worker(LOG, **GPU_WORKER)
    try:
        run = wait(run, lambda r: r.is_finished, worker, timeout=180)
    finally:
        stop(worker)
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.attempt == 2 and run.artifact_dir.endswith("attempt-2") and run.metrics["n_pairs"] > 0
