"""A retry is accepted only for a job that is certainly dead: a stalled run that may still be working (no worker
says it is gone, and it has not been silent for long) is refused with 409, and its start time is kept; one silent
past the limit, or that no answering worker is running, is queued again with its start time kept."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from annotation.models import ExportJob, ImportJob, Membership
from annotation.services.job_liveness import DEAD_AFTER
from tests.factories import MembershipFactory, ProjectFactory
from tests.workers import start_worker, stop
from workbench.celery import app
from workbench.tokens import api_token_create


def _world(tmp_path: Path):
    project = ProjectFactory(slug="jobs")
    user = MembershipFactory(project=project, role=Membership.Role.RESEARCHER).user
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user, name='t').key}")
    upload = tmp_path / "file.jsonl"
    upload.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n')
    return project, user, client, upload


def _running(model, project, user, silent: timedelta, **fields):
    started = timezone.now() - silent - timedelta(seconds=30)
    return model.objects.create(
        project=project,
        created_by=user,
        status="running",
        started_at=started,
        heartbeat_at=timezone.now() - silent,
        **fields,
    )


@pytest.mark.django_db
def test_a_stalled_job_that_may_still_run_is_not_retried(tmp_path: Path, django_capture_on_commit_callbacks) -> None:
    project, user, client, upload = _world(tmp_path)
    imp = _running(ImportJob, project, user, timedelta(minutes=2), path=str(upload), original_name="file.jsonl")
    exp = _running(ExportJob, project, user, timedelta(minutes=2), format="raw")
    for url, job in ((f"/api/v1/imports/{imp.pk}/retry/", imp), (f"/api/v1/exports/{exp.pk}/retry/", exp)):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = client.post(url)
        assert response.status_code == 409, (url, response.content)
        assert "may not be dead" in response.json()["error"]["message"]
        assert callbacks == []  # nothing was queued
        before = job.started_at
        job.refresh_from_db()
        assert job.status == "running" and job.started_at == before


@pytest.mark.django_db
def test_a_job_silent_past_the_limit_is_retried_and_keeps_its_start(
    tmp_path: Path, django_capture_on_commit_callbacks
) -> None:
    project, user, client, upload = _world(tmp_path)
    silent = DEAD_AFTER + timedelta(minutes=1)
    imp = _running(ImportJob, project, user, silent, path=str(upload), original_name="file.jsonl")
    exp = _running(ExportJob, project, user, silent, format="raw", rows_total=10**9)  # big: goes to a worker
    for url, job in ((f"/api/v1/imports/{imp.pk}/retry/", imp), (f"/api/v1/exports/{exp.pk}/retry/", exp)):
        with django_capture_on_commit_callbacks(execute=False):
            response = client.post(url)
        assert response.status_code == 202, (url, response.content)
        before = job.started_at
        job.refresh_from_db()
        assert job.status == "queued" and job.started_at == before


@pytest.mark.django_db(transaction=True)
def test_an_answering_worker_that_is_not_running_it_confirms_it_is_gone(tmp_path: Path) -> None:
    project, user, client, upload = _world(tmp_path)
    worker = start_worker(tmp_path / "worker.log", pool="prefork", extra=("--concurrency", "1"))
    try:
        deadline = time.monotonic() + 60
        while not app.control.inspect(timeout=1.0).ping():
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-2000:]
        imp = _running(ImportJob, project, user, timedelta(minutes=2), path=str(upload), original_name="file.jsonl")
        response = client.post(f"/api/v1/imports/{imp.pk}/retry/")
        assert response.status_code == 202, response.content
        deadline = time.monotonic() + 60
        while ImportJob.objects.get(pk=imp.pk).status in ("queued", "running"):
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-2000:]
            time.sleep(0.2)
        imp.refresh_from_db()
        assert imp.status == "succeeded" and imp.started_at is not None and imp.finished_at >= imp.started_at
    finally:
        stop(worker)
