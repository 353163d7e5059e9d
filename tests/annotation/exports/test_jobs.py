"""Export jobs: created with their filters and options recorded, run inline or on a worker, progress on the row,
failures left failed with the error and retryable, and the files readable through the selectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import transaction

from annotation.models import ExportJob, Membership, Project
from annotation.selectors.jobs import export_job_file, export_job_files, export_job_get
from annotation.services import exports as export_services
from annotation.services.exports import export_create, export_dir, export_job_is_stalled, export_retry, export_run
from tests.annotation.exports.conftest import import_data
from tests.factories import MembershipFactory, UserFactory
from workbench.exceptions import ApplicationError, NotFound, PermissionDenied

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(tmp_path: Path) -> Project:
    rows = [{"prompt": f"q{i}", "chosen": f"yes {i}", "rejected": f"no {i}", "prompt_id": f"q{i}"} for i in range(30)]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return import_data(path, "jobs")


def test_small_export_runs_after_commit_and_records_what_was_asked(
    project: Project, django_capture_on_commit_callbacks
) -> None:  # noqa: ANN001
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        job = export_create(
            project=project,
            user=user,
            format="trl-pairwise",
            file_type="parquet",
            filters={"judge_kinds": ["imported"]},
            options={"test_fraction": 0.3, "seed": 1, "ties": "keep"},
        )
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert job.filters == {"judge_kinds": ["imported"]}
    assert job.options == {"ties": "keep", "test_fraction": 0.3, "seed": 1}
    assert job.files == ["train.parquet", "test.parquet", "README.md"]
    assert job.rows_done == job.rows_total == 30 and job.report["rows_total"] == 30
    assert job.started_at and job.finished_at and job.heartbeat_at
    assert job.output_dir == f"exports/{job.pk}"
    files = export_job_files(job=job)
    assert [f.name for f in files] == job.files
    assert files[0].path == export_dir(job=job) / "train.parquet" and files[0].size > 0
    assert export_job_file(job=job, name="README.md").content_type.startswith("text/markdown")
    with pytest.raises(NotFound):
        export_job_file(job=job, name="../../secret_key")
    card = (export_dir(job=job) / "README.md").read_text()
    assert f"--out export-{job.pk}" in card and "--test-fraction 0.3" in card


def test_job_permissions(project: Project) -> None:
    job = ExportJob.objects.create(project=project, format="raw")
    researcher = MembershipFactory(project=project, role=Membership.Role.RESEARCHER).user
    annotator = MembershipFactory(project=project, role=Membership.Role.ANNOTATOR).user
    assert export_job_get(user=researcher, job_id=job.pk) == job
    with pytest.raises(PermissionDenied):
        export_job_get(user=annotator, job_id=job.pk)
    with pytest.raises(NotFound):
        export_job_get(user=UserFactory(), job_id=job.pk)
    with pytest.raises(NotFound):
        export_job_get(user=researcher, job_id=job.pk + 1000)


def test_bad_request_is_refused_before_a_job_exists(project: Project) -> None:
    with pytest.raises(ApplicationError) as caught:
        export_create(project=project, user=None, format="trl-pairwise", options={"ties": "sometimes"})
    assert caught.value.extra["field"] == "options.ties"
    assert not ExportJob.objects.exists()


def test_large_export_goes_to_the_worker_once(
    project: Project, settings, monkeypatch, django_capture_on_commit_callbacks
) -> None:  # noqa: ANN001
    settings.WORKBENCH_INLINE_EXPORT_MAX_JUDGMENTS = 10
    sent: list[int] = []
    from annotation import tasks

    monkeypatch.setattr(tasks.export_job_run_task, "delay", sent.append)
    with django_capture_on_commit_callbacks(execute=True):
        job = export_create(project=project, user=None, format="raw", file_type="jsonl")
    assert sent == [job.pk]
    job.refresh_from_db()
    assert job.status == ExportJob.Status.QUEUED
    monkeypatch.setattr(export_services, "PROGRESS_EVERY_S", 0.0)
    seen: list[int] = []
    real_update = export_services._Heartbeat.__call__

    def spy(self, done: int, total: int, rows: int) -> None:  # noqa: ANN001
        real_update(self, done, total, rows)
        seen.append(ExportJob.objects.get(pk=job.pk).rows_done)

    monkeypatch.setattr(export_services._Heartbeat, "__call__", spy)
    export_run(job_id=job.pk)
    assert seen and seen[-1] == 30 and seen == sorted(seen)  # progress written to the row as it went
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED
    finished = job.finished_at
    export_run(job_id=job.pk)  # a second delivery of the message does nothing
    job.refresh_from_db()
    assert job.finished_at == finished


def test_a_crash_leaves_the_job_failed_and_retryable(
    project: Project, monkeypatch, django_capture_on_commit_callbacks
) -> None:  # noqa: ANN001
    def boom(**kwargs: object) -> None:
        kwargs["out"].mkdir(parents=True)  # type: ignore[attr-defined]
        (kwargs["out"] / "train.jsonl.partial").write_text("half")  # type: ignore[operator]
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(export_services, "export_project", boom)
    with django_capture_on_commit_callbacks(execute=True):
        job = export_create(project=project, user=None, format="listwise")
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED
    assert "RuntimeError: disk on fire" in job.error and job.files == []
    assert not export_dir(job=job).exists()  # no half-written files left behind
    assert export_job_files(job=job) == []

    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        export_retry(job=job)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED and job.error == "" and job.files == ["train.jsonl", "README.md"]
    with pytest.raises(ApplicationError, match="Only a failed or stalled export"):
        export_retry(job=job)


def test_a_refusal_during_the_run_is_reported(project: Project, django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    with django_capture_on_commit_callbacks(execute=True):
        job = export_create(project=project, user=None, format="raw", filters={"judges": ["nobody"]})
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED
    assert job.error == "filters.judges: no judge named 'nobody' has judgments in project 'jobs'"


def test_a_silent_worker_shows_as_stalled(project: Project) -> None:
    from datetime import timedelta

    from django.utils import timezone

    job = ExportJob.objects.create(project=project, format="raw", status=ExportJob.Status.RUNNING)
    job.heartbeat_at = timezone.now() - timedelta(minutes=5)
    job.save()
    assert export_job_is_stalled(job=job)
    with transaction.atomic():
        export_retry(job=job)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.QUEUED
