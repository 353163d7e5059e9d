"""API tokens: created on the profile page with the key shown once, stored as a hash, revoked there; the API
accepts an active token and refuses a revoked one."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory
from workbench.models import ApiToken
from workbench.tokens import hash_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return UserFactory(username="tokens-user")


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_needs_a_login() -> None:
    for method, url in [
        ("get", "/account/tokens/"),
        ("post", "/account/tokens/"),
        ("post", "/account/tokens/1/revoke/"),
    ]:
        response = getattr(Client(), method)(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_create_shows_the_key_once_and_stores_only_its_hash(user) -> None:
    client = logged_in(user)
    page = client.get("/account/tokens/")
    assert page.status_code == 200 and "No tokens yet." in page.content.decode()
    response = client.post("/account/tokens/", {"name": "labelling front end"})
    html = response.content.decode()
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    key = re.search(r'<code id="new-token-key">([^<]+)</code>', html).group(1)
    token = ApiToken.objects.get(user=user)
    assert token.name == "labelling front end" and token.key_hash == hash_key(key) and key.startswith(token.prefix)
    assert key not in str(ApiToken.objects.values().get())  # only the hash is stored
    assert key not in client.get("/account/tokens/").content.decode()  # shown once
    api = Client()
    assert api.get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_revoke_stops_the_key_and_only_the_owner_can_revoke(user) -> None:
    client = logged_in(user)
    html = client.post("/account/tokens/", {"name": "script"}).content.decode()
    key = re.search(r'<code id="new-token-key">([^<]+)</code>', html).group(1)
    token = ApiToken.objects.get(user=user)
    stranger = logged_in(UserFactory(username="stranger"))
    assert stranger.post(f"/account/tokens/{token.pk}/revoke/").status_code == 404
    assert Client().get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    response = client.post(f"/account/tokens/{token.pk}/revoke/", follow=True)
    assert response.status_code == 200 and "revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    refused = Client().get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Token {key}")
    assert refused.status_code == 401 and refused.json() == {
        "error": {"message": "Invalid or revoked token.", "details": {}}
    }
    assert client.get("/account/tokens/").status_code == 200
    assert client.post("/account/tokens/99999999999999999999/revoke/").status_code == 404


def test_a_name_is_required_and_the_nav_links_the_page(user) -> None:
    client = logged_in(user)
    response = client.post("/account/tokens/", {"name": "  "})
    assert response.status_code == 400 and not ApiToken.objects.exists()
    assert 'href="/account/tokens/"' in client.get("/").content.decode()


def test_an_inactive_users_token_is_refused(user) -> None:
    html = logged_in(user).post("/account/tokens/", {"name": "x"}).content.decode()
    key = re.search(r'<code id="new-token-key">([^<]+)</code>', html).group(1)
    user.is_active = False
    user.save()
    assert Client().get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
