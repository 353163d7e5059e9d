"""Judgments through the API: external judges created on first use, human judgments through the lease, idempotency
by client token, all-or-nothing batches, and the list filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import Assignment, Comparison, Judge, Judgment, Placement, Project
from tests.api.conftest import World

pytestmark = pytest.mark.django_db

CREATE = "/api/v1/projects/demo/judgments/create/"
BULK = "/api/v1/projects/demo/judgments/bulk-create/"
LIST = "/api/v1/projects/demo/judgments/"


def ids(comparison: Comparison) -> list[int]:
    return Comparison.response_ids_of(comparison.key)


def llm_judgment(comparison: Comparison, **extra: object) -> dict:
    a, b = ids(comparison)
    return {"comparison": comparison.pk, "ranking": [[b], [a]], "judge": {"name": "gpt-judge", "kind": "llm"}, **extra}


def test_an_external_judge_is_created_on_first_use_and_idempotent_by_client_token(world: World) -> None:
    client = world.client("researcher")
    body = llm_judgment(world.comparison, client_token="t-1", scores={str(ids(world.comparison)[0]): 0.25}, margin=1.5)
    first = client.post(CREATE, body, format="json")
    assert first.status_code == 201, first.content
    data = first.json()
    judge = Judge.objects.get(name="gpt-judge")
    assert judge.kind == Judge.Kind.LLM
    a, b = ids(world.comparison)
    assert (
        data["ranking"] == [[b], [a]]
        and data["source"] == "api"
        and data["judge"] == {"name": "gpt-judge", "kind": "llm"}
    )
    assert data["margin"] == 1.5 and {p["response"]: p["score"] for p in data["placements"]} == {a: 0.25, b: None}
    again = client.post(CREATE, body, format="json")
    assert again.status_code == 200 and again.json() == data
    assert Judgment.objects.filter(judge=judge).count() == 1
    # Without a token a second judgment of the same comparison by the same judge is a conflict.
    conflict = client.post(CREATE, {**body, "client_token": None}, format="json")
    assert conflict.status_code == 409 and conflict.json()["error"]["details"]["judgment"] == data["id"]
    # The token belongs to that comparison.
    other = Comparison.objects.filter(project=world.project).exclude(pk=world.comparison.pk).first()
    reused = client.post(CREATE, llm_judgment(other, client_token="t-1"), format="json")
    assert reused.status_code == 409 and reused.json()["error"]["details"]["field"] == "client_token"


def test_a_client_token_never_reaches_another_projects_judgment(world: World) -> None:
    """External judges are shared by name across projects; their tokens must not leak judgments between them."""
    from annotation.models import Membership
    from tests.factories import MembershipFactory

    other_comparison = Comparison.objects.filter(project=world.other).first()
    MembershipFactory(project=world.other, user=world.users["researcher"], role=Membership.Role.RESEARCHER)
    body = llm_judgment(other_comparison, client_token="shared")
    assert (
        world.client("researcher").post("/api/v1/projects/other/judgments/create/", body, format="json").status_code
        == 201
    )
    response = world.client("admin").post(CREATE, body, format="json")  # to demo, naming other's comparison
    assert response.status_code == 400 and response.json()["error"]["details"]["field"] == "comparison"


def test_placements_must_be_exactly_the_comparisons_responses(world: World) -> None:
    client = world.client("researcher")
    a, b = ids(world.comparison)
    for ranking in ([[a]], [[a], [a]], [[a], [b], [999]], [[a, b], []]):
        response = client.post(CREATE, llm_judgment(world.comparison, ranking=ranking), format="json")
        assert response.status_code == 400, ranking
        error = response.json()["error"]
        assert error["details"].get("field") == "ranking" or "ranking" in error["details"], error
    tie = client.post(CREATE, llm_judgment(world.comparison, ranking=[[a, b]]), format="json")
    assert tie.status_code == 201 and tie.json()["ranking"] == [sorted([a, b])]
    assert set(Placement.objects.filter(judgment_id=tie.json()["id"]).values_list("rank", flat=True)) == {1}


def test_kind_clashes_and_unknown_comparisons_are_refused(world: World) -> None:
    client = world.client("researcher")
    judge = {"name": "demo:imported", "kind": "llm"}  # exists as an imported judge
    response = client.post(CREATE, llm_judgment(world.comparison, judge=judge), format="json")
    assert response.status_code == 400 and response.json()["error"]["details"]["field"] == "judge.kind"
    human = {"name": "human:x", "kind": "human"}
    assert client.post(CREATE, llm_judgment(world.comparison, judge=human), format="json").status_code == 400
    other = Comparison.objects.filter(project=world.other).first()
    response = client.post(CREATE, {**llm_judgment(world.comparison), "comparison": other.pk}, format="json")
    assert response.status_code == 400 and response.json()["error"]["details"]["field"] == "comparison"


def test_only_researchers_post_for_external_judges(world: World) -> None:
    response = world.client("annotator").post(CREATE, llm_judgment(world.comparison), format="json")
    assert response.status_code == 403
    assert not Judge.objects.filter(name="gpt-judge").exists()


def test_a_human_judgment_is_the_submission_of_the_users_lease(world: World) -> None:
    client = world.client("annotator")
    held = world.assignment
    a, b = held.shown_order
    body = {"comparison": held.comparison_id, "ranking": [[a], [b]], "client_token": "h-1", "duration_ms": 1200}
    first = client.post(CREATE, body, format="json")
    assert first.status_code == 201, first.content
    assert first.json()["judge"]["kind"] == "human" and first.json()["source"] == "api"
    held.refresh_from_db()
    assert held.status == Assignment.Status.DONE and held.judgment_id == first.json()["id"]
    assert client.post(CREATE, body, format="json").status_code == 200  # the retry gets the same judgment
    # A comparison the annotator holds no lease on: claim it through the queue first.
    other = Comparison.objects.filter(project=world.project).exclude(pk=held.comparison_id).first()
    c, d = ids(other)
    response = client.post(CREATE, {"comparison": other.pk, "ranking": [[c], [d]]}, format="json")
    assert response.status_code == 409 and "lease" in response.json()["error"]["message"]
    # Scores and margins are for model judges.
    response = client.post(CREATE, {**body, "client_token": "h-2", "margin": 1.0}, format="json")
    assert response.status_code == 400 and response.json()["error"]["details"]["field"] == "margin"


def test_human_rules_apply_to_human_judgments_not_to_external_ones(world: World) -> None:
    Project.objects.filter(pk=world.project.pk).update(allow_ties=False, rationale="required")
    a, b = world.assignment.shown_order
    tie = {"comparison": world.assignment.comparison_id, "ranking": [[a, b]], "rationale": "same"}
    response = world.client("annotator").post(CREATE, tie, format="json")
    assert response.status_code == 400 and response.json()["error"]["details"]["field"] == "ranking"
    external = world.client("researcher").post(CREATE, llm_judgment(world.comparison, ranking=[[a, b]]), format="json")
    assert external.status_code == 201


def test_bulk_create_is_all_or_nothing_with_row_errors_and_idempotent(world: World) -> None:
    client = world.client("researcher")
    comparisons = list(Comparison.objects.filter(project=world.project).order_by("id"))
    rows = [llm_judgment(c, client_token=f"b-{c.pk}") for c in comparisons]
    bad = rows + [
        llm_judgment(comparisons[0], ranking=[[1]]),
        {**llm_judgment(comparisons[1]), "judge": {"name": "x", "kind": "nope"}},
    ]
    response = client.post(BULK, {"judgments": bad}, format="json")
    assert response.status_code == 400
    assert {(r["row"], r["field"]) for r in response.json()["error"]["details"]["rows"]} == {(4, "judge.kind")}
    bad[4] = llm_judgment(comparisons[1])  # a second active judgment of comparison 1 by the same judge: 409 in row 4
    response = client.post(BULK, {"judgments": bad}, format="json")
    problems = response.json()["error"]["details"]["rows"]
    assert response.status_code == 400 and {(p["row"], p["field"]) for p in problems} == {
        (3, "ranking"),
        (4, "comparison"),
    }
    assert [p.get("status") for p in problems] == [None, 409]
    assert not Judge.objects.filter(name="gpt-judge").exists()  # rolled back with everything else
    created = client.post(BULK, {"judgments": rows}, format="json")
    assert created.status_code == 201 and created.json()["created"] == 3 and created.json()["existing"] == 0
    replay = client.post(BULK, {"judgments": rows}, format="json")
    assert replay.status_code == 200 and replay.json()["created"] == 0 and replay.json()["existing"] == 3
    assert [j["id"] for j in replay.json()["judgments"]] == [j["id"] for j in created.json()["judgments"]]


def test_list_filters(world: World) -> None:
    researcher = world.client("researcher")
    comparisons = list(Comparison.objects.filter(project=world.project).order_by("id"))
    researcher.post(BULK, {"judgments": [llm_judgment(c) for c in comparisons[:2]]}, format="json")
    a, b = world.assignment.shown_order
    world.client("annotator").post(
        CREATE, {"comparison": world.assignment.comparison_id, "ranking": [[a], [b]]}, format="json"
    )
    Judgment.objects.filter(project=world.project, judge__name="demo:imported", comparison=comparisons[2]).update(
        status="excluded"
    )
    old = Judgment.objects.filter(project=world.project, judge__name="demo:imported", comparison=comparisons[0])
    old.update(created_at=timezone.now() - timedelta(days=10))

    def listed(query: str) -> list[tuple[str, int]]:
        response = researcher.get(f"{LIST}?{query}")
        assert response.status_code == 200, response.content
        return [(j["judge"]["name"], j["comparison"]) for j in response.json()["results"]]

    assert len(listed("")) == 6
    assert listed("judge=gpt-judge") == [("gpt-judge", comparisons[0].pk), ("gpt-judge", comparisons[1].pk)]
    assert listed("judge_kind=human") == [("human:ann", world.assignment.comparison_id)]
    assert [c for _, c in listed("source=import")] == [c.pk for c in comparisons]
    assert listed("status=excluded") == [("demo:imported", comparisons[2].pk)]
    assert len(listed(f"comparison={comparisons[0].pk}")) == 3
    prompt = comparisons[1].prompt.external_id
    assert {name for name, _ in listed(f"prompt={prompt}")} == {"demo:imported", "gpt-judge"}
    cutoff = (timezone.now() - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert listed(f"created_before={cutoff}") == [("demo:imported", comparisons[0].pk)]
    assert len(listed(f"created_after={cutoff}")) == 5
    assert listed("judge_kind=llm&source=api&status=active&page_size=1") == [("gpt-judge", comparisons[0].pk)]
    # PostgreSQL takes UTC offsets up to 16 hours; the filter moves any valid offset to UTC first.
    assert listed("created_after=2000-01-01T00:00:00-23:30") == listed("created_after=2000-01-01T23:30:00Z")
    bad_values = ("judge_kind=robot", "comparison=abc", "comparison=99999999999999999999999", "created_after=yesterday")
    for bad in (*bad_values, "created_before=9999-12-31T23:59:00-01:00"):
        response = researcher.get(f"{LIST}?{bad}")
        assert response.status_code == 400, bad
        assert response.json()["error"]["details"]
