"""Real Celery worker processes for tests: started against the database this test run created, stopped cleanly
or killed outright (to test what a lost worker leaves behind)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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
