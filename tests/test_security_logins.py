"""Logins and the token API are throttled: django-axes refuses the (limit+1)-th try for one username from one
address, before any password is hashed, while other users and other addresses still log in; the API answers 429
in the one error shape."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import get_hasher
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import UserFactory
from workbench.tokens import api_token_create

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def _login(client: Client, username: str, password: str, ip: str, **headers: str):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip, **headers)


def _user(name: str):
    user = UserFactory(username=name)
    user.set_password(f"{name}-right-password")
    user.save()
    return user


def test_the_n_plus_first_failed_login_is_refused_for_that_user_and_address_only(settings) -> None:
    limit = settings.WORKBENCH_LOGIN_FAILURE_LIMIT
    assert limit == 5 and settings.AXES_ENABLED  # the documented default
    _user("alice"), _user("bob")
    client = Client()
    for _ in range(limit - 1):
        failed = _login(client, "alice", "wrong", "10.0.0.1")
        assert failed.status_code == 200 and "Please enter a correct username and password" in failed.content.decode()
    assert _login(client, "alice", "wrong", "10.0.0.1").status_code == 429  # the N-th failure locks
    # Now even the right password is refused from that address, with a clear message and Retry-After.
    locked = _login(client, "alice", "alice-right-password", "10.0.0.1")
    assert locked.status_code == 429
    body = locked.content.decode()
    assert "Too many failed logins" in body and "Try again in 15 minutes" in body and "alice" in body
    assert locked["Retry-After"] == "900"
    assert "_auth_user_id" not in client.session
    # A forged X-Forwarded-For does not help: no proxy is trusted by default.
    forged = _login(Client(), "alice", "alice-right-password", "10.0.0.1", HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert forged.status_code == 429
    # Another user behind the same address (a NAT), and the same user from another address, still log in.
    assert _login(Client(), "bob", "bob-right-password", "10.0.0.1").status_code == 302
    assert _login(Client(), "alice", "alice-right-password", "10.0.0.2").status_code == 302


def test_a_locked_out_login_costs_no_password_hashing(settings) -> None:
    _user("carol")
    client = Client()
    for _ in range(settings.WORKBENCH_LOGIN_FAILURE_LIMIT):
        _login(client, "carol", "wrong", "10.0.0.3")
    hasher = get_hasher()
    calls = []
    original = type(hasher).verify  # Django's hasher, not our code: counts the hashing a login does

    def counting(self, password: str, encoded: str) -> bool:
        calls.append(1)
        return original(self, password, encoded)

    type(hasher).verify = counting
    try:
        assert _login(client, "carol", "wrong", "10.0.0.3").status_code == 429
    finally:
        type(hasher).verify = original
    assert calls == []


def test_behind_a_trusted_proxy_the_forwarded_address_counts(settings) -> None:
    settings.WORKBENCH_TRUSTED_PROXIES = 1
    _user("dave")
    for _ in range(settings.WORKBENCH_LOGIN_FAILURE_LIMIT):
        _login(Client(), "dave", "wrong", "127.0.0.1", HTTP_X_FORWARDED_FOR="forged, 203.0.113.5")
    locked = _login(Client(), "dave", "dave-right-password", "127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert locked.status_code == 429
    # The proxy's own address is shared by everyone; another client behind it is not locked out.
    other = _login(Client(), "dave", "dave-right-password", "127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.6")
    assert other.status_code == 302


def test_the_api_answers_429_in_the_error_shape(settings) -> None:
    settings.WORKBENCH_API_USER_RATE = "3/minute"
    client, other = APIClient(), APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=_user('erin'), name='t').key}")
    other.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=_user('fred'), name='t').key}")
    assert [client.get("/api/v1/projects/").status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get("/api/v1/projects/")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    error = refused.json()["error"]
    assert set(refused.json()) == {"error"} and "throttled" in error["message"].lower()
    assert error["details"]["retry_after_seconds"] > 0
    assert other.get("/api/v1/projects/").status_code == 200  # per user


def test_bad_token_keys_from_one_address_are_refused_with_429(settings) -> None:
    settings.WORKBENCH_API_TOKEN_FAILURE_LIMIT = 3
    guesser = APIClient(REMOTE_ADDR="10.0.0.7")
    guesser.credentials(HTTP_AUTHORIZATION="Token pwb_guess")
    assert [guesser.get("/api/v1/projects/").status_code for _ in range(3)] == [401, 401, 401]
    refused = guesser.get("/api/v1/projects/")
    assert refused.status_code == 429 and "Retry-After" in refused
    assert refused.json()["error"]["message"].startswith("Too many invalid token keys")
    honest = APIClient(REMOTE_ADDR="10.0.0.8")
    honest.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=_user('gina'), name='t').key}")
    assert honest.get("/api/v1/projects/").status_code == 200
