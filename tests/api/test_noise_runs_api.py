"""The noise-run endpoints: create (202, defaults, unknown fields and bad values 400, a second open run 409), list,
detail with progress and report, cancel, retry; annotators 403, other projects' people 404; in the OpenAPI schema."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotation.analysis.noise.detect import DETECTORS
from annotation.models import LabelFlag, Membership, NoiseRun
from annotation.services.noise_runs import noise_run_execute
from tests.annotation.noise_runs_data import crowd
from tests.factories import MembershipFactory, ProjectFactory
from workbench.tokens import api_token_create

pytestmark = pytest.mark.django_db
CREATE = "/api/v1/projects/noisy/noise/runs/create/"


def _client(user) -> APIClient:  # noqa: ANN001
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user, name='t').key}")
    return client


@pytest.fixture
def clients() -> dict[str, APIClient]:
    project = ProjectFactory(slug="noisy")
    crowd(project, prompts=24, annotators=3)
    other = ProjectFactory(slug="other")
    return {
        "researcher": _client(MembershipFactory(project=project, role=Membership.Role.RESEARCHER).user),
        "annotator": _client(MembershipFactory(project=project, role=Membership.Role.ANNOTATOR).user),
        "outsider": _client(MembershipFactory(project=other, role=Membership.Role.RESEARCHER).user),
    }


def test_create_then_watch_a_run_to_its_flags(clients, django_capture_on_commit_callbacks) -> None:
    api = clients["researcher"]
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = api.post(CREATE, {}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert len(queued) == 1  # the task is sent once the request's transaction commits
    assert body["status"] == "queued" and body["project"] == "noisy" and body["attempt"] == 1
    assert body["detectors"] == list(DETECTORS) and body["options"] == {"folds": 5, "seeds": 1}
    assert body["progress"] == {"done": 0, "total": len(DETECTORS) + 1, "percent": 0}

    noise_run_execute(run_id=body["id"])  # what the worker does with the message
    detail = api.get(f"/api/v1/noise/runs/{body['id']}/").json()
    assert detail["status"] == "succeeded" and detail["error"] == "" and detail["judgments"] == 96
    assert detail["progress"]["percent"] == 100
    report = detail["report"]["detectors"]
    assert report["combined"]["flags"] == LabelFlag.objects.filter(detector="combined").count() > 0
    assert set(report) == {*DETECTORS, "combined"}
    listed = api.get("/api/v1/projects/noisy/noise/runs/").json()
    assert [run["id"] for run in listed["results"]] == [body["id"]]


def test_create_refuses_unknown_fields_and_bad_values(clients) -> None:
    api = clients["researcher"]
    for payload, field in [
        ({"detectors": ["cycle"], "flods": 3}, "flods"),
        ({"detectors": ["palmistry"]}, "detectors"),
        ({"folds": 11}, "folds"),
        ({"folds": 1}, "folds"),
        ({"seeds": 0}, "seeds"),
        ({"detectors": "cycle"}, "detectors"),
    ]:
        response = api.post(CREATE, payload, format="json")
        assert response.status_code == 400, (payload, response.content)
        error = response.json()["error"]
        assert field in str(error["details"]) or field in error["message"], (payload, error)
    assert not NoiseRun.objects.exists()


def test_a_second_open_run_is_a_conflict_and_cancel_and_retry_follow_the_rules(clients) -> None:
    api = clients["researcher"]
    first = api.post(CREATE, {"detectors": ["too_fast", "cycle"], "folds": 3}, format="json").json()
    second = api.post(CREATE, {"detectors": ["cycle"]}, format="json")
    assert second.status_code == 409 and f"Noise run {first['id']}" in second.json()["error"]["message"]
    retry = api.post(f"/api/v1/noise/runs/{first['id']}/retry/")
    assert retry.status_code == 409  # queued: nothing to retry
    cancelled = api.post(f"/api/v1/noise/runs/{first['id']}/cancel/")
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
    assert api.post(f"/api/v1/noise/runs/{first['id']}/cancel/").status_code == 409
    again = api.post(f"/api/v1/noise/runs/{first['id']}/retry/")
    assert again.status_code == 202
    assert again.json()["status"] == "queued" and again.json()["attempt"] == 2
    assert again.json()["detectors"] == ["too_fast", "cycle"] and again.json()["options"]["folds"] == 3
    unknown_body = api.post(f"/api/v1/noise/runs/{first['id']}/cancel/", {"now": True}, format="json")
    assert unknown_body.status_code == 400


def test_annotators_are_refused_and_other_projects_see_nothing(clients) -> None:
    run = clients["researcher"].post(CREATE, {"detectors": ["cycle"]}, format="json").json()
    for who, code in (("annotator", 403), ("outsider", 404)):
        api = clients[who]
        calls = [
            api.post(CREATE, {"detectors": ["cycle"]}, format="json"),
            api.get("/api/v1/projects/noisy/noise/runs/"),
            api.get(f"/api/v1/noise/runs/{run['id']}/"),
            api.post(f"/api/v1/noise/runs/{run['id']}/cancel/"),
            api.post(f"/api/v1/noise/runs/{run['id']}/retry/"),
        ]
        assert [r.status_code for r in calls] == [code] * 5, (who, [r.content[:200] for r in calls])
    assert NoiseRun.objects.get(pk=run["id"]).status == "queued"  # nothing the refused calls asked for happened
    assert clients["researcher"].get("/api/v1/noise/runs/999999/").status_code == 404


def test_the_endpoints_are_in_the_openapi_schema(clients) -> None:
    paths = clients["researcher"].get("/api/schema/?format=json").json()["paths"]
    expected = {
        "/api/v1/projects/{slug}/noise/runs/": "get",
        "/api/v1/projects/{slug}/noise/runs/create/": "post",
        "/api/v1/noise/runs/{run_id}/": "get",
        "/api/v1/noise/runs/{run_id}/cancel/": "post",
        "/api/v1/noise/runs/{run_id}/retry/": "post",
    }
    for path, method in expected.items():
        operation = paths[path][method]
        assert operation["tags"] == ["noise"], path
        assert {"403", "404"} <= set(operation["responses"]), path
    create = paths["/api/v1/projects/{slug}/noise/runs/create/"]["post"]
    assert "202" in create["responses"] and "409" in create["responses"]
