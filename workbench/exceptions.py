"""One error vocabulary: services raise ApplicationError (or a subclass); views and the API map it to 4xx."""

from __future__ import annotations


class ApplicationError(Exception):
    status_code = 400

    def __init__(self, message: str, *, extra: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class PermissionDenied(ApplicationError):
    status_code = 403


class NotFound(ApplicationError):
    status_code = 404


class Conflict(ApplicationError):
    status_code = 409
