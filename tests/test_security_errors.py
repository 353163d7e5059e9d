"""Errors answer in the API's one shape, never as HTML 500s: a tampered pagination cursor is a 400 that names the
parameter; a database that cannot be reached is a 503 with Retry-After (the API as JSON, pages as a plain page);
a crash shows no traceback and no server path."""

from __future__ import annotations

import base64
import json
import sys

import pytest
from django.db import connection
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from annotation.models import Membership
from tests.factories import MembershipFactory, ProjectFactory
from workbench.api import exception_handler
from workbench.errors import server_error
from workbench.tokens import api_token_create


def _cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "cursor",
    [
        _cursor("p=abc"),  # a position that is not an id: the database lookup used to raise (HTML 500)
        _cursor("p=99999999999999999999999"),  # past a 64-bit integer: an overflow
        _cursor("p=1' OR '1'='1"),
        _cursor("o=-5"),
        "!!not-base64!!",
        "é",
    ],
)
def test_a_tampered_cursor_is_a_400_in_the_error_shape(cursor: str) -> None:
    project = ProjectFactory(slug="cur")
    user = MembershipFactory(project=project, role=Membership.Role.RESEARCHER).user
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user, name='t').key}")
    for path in ("/api/v1/projects/cur/prompts/", "/api/v1/projects/cur/judgments/"):
        response = client.get(path, {"cursor": cursor})
        assert response.status_code == 400, (path, response.content[:300])
        assert response["Content-Type"] == "application/json"
        body = response.json()
        assert set(body) == {"error"} and "cursor" in body["error"]["details"], body
    assert client.get("/api/v1/projects/cur/prompts/", {"cursor": _cursor("p=5")}).status_code == 200


@pytest.fixture
def database_down():
    """The configured database becomes unreachable for real (a path that cannot be opened, a closed port), and
    comes back afterwards."""
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-dir/for/sure/db.sqlite3"
    else:
        connection.settings_dict.update(HOST="127.0.0.1", PORT="9")
    yield
    connection.close()
    connection.settings_dict.clear()
    connection.settings_dict.update(saved)


@pytest.mark.django_db(transaction=True)
def test_a_database_outage_is_a_503_with_retry_after(database_down) -> None:
    api = APIClient(raise_request_exception=False)
    api.credentials(HTTP_AUTHORIZATION="Token pwb_" + "x" * 43)
    response = api.get("/api/v1/projects/")
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": {"message": "The database is unavailable right now; try again shortly.", "details": {}}
    }


@pytest.mark.django_db(transaction=True)
def test_a_page_needing_the_database_during_an_outage_is_a_plain_503(database_down) -> None:
    page = Client(raise_request_exception=False).get("/", HTTP_COOKIE="sessionid=abcdefgh")
    body = page.content.decode()
    assert page.status_code == 503 and page["Retry-After"] == "30"
    assert "Temporarily unavailable" in body and "Traceback" not in body and "nonexistent-dir" not in body


def _crash() -> BaseException:
    try:
        open("/srv/secret/path/settings.ini").read()  # a crash whose message carries a server path
    except OSError as error:
        return error
    raise AssertionError("unreachable")


def test_an_api_crash_is_a_500_in_the_error_shape_without_details() -> None:
    error = _crash()
    response = exception_handler(error, {})
    assert response is not None and response.status_code == 500
    assert response.data == {"error": {"message": "Internal server error; it has been logged.", "details": {}}}
    assert "/srv/secret" not in str(response.data)


@pytest.mark.parametrize("path", ["/projects/x/", "/api/v1/projects/"])
def test_the_500_handler_shows_no_traceback_or_path(path: str) -> None:
    error = _crash()
    request = RequestFactory().get(path)
    try:
        raise error
    except OSError:
        assert sys.exc_info()[1] is error
        response = server_error(request)
    body = response.content.decode()
    assert response.status_code == 500
    assert "/srv/secret" not in body and "Traceback" not in body and "settings.ini" not in body
    if path.startswith("/api/"):
        assert json.loads(body)["error"]["message"] == "Internal server error; it has been logged."
    else:
        assert "Something went wrong" in body


def test_django_uses_this_handler_for_crashes() -> None:
    from django.urls import get_resolver

    assert get_resolver().resolve_error_handler(500) is server_error


@pytest.mark.django_db
def test_a_refused_csrf_token_gets_the_site_layout_and_a_way_back() -> None:
    from django.test import Client

    from tests.factories import UserFactory

    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory())
    answer = client.post("/projects/create/", {"name": "x"})
    assert answer.status_code == 403
    html = answer.content.decode()
    assert "This form has expired" in html
    assert "Back to your projects" in html  # the site's layout, with a way back
