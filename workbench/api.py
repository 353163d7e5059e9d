"""DRF glue: every 4xx has the body {"error": {"message": ..., "details": ...}}."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from workbench.exceptions import ApplicationError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response({"error": {"message": exc.message, "details": exc.extra}}, status=exc.status_code)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        message, details = "Invalid input.", response.data
    else:
        message, details = str(getattr(exc, "detail", exc)), {}
    response.data = {"error": {"message": message, "details": details}}
    return response
