"""API tokens: create (the key is returned once), revoke, list, and resolve a presented key to its token.

Keys look like `pwb_<43 url-safe characters>`; the `pwb_` prefix makes a leaked key easy to find with secret
scanners. Only the SHA-256 of a key is stored.

A password change revokes all of the user's tokens (a stolen password may have been used to make one):
`RevokeTokensOnPasswordChange` sits in AUTH_PASSWORD_VALIDATORS, whose `password_changed` hook Django calls after
every save that follows `set_password` (admin, `manage.py changepassword`, password forms), but not when it merely
upgrades a stored hash at login.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from workbench.exceptions import ApplicationError, NotFound
from workbench.models import ApiToken

KEY_PREFIX = "pwb_"
MAX_ACTIVE_TOKENS = 50
# last_used_at is written at most this often per token: every authenticated request writing a row would queue
# behind SQLite's single write lock for no benefit.
LAST_USED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    key: str  # shown once; never stored


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_create(*, user: AbstractBaseUser, name: str) -> NewToken:
    name = name.strip()
    if not name:
        raise ApplicationError("Give the token a name.", extra={"field": "name"})
    if len(name) > 100:
        raise ApplicationError("The name is longer than 100 characters.", extra={"field": "name"})
    if api_token_list(user=user).filter(revoked_at__isnull=True).count() >= MAX_ACTIVE_TOKENS:
        raise ApplicationError(f"You have {MAX_ACTIVE_TOKENS} active tokens; revoke one first.")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=key[: len(KEY_PREFIX) + 6], key_hash=hash_key(key))
    return NewToken(token=token, key=key)


def api_token_revoke(*, user: AbstractBaseUser, token_id: int) -> ApiToken:
    """Revoke one of the user's own tokens (someone else's is 404). Revoking twice is harmless."""
    token = api_token_list(user=user).filter(pk=token_id).first() if 0 < token_id < 2**63 else None
    if token is None:
        raise NotFound("No such token.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def api_token_revoke_all(*, user: AbstractBaseUser) -> int:
    """Revoke every active token of the user; returns how many."""
    return ApiToken.objects.filter(user_id=user.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


class RevokeTokensOnPasswordChange:
    """Not a rule on passwords: Django's hook for "this user's password has just changed"."""

    def validate(self, password: str, user: AbstractBaseUser | None = None) -> None:
        return None

    def password_changed(self, password: str, user: AbstractBaseUser | None = None) -> None:
        if user is not None and user.pk is not None:
            api_token_revoke_all(user=user)

    def get_help_text(self) -> str:
        return "Changing your password revokes your API tokens."


def api_token_list(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user_id=user.pk).order_by("-created_at", "-id")


def api_token_authenticate(*, key: str) -> ApiToken | None:
    """The active token for a presented key with its user, or None (unknown, revoked, or an inactive user)."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_key(key), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_EVERY)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token
