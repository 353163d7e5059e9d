"""Shared pieces of the API views: safe JSON fields, the row-error shape of batch endpoints, id path converter."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotation.services.prompts import RowsInvalid

MAX_JSON_DEPTH = 20


def _check_json(value: Any, depth: int = 0) -> None:
    """Text the databases can store: no NUL characters (PostgreSQL refuses them in text and jsonb) and no lone
    surrogates (not encodable as UTF-8), in keys and values, nested at most MAX_JSON_DEPTH deep."""
    if depth > MAX_JSON_DEPTH:
        raise serializers.ValidationError(f"Nested deeper than {MAX_JSON_DEPTH} levels.")
    if isinstance(value, str):
        if "\x00" in value:
            raise serializers.ValidationError("Text may not contain NUL characters.")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise serializers.ValidationError("Text must be valid Unicode (no lone surrogates).") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_json(key, depth + 1)
            _check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, depth + 1)


@extend_schema_field({"type": "object", "additionalProperties": True})
class JSONObjectField(serializers.JSONField):
    """A JSON object (metadata): any keys and values a database can store."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Expected a JSON object.")
        _check_json(value)
        return value


class MessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=1_000_000)


def flatten_errors(errors: Any, prefix: str = "") -> list[tuple[str, str]]:
    """DRF's nested error structure as (dotted path, message) pairs: {"a": [{"b": ["x"]}]} -> [("a.0.b", "x")]."""
    if isinstance(errors, dict):
        return [
            pair
            for key, value in errors.items()
            for pair in flatten_errors(value, f"{prefix}.{key}" if prefix else str(key))
        ]
    if isinstance(errors, list):
        if all(isinstance(item, str) for item in errors):
            return [(prefix, str(item)) for item in errors]
        return [
            pair
            for index, item in enumerate(errors)
            if item
            for pair in flatten_errors(item, f"{prefix}.{index}" if prefix else str(index))
        ]
    return [(prefix, str(errors))]


def rows_invalid(errors: dict[str, Any], list_key: str, rows: int) -> RowsInvalid | serializers.ValidationError:
    """A batch's field errors in the batch shape {row, field, message}; errors about the request as a whole stay
    ordinary validation errors."""
    problems = []
    for path, message in flatten_errors(errors):
        parts = path.split(".")
        if len(parts) >= 3 and parts[0] == list_key and parts[1].isdigit():
            problems.append({"row": int(parts[1]), "field": ".".join(parts[2:]), "message": message})
        elif len(parts) == 2 and parts[0] == list_key and parts[1].isdigit():
            problems.append({"row": int(parts[1]), "field": "", "message": message})
        else:
            return serializers.ValidationError(errors)
    return RowsInvalid.of(problems, rows)


class IdConverter:
    """Path ids the databases can hold (a bigint): longer digit strings name nothing, so they 404 like any
    unknown URL instead of overflowing a query."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)
