"""An external front end working the queue through the API: next, submit, skip, with exact overlap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from annotation.models import Assignment, Comparison, Judgment, Project
from annotation.selectors.annotate import response_tokens
from annotation.services.imports import import_file
from tests.api.conftest import write_pairs
from tests.factories import MembershipFactory, ProjectFactory
from workbench.tokens import api_token_create

pytestmark = pytest.mark.django_db


def annotator_client(project: Project, name: str) -> APIClient:
    user = MembershipFactory(project=project, user__username=name).user
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user, name='front end').key}")
    return client


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = ProjectFactory(slug="queue", overlap=2, strength_scale=["slightly", "clearly"], allow_ties=False)
    import_file(project=project, path=write_pairs(tmp_path / "p.jsonl", 4), options={"judge": "source"})
    return project


def next_item(client: APIClient, **body: object):
    return client.post("/api/v1/projects/queue/assignments/next/", body, format="json")


def submit(client: APIClient, item: dict, **extra: object):
    first, second = [r["token"] for r in item["responses"]]
    body = {"ranking": [[first], [second]], **extra}
    return client.post(f"/api/v1/assignments/{item['assignment']}/submit/", body, format="json")


def test_next_returns_the_item_in_shown_order_and_the_same_lease_on_retry(project: Project) -> None:
    client = annotator_client(project, "a1")
    response = next_item(client)
    assert response.status_code == 200
    item = response.json()
    assignment = Assignment.objects.get(pk=item["assignment"])
    tokens = response_tokens(assignment=assignment)
    assert [tokens[r["token"]] for r in item["responses"]] == assignment.shown_order
    assert [r["label"] for r in item["responses"]] == ["A", "B"]
    assert item["messages"] == assignment.comparison.prompt.messages and item["project"] == "queue"
    assert "generator" not in item["responses"][0]  # blind to which model wrote what
    assert next_item(client).json()["assignment"] == item["assignment"]
    prefetch = next_item(client, exclude=[item["assignment"]]).json()
    assert prefetch["assignment"] != item["assignment"]


def test_submit_and_skip_give_exactly_overlap_distinct_annotators(project: Project) -> None:
    clients = [annotator_client(project, f"a{i}") for i in range(4)]
    done = 0
    for round_ in range(6):
        for index, client in enumerate(clients):
            response = next_item(client)
            if response.status_code == 204:
                continue
            item = response.json()
            if (round_ + index) % 5 == 0:
                skipped = client.post(f"/api/v1/assignments/{item['assignment']}/skip/")
                assert skipped.status_code == 200 and skipped.json()["skipped"] == item["assignment"]
                continue
            result = submit(client, item, strength=1, client_token=f"{index}-{round_}")
            assert result.status_code == 201, result.content
            assert result.json()["progress"]["done"] >= 1
            done += 1
    assert done == 8
    for comparison in Comparison.objects.filter(project=project):
        human = Judgment.objects.filter(comparison=comparison, source=Judgment.Source.API)
        assert human.count() == 2 and len(set(human.values_list("judge_id", flat=True))) == 2
        assert comparison.slots_left == 0
    assert all(next_item(client).status_code == 204 for client in clients)


def test_submit_checks_the_rules_and_is_idempotent(project: Project) -> None:
    client = annotator_client(project, "a1")
    item = next_item(client).json()
    a, b = [r["token"] for r in item["responses"]]
    url = f"/api/v1/assignments/{item['assignment']}/submit/"
    for body, field in [
        ({"ranking": [[a, b]]}, "ranking"),  # ties are off in this project
        ({"ranking": [[a], [b]], "strength": 2}, "strength"),  # the scale has 2 levels
        ({"ranking": [[a], [b]], "criteria": {"x": "1"}}, "criteria.x"),
        ({"ranking": [[a]]}, "ranking"),
    ]:
        response = client.post(url, body, format="json")
        assert response.status_code == 400 and response.json()["error"]["details"]["field"] == field, body
    first = client.post(url, {"ranking": [[b], [a]], "client_token": "once"}, format="json")
    again = client.post(url, {"ranking": [[b], [a]], "client_token": "once"}, format="json")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["judgment"] == first.json()["judgment"]
    judgment = Judgment.objects.get(pk=first.json()["judgment"])
    ids = response_tokens(assignment=Assignment.objects.get(pk=item["assignment"]))
    assert judgment.source == "api" and judgment.shown_order == [ids[a], ids[b]]
    placements = judgment.placements.values_list("response_id", "rank")
    assert sorted(list(p) for p in placements) == sorted([[ids[b], 1], [ids[a], 2]])
    # Without a token a second submit is a conflict; so is skipping a submitted item.
    assert client.post(url, {"ranking": [[b], [a]]}, format="json").status_code == 409
    skipped = client.post(f"/api/v1/assignments/{item['assignment']}/skip/")
    assert skipped.status_code == 409 and "no longer yours" in skipped.json()["error"]["message"]


def test_someone_elses_assignment_is_404(project: Project) -> None:
    owner, other = annotator_client(project, "a1"), annotator_client(project, "a2")
    item = next_item(owner).json()
    assert submit(other, item).status_code == 404
    assert other.post(f"/api/v1/assignments/{item['assignment']}/skip/").status_code == 404
    assert json.loads(submit(other, item).content)["error"]["message"] == "No such item in your queue."
