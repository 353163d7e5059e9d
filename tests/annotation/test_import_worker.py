"""An import sent through a real Celery worker process (kombu's file-system broker), end to end."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from annotation.models import ImportJob, Judgment
from annotation.services.import_jobs import import_job_create
from tests.factories import ProjectFactory

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(transactional_db):
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        # The worker must open the database this test run created, not the configured one.
        WORKBENCH_TEST_USE_DB_NAME=str(connection.settings_dict["NAME"]),
    )
    log = open(Path(os.environ["WORKBENCH_DATA_DIR"]) / "worker.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workbench", "worker", "-Q", "default", "--pool", "solo",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def wait_for(job: ImportJob, process: subprocess.Popen, timeout: float = 90) -> ImportJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished:
            return job
        assert process.poll() is None, "the worker died"
        time.sleep(0.3)
    log = (Path(os.environ["WORKBENCH_DATA_DIR"]) / "worker.log").read_text()[-3000:]
    raise AssertionError(f"job still {job.status} after {timeout}s; worker log:\n{log}")


@pytest.mark.worker
def test_a_big_upload_is_imported_by_the_worker(worker, shared_data: Path) -> None:
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
    failed = wait_for(import_job_create(project=project, user=None, upload=SimpleUploadedFile("bad.json", bad)), worker)
    assert failed.status == ImportJob.Status.FAILED
    assert failed.report["errors"][0] == {"row": 2, "field": "rejected", "message": "missing"}
    assert Judgment.objects.filter(project=project).count() == 221
