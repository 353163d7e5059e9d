"""Judges and client tokens are scoped by project: one project learns nothing of another's judges through the API."""

from __future__ import annotations

import pytest

from annotation.models import Comparison, Judge, Membership
from tests.api.conftest import World
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

DEMO = "/api/v1/projects/demo/judgments/create/"
OTHER = "/api/v1/projects/other/judgments/create/"


def body(comparison: Comparison, name: str = "gpt-judge", kind: str = "llm", **extra: object) -> dict:
    a, b = Comparison.response_ids_of(comparison.key)
    return {"comparison": comparison.pk, "ranking": [[b], [a]], "judge": {"name": name, "kind": kind}, **extra}


@pytest.fixture
def both(world: World) -> tuple[Comparison, Comparison]:
    MembershipFactory(project=world.other, user=world.users["researcher"], role=Membership.Role.RESEARCHER)
    return world.comparison, Comparison.objects.filter(project=world.other).first()


def test_the_same_client_token_in_two_projects_is_two_judgments(world: World, both) -> None:
    demo, other = both
    client = world.client("researcher")
    first = client.post(OTHER, body(other, client_token="tok-1"), format="json")
    assert first.status_code == 201
    # Before, the judge "gpt-judge" was shared, so this was a 409 saying the token was used elsewhere.
    second = client.post(DEMO, body(demo, client_token="tok-1"), format="json")
    assert second.status_code == 201, second.content
    assert second.json()["id"] != first.json()["id"]
    assert sorted(Judge.objects.filter(name="gpt-judge").values_list("project__slug", flat=True)) == ["demo", "other"]


def test_a_kind_clash_speaks_of_this_project_only(world: World, both) -> None:
    demo, other = both
    client = world.client("researcher")
    assert client.post(OTHER, body(other, name="their-judge", kind="llm"), format="json").status_code == 201
    # Another project's judge of that name is no obstacle ...
    assert client.post(DEMO, body(demo, name="their-judge", kind="reference"), format="json").status_code == 201
    # ... and a clash in this project names this project's judge only.
    clash = client.post(DEMO, body(demo, name="their-judge", kind="llm"), format="json")
    assert clash.status_code == 400
    message = clash.json()["error"]["message"]
    assert message == "The judge 'their-judge' of this project has kind 'reference', not 'llm'."


def test_human_names_are_reserved(world: World) -> None:
    response = world.client("researcher").post(DEMO, body(world.comparison, name="human:annotator"), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "judge.name"
    assert not Judge.objects.filter(name="human:annotator").exists()
