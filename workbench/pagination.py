"""API pagination. Its own module: DRF reads the default pagination class while `rest_framework.generics` is being
imported, so this must not import anything that imports generics (drf-spectacular's schema class does)."""

from __future__ import annotations

from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

MAX_PAGE_SIZE = 500


def _page_size(request: Request, default: int | None) -> int | None:
    """`page_size` from the query, 1 to MAX_PAGE_SIZE: anything else is a 400 rather than silently the default."""
    raw = request.query_params.getlist("page_size")
    if not raw:
        return default
    if len(raw) > 1 or not (raw[0].isascii() and raw[0].isdigit()) or not 1 <= int(raw[0]) <= MAX_PAGE_SIZE:
        raise ValidationError({"page_size": [f"A whole number from 1 to {MAX_PAGE_SIZE}."]})
    return int(raw[0])


def _documented(parameters: list[dict]) -> list[dict]:
    for parameter in parameters:
        if parameter["name"] == "page_size":
            parameter["schema"].update(minimum=1, maximum=MAX_PAGE_SIZE)
    return parameters


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=N&page_size=M` (M from 1 to 500). For small lists: projects, judges, jobs."""

    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int | None:
        return _page_size(request, self.page_size)

    def get_schema_operation_parameters(self, view: object) -> list[dict]:
        return _documented(super().get_schema_operation_parameters(view))


class CursorPagination(pagination.CursorPagination):
    """`?cursor=...&page_size=M` (M from 1 to 500), in id order: stable as rows are added, no COUNT of a big table."""

    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int | None:
        return _page_size(request, self.page_size)

    def get_schema_operation_parameters(self, view: object) -> list[dict]:
        return _documented(super().get_schema_operation_parameters(view))
