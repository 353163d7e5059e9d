"""Training runs over the REST API: launch with a token, watch, cancel, restart; bad settings answer 400 naming
the problem in the API's one error shape."""

from __future__ import annotations

from pathlib import Path

import pytest
from rest_framework.test import APIClient

from annotation.models import Membership
from annotation.services.imports import import_file
from rewards.models import JobStatus, TrainingRun
from rewards.services.execution import training_run_execute
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.rewards.conftest import keyword_pairs_file
from workbench.tokens import api_token_create

pytestmark = pytest.mark.django_db(transaction=True)


def test_launch_watch_and_restart_over_the_api(tmp_path: Path, tiny_model_ref: str) -> None:
    project = ProjectFactory(slug="api-rm")
    researcher = MembershipFactory(
        project=project, role=Membership.Role.RESEARCHER, user=UserFactory(username="r")
    ).user
    import_file(project=project, path=keyword_pairs_file(tmp_path / "pairs.jsonl", 40), options={"judge": "src"})
    client = APIClient()
    key = api_token_create(user=researcher, name="script").key
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    bad = client.post("/api/v1/runs/create/", {"projects": ["api-rm"], "base_model": "/nowhere"}, format="json")
    assert bad.status_code == 400 and "not a model reference" in bad.json()["error"]["message"]
    assert bad.json()["error"]["details"]["field"] == "base_model"
    wrong = client.post("/api/v1/runs/create/", {"projects": ["api-rm"], "batch_size": 0}, format="json")
    assert wrong.status_code == 400 and "batch_size" in str(wrong.json()["error"]["details"])
    unknown = client.post("/api/v1/runs/create/", {"projects": ["api-rm"], "list_pairs": "sometimes"}, format="json")
    assert unknown.status_code == 400 and "list_pairs" in str(unknown.json()["error"]["details"])
    clash = {"projects": ["api-rm"], "loss": "plackett_luce", "list_pairs": "shuffled"}
    refused = client.post("/api/v1/runs/create/", clash, format="json")
    assert refused.status_code == 400 and "whole orderings" in refused.json()["error"]["message"]

    body = {"projects": ["api-rm"], "base_model": tiny_model_ref, "max_length": 64, "batch_size": 8, "epochs": 1,
            "learning_rate": 0.002, "loss": "plackett_luce", "eval_fraction": 0.25}  # fmt: skip
    created = client.post("/api/v1/runs/create/", body, format="json")
    assert created.status_code == 201, created.content
    run_id = created.json()["id"]
    assert created.json()["status"] == "queued" and created.json()["config"]["loss"] == "plackett_luce"
    training_run_execute(run_id=run_id)  # what the gpu worker does with the queued message
    detail = client.get(f"/api/v1/runs/{run_id}/").json()
    assert (
        detail["status"] == "succeeded"
        and detail["metrics"]["accuracy"]["low"] <= detail["metrics"]["accuracy"]["high"]
    )
    assert detail["artifact_dir"] and detail["judge"].startswith("reward-model:run-")
    assert client.post(f"/api/v1/runs/{run_id}/cancel/").status_code == 409
    assert client.post(f"/api/v1/runs/{run_id}/restart/").status_code == 409  # only failed or cancelled runs
    TrainingRun.objects.filter(pk=run_id).update(status=JobStatus.FAILED)
    restarted = client.post(f"/api/v1/runs/{run_id}/restart/").json()
    assert restarted["status"] == "queued" and restarted["attempt"] == 2
    assert client.post(f"/api/v1/runs/{run_id}/cancel/").json()["status"] == "cancelled"
    listed = client.get("/api/v1/runs/").json()
    assert listed["count"] == 1 and listed["next"] is None and [r["id"] for r in listed["results"]] == [run_id]
