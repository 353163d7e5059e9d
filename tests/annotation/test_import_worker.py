"""An import sent through a real Celery worker process, end to end: on the embedded file-system broker, and on a
real Redis server (WORKBENCH_BROKER_URL=redis://...)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import ImportJob, Judgment
from annotation.services.import_jobs import import_job_create
from annotation.tasks import import_job_run_task
from tests.factories import ProjectFactory
from tests.workers import start_worker as start_queue_worker
from tests.workers import stop, wait_until
from workbench.celery import app

REPO = Path(__file__).resolve().parents[2]
LOG = Path(os.environ["WORKBENCH_DATA_DIR"]) / "worker.log"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is needed for the Redis broker test (scripts/test installs it)")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


def start_worker(broker_url: str | None = None) -> subprocess.Popen:
    return start_queue_worker(LOG, queues="default", broker_url=broker_url)


def wait_for(job: ImportJob, process: subprocess.Popen, timeout: float = 90) -> ImportJob:
    return wait_until(job, lambda j: j.is_finished, process, LOG, timeout, poll=0.3)


@pytest.mark.worker
def test_a_big_upload_is_imported_by_the_worker(transactional_db, shared_data: Path) -> None:
    worker = start_worker()
    try:
        project = ProjectFactory(slug="hhh-worker")
        data = (shared_data / "hhh_alignment/hhh_alignment.json").read_bytes()
        assert len(data) > 64 * 1024  # above tests' inline limit, so the page hands it to the worker
        job = import_job_create(project=project, user=None, upload=SimpleUploadedFile("hhh.json", data))
        job = wait_for(job, worker)
        assert job.status == ImportJob.Status.SUCCEEDED, job.error
        assert job.report["format"] == "trl-pairwise" and job.report["judgments_created"] == 221
        assert Judgment.objects.filter(project=project, import_job=job).count() == 221

        # A failing file on the same worker: a visible failure with row and field, nothing written.
        bad = b'[{"prompt": "p", "chosen": "a", "rejected": "b"}, {"prompt": "q", "chosen": "a"}' + b" " * 70000 + b"]"
        failed = wait_for(
            import_job_create(project=project, user=None, upload=SimpleUploadedFile("bad.json", bad)), worker
        )
        assert failed.status == ImportJob.Status.FAILED
        assert failed.report["errors"][0] == {"row": 2, "field": "rejected", "message": "missing"}
        assert Judgment.objects.filter(project=project).count() == 221
    finally:
        stop(worker)


@pytest.mark.worker
def test_the_worker_runs_on_a_redis_broker(transactional_db, shared_data: Path, redis_url: str) -> None:
    worker = start_worker(redis_url)
    try:
        project = ProjectFactory(slug="hhh-redis")
        data = (shared_data / "hhh_alignment/hhh_alignment.json").read_bytes()
        with app.connection_for_write(redis_url) as redis:
            # The job row first, then the message on Redis (this test process's own broker is the file system).
            job = import_job_create(project=project, user=None, upload=SimpleUploadedFile("hhh.json", data))
            import_job_run_task.apply_async(args=[job.pk], connection=redis)
        job = wait_for(job, worker)
        assert job.status == ImportJob.Status.SUCCEEDED, job.error
        assert Judgment.objects.filter(project=project).count() == 221
    finally:
        stop(worker)
