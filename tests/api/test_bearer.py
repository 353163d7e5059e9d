"""`Authorization: Bearer <key>` works beside `Token <key>`: the same keys, the same refusals (401 in the one error
shape for a revoked, unknown or malformed key), no CSRF needed, and the schema documents both."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.api.conftest import World

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "Token"])
def test_an_active_key_is_accepted_under_either_scheme(world: World, scheme: str) -> None:
    response = Client().get("/api/v1/projects/", HTTP_AUTHORIZATION=f"{scheme} {world.keys['annotator']}")
    assert response.status_code == 200
    assert [project["slug"] for project in response.json()["results"]] == ["demo"]


@pytest.mark.parametrize("scheme", ["Bearer", "Token"])
@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("revoked", "Invalid or revoked token."),
        ("wb_not-a-key-anyone-has", "Invalid or revoked token."),
        ("", "Invalid token header"),
        ("two words", "Invalid token header"),
    ],
)
def test_a_revoked_unknown_or_malformed_key_is_a_401_in_the_error_shape(
    world: World, scheme: str, key: str, message: str
) -> None:
    key = world.keys["revoked"] if key == "revoked" else key
    response = Client().get("/api/v1/projects/", HTTP_AUTHORIZATION=f"{scheme} {key}".strip())
    assert response.status_code == 401
    assert response.json()["error"]["message"].startswith(message) and response.json()["error"]["details"] == {}
    assert response["WWW-Authenticate"] == "Token"


def test_a_bearer_key_writes_without_csrf_as_its_user(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {world.keys['annotator']}"}
    claimed = client.post("/api/v1/projects/demo/assignments/next/", {}, content_type="application/json", **headers)
    assert claimed.status_code == 200 and claimed.json()["assignment"] == world.assignment.pk  # the annotator's lease
    outsider = {"HTTP_AUTHORIZATION": f"Bearer {world.keys['outsider']}"}
    assert client.get("/api/v1/projects/demo/", **outsider).status_code == 404


def test_the_schema_offers_either_scheme(world: World) -> None:
    schema = Client().get("/api/schema/?format=json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["tokenAuth"]["name"] == "Authorization"
    security = schema["paths"]["/api/v1/projects/"]["get"]["security"]
    assert {"tokenAuth": []} in security and {"bearerAuth": []} in security  # alternatives, not both at once
