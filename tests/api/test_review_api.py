"""The review API: the flag list with filters, an action per judgment, undo; the permission matrix (annotator 403,
outsider 404, anonymous 401), unknown fields 400, refusals 409, all in the API's one error shape."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotation.models import Comparison, Judgment, LabelFlag, Membership, ReviewAction
from annotation.services.review import ordering_of
from tests.annotation.review_data import ReviewWorld, review_world
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from workbench.tokens import api_token_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> ReviewWorld:
    return review_world(prompts=4)


def _client(user=None) -> APIClient:  # noqa: ANN001
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user, name='t').key}")
    return client


def _people(world: ReviewWorld) -> dict[str, object]:
    return {
        "researcher": world.researcher,
        "admin": UserFactory(username="root", is_superuser=True, is_staff=True),
        "annotator": world.annotator,
        "outsider": MembershipFactory(project=ProjectFactory(slug="else"), role=Membership.Role.RESEARCHER).user,
        "anonymous": None,
    }


EXPECTED = {"researcher": 200, "admin": 200, "annotator": 403, "outsider": 404, "anonymous": 401}


def test_permission_matrix_of_every_review_endpoint(world: ReviewWorld) -> None:
    wrong = world.judgments[("a3", 0)]
    action = ReviewAction.objects.create(project=world.project, judgment=wrong, action="keep", user=world.researcher)
    for who, user in _people(world).items():
        client = _client(user)
        listed = client.get(f"/api/v1/projects/{world.project.slug}/noise/flags/")
        assert listed.status_code == EXPECTED[who], (who, listed.content)
        if listed.status_code != 200:
            assert set(listed.json()["error"]) == {"message", "details"}
        if who in ("researcher", "admin"):
            continue  # their writes are tested below
        acted = client.post(f"/api/v1/judgments/{wrong.pk}/review/", {"action": "exclude"}, format="json")
        assert acted.status_code == EXPECTED[who], who
        undone = client.post(f"/api/v1/review-actions/{action.pk}/undo/", {}, format="json")
        assert undone.status_code == EXPECTED[who], who
    wrong.refresh_from_db()
    assert wrong.status == "active" and ReviewAction.objects.count() == 1
    assert (
        _client(world.researcher)
        .post("/api/v1/judgments/999999/review/", {"action": "keep"}, format="json")
        .status_code
        == 404
    )


def test_the_flag_list_filters_and_pages(world: ReviewWorld) -> None:
    client = _client(world.researcher)
    url = f"/api/v1/projects/{world.project.slug}/noise/flags/"
    body = client.get(url).json()
    assert body["count"] == 5 and [r["judgment"] for r in body["results"]][0] == world.judgments[("a3", 0)].pk
    first = body["results"][0]
    assert first["suspicion"] == 0.95 and first["judge"] == "crowd:a3" and first["review_status"] == "open"
    assert {f["detector"] for f in first["flags"]} == {"reward_model", "other_judges", "combined"}
    paged = client.get(url, {"page_size": 2, "page": 3}).json()
    assert paged["count"] == 5 and len(paged["results"]) == 1 and not paged["has_more"]
    assert client.get(url, {"judge": "crowd:a1"}).json()["count"] == 1
    assert client.get(url, {"category": "math", "detector": "reward_model", "min_score": 0.7}).json()["count"] == 1
    assert client.get(url, {"max_score": 0.3}).json()["count"] == 1
    for bad, field in [({"min_score": "2"}, "min_score"), ({"status": "gone"}, "status"), ({"sort": "x"}, "sort")]:
        refused = client.get(url, bad)
        assert refused.status_code == 400 and refused.json()["error"]["details"]["field"] == field


def test_each_action_and_its_undo_through_the_api(world: ReviewWorld) -> None:
    client = _client(world.researcher)
    wrong = world.judgments[("a3", 0)]
    kept = client.post(f"/api/v1/judgments/{wrong.pk}/review/", {"action": "keep", "note": "ok"}, format="json")
    assert kept.status_code == 201, kept.content
    body = kept.json()
    assert body["action"]["action"] == "keep" and body["action"]["user"] == "rev" and body["action"]["note"] == "ok"
    assert body["next_judgment"] == world.judgments[("a3", 1)].pk
    undone = client.post(f"/api/v1/review-actions/{body['action']['id']}/undo/", format="json")
    assert undone.status_code == 200 and undone.json()["undone_by"] == "rev"
    again = client.post(f"/api/v1/review-actions/{body['action']['id']}/undo/", format="json")
    assert again.status_code == 409 and "already undone" in again.json()["error"]["message"]

    reversed_order = ordering_of(judgment=wrong)[::-1]
    corrected = client.post(
        f"/api/v1/judgments/{wrong.pk}/review/", {"action": "correct", "ordering": reversed_order}, format="json"
    ).json()["action"]
    correction = Judgment.objects.get(pk=corrected["correction"])
    assert correction.source == "api" and correction.status == "active"
    assert Judgment.objects.get(pk=wrong.pk).superseded_by_id == correction.pk

    requeued = world.judgments[("a3", 1)]
    r = client.post(f"/api/v1/judgments/{requeued.pk}/review/", {"action": "requeue", "annotators": 3}, format="json")
    assert r.status_code == 201 and r.json()["action"]["requeued"] == 3
    assert Comparison.objects.get(pk=requeued.comparison_id).slots_left == 3

    excluded = world.judgments[("a3", 2)]
    e = client.post(f"/api/v1/judgments/{excluded.pk}/review/", {"action": "exclude"}, format="json")
    assert e.status_code == 201 and Judgment.objects.get(pk=excluded.pk).status == "excluded"
    assert set(LabelFlag.objects.filter(judgment=excluded).values_list("status", flat=True)) == {"excluded"}
    twice = client.post(f"/api/v1/judgments/{excluded.pk}/review/", {"action": "exclude"}, format="json")
    assert twice.status_code == 409


def test_unknown_fields_and_bad_values_are_400_in_the_error_shape(world: ReviewWorld) -> None:
    client = _client(world.researcher)
    wrong = world.judgments[("a3", 0)]
    url = f"/api/v1/judgments/{wrong.pk}/review/"
    cases = [
        ({"action": "keep", "reason": "typo of note"}, "reason"),
        ({"action": "flip"}, "action"),
        ({"note": "no action"}, "action"),
        ({"action": "requeue", "annotators": 0}, "annotators"),
        ({"action": "correct", "ordering": [[1, 2], []]}, "ordering"),
    ]
    for payload, field in cases:
        response = client.post(url, payload, format="json")
        assert response.status_code == 400, payload
        assert field in response.json()["error"]["details"], (payload, response.json())
    missing = client.post(url, {"action": "correct"}, format="json")
    assert missing.status_code == 400 and missing.json()["error"]["details"] == {"field": "ordering"}
    keep_with_order = client.post(url, {"action": "keep", "ordering": [[1], [2]]}, format="json")
    assert keep_with_order.status_code == 400
    action = ReviewAction.objects.create(project=world.project, judgment=wrong, action="keep", user=world.researcher)
    undo = client.post(f"/api/v1/review-actions/{action.pk}/undo/", {"force": True}, format="json")
    assert undo.status_code == 400 and "force" in undo.json()["error"]["details"]
    assert not ReviewAction.objects.exclude(pk=action.pk).exists() and ReviewAction.objects.get().undone_at is None
