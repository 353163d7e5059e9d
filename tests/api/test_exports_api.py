"""Exports through the API: create -> job -> status -> download, with the request recorded for reproduction."""

from __future__ import annotations

import json

import pytest

from annotation.models import ExportJob
from tests.api.conftest import World

pytestmark = pytest.mark.django_db

CREATE = "/api/v1/projects/demo/exports/create/"


def test_create_runs_the_export_and_its_files_download(world: World, django_capture_on_commit_callbacks) -> None:
    client = world.client("researcher")
    body = {
        "format": "trl-pairwise",
        "file_type": "jsonl",
        "filters": {"judge_kinds": ["imported"]},
        "options": {"conversational": True, "test_fraction": 0.5, "seed": 3},
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(CREATE, body, format="json")
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    job = ExportJob.objects.get(pk=job_id)
    assert job.filters == {"judge_kinds": ["imported"]} and job.options == {
        "conversational": True,
        "test_fraction": 0.5,
        "seed": 3,
    }
    status = client.get(f"/api/v1/exports/{job_id}/").json()
    assert status["status"] == "succeeded", status["error"]
    names = [f["name"] for f in status["files"]]
    assert "README.md" in names and any(name.endswith(".jsonl") for name in names)
    rows = []
    for file in status["files"]:
        download = client.get(file["url"], HTTP_ACCEPT="text/csv")  # whatever the client accepts
        assert download.status_code == 200
        assert download["Content-Disposition"].startswith("attachment")
        content = b"".join(download.streaming_content).decode()
        if file["name"].endswith(".jsonl"):
            assert download["Content-Type"] == "application/jsonl"
            assert int(download["Content-Length"]) == file["size"]
            rows += [json.loads(line) for line in content.splitlines()]
        else:
            assert download["Content-Type"].startswith("text/markdown") and "trl-pairwise" in content
    assert len(rows) == 3 and all(set(row) >= {"prompt", "chosen", "rejected"} for row in rows)
    assert rows[0]["prompt"][0]["role"] == "user"  # conversational
    listed = client.get("/api/v1/projects/demo/exports/").json()["results"]
    assert listed[0]["id"] == job_id


def test_bad_requests_name_the_field(world: World) -> None:
    client = world.client("researcher")
    cases = [
        ({"format": "nope"}, "format"),
        ({"format": "raw", "filters": {"colour": "red"}}, "filters"),
        ({"format": "raw", "options": {"ties": "keep"}}, None),  # ties only apply to trl-pairwise: the service says so
        ({"format": "raw", "filters": {"date_from": "2025-02-01", "date_to": "2025-01-01"}}, None),
        ({"format": "raw", "filters": {"judges": ["a\x00"]}}, "filters"),
    ]
    for body, key in cases:
        response = client.post(CREATE, body, format="json")
        assert response.status_code == 400, (body, response.content)
        error = response.json()["error"]
        if key is None:
            assert error["details"]["field"].startswith(("options.", "filters.")), error
        else:
            assert key in error["details"], error
    assert ExportJob.objects.count() == 1  # only the world's


def test_download_waits_for_success_and_serves_only_the_exports_files(
    world: World, django_capture_on_commit_callbacks
) -> None:
    client = world.client("researcher")
    with django_capture_on_commit_callbacks(execute=False):
        job_id = client.post(CREATE, {"format": "raw"}, format="json").json()["id"]
    response = client.get(f"/api/v1/exports/{job_id}/files/README.md")
    assert response.status_code == 409 and "not succeeded" in response.json()["error"]["message"]
    done = world.export.pk
    for name in ("secret_key", "..", "train.parquet"):
        response = client.get(f"/api/v1/exports/{done}/files/{name}")
        assert response.status_code == 404, name
    assert client.post(f"/api/v1/exports/{done}/retry/").status_code == 400
    ExportJob.objects.filter(pk=job_id).update(status="failed", error="boom")
    with django_capture_on_commit_callbacks(execute=True):
        retried = client.post(f"/api/v1/exports/{job_id}/retry/")
    assert retried.status_code == 202 and retried.json()["status"] == "queued"
    assert client.get(f"/api/v1/exports/{job_id}/").json()["status"] == "succeeded"
