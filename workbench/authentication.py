"""DRF authentication: `Authorization: Token <key>` (or `Bearer <key>`, the same key, as OAuth-style clients send it)
for scripts; the session (with CSRF) for the browser.

TokenAuthentication comes first in the settings so that an anonymous request is told how to authenticate (401 with
`WWW-Authenticate: Token`) rather than refused (403).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from workbench.models import ApiToken
from workbench.throttles import token_failure_record, token_failures_exceeded
from workbench.tokens import api_token_authenticate

KEYWORD = "Token"
# Both schemes name the same ApiToken key; many HTTP clients only know how to send `Bearer`.
KEYWORDS = (b"token", b"bearer")


class TokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, ApiToken] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() not in KEYWORDS:
            return None  # not ours: the session may still authenticate the request
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid token header: write `Authorization: Token <key>` or `Authorization: Bearer <key>`."
            )
        try:
            key = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        wait = token_failures_exceeded(request)
        if wait is not None:  # guessing keys: refused before the lookup (docs/security.md)
            raise exceptions.Throttled(wait=wait, detail="Too many invalid token keys from your address.")
        token = api_token_authenticate(key=key)
        if token is None:
            token_failure_record(request)
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


class TokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema (and the docs page's Authorize button) describe token auth."""

    target_class = "workbench.authentication.TokenAuthentication"
    name = ["tokenAuth", "bearerAuth"]

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list]]:
        return [{"tokenAuth": []}, {"bearerAuth": []}]  # either one (a list is OR; one dict would be AND)

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, str]]:
        return [
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Token <key>`: create a key on your profile page (/account/tokens/).",
            },
            {
                "type": "http",
                "scheme": "bearer",
                "description": "`Bearer <key>`: the same key as `Token <key>`.",
            },
        ]
