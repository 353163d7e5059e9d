"""A password change revokes the user's API tokens (a token made by whoever stole the password stops working);
another user's tokens, and a hash upgrade at login, leave tokens alone."""

from __future__ import annotations

import pytest
from django.contrib.auth.forms import PasswordChangeForm
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import UserFactory
from workbench.models import ApiToken
from workbench.tokens import api_token_create

pytestmark = pytest.mark.django_db


def _api(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_password_change_revokes_the_users_tokens() -> None:
    user, other = UserFactory(username="victim"), UserFactory(username="bystander")
    user.set_password("old-password-123")
    user.save()
    stolen = api_token_create(user=user, name="made by the thief").key
    theirs = api_token_create(user=other, name="mine").key
    assert _api(stolen).get("/api/v1/projects/").status_code == 200
    form = PasswordChangeForm(
        user,
        {"old_password": "old-password-123", "new_password1": "n3w-pass-phrase!", "new_password2": "n3w-pass-phrase!"},
    )
    assert form.is_valid(), form.errors
    form.save()
    refused = _api(stolen).get("/api/v1/projects/")
    assert refused.status_code == 401 and refused.json()["error"]["message"] == "Invalid or revoked token."
    assert ApiToken.objects.get(user=user).revoked_at is not None
    assert _api(theirs).get("/api/v1/projects/").status_code == 200
    # A token made after the change works.
    assert _api(api_token_create(user=user, name="new").key).get("/api/v1/projects/").status_code == 200


def test_the_admin_password_form_revokes_tokens_too() -> None:
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    user = UserFactory(username="worker")
    key = api_token_create(user=user, name="script").key
    client = Client()
    client.force_login(admin)
    response = client.post(
        f"/admin/auth/user/{user.pk}/password/", {"password1": "Br4nd-new-secret", "password2": "Br4nd-new-secret"}
    )
    assert response.status_code == 302, response.content[:500]
    assert _api(key).get("/api/v1/projects/").status_code == 401


def test_a_hash_upgrade_at_login_keeps_tokens(settings) -> None:
    user = UserFactory(username="upgraded")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher"]
    user.set_password("same-password-1")
    user.save()
    key = api_token_create(user=user, name="script").key
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]
    assert user.check_password("same-password-1")  # Django re-hashes with the preferred hasher and saves
    user.refresh_from_db()
    assert user.password.startswith("md5$")
    assert _api(key).get("/api/v1/projects/").status_code == 200


def test_the_tokens_page_says_so() -> None:
    client = Client()
    client.force_login(UserFactory())
    assert "Changing your password revokes all your tokens" in client.get("/account/tokens/").content.decode()


def test_manage_changepassword_is_covered_by_the_same_hook(monkeypatch) -> None:
    user = UserFactory(username="cli")
    key = api_token_create(user=user, name="script").key
    answers = iter(["C0mmand-line-pass", "C0mmand-line-pass"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    call_command("changepassword", "cli", stdout=None)
    assert _api(key).get("/api/v1/projects/").status_code == 401
