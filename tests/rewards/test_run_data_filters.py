"""Training runs honour review and suspicion (issue 15): excluded and superseded judgments are not training data by
default (and are, when "leave out excluded judgments" is off); a suspicion threshold leaves out judgments whose flag
scores above it; the run's data_stats and page say how many were left out and why; the launch page refuses bad
values with form errors. Review actions and flags come from the real services; the run trains a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.analysis.noise.suspicion import Suspicion
from annotation.models import Judgment, Membership, NoiseRun
from annotation.services.imports import import_file
from annotation.services.label_flags import label_flags_replace
from annotation.services.review import judgment_correct, ordering_of, review_exclude
from rewards.models import JobStatus, TrainingRun
from rewards.services.examples import DataFilters, load_examples, source_for
from rewards.services.execution import training_run_execute
from rewards.services.runs import config_from, training_run_create
from tests.factories import ProjectFactory
from tests.rewards.conftest import keyword_pairs_file
from workbench.exceptions import ApplicationError

N = 40


def _reviewed(tmp_path: Path) -> dict:
    """N keyword pairs; by the review services one judgment excluded and one corrected; combined flags above 0.7
    on four judgments (one of them the excluded one) and at 0.7 on one; a behaviour flag on two others."""
    project = ProjectFactory(slug="rev")
    import_file(project=project, path=keyword_pairs_file(tmp_path / "pairs.jsonl", N), options={"judge": "src"})
    user = get_user_model().objects.create_user(username="rita", password="x")  # noqa: S106
    Membership.objects.create(project=project, user=user, role=Membership.Role.RESEARCHER)
    judgments = list(Judgment.objects.filter(project=project).order_by("id"))
    review_exclude(judgment=judgments[0], user=user, note="spam")
    action = judgment_correct(
        judgment=judgments[1], user=user, ordering=list(reversed(ordering_of(judgment=judgments[1])))
    )
    run = NoiseRun.objects.create(project=project, detectors=["combined", "behaviour"])
    combined = {judgments[0].pk: 0.9, judgments[5].pk: 0.95, judgments[6].pk: 0.71, judgments[7].pk: 0.99}
    combined[judgments[8].pk] = 0.7
    label_flags_replace(run=run, detector="combined", suspicions=[Suspicion(k, v, "x") for k, v in combined.items()])
    behaviour = {judgments[10].pk: 0.6, judgments[11].pk: 0.2}
    label_flags_replace(run=run, detector="behaviour", suspicions=[Suspicion(k, v, "y") for k, v in behaviour.items()])
    return {"project": project, "user": user, "judgments": judgments, "correction": action.correction}


def _example_ids(source) -> set[int]:  # noqa: ANN001 - an ExampleSource
    examples, _ = load_examples(source)
    return {int(e.example_id) for e in examples}


@pytest.mark.django_db
def test_the_data_honours_review_and_suspicion(tmp_path: Path) -> None:
    world = _reviewed(tmp_path)
    project, js = world["project"], world["judgments"]
    kinds = ["imported", "human"]
    default = source_for(projects=[project], judge_kinds=kinds)
    ids = _example_ids(default)
    assert js[0].pk not in ids and js[1].pk not in ids and world["correction"].pk in ids
    assert len(ids) == N - 2 + 1
    assert default.left_out() == {"excluded_by_review": 1, "superseded_by_correction": 1}

    everything = source_for(projects=[project], judge_kinds=kinds, filters=DataFilters(active_only=False))
    assert _example_ids(everything) == ids | {js[0].pk, js[1].pk}
    assert everything.left_out() == {}

    threshold = source_for(projects=[project], judge_kinds=kinds, filters=DataFilters(max_suspicion=0.7))
    assert _example_ids(threshold) == ids - {js[5].pk, js[6].pk, js[7].pk}  # 0.7 itself stays: "above"
    assert threshold.left_out() == {
        "excluded_by_review": 1, "superseded_by_correction": 1, "suspicion": 3, "suspicion_above": 0.7,
        "detector": "combined",
    }  # fmt: skip
    chosen = DataFilters(max_suspicion=0.5, suspicion_detector="behaviour")
    assert _example_ids(source_for(projects=[project], judge_kinds=kinds, filters=chosen)) == ids - {js[10].pk}


@pytest.mark.django_db
def test_data_filters_refuse_bad_values_naming_the_field() -> None:
    for values, field in (
        ({"max_suspicion": -0.1}, "max_suspicion"),
        ({"max_suspicion": "lots"}, "max_suspicion"),
        ({"suspicion_detector": "behaviour"}, "suspicion_detector"),
        ({"max_suspicion": 0.5, "suspicion_detector": "no spaces"}, "suspicion_detector"),
        ({"threshold": 0.5}, "threshold"),
    ):
        with pytest.raises(ApplicationError) as caught:
            DataFilters.from_json(values)
        assert caught.value.extra["field"] == field, values
    assert DataFilters.from_json({"max_suspicion": "0.25"}).as_json() == {"max_suspicion": 0.25}


@pytest.mark.django_db(transaction=True)
def test_a_run_trains_without_them_and_its_provenance_says_how_many(tmp_path: Path, tiny_model_ref: str) -> None:
    world = _reviewed(tmp_path)
    config = config_from({"base_model": tiny_model_ref, "max_length": 64, "batch_size": 8, "epochs": 1,
                          "eval_fraction": 0.25, "bootstrap_samples": 100})  # fmt: skip
    with pytest.raises(ApplicationError, match="no judgment of these projects has a 'cycles' flag"):
        training_run_create(
            user=None, projects=[world["project"]], config=config, enqueue=False,
            data_filters=DataFilters(max_suspicion=0.5, suspicion_detector="cycles"),
        )  # fmt: skip
    run = training_run_create(
        user=None, projects=[world["project"]], config=config, enqueue=False,
        data_filters=DataFilters(max_suspicion=0.7),
    )  # fmt: skip
    assert run.data_filters == {"max_suspicion": 0.7}
    run = training_run_execute(run_id=run.pk)
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.data_stats["examples"] == N - 2 + 1 - 3
    assert run.data_stats["left_out"] == {
        "excluded_by_review": 1, "superseded_by_correction": 1, "suspicion": 3, "suspicion_above": 0.7,
        "detector": "combined",
    }  # fmt: skip
    client = Client()
    client.force_login(world["user"])
    page = client.get(reverse("rewards:run_detail", kwargs={"run_id": run.pk})).content.decode()
    assert "1 excluded by review · 1 superseded by a correction · 3 with suspicion above 0.7" in page


@pytest.mark.django_db
def test_the_launch_page_takes_the_filters_and_refuses_bad_values(tmp_path: Path, tiny_model_ref: str) -> None:
    world = _reviewed(tmp_path)
    client = Client()
    client.force_login(world["user"])
    url = reverse("rewards:run_new")
    page = client.get(url).content.decode()
    assert "Leave out excluded judgments" in page and 'name="max_suspicion"' in page
    fields = {"projects": [world["project"].pk], "judge_kinds": ["imported"], "loss": "bradley_terry",
              "base_model": tiny_model_ref, "epochs": "1", "batch_size": "4", "max_length": "64",
              "learning_rate": "0.001", "truncation_side": "left", "warmup_ratio": "0", "weight_decay": "0",
              "grad_accum": "1", "seed": "0", "precision": "fp32", "eval_fraction": "0.2", "active_only": "on",
              "max_suspicion": "0.8", "suspicion_detector": "combined"}  # fmt: skip
    assert client.post(url, fields).status_code == 302
    assert TrainingRun.objects.get().data_filters == {"max_suspicion": 0.8}
    unticked = {k: v for k, v in fields.items() if k not in ("active_only", "max_suspicion")}
    assert client.post(url, unticked).status_code == 302
    assert TrainingRun.objects.latest("id").data_filters == {"active_only": False}
    for change, words in (
        ({"max_suspicion": "1.5"}, "less than or equal to 1"),
        ({"max_suspicion": "", "suspicion_detector": "behaviour"}, "applies only with max_suspicion"),
        ({"suspicion_detector": "not a name"}, "must be a detector name"),
        ({"suspicion_detector": "cycles"}, "detectors with flags: behaviour, combined"),
    ):
        response = client.post(url, fields | change)
        assert response.status_code == 400 and words in response.content.decode(), change
    assert TrainingRun.objects.count() == 2


@pytest.mark.django_db
def test_the_runs_api_takes_the_filters_and_refuses_bad_values(tmp_path: Path, tiny_model_ref: str) -> None:
    world = _reviewed(tmp_path)
    client = APIClient()
    client.force_authenticate(world["user"])
    body = {"projects": ["rev"], "config": {"base_model": tiny_model_ref, "max_length": 64}, "max_suspicion": 0.7}
    response = client.post("/api/v1/runs/create/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["data_filters"] == {"max_suspicion": 0.7}
    for change, field in (
        ({"max_suspicion": 2}, "max_suspicion"),
        ({"active_only": "perhaps"}, "active_only"),
        ({"max_suspicion": None, "suspicion_detector": "behaviour"}, "suspicion_detector"),
        ({"suspicion_detector": "cycles"}, "suspicion_detector"),
    ):
        response = client.post("/api/v1/runs/create/", body | change, format="json")
        assert response.status_code == 400, (change, response.content)
        assert field in json.dumps(response.json()["error"]), response.json()
    assert TrainingRun.objects.count() == 1
