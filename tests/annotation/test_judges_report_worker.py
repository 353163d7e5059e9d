"""A big project's judge comparison on a real Celery worker: the page hands it over, shows its phase, then the
numbers; a job whose worker died (no heartbeat) is said to have stopped, and a recompute starts a new one."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotation.models import JudgeReport, Membership, Project
from tests.annotation.test_judges_report import _import, _verdict_file
from tests.factories import MembershipFactory
from tests.workers import start_worker, stop

LOG = Path("test-artifacts/judges-worker.log")


@pytest.fixture
def big(tmp_path: Path, settings) -> tuple[Project, Client]:  # noqa: ANN001
    settings.WORKBENCH_INLINE_JUDGES_REPORT_MAX_JUDGMENTS = 10  # anything bigger goes to the worker
    _import(_verdict_file(tmp_path, judge="llm-judge"), "big", "--create-project")
    project = Project.objects.get(slug="big")
    client = Client()
    client.force_login(MembershipFactory(project=project, role=Membership.Role.RESEARCHER).user)
    return project, client


@pytest.mark.worker
def test_a_big_projects_report_is_computed_by_the_worker(transactional_db, big) -> None:  # noqa: ANN001
    project, client = big
    url = reverse("annotation:judges", args=[project.slug])
    html = client.get(url).content.decode()
    assert "Comparing judges on a worker" in html and 'hx-trigger="every 1s"' in html
    job = JudgeReport.objects.get(project=project)
    assert job.status == JudgeReport.Status.QUEUED
    LOG.parent.mkdir(exist_ok=True)
    worker = start_worker(LOG)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not job.is_finished:
            assert worker.poll() is None, LOG.read_text()[-3000:]
            time.sleep(0.5)
            job.refresh_from_db()
    finally:
        stop(worker)
    assert job.status == JudgeReport.Status.SUCCEEDED, job.error or LOG.read_text()[-3000:]
    poll = client.get(url, HTTP_HX_REQUEST="true")
    assert poll["HX-Refresh"] == "true"  # the polling fragment hands over to the whole page
    html = client.get(url).content.decode()
    assert "Judges against human-majority" in html and "llm-judge" in html


def test_a_report_whose_worker_died_says_so_and_can_be_recomputed(db, big) -> None:  # noqa: ANN001
    project, client = big
    url = reverse("annotation:judges", args=[project.slug])
    client.get(url)
    job = JudgeReport.objects.get(project=project)
    stale_beat = timezone.now() - timedelta(minutes=10)
    JudgeReport.objects.filter(pk=job.pk).update(status="running", phase="comparing judges", heartbeat_at=stale_beat)
    html = client.get(url).content.decode()
    assert "stopped answering" in html
    api = client.get(reverse("api:judges_report", args=[project.slug]))
    assert api.status_code == 200 and api.json()["status"] == "failed" and "recompute" in api.json()["error"]
    client.get(url + "?recompute=1")
    assert JudgeReport.objects.filter(project=project, status="queued").count() == 1
