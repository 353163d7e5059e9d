"""Real Celery worker processes for tests: started against the database this test run created, stopped cleanly
or killed outright (to test what a lost worker leaves behind)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

REPO = Path(__file__).resolve().parent.parent


def start_worker(
    log: Path, *, queues: str = "default", pool: str = "solo", broker_url: str | None = None, extra: tuple = ()
) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        # The worker must open the database this test run created, not the configured one.
        WORKBENCH_TEST_USE_DB_NAME=str(connection.settings_dict["NAME"]),
        HF_HUB_OFFLINE="1",
        WORKBENCH_TORCH_THREADS="1",
    )
    if broker_url:
        env["WORKBENCH_TEST_BROKER_URL"] = broker_url
    command = [sys.executable, "-m", "celery", "-A", "workbench", "worker", "-Q", queues, "--pool", pool,
               "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO", *extra]  # fmt: skip
    # A session of its own, so a test can kill the worker and its pool children together.
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        kill(process)


def kill(process: subprocess.Popen) -> None:
    """SIGKILL to the worker and every child: what an OOM kill or a lost machine looks like."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=20)


def wait_until(row, condition, worker: subprocess.Popen, log: Path, timeout: float, poll: float = 0.2):  # noqa: ANN001, ANN201
    """Reload a job's row (a training run, noise run, import job) until `condition(row)` holds; fail at once if the
    worker process died, or after `timeout` seconds, with the row's state and the worker log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row.refresh_from_db()
        if condition(row):
            return row
        assert worker.poll() is None, f"the worker died:\n{log.read_text()[-3000:]}"
        time.sleep(poll)
    state = f"{row._meta.model_name} {row.pk} is {row.status} ({getattr(row, 'phase', '')})"
    raise AssertionError(f"{state} after {timeout} s; worker log:\n{log.read_text()[-3000:]}")
