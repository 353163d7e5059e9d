"""Every reward-model page for every kind of visitor, and the launch form's answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from annotation.models import Membership
from annotation.services.imports import import_file
from rewards.models import JobStatus, TrainingRun
from rewards.services.runs import config_from, training_run_create
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(tmp_path: Path, tiny_model_ref: str) -> dict:
    project = ProjectFactory(slug="rm")
    other = ProjectFactory(slug="elsewhere")
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"q{i}", "chosen": "a", "rejected": "b"}) + "\n" for i in range(4)))
    import_file(project=project, path=data)
    users = {
        "admin": UserFactory(username="admin", is_superuser=True, is_staff=True),
        "researcher": MembershipFactory(project=project, role=Membership.Role.RESEARCHER, user__username="res").user,
        "annotator": MembershipFactory(project=project, role=Membership.Role.ANNOTATOR, user__username="ann").user,
        "outsider": MembershipFactory(project=other, role=Membership.Role.RESEARCHER, user__username="out").user,
    }
    config = config_from({"base_model": tiny_model_ref, "max_length": 32})
    running = training_run_create(user=None, projects=[project], config=config, enqueue=False)
    done = training_run_create(user=None, projects=[project], config=config, enqueue=False)
    artifact = Path(settings.DATA_DIR) / "runs" / str(done.pk) / "attempt-1"
    artifact.mkdir(parents=True, exist_ok=True)
    (artifact / "config.json").write_text("{}")
    TrainingRun.objects.filter(pk=done.pk).update(status=JobStatus.SUCCEEDED, artifact_dir=f"runs/{done.pk}/attempt-1")
    TrainingRun.objects.filter(pk=running.pk).update(status=JobStatus.FAILED)
    return {"users": users, "project": project, "failed": running, "done": done}


def client_for(world: dict, who: str) -> Client:
    client = Client()
    if who != "anonymous":
        client.force_login(world["users"][who])
    return client


RESEARCHERS = {"anonymous": 302, "annotator": 404, "outsider": 404, "researcher": 200, "admin": 200}
ACTED = RESEARCHERS | {"researcher": 302, "admin": 302}
LAUNCHERS = {"anonymous": 302, "annotator": 403, "outsider": 200, "researcher": 200, "admin": 200}
PAGES = [
    ("rewards:run_list", lambda w: {}, "get", LAUNCHERS),
    ("rewards:run_new", lambda w: {}, "get", LAUNCHERS),
    ("rewards:run_new", lambda w: {}, "post", {k: 400 if v == 200 else v for k, v in LAUNCHERS.items()}),
    ("rewards:run_detail", lambda w: {"run_id": w["done"].pk}, "get", RESEARCHERS),
    ("rewards:run_download", lambda w: {"run_id": w["done"].pk}, "get", RESEARCHERS),
    ("rewards:run_cancel", lambda w: {"run_id": w["failed"].pk}, "post", ACTED),
    ("rewards:run_restart", lambda w: {"run_id": w["failed"].pk}, "post", ACTED),
    ("rewards:run_evaluate", lambda w: {"run_id": w["done"].pk}, "post", ACTED),
    ("rewards:run_score", lambda w: {"run_id": w["done"].pk}, "post", ACTED),
]  # fmt: skip


@pytest.mark.parametrize("who", ["anonymous", "annotator", "outsider", "researcher", "admin"])
@pytest.mark.parametrize(("name", "kwargs", "method", "expected"), PAGES, ids=[f"{p[0]}-{p[2]}" for p in PAGES])
def test_permission_matrix(world: dict, who: str, name: str, kwargs, method: str, expected: dict) -> None:
    url = reverse(name, kwargs=kwargs(world))
    response = getattr(client_for(world, who), method)(url)
    assert response.status_code == expected[who], (who, url, response.status_code)


def test_the_matrix_covers_every_url() -> None:
    from rewards.urls import urlpatterns

    missing = {f"rewards:{p.name}" for p in urlpatterns} - {name for name, *_ in PAGES}
    assert not missing, f"add these URLs to the permission matrix: {sorted(missing)}"


def test_launch_form_creates_a_queued_run_and_refuses_bad_settings(world: dict, tiny_model_ref: str) -> None:
    client = client_for(world, "researcher")
    fields = {"projects": [world["project"].pk], "judge_kinds": ["imported"], "loss": "plackett_luce",
              "base_model": tiny_model_ref, "epochs": "1", "batch_size": "4", "max_length": "64",
              "learning_rate": "0.001", "truncation_side": "left", "warmup_ratio": "0", "weight_decay": "0",
              "grad_accum": "1", "seed": "3", "precision": "fp32", "eval_fraction": "0.2"}  # fmt: skip
    response = client.post(reverse("rewards:run_new"), fields)
    assert response.status_code == 302
    run = TrainingRun.objects.latest("id")
    assert run.status == JobStatus.QUEUED and run.config["loss"] == "plackett_luce" and run.config["seed"] == 3
    assert run.judge_kinds == ["imported"] and list(run.projects.all()) == [world["project"]]
    bad = client.post(reverse("rewards:run_new"), fields | {"base_model": "/nowhere", "batch_size": "0"})
    assert bad.status_code == 400
    html = bad.content.decode()
    assert "Ensure this value is greater than or equal to 1" in html
    other = client.post(reverse("rewards:run_new"), fields | {"base_model": "/nowhere"})
    assert other.status_code == 400 and "is not a model reference" in other.content.decode()
    # Shuffled list pairs go with a pairwise loss; with Plackett-Luce the settings are refused with the reason.
    shuffled = client.post(reverse("rewards:run_new"), fields | {"loss": "bradley_terry", "list_pairs": "shuffled"})
    assert shuffled.status_code == 302 and TrainingRun.objects.latest("id").config["list_pairs"] == "shuffled"
    refused = client.post(reverse("rewards:run_new"), fields | {"list_pairs": "shuffled"})
    assert refused.status_code == 400 and "whole orderings" in refused.content.decode()
    # A researcher cannot train on a project they only see from outside.
    outsider = client_for(world, "outsider").post(reverse("rewards:run_new"), fields)
    assert outsider.status_code == 400 and "Select a valid choice" in outsider.content.decode()


def test_the_launch_form_offers_exactly_the_configs_choices() -> None:
    # The form's choices carry labels of their own; their values must still be the config's, no more and no fewer.
    from rewards.forms import TrainingRunForm
    from rewards.training import FIELD_CHOICES

    fields = TrainingRunForm().fields
    for name in ("loss", "truncation_side", "precision", "list_pairs"):
        assert tuple(value for value, _label in fields[name].choices) == FIELD_CHOICES[name], name
