"""POST /api/v1/runs/create/ takes the training settings in a nested `config` (as the run shows them back), each
validated; an unknown setting, a bad value or one given twice is a 400 naming it and launches nothing. GET
/api/v1/runs/ pages like every other list and shows only the runs the caller may see."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotation.models import Membership
from rewards.apis import RUN_DEFAULTS
from rewards.models import TrainingRun
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from workbench.tokens import api_token_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def researcher() -> APIClient:
    project = ProjectFactory(slug="cfg")
    user = MembershipFactory(project=project, role=Membership.Role.RESEARCHER, user=UserFactory(username="cfg-r")).user
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user, name='t').key}")
    return client


def _create(client: APIClient, body: dict) -> dict:
    response = client.post("/api/v1/runs/create/", {"projects": ["cfg"], **body}, format="json")
    return {**response.json(), "http": response.status_code}


def test_a_nested_config_is_what_the_run_trains_with(researcher: APIClient) -> None:
    config = {"loss": "plackett_luce", "epochs": 3, "learning_rate": 0.001, "batch_size": 4, "max_length": 64,
              "seed": 7, "eval_fraction": 0.2, "max_steps": 5}  # fmt: skip
    created = _create(researcher, {"name": "nested", "config": config})
    assert created["http"] == 201, created
    stored = TrainingRun.objects.get(pk=created["id"]).config
    assert {key: stored[key] for key in config} == config
    assert created["config"]["loss"] == "plackett_luce" and created["config"]["epochs"] == 3
    # What is not given takes the launch page's defaults; the base model is named by its reference.
    assert stored["truncation_side"] == RUN_DEFAULTS["truncation_side"] and stored["grad_accum"] == 1
    assert created["config"]["base_model"] == RUN_DEFAULTS["base_model"]


def test_top_level_settings_still_work_and_defaults_fill_the_rest(researcher: APIClient) -> None:
    created = _create(researcher, {"epochs": 2})
    assert created["http"] == 201, created
    stored = TrainingRun.objects.get(pk=created["id"]).config
    assert stored["epochs"] == 2 and stored["max_length"] == RUN_DEFAULTS["max_length"]


@pytest.mark.parametrize(
    ("body", "path", "words"),
    [
        ({"config": {"learning_rat": 0.1}}, ["config", "learning_rat"], "Did you mean 'learning_rate'?"),
        ({"config": {"optimizer": "adamw"}}, ["config", "optimizer"], "Unknown field."),
        ({"config": {"batch_size": 0}}, ["config", "batch_size"], "greater than or equal to 1"),
        ({"config": {"loss": "hinge"}}, ["config", "loss"], "not a valid choice"),
        ({"config": "epochs=3"}, ["config", "non_field_errors"], "Invalid data"),
        ({"epochs": 2, "config": {"epochs": 3}}, ["config", "epochs"], "give it once"),
    ],
)
def test_a_bad_config_is_a_400_naming_the_setting_and_launches_nothing(
    researcher: APIClient, body: dict, path: list[str], words: str
) -> None:
    refused = _create(researcher, body)
    assert refused["http"] == 400, refused
    details = refused["error"]["details"]
    for key in path:
        details = details[key]
    assert words in details[0], details
    assert not TrainingRun.objects.exists()


def test_the_run_list_is_paged_and_shows_only_runs_you_may_see(researcher: APIClient) -> None:
    mine = [_create(researcher, {"name": f"run {i}"})["id"] for i in range(3)]
    elsewhere = TrainingRun.objects.create(config={}, name="not yours")
    elsewhere.projects.set([ProjectFactory(slug="other-team")])
    first = researcher.get("/api/v1/runs/?page_size=2").json()
    assert first["count"] == 3 and first["previous"] is None and first["next"].endswith("page=2&page_size=2")
    second = researcher.get(first["next"]).json()
    assert [run["id"] for run in first["results"] + second["results"]] == mine[::-1]  # newest first
    assert second["next"] is None
    bad = researcher.get("/api/v1/runs/?page_size=0")
    assert bad.status_code == 400 and "page_size" in bad.json()["error"]["details"]
