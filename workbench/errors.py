"""The last resort for a request that crashed: Django's handler500. No traceback, exception text or server path
reaches the user (they are logged by Django); /api/ paths answer in the API's error shape; a database that cannot
be reached is a 503 with Retry-After, since retrying later is the right thing to do."""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
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


# 403 and 404 raised outside our views (an unknown path, Django's own PermissionDenied, Http404) get the site's
# layout and a way back; /api/ paths keep the API's one error shape. ApplicationError subclasses raised in our
# views take workbench/middleware.py's path to the same templates.
def _client_error(request: HttpRequest, status: int, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(message), status=status)
    return render(request, f"{status}.html", {"message": message, "status": status}, status=status)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _client_error(request, 404, "There is no page at this address.")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _client_error(request, 403, "Your account is not allowed to open this page.")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form whose security token was refused (an old tab, cookies cleared): say so in the site's layout."""
    return _client_error(
        request, 403, "This form has expired or came from another site. Reload the page and submit it again."
    )
