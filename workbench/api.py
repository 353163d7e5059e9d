"""DRF glue: every 4xx has the body {"error": {"message": ..., "details": ...}}; pagination; the schema class.

The handler covers the service refusals (ApplicationError), DRF's own (validation, parse errors, 401, 403, 404,
405, 415, throttling: 429) and Django's ValidationError from model `full_clean`; a database that cannot be reached
is a 503 with Retry-After, and any other crash a 500 in the same shape, with no traceback or path in the body.
`NotFoundApi` answers any unknown URL under /api/v1/ in the same shape, so a client never has to parse an HTML
error page. A write carrying a field its operation does not define is refused by workbench.known_fields (a default
permission class, so every view has it); the schema says so with `additionalProperties: false` on request bodies.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import exceptions as drf_exceptions
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback
from rest_framework.views import exception_handler as drf_exception_handler

from workbench.exceptions import ApplicationError, NotFound

logger = logging.getLogger("workbench.api")


class AnyAcceptNegotiation(BaseContentNegotiation):
    """For file downloads: whatever the client accepts, the file comes as it is (errors as JSON)."""

    def select_parser(self, request: Request, parsers: list) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: list, format_suffix: str | None = None) -> tuple:
        return renderers[0], renderers[0].media_type


def error_body(message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"message": message, "details": details if details is not None else {}}}


# How long a client should wait before retrying when the database cannot be reached.
DATABASE_RETRY_AFTER_SECONDS = 30


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, (OperationalError, InterfaceError)):  # the database is down, restarting, or locked
        logger.error("API request failed: the database is unavailable (%s)", type(exc).__name__, exc_info=exc)
        set_rollback()
        response = Response(
            error_body("The database is unavailable right now; try again shortly."),
            status=503,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
        return response
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.message, exc.extra), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(error_body("Invalid input.", details), status=400)
    if isinstance(exc, RequestDataTooBig):  # a JSON body over DATA_UPLOAD_MAX_MEMORY_SIZE (DRF reads it whole)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024)
        return Response(error_body(f"The request body is larger than {limit} MB; send smaller batches."), status=413)
    if isinstance(exc, SuspiciousOperation):  # e.g. an upload whose name makes no file name
        return Response(error_body("Bad request.", {"reason": str(exc)}), status=400)
    response = drf_exception_handler(exc, context)
    if response is None:
        # A bug: logged with its traceback here; the client gets the error shape without server details.
        logger.error("API request failed", exc_info=exc)
        set_rollback()
        return Response(error_body("Internal server error; it has been logged."), status=500)
    if isinstance(exc, drf_exceptions.ValidationError):
        message, details = "Invalid input.", response.data
    elif isinstance(exc, drf_exceptions.Throttled):  # 429; DRF sets Retry-After
        message, details = str(exc.detail), {"retry_after_seconds": exc.wait}
    else:
        message, details = str(getattr(exc, "detail", exc)), {}
    response.data = error_body(message, details)
    return response


class NotFoundApi(APIView):
    """Any path under /api/v1/ that names no endpoint, for every method."""

    schema = None  # not an operation
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        raise NotFound("No such API endpoint.", extra={"path": request.path})


# -- OpenAPI ---------------------------------------------------------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    message = serializers.CharField()
    details = serializers.JSONField(help_text="Field errors, or facts about the refusal (e.g. the field it names).")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


_ERRORS = {
    "400": "Invalid input: `details` names the fields (and rows) at fault.",
    "401": "Not authenticated, or an unknown or revoked token.",
    "403": "Authenticated, but your role in this project does not allow this.",
    "404": "No such object, or not one you may see (non-members get 404 so names do not leak).",
    "413": "The request body is too large.",
    "409": "The request conflicts with the current state (e.g. already submitted, lease expired).",
    "415": "Unsupported media type: send JSON (or multipart for uploads).",
    "429": "Too many requests (your rate, or bad token keys from your address): wait `Retry-After` seconds.",
    "503": "The database is unavailable: retry after `Retry-After` seconds.",
}


class AutoSchema(SpectacularAutoSchema):
    """Names components after their view ("JudgmentCreateApi.InputSerializer" -> "JudgmentCreateInput"), so the
    house style's nested Input/Output serializers do not collide, and documents the error body on every operation."""

    def get_serializer_name(self, serializer: serializers.Serializer, direction: str) -> str:
        parts = type(serializer).__qualname__.split(".")
        cleaned = [p.removesuffix("Api").removesuffix("Serializer") for p in parts if p != "<locals>"]
        return "".join(cleaned) or type(serializer).__name__

    def _map_basic_serializer(self, serializer: serializers.Serializer, direction: str) -> dict[str, Any]:
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request":  # what workbench.known_fields enforces, said where clients and fuzzers read it
            schema["additionalProperties"] = False
        return schema

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        codes = ["400", "404"]
        if not any(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            codes += ["401", "403"]
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes += ["409", "413", "415"]
        codes += ["429", "503"]
        codes += getattr(self.view, "extra_error_codes", [])  # e.g. a download that is not ready: 409
        for code in codes:
            if code not in responses:
                body = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                responses[code] = {**body, "description": _ERRORS[code]}
        return responses
