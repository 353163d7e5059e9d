"""The API's JSON parser. Its own module, like pagination.py: DRF reads the default parser classes while
`rest_framework.views` is being imported, so this must not import anything that imports the views."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's, plus: a body nested deeper than Python's recursion limit ("[[[[...") is a parse error (400), not a
    crash. (Body size is bounded by DATA_UPLOAD_MAX_MEMORY_SIZE: DRF reads JSON through `request.body`.)"""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None
