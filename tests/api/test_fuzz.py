"""Property-based fuzzing of the whole API against its own OpenAPI schema (schemathesis, through the WSGI app):
no 5xx anywhere, status codes, content types and bodies as documented. As an admin and as an annotator, each with an
API token; path parameters mostly point at real objects so the bodies reach the services.

Examples per operation: WORKBENCH_FUZZ_EXAMPLES (default 25, the `api-fuzz` Hypothesis profile); the same ones
every run unless WORKBENCH_FUZZ_RANDOM=1 (for a longer hunt: new examples each run).
"""

from __future__ import annotations

import os
import zlib

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from annotation.models import Prompt
from tests.api.conftest import World
from workbench.wsgi import application

settings.register_profile(
    "api-fuzz",
    max_examples=int(os.environ.get("WORKBENCH_FUZZ_EXAMPLES", "25")),
    deadline=None,
    # The same examples every run, so a failure is reproducible, not a flake.
    derandomize=os.environ.get("WORKBENCH_FUZZ_RANDOM") != "1",
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure prints its request as it was
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)
FUZZ = settings.get_profile("api-fuzz")


def load_schema(*, coverage: bool):
    """The schema from the running app. The coverage phase sends every boundary case the schema defines (each
    enum value, min/max lengths and values, missing required fields...), deterministically, on top of the
    `max_examples` random ones: thorough but slow, so the admin run has it and the annotator run does not."""
    config = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": coverage}}})
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, config=config)


schema = load_schema(coverage=os.environ.get("WORKBENCH_FUZZ_COVERAGE", "1") == "1")
schema_light = load_schema(coverage=False)

# Not `negative_data_rejection`: DRF reads 0 as "0" for a string field and "1" as 1 for an integer one, on purpose;
# the invalid requests are still generated and sent, and must not cause a 5xx or an undocumented answer.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def wsgi_keeps_the_test_connection():
    """The WSGI handler closes the database connection when a response finishes (Django's test client disconnects
    that signal too): keep it open, or the test's transaction and its data would be gone after the first request."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def aim(case, world: World, who: str) -> None:
    """Point three in four cases at real objects (the other quarter keeps the generated values: 404 paths)."""
    params = case.path_parameters or {}
    if not params or zlib.crc32(repr(sorted(params.items())).encode()) % 4 == 0:
        return
    path = case.operation.path
    real = {
        "slug": "demo",
        "prompt_id": Prompt.objects.filter(project=world.project).values_list("pk", flat=True).first(),
        "assignment_id": world.assignment.pk,
        "job_id": world.export.pk if "/exports/" in path else world.job.pk,
        "name": "README.md",
    }
    for name in params:
        if name in real:
            params[name] = real[name]


def fuzz(case, world: World, who: str) -> None:
    aim(case, world, who)
    case.call_and_validate(headers={"Authorization": f"Token {world.keys[who]}"}, checks=CHECKS)


@pytest.mark.django_db
@schema.parametrize()
@FUZZ
def test_api_as_admin(case, world: World, wsgi_keeps_the_test_connection) -> None:
    fuzz(case, world, "admin")


@pytest.mark.django_db
@schema_light.parametrize()
@FUZZ
def test_api_as_annotator(case, world: World, wsgi_keeps_the_test_connection) -> None:
    fuzz(case, world, "annotator")
