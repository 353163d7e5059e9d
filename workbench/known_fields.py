"""Write requests may carry only the fields their operation defines: anything else, at any depth, is a 400 that names
it (`{"error": {"message": "Unknown field: config.lr ...", "details": {"config": {"lr": ["Unknown field ..."]}}}}`),
so a typo or a setting the API does not have is never silently ignored.

It is a DRF permission class in the default list (settings.REST_FRAMEWORK) because that is DRF's one hook that runs
for every view, after authentication and before the handler: every write endpoint gets it without naming it. The
fields an operation defines are those of the view's `InputSerializer` (house style), of a generic view's serializer,
or none at all (an operation with no body, such as cancel or retry, takes an empty body or `{}`).

Its own module, like pagination.py: DRF reads the default permission classes while `rest_framework.views` is being
imported, so this must not import the views (nor drf-spectacular, which imports them).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from workbench.exceptions import ApplicationError

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})
NO_BODY = "This operation takes no fields."
# The message lists this many paths; `details` has them all.
MESSAGE_PATHS = 10


def input_serializer_of(view: Any) -> serializers.BaseSerializer | None:
    """The serializer a write operation reads its body with, or None when it takes no body."""
    serializer_class = getattr(view, "InputSerializer", None)
    if serializer_class is None and callable(getattr(view, "get_serializer_class", None)):
        serializer_class = view.get_serializer_class()  # a generic create/update view
    if serializer_class is None:
        return None
    try:
        return serializer_class()
    except TypeError:
        # An __init__ that needs arguments (a project, say): a plain serializer with the same declared fields.
        declared = copy.deepcopy(getattr(serializer_class, "_declared_fields", {}))
        return type(serializer_class.__name__, (serializers.Serializer,), declared)()


def _unknown_message(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"Unknown field.{hint} Known here: {', '.join(known)}." if known else NO_BODY


def unknown_fields(field: serializers.Field, data: Any, path: str, found: list[str]) -> Any:
    """The unknown keys of `data` read by `field`, as DRF shapes its own errors (a dict per object, a list per
    list with {} for the good items), or None; their dotted paths are appended to `found`. Values of the wrong type
    are left to the serializer, which refuses them with its own message."""
    if isinstance(field, (serializers.ListSerializer, serializers.ListField)):
        if not isinstance(data, list):
            return None
        items = [unknown_fields(field.child, item, f"{path}.{i}", found) or {} for i, item in enumerate(data)]
        return items if any(items) else None
    if isinstance(field, serializers.DictField):
        if not isinstance(data, Mapping):
            return None
        nested = {key: unknown_fields(field.child, value, f"{path}.{key}", found) for key, value in data.items()}
        return {key: errors for key, errors in nested.items() if errors} or None
    if not isinstance(field, serializers.Serializer) or not isinstance(data, Mapping):
        return None
    known = {name: child for name, child in field.fields.items() if not child.read_only}
    errors: dict[str, Any] = {}
    for key in data:
        where = f"{path}.{key}" if path else str(key)
        if key not in known:
            found.append(where)
            errors[key] = [_unknown_message(str(key), sorted(known))]
        elif not hasattr(data, "getlist"):  # a form (multipart) body is flat: nothing nested to look into
            nested = unknown_fields(known[key], data[key], where, found)
            if nested:
                errors[key] = nested
    return errors or None


def refuse_unknown_fields(data: Any, serializer: serializers.BaseSerializer | None) -> None:
    """Raise a 400 naming every field of `data` that `serializer` (None: a body-less operation) does not define."""
    if serializer is None:
        if data is None or (isinstance(data, (Mapping, list)) and not data):
            return
        if not isinstance(data, Mapping):
            raise ApplicationError(NO_BODY, extra={"non_field_errors": ["This operation takes no request body."]})
        serializer = serializers.Serializer()  # no fields: every key is unknown
    found: list[str] = []
    details = unknown_fields(serializer, data, "", found)
    if details:
        shown = ", ".join(found[:MESSAGE_PATHS]) + (
            f" and {len(found) - MESSAGE_PATHS} more" if len(found) > MESSAGE_PATHS else ""
        )
        noun = "field" if len(found) == 1 else "fields"
        raise ApplicationError(f"Unknown {noun}: {shown}. Nothing was changed.", extra=details)


class KnownFieldsOnly(BasePermission):
    """Not an access rule: the hook that refuses unknown fields on every write (see the module docstring)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        # A method the view does not have stays a 405.
        if request.method in WRITE_METHODS and hasattr(view, request.method.lower()):
            refuse_unknown_fields(request.data, input_serializer_of(view))
        return True
