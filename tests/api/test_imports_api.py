"""Uploading a file through the API makes an ImportJob; its status, report and retry."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import ImportJob, Judgment
from tests.api.conftest import World

pytestmark = pytest.mark.django_db

UPLOAD = "/api/v1/projects/demo/imports/create/"


def test_upload_makes_a_job_that_imports_and_reports(world: World, django_capture_on_commit_callbacks) -> None:
    client = world.client("researcher")
    upload = SimpleUploadedFile("more.jsonl", b'{"prompt": "p9", "chosen": "a", "rejected": "b"}\n')
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(UPLOAD, {"file": upload, "judge": "api-upload"}, format="multipart")
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    status = client.get(f"/api/v1/imports/{job_id}/").json()
    assert status["status"] == "succeeded" and status["percent"] == 100 and status["project"] == "demo"
    assert status["report"]["judgments_created"] == 1 and status["format"] == "trl-pairwise"
    assert Judgment.objects.filter(judge__name="api-upload").count() == 1
    listed = client.get("/api/v1/projects/demo/imports/").json()["results"]
    assert listed[0]["id"] == job_id
    # Finished: only a failed or stalled import can be retried.
    response = client.post(f"/api/v1/imports/{job_id}/retry/")
    assert response.status_code == 400 and "retried" in response.json()["error"]["message"]


def test_a_bad_file_fails_with_row_and_field_and_can_be_retried(
    world: World, django_capture_on_commit_callbacks
) -> None:
    client = world.client("researcher")
    upload = SimpleUploadedFile(
        "bad.jsonl", b'{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "q", "chosen": 5}\n'
    )
    with django_capture_on_commit_callbacks(execute=True):
        job_id = client.post(UPLOAD, {"file": upload}, format="multipart").json()["id"]
    status = client.get(f"/api/v1/imports/{job_id}/").json()
    assert status["status"] == "failed" and "nothing was written" in status["error"]
    assert status["report"]["errors"][0]["row"] == 2
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(f"/api/v1/imports/{job_id}/retry/")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert ImportJob.objects.get(pk=job_id).status == ImportJob.Status.QUEUED


def test_upload_refusals(world: World) -> None:
    client = world.client("researcher")
    empty = client.post(UPLOAD, {"file": SimpleUploadedFile("e.jsonl", b"")}, format="multipart")
    assert empty.status_code == 400 and empty.json()["error"]["details"]
    wrong = client.post(UPLOAD, {"file": SimpleUploadedFile("a.jsonl", b"{}"), "format": "nope"}, format="multipart")
    assert wrong.status_code == 400 and "format" in wrong.json()["error"]["details"]
    as_json = client.post(UPLOAD, {"file": "x"}, format="json")
    assert as_json.status_code == 415 and as_json.json()["error"]["message"]
    # Someone else's job is not found, for an annotator of the project it is refused.
    assert world.client("outsider").get(f"/api/v1/imports/{world.job.pk}/").status_code == 404
    assert world.client("annotator").get(f"/api/v1/imports/{world.job.pk}/").status_code == 403
