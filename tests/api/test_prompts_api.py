"""Bulk create of prompts with responses: comparisons made per project kind, all or nothing, errors by row/field."""

from __future__ import annotations

import pytest

from annotation.models import Comparison, ComparisonResponse, Project, Prompt, Response
from annotation.services.assignments import assignment_claim
from tests.api.conftest import World
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/{}/prompts/bulk-create/"


def prompt(external_id: str, responses: int = 2, **extra: object) -> dict:
    return {
        "external_id": external_id,
        "messages": [{"role": "user", "content": f"question {external_id}"}],
        "responses": [
            {"external_id": f"{external_id}-r{i}", "text": f"answer {i}", "generator": f"m{i}"}
            for i in range(responses)
        ],
        **extra,
    }


def test_bulk_create_makes_prompts_responses_and_a_pair_comparison(world: World) -> None:
    body = {"prompts": [prompt("a", category="math", metadata={"src": "x"}), prompt("b"), prompt("c", responses=0)]}
    response = world.client("researcher").post(URL.format("demo"), body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["created"] == 3 and [p["external_id"] for p in data["prompts"]] == ["a", "b", "c"]
    a = Prompt.objects.get(project=world.project, external_id="a")
    assert a.category == "math" and a.metadata == {"src": "x"}
    assert list(Response.objects.filter(prompt=a).values_list("generator", flat=True)) == ["m0", "m1"]
    comparison = Comparison.objects.get(prompt=a)
    ids = list(Response.objects.filter(prompt=a).order_by("id").values_list("id", flat=True))
    assert comparison.key == Comparison.key_for(ids) and comparison.slots_left == world.project.overlap
    assert list(ComparisonResponse.objects.filter(comparison=comparison).values_list("response_id", flat=True)) == ids
    assert data["prompts"][0]["comparisons"] == [{"id": comparison.pk, "response_ids": ids, "slots_left": 1}]
    assert not Comparison.objects.filter(prompt__external_id="c").exists()
    # The new comparisons are assignable: annotators get them from the queue.
    claimed = set()
    for i in range(6):
        user = MembershipFactory(project=world.project, user__username=f"extra{i}").user
        assignment = assignment_claim(project=world.project, user=user)
        if assignment:
            claimed.add(assignment.comparison.prompt.external_id)
    assert {"a", "b"} <= claimed


def test_listwise_project_gets_one_comparison_of_all_responses(world: World) -> None:
    project = ProjectFactory(slug="lists", kind=Project.Kind.LISTWISE, list_size=4, overlap=2)
    MembershipFactory(project=project, user=world.users["researcher"], role="researcher")
    response = world.client("researcher").post(
        URL.format("lists"), {"prompts": [prompt("x", responses=4)]}, format="json"
    )
    assert response.status_code == 201, response.content
    comparison = Comparison.objects.get(project=project)
    assert len(Comparison.response_ids_of(comparison.key)) == 4 and comparison.slots_left == 2


def test_bulk_create_is_atomic_and_names_row_and_field(world: World) -> None:
    before = Prompt.objects.count(), Response.objects.count(), Comparison.objects.count()
    body = {
        "prompts": [
            prompt("ok"),
            prompt("three", responses=3),  # a pairwise project takes 2
            {**prompt("bad-msg"), "messages": [{"role": "robot", "content": "x"}]},
            {**prompt("dup-r"), "responses": [{"external_id": "r", "text": "1"}, {"external_id": "r", "text": "2"}]},
            prompt("ok"),  # the same id twice
        ]
    }
    response = world.client("researcher").post(URL.format("demo"), body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert "nothing was written" in error["message"]
    found = {(p["row"], p["field"]) for p in error["details"]["rows"]}
    # Type errors first (the serializer): the role of row 2's message.
    assert found == {(2, "messages.0.role")}, error
    body["prompts"][2] = prompt("fixed")
    response = world.client("researcher").post(URL.format("demo"), body, format="json")
    rows = response.json()["error"]["details"]["rows"]
    assert {(p["row"], p["field"]) for p in rows} == {
        (1, "responses"),
        (3, "responses.1.external_id"),
        (4, "external_id"),
    }
    assert all(p["message"] for p in rows)
    assert (Prompt.objects.count(), Response.objects.count(), Comparison.objects.count()) == before


def test_an_existing_prompt_id_is_refused(world: World) -> None:
    client = world.client("researcher")
    assert client.post(URL.format("demo"), {"prompts": [prompt("once")]}, format="json").status_code == 201
    response = client.post(URL.format("demo"), {"prompts": [prompt("new"), prompt("once")]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["rows"] == [
        {"row": 1, "field": "external_id", "message": "Prompt id 'once' already exists in this project."}
    ]
    assert not Prompt.objects.filter(external_id="new").exists()


def test_text_the_database_cannot_store_is_a_400(world: World) -> None:
    client = world.client("researcher")
    for bad in ({"metadata": {"k": "a\x00b"}}, {"metadata": {"a\x00": 1}}, {"metadata": []}):
        response = client.post(URL.format("demo"), {"prompts": [prompt("z", **bad)]}, format="json")
        assert response.status_code == 400, bad
        assert response.json()["error"]["details"]["rows"][0]["field"] == "metadata"
    response = client.post(URL.format("demo"), {"prompts": [{**prompt("z"), "external_id": "a\x00"}]}, format="json")
    assert response.json()["error"]["details"]["rows"][0]["field"] == "external_id"
    assert client.post(URL.format("demo"), {"prompts": []}, format="json").status_code == 400
    assert client.post(URL.format("demo"), [], format="json").status_code == 400


def test_list_and_retrieve_with_filters_and_cursor_pages(world: World) -> None:
    client = world.client("researcher")
    client.post(
        URL.format("demo"),
        {"prompts": [prompt(f"p{i}", category="c" if i % 2 else "") for i in range(5)]},
        format="json",
    )
    seen, url = [], "/api/v1/projects/demo/prompts/?page_size=3"
    while url:
        page = client.get(url).json()
        seen += [p["external_id"] for p in page["results"]]
        url = page["next"]
    assert len(seen) == 8 and seen[-5:] == ["p0", "p1", "p2", "p3", "p4"]
    assert [p["external_id"] for p in client.get("/api/v1/projects/demo/prompts/?category=c").json()["results"]] == [
        "p1",
        "p3",
    ]
    one = client.get("/api/v1/projects/demo/prompts/?external_id=p2").json()["results"][0]
    detail = client.get(f"/api/v1/projects/demo/prompts/{one['id']}/").json()
    assert detail == one and len(detail["responses"]) == 2
    other_prompt = Prompt.objects.filter(project=world.other).first()
    assert client.get(f"/api/v1/projects/demo/prompts/{other_prompt.pk}/").status_code == 404
    assert client.get("/api/v1/projects/demo/prompts/?cursor=garbage").status_code == 400  # names the parameter
    for bad in ("0", "501", "x", "²"):
        response = client.get(f"/api/v1/projects/demo/prompts/?page_size={bad}")
        assert response.status_code == 400 and "page_size" in response.json()["error"]["details"]
