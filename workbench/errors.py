"""The last resort for a request that crashed: Django's handler500. No traceback, exception text or server path
reaches the user (they are logged by Django); /api/ paths answer in the API's error shape; a database that cannot
be reached is a 503 with Retry-After, since retrying later is the right thing to do."""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

from workbench.api import DATABASE_RETRY_AFTER_SECONDS, error_body

DATABASE_DOWN = "The database is unavailable right now; try again shortly."
CRASHED = "Internal server error; it has been logged."


def server_error(request: HttpRequest) -> HttpResponse:
    database_down = isinstance(sys.exc_info()[1], (OperationalError, InterfaceError))
    status = 503 if database_down else 500
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(error_body(DATABASE_DOWN if database_down else CRASHED), status=status)
    else:
        context = {"title": "Temporarily unavailable", "message": DATABASE_DOWN} if database_down else {}
        response = HttpResponse(loader.get_template("500.html").render(context), status=status)
    if database_down:
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response
