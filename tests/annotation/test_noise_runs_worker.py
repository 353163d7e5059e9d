"""Noisy-label runs on a real Celery worker process of the default queue (prefork, as deployed): the command starts a
run and follows it to its flags; a worker killed mid-run leaves a run that the reaper fails with the reason once its
heartbeats stop, and a retry on a new worker finishes it (attempt 2); the lost attempt's message does nothing."""

from __future__ import annotations

import io
import json
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from annotation.analysis.noise.detect import DETECTORS
from annotation.models import Judgment, LabelFlag, NoiseRun
from annotation.services.noise_runs import HEARTBEAT_TIMEOUT, noise_run_retry, noise_run_start, noise_runs_reap
from tests.annotation.noise_runs_data import bulk_crowd, crowd
from tests.factories import ProjectFactory
from tests.workers import kill, start_worker, stop, wait_until

LOG = Path(os.environ["WORKBENCH_DATA_DIR"]) / "noise-worker.log"
WORKER = {"queues": "default", "pool": "prefork", "extra": ("--concurrency", "1")}
Status = NoiseRun.Status


def _wait(run: NoiseRun, condition, worker, timeout: float = 180) -> NoiseRun:  # noqa: ANN001
    return wait_until(run, condition, worker, LOG, timeout, poll=0.05)


@pytest.mark.worker
def test_the_command_runs_the_detectors_on_a_worker_and_prints_json(transactional_db) -> None:
    project = ProjectFactory(slug="cmd")
    built = crowd(project, prompts=24, annotators=3)
    worker = start_worker(LOG, **WORKER)
    out = io.StringIO()
    try:
        call_command("find_noisy_labels", "--project", "cmd", "--wait", "--json", "--timeout", "150", stdout=out)
    finally:
        stop(worker)
    body = json.loads(out.getvalue())
    assert body["status"] == "succeeded", (body, LOG.read_text()[-3000:])
    assert body["project"] == "cmd" and body["detectors"] == list(DETECTORS) and body["attempt"] == 1
    assert body["judgments"] == len(built.judgments) and body["progress"]["percent"] == 100
    run = NoiseRun.objects.get(pk=body["id"])
    assert run.worker and run.worker.split(":")[-1] != str(os.getpid())  # another process did the work
    for name, row in body["report"]["detectors"].items():
        assert row["flags"] == LabelFlag.objects.filter(project=project, detector=name, run=run).count(), name
    assert body["report"]["detectors"]["combined"]["flags"] > 0


@pytest.mark.django_db
def test_the_command_refuses_bad_parameters_and_prints_a_queued_run() -> None:
    crowd(ProjectFactory(slug="cmd2"), prompts=8, annotators=3)
    with pytest.raises(CommandError, match="unknown detector 'tarot'"):
        call_command("find_noisy_labels", "--project", "cmd2", "--detectors", "cycle,tarot")
    with pytest.raises(CommandError, match="from 2 to 10"):
        call_command("find_noisy_labels", "--project", "cmd2", "--folds", "12")
    with pytest.raises(CommandError, match="No project 'nope'"):
        call_command("find_noisy_labels", "--project", "nope")
    out = io.StringIO()
    call_command("find_noisy_labels", "--project", "cmd2", "--detectors", "cycle, too_fast", "--json", stdout=out)
    body = json.loads(out.getvalue())
    assert body["status"] == "queued" and body["detectors"] == ["cycle", "too_fast"]
    assert body["options"] == {"folds": 5, "seeds": 1}


@pytest.mark.worker
@pytest.mark.slow
def test_a_killed_worker_leaves_a_failed_run_that_a_retry_finishes(transactional_db) -> None:
    project = ProjectFactory(slug="lost-noise")
    # Big enough (24k judgments: each detector writes 24k flags) that the run is still going when the kill comes.
    judgments = bulk_crowd(project, prompts=3000, annotators=8)
    run = noise_run_start(project=project, user=None, detectors=list(DETECTORS))  # sent on commit
    worker = start_worker(LOG, **WORKER)
    try:
        run = _wait(run, lambda r: r.status == Status.RUNNING and r.rows_done > 0, worker)
        assert noise_runs_reap() == 0  # alive: its heartbeat is fresh
        kill(worker)
    finally:
        if worker.poll() is None:
            stop(worker)
    run.refresh_from_db()
    assert run.status == Status.RUNNING, f"the run ended before the kill ({run.status}): make it longer"
    assert "combined" not in run.report.get("flags", {})
    with pytest.raises(Exception, match="Only a failed or cancelled run"):
        noise_run_retry(run=run)  # its heartbeat is still recent: not yet known to be dead
    # Nobody is left to end it... until its heartbeat is older than the timeout (simulated, not waited for).
    assert noise_runs_reap(now=timezone.now() + HEARTBEAT_TIMEOUT + timedelta(seconds=1)) == 1
    run.refresh_from_db()
    assert run.status == Status.FAILED and "stopped sending heartbeats" in run.error

    run = noise_run_retry(run=run)  # sent on commit; the killed attempt's message may come back too
    assert run.status == Status.QUEUED and run.attempt == 2
    worker = start_worker(LOG, **WORKER)
    try:
        run = _wait(run, lambda r: r.is_finished, worker, timeout=300)
        time.sleep(2)  # room for a redelivered message of attempt 1 to arrive and find nothing to do
    finally:
        stop(worker)
    run.refresh_from_db()
    assert run.status == Status.SUCCEEDED, run.error
    assert run.attempt == 2 and run.rows_done == judgments == Judgment.objects.filter(project=project).count()
    flags = LabelFlag.objects.filter(project=project)
    assert set(flags.values_list("run_id", flat=True)) == {run.pk}
    assert flags.filter(detector="combined").count() == run.report["detectors"]["combined"]["flags"] > 0
