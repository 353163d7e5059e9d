"""Who a request comes from, and how many bad API token keys it has sent.

Logins are locked out per (username, address) by django-axes (settings.py); the API is rate-limited by DRF's
throttles. A bad token key is refused with 401 before DRF's throttles run, so failed keys are counted here, per
address, and an address over WORKBENCH_API_TOKEN_FAILURE_LIMIT gets 429 until the lockout time has passed.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework import throttling

_FAILURES_KEY = "api-token-failures:{}"


class UserRateThrottle(throttling.UserRateThrottle):
    """WORKBENCH_API_USER_RATE per user (e.g. "1200/minute"), read when a request comes (DRF's own class reads
    its rates once, at import)."""

    def get_rate(self) -> str:
        return settings.WORKBENCH_API_USER_RATE


class AnonRateThrottle(throttling.AnonRateThrottle):
    """WORKBENCH_API_ANON_RATE per address for the endpoints open to anonymous requests."""

    def get_rate(self) -> str:
        return settings.WORKBENCH_API_ANON_RATE


def client_ip(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """The client's address: REMOTE_ADDR, or with WORKBENCH_TRUSTED_PROXIES=N the N-th address from the right of
    X-Forwarded-For (each trusted proxy appends the address it saw; anything further left may be forged). None
    when there is no valid address (a test request, a Unix socket): axes stores addresses in an inet column."""
    candidate = request.META.get("REMOTE_ADDR", "")
    proxies = getattr(settings, "WORKBENCH_TRUSTED_PROXIES", 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        addresses = [part.strip() for part in forwarded.split(",") if part.strip()]
        if addresses:
            candidate = addresses[-min(proxies, len(addresses))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def _lockout_seconds() -> int:
    return settings.WORKBENCH_LOGIN_LOCKOUT_MINUTES * 60


def token_failures_exceeded(request: HttpRequest) -> int | None:
    """Seconds to wait when this address has sent too many bad token keys; None when it may try."""
    failures = cache.get(_FAILURES_KEY.format(client_ip(request) or "unknown"), 0)
    return _lockout_seconds() if failures >= settings.WORKBENCH_API_TOKEN_FAILURE_LIMIT else None


def token_failure_record(request: HttpRequest) -> None:
    key = _FAILURES_KEY.format(client_ip(request) or "unknown")
    cache.add(key, 0, _lockout_seconds())  # the window starts at the first failure
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, _lockout_seconds())


def login_lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """django-axes' answer to a locked-out (username, address): 429 with a page that says what happened."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    context = {
        "username": username,
        "failure_limit": settings.WORKBENCH_LOGIN_FAILURE_LIMIT,
        "minutes": settings.WORKBENCH_LOGIN_LOCKOUT_MINUTES,
    }
    response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(_lockout_seconds())
    return response
