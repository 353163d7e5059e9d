"""API pagination. Its own module: DRF reads the default pagination class while `rest_framework.generics` is being
imported, so this must not import anything that imports generics (drf-spectacular's schema class does)."""

from __future__ import annotations

from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError
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


_BAD_CURSOR = "Invalid cursor: pass the `next` or `previous` link of an earlier page as it is."


class CursorPagination(pagination.CursorPagination):
    """`?cursor=...&page_size=M` (M from 1 to 500), in id order: stable as rows are added, no COUNT of a big table."""

    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int | None:
        return _page_size(request, self.page_size)

    def decode_cursor(self, request: Request) -> pagination.Cursor | None:
        """A cursor is client input: one that does not decode (DRF: 404) or whose position is not an id (DRF: a
        500 from the database lookup, or an integer overflow) is a 400 that names the parameter."""
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise ValidationError({"cursor": [_BAD_CURSOR]}) from None
        position = cursor.position if cursor is not None else None
        ordering = (self.ordering,) if isinstance(self.ordering, str) else tuple(self.ordering)
        by_id = ordering in (("id",), ("-id",))  # DRF sets the tuple form while paginating
        if position is not None and by_id and not (position.isascii() and position.isdigit() and len(position) <= 18):
            raise ValidationError({"cursor": [_BAD_CURSOR]})
        return cursor

    def get_schema_operation_parameters(self, view: object) -> list[dict]:
        return _documented(super().get_schema_operation_parameters(view))
