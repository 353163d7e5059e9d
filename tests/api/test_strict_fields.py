"""Every write operation refuses fields it does not define, nested ones included, with a 400 that names them in the
one error shape. The walk reads the OpenAPI schema the app generates now, so an endpoint added later is covered
without a line here: for each POST/PUT/PATCH it sends a body with every documented field (none may be called
unknown), the same body plus an unknown field, and, for every documented nested object, an unknown key inside it."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from annotation.apis.common import flatten_errors
from annotation.models import Judgment, Prompt
from rewards.models import JobStatus, TrainingRun
from tests.api.conftest import World

pytestmark = pytest.mark.django_db

WRITE_METHODS = ("post", "put", "patch")
UNKNOWN = "zz_not_a_field"
# Operations the walk must find, so that it cannot pass by finding nothing (a broken schema, say).
MUST_WALK = {"runs_create", "runs_cancel", "exports_create", "imports_create", "judgments_bulk_create",
             "projects_update", "assignments_submit"}  # fmt: skip


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """A schema with its $ref followed; of `oneOf`/`anyOf`/`allOf` (drf-spectacular's nullable enums), the first
    alternative that is not the null enum."""
    while True:
        if "$ref" in schema:
            schema = components[schema["$ref"].rsplit("/", 1)[1]]
        elif any(key in schema for key in ("oneOf", "anyOf", "allOf")):
            options = schema.get("oneOf") or schema.get("anyOf") or schema.get("allOf")
            schema = next(o for o in options if not o.get("$ref", "").endswith("/NullEnum"))
        else:
            return schema


def _example(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """A value of the schema's shape with every documented property (values need not pass validation: the
    unknown-field check reads keys)."""
    schema = _resolve(schema, components)
    if "enum" in schema:
        return next((value for value in schema["enum"] if value not in (None, "")), "x")
    kind = schema.get("type")
    if kind == "object":
        return {name: _example(prop, components) for name, prop in schema.get("properties", {}).items()}
    if kind == "array":
        return [_example(schema["items"], components)]
    if kind == "string" and schema.get("format") == "binary":
        return "<file>"
    return {"integer": schema.get("minimum", 1), "number": schema.get("minimum", 0.5), "boolean": True}.get(kind, "x")


def _nested_objects(schema: dict[str, Any], components: dict[str, Any], path: tuple = ()) -> Iterator[tuple]:
    """Paths (keys and list indexes) to every object below the root whose schema names its properties: the
    places where an unknown key must be refused too. Free-form objects (metadata) are not among them."""
    schema = _resolve(schema, components)
    if schema.get("type") == "object" and schema.get("properties"):
        if path:
            yield path
        for name, prop in schema["properties"].items():
            yield from _nested_objects(prop, components, (*path, name))
    elif schema.get("type") == "array":
        yield from _nested_objects(schema["items"], components, (*path, 0))


def _path_value(name: str, path: str, world: World, run_id: int) -> Any:
    judgment = Judgment.objects.filter(project=world.project).values_list("pk", flat=True).first()
    real = {
        "slug": "demo",
        "assignment_id": world.assignment.pk,
        "job_id": world.export.pk if "/exports/" in path else world.job.pk,
        "prompt_id": Prompt.objects.filter(project=world.project).values_list("pk", flat=True).first(),
        "run_id": run_id,
        "judgment_id": judgment,
    }
    # A parameter this test does not know yet still gets a value: the check runs before any object is looked up.
    return real.get(name, 1)


def _operations(client: APIClient) -> list[tuple[str, str, dict[str, Any]]]:
    schema = client.get("/api/schema/?format=json").json()
    return [
        (path, method, schema)
        for path, operations in schema["paths"].items()
        for method in WRITE_METHODS
        if method in operations
    ]


def _send(client: APIClient, method: str, url: str, media: str | None, body: Any) -> Any:
    if media == "multipart/form-data":
        files = {
            key: SimpleUploadedFile("rows.jsonl", b'{"prompt": "p", "chosen": "a", "rejected": "b"}\n')
            if value == "<file>"
            else value
            for key, value in body.items()
        }
        return getattr(client, method)(url, files, format="multipart")
    return getattr(client, method)(url, body, format="json")


def _named(response: Any) -> list[str]:
    assert response.status_code == 400, (response.status_code, response.content[:500])
    error = response.json()["error"]
    assert set(error) == {"message", "details"} and error["message"].startswith("Unknown field"), error
    return [path for path, _ in flatten_errors(error["details"])]


def test_every_write_operation_in_the_schema_refuses_unknown_fields(world: World) -> None:
    run = TrainingRun.objects.create(config={}, status=JobStatus.FAILED, error="boom")
    run.projects.set([world.project])
    client = world.client("admin")  # allowed to write everywhere
    walked, nested_checked = set(), []
    for path, method, schema in _operations(client):
        operation = schema["paths"][path][method]
        components = schema["components"]["schemas"]
        walked.add(operation["operationId"])
        url = path
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                value = _path_value(parameter["name"], path, world, run.pk)
                url = url.replace("{" + parameter["name"] + "}", str(value))
        content = (operation.get("requestBody") or {}).get("content", {})
        media = next(iter(content), None)
        body_schema = content[media]["schema"] if media else {"type": "object", "properties": {}}
        body = _example(body_schema, components)
        where = f"{method.upper()} {path}"

        # Every documented field is known: the refusal below is not one that refuses everything.
        if body:
            answer = _send(client, method, url, media, body)
            assert not (answer.status_code == 400 and answer.json()["error"]["message"].startswith("Unknown field")), (
                where,
                answer.json(),
            )
        if media:
            assert _resolve(body_schema, components).get("additionalProperties") is False, where

        assert _named(_send(client, method, url, media, {**body, UNKNOWN: 1})) == [UNKNOWN], where

        for nested in _nested_objects(body_schema, components):
            poisoned = copy.deepcopy(body)
            target = poisoned
            for step in nested:
                target = target[step]
            target[UNKNOWN] = {"deep": 1}
            expected = ".".join(map(str, (*nested, UNKNOWN)))
            assert _named(_send(client, method, url, media, poisoned)) == [expected], where
            nested_checked.append(f"{operation['operationId']}:{expected}")
    assert MUST_WALK <= walked, MUST_WALK - walked
    for expected in ("runs_create:config.", "exports_create:filters.", "judgments_create:judge.",
                     "judgments_bulk_create:judgments.0.", "prompts_bulk_create:prompts.0.responses.0."):  # fmt: skip
        assert any(item.startswith(expected) for item in nested_checked), (expected, nested_checked)


def test_the_refusal_names_every_unknown_field_suggests_the_near_one_and_changes_nothing(world: World) -> None:
    client = world.client("researcher")
    before = world.project.description
    body = {"descripton": "typo", "colour": "red", "criteria": [{"key": "k", "label": "K", "scale": ["a", "b"],
                                                                 "weight": 2}]}  # fmt: skip
    response = client.patch("/api/v1/projects/demo/update/", body, format="json")
    error = response.json()["error"]
    assert response.status_code == 400
    assert sorted(path for path, _ in flatten_errors(error["details"])) == ["colour", "criteria.0.weight", "descripton"]
    assert "Did you mean 'description'?" in error["details"]["descripton"][0]
    assert error["message"].startswith("Unknown fields: ") and "criteria.0.weight" in error["message"]
    world.project.refresh_from_db()
    assert world.project.description == before


def test_operations_without_a_body_take_only_an_empty_one(world: World) -> None:
    client = world.client("researcher")
    url = f"/api/v1/imports/{world.job.pk}/retry/"
    refused = client.post(url, {"force": True}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["details"] == {
        "force": ["This operation takes no fields."]
    }
    listed = client.post(url, [1], format="json")
    assert listed.status_code == 400 and listed.json()["error"]["message"] == "This operation takes no fields."
    # An empty body or {} reaches the operation (a succeeded import cannot be retried: 400 from the service).
    for empty in (None, {}):
        answer = client.post(url, empty, format="json") if empty is not None else client.post(url)
        assert answer.status_code == 400 and "Unknown" not in answer.json()["error"]["message"]


def test_a_method_the_endpoint_lacks_stays_405_and_anonymous_stays_401(world: World) -> None:
    researcher = world.client("researcher")
    assert researcher.post("/api/v1/projects/demo/imports/", {UNKNOWN: 1}, format="json").status_code == 405
    assert researcher.put("/api/v1/projects/demo/update/", {UNKNOWN: 1}, format="json").status_code == 405
    anonymous = world.client("anonymous").post("/api/v1/runs/create/", {UNKNOWN: 1}, format="json")
    assert anonymous.status_code == 401


def test_a_multipart_upload_with_an_unknown_field_writes_nothing(world: World) -> None:
    from annotation.models import ImportJob

    before = ImportJob.objects.count()
    upload = SimpleUploadedFile("rows.jsonl", b'{"prompt": "p", "chosen": "a", "rejected": "b"}\n')
    response = world.client("researcher").post(
        "/api/v1/projects/demo/imports/create/", {"file": upload, "judeg": "me"}, format="multipart"
    )
    assert response.status_code == 400 and "Did you mean 'judge'?" in response.json()["error"]["details"]["judeg"][0]
    assert ImportJob.objects.count() == before


def test_a_serializer_that_needs_arguments_is_still_read_for_its_fields() -> None:
    from rest_framework import serializers

    from workbench.exceptions import ApplicationError
    from workbench.known_fields import input_serializer_of, refuse_unknown_fields

    class NeedsProject(serializers.Serializer):
        label = serializers.CharField()

        def __init__(self, *args: Any, project: object, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)

    class View:
        InputSerializer = NeedsProject

    serializer = input_serializer_of(View())
    refuse_unknown_fields({"label": "ok"}, serializer)
    with pytest.raises(ApplicationError) as refused:
        refuse_unknown_fields({"label": "ok", "lable": "x"}, serializer)
    assert list(refused.value.extra) == ["lable"] and len(refused.value.extra["lable"]) == 1
    assert "Did you mean 'label'?" in refused.value.extra["lable"][0]
