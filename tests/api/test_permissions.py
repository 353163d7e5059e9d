"""Every API endpoint and method, for every kind of caller: the same selectors as the HTML views decide, and every
refusal has the one error body. A new API URL without a row here fails test_the_matrix_covers_every_api_url."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, reverse
from rest_framework.test import APIClient

from annotation.models import Prompt
from tests.api.conftest import WHO, World

pytestmark = pytest.mark.django_db


def row(**statuses: int) -> dict[str, int]:
    assert set(statuses) == set(WHO), statuses
    return statuses


RESEARCHERS = row(anonymous=401, annotator=403, outsider=404, researcher=200, admin=200, revoked=401)
MEMBERS = row(anonymous=401, annotator=200, outsider=404, researcher=200, admin=200, revoked=401)
RESEARCHERS_400 = row(anonymous=401, annotator=403, outsider=404, researcher=400, admin=400, revoked=401)
MEMBERS_400 = row(anonymous=401, annotator=400, outsider=404, researcher=400, admin=400, revoked=401)
HOLDER_ONLY = row(anonymous=401, annotator=200, outsider=404, researcher=404, admin=404, revoked=401)
# Public documents: no credentials are consulted, so a revoked key is not refused there.
PUBLIC = row(anonymous=200, annotator=200, outsider=200, researcher=200, admin=200, revoked=200)

# A run is visible to researchers of all its projects and admins; to anyone else it does not exist.
RUN_VIEWERS = row(anonymous=401, annotator=404, outsider=404, researcher=200, admin=200, revoked=401)

Kwargs = Callable[[World], dict[str, Any]]


def _run(w: World) -> dict[str, Any]:
    """A failed run on the world's project (restartable, not cancellable)."""
    from rewards.models import JobStatus, TrainingRun

    run = TrainingRun.objects.create(config={}, status=JobStatus.FAILED, error="boom")
    run.projects.set([w.project])
    return {"run_id": run.pk}


def _noise_run(w: World) -> dict[str, Any]:
    """A failed noise run on the world's project (retryable, not cancellable)."""
    from annotation.models import NoiseRun

    run = NoiseRun.objects.create(project=w.project, status="failed", detectors=["cycle"], error="boom")
    return {"run_id": run.pk}


def _judgment(w: World) -> dict[str, Any]:
    from annotation.models import Judgment

    return {"judgment_id": Judgment.objects.filter(project=w.project).order_by("id").first().pk}


def _review_action(w: World) -> dict[str, Any]:
    """A keep on one of the world's judgments, by its researcher (undoable)."""
    from annotation.models import Judgment, ReviewAction

    judgment = Judgment.objects.filter(project=w.project).order_by("id").first()
    action = ReviewAction.objects.create(
        project=w.project, judgment=judgment, action="keep", user=w.users["researcher"]
    )
    return {"action_id": action.pk}


DEMO: Kwargs = lambda w: {"slug": "demo"}  # noqa: E731

# (url name, kwargs, method, body, format) -> expected status per caller
MATRIX: list[tuple[str, Kwargs, str, dict | None, str, dict[str, int]]] = [
    ("api:project_list", lambda w: {}, "get", None, "json", {**MEMBERS, "outsider": 200}),
    (
        "api:project_create",
        lambda w: {},
        "post",
        {},
        "json",
        # Researchers anywhere and admins create projects; the outsider is only an annotator elsewhere.
        row(anonymous=401, annotator=403, outsider=403, researcher=400, admin=400, revoked=401),
    ),
    ("api:project_detail", DEMO, "get", None, "json", MEMBERS),
    ("api:project_update", DEMO, "patch", {"description": "x"}, "json", RESEARCHERS),
    ("api:prompt_list", DEMO, "get", None, "json", RESEARCHERS),
    (
        "api:prompt_detail",
        lambda w: {"slug": "demo", "prompt_id": Prompt.objects.filter(project=w.project).first().pk},
        "get",
        None,
        "json",
        RESEARCHERS,
    ),
    ("api:prompt_bulk_create", DEMO, "post", {}, "json", RESEARCHERS_400),
    ("api:judge_list", DEMO, "get", None, "json", RESEARCHERS),
    ("api:judges_report", DEMO, "get", None, "json", RESEARCHERS),
    ("api:judgment_list", DEMO, "get", None, "json", RESEARCHERS),
    ("api:judgment_create", DEMO, "post", {}, "json", MEMBERS_400),
    ("api:judgment_bulk_create", DEMO, "post", {}, "json", MEMBERS_400),
    ("api:assignment_next", DEMO, "post", {}, "json", MEMBERS),
    (
        "api:assignment_submit",
        lambda w: {"assignment_id": w.assignment.pk},
        "post",
        {},
        "json",
        {**HOLDER_ONLY, "annotator": 400},
    ),
    ("api:assignment_skip", lambda w: {"assignment_id": w.assignment.pk}, "post", None, "json", HOLDER_ONLY),
    ("api:import_list", DEMO, "get", None, "json", RESEARCHERS),
    ("api:import_create", DEMO, "post", {}, "multipart", RESEARCHERS_400),
    ("api:import_detail", lambda w: {"job_id": w.job.pk}, "get", None, "json", RESEARCHERS),
    ("api:import_retry", lambda w: {"job_id": w.job.pk}, "post", None, "json", RESEARCHERS_400),
    ("api:export_list", DEMO, "get", None, "json", RESEARCHERS),
    ("api:export_create", DEMO, "post", {}, "json", RESEARCHERS_400),
    ("api:export_detail", lambda w: {"job_id": w.export.pk}, "get", None, "json", RESEARCHERS),
    ("api:export_retry", lambda w: {"job_id": w.export.pk}, "post", None, "json", RESEARCHERS_400),
    ("api:export_file", lambda w: {"job_id": w.export.pk, "name": "README.md"}, "get", None, "json", RESEARCHERS),
    ("api:noise_run_list", DEMO, "get", None, "json", RESEARCHERS),
    # The world's project has 3 judgments: too few for the detectors (400, after the permission check).
    ("api:noise_run_create", DEMO, "post", {}, "json", RESEARCHERS_400),
    ("api:noise_run_detail", _noise_run, "get", None, "json", RESEARCHERS),
    ("api:noise_run_cancel", _noise_run, "post", None, "json", {**RESEARCHERS, "researcher": 409, "admin": 409}),
    ("api:noise_run_retry", _noise_run, "post", None, "json", {**RESEARCHERS, "researcher": 202, "admin": 202}),
    ("api:noise_flags", DEMO, "get", None, "json", RESEARCHERS),
    ("api:judgment_review", _judgment, "post", {}, "json", RESEARCHERS_400),  # no action: 400 after the check
    ("api:review_action_undo", _review_action, "post", None, "json", RESEARCHERS),
    ("rewards_api:run_list", lambda w: {}, "get", None, "json", {**MEMBERS, "outsider": 200}),
    (
        "rewards_api:run_create",
        lambda w: {},
        "post",
        {},
        "json",
        row(anonymous=401, annotator=403, outsider=403, researcher=400, admin=400, revoked=401),
    ),
    (
        "rewards_api:base_models",
        lambda w: {},
        "get",
        None,
        "json",
        row(anonymous=401, annotator=403, outsider=403, researcher=200, admin=200, revoked=401),
    ),
    ("rewards_api:run_detail", lambda w: _run(w), "get", None, "json", RUN_VIEWERS),
    (
        "rewards_api:run_cancel",
        lambda w: _run(w),
        "post",
        None,
        "json",
        {**RUN_VIEWERS, "researcher": 409, "admin": 409},
    ),
    ("rewards_api:run_restart", lambda w: _run(w), "post", None, "json", RUN_VIEWERS),
    ("api_schema", lambda w: {}, "get", None, "json", PUBLIC),
    ("api_docs", lambda w: {}, "get", None, "json", PUBLIC),
]

IDS = [f"{name}-{method}" for name, _, method, *_ in MATRIX]


def _call(client: APIClient, method: str, url: str, body: dict | None, fmt: str) -> Any:
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, body, format=fmt)


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(("name", "kwargs", "method", "body", "fmt", "expected"), MATRIX, ids=IDS)
def test_permission_matrix(world: World, who: str, name: str, kwargs: Kwargs, method: str, body, fmt, expected) -> None:
    url = reverse(name, kwargs=kwargs(world))
    response = _call(world.client(who), method, url, body, fmt)
    assert response.status_code == expected[who], (who, method, url, response.status_code, response.content[:300])
    if response.status_code >= 400:
        assert set(response.json()) == {"error"}, response.content
        assert set(response.json()["error"]) == {"message", "details"}
        assert response.json()["error"]["message"]
    if response.status_code == 401:
        assert response["WWW-Authenticate"] == "Token"


def _api_operations() -> set[tuple[str, str]]:
    from annotation.api_urls import urlpatterns as annotation_patterns
    from rewards.api_urls import urlpatterns as rewards_patterns

    operations = set()
    for namespace, pattern in [("api", p) for p in annotation_patterns] + [
        ("rewards_api", p) for p in rewards_patterns
    ]:
        assert isinstance(pattern, URLPattern)
        if pattern.name == "not_found":
            continue
        view = pattern.callback.cls  # type: ignore[attr-defined]
        for method in ("get", "post", "put", "patch", "delete"):
            if hasattr(view, method):
                operations.add((f"{namespace}:{pattern.name}", method))
    return operations


def test_the_matrix_covers_every_api_url() -> None:
    covered = {(name, method) for name, _, method, *_ in MATRIX}
    missing = _api_operations() - covered
    assert not missing, f"add these API operations to the permission matrix: {sorted(missing)}"
    assert {("api_schema", "get"), ("api_docs", "get")} <= covered


@pytest.mark.parametrize("who", ["anonymous", "researcher"])
def test_unknown_urls_and_wrong_methods_answer_in_the_error_shape(world: World, who: str) -> None:
    client = world.client(who)
    for method in ("get", "post", "put", "patch", "delete"):
        response = getattr(client, method)("/api/v1/no/such/thing/")
        assert response.status_code == 404
        assert response.json()["error"]["message"] == "No such API endpoint."
    assert client.get("/api/v1/projects").status_code == 404  # no slash: no redirect, same shape
    if who == "researcher":
        for method, url in [("get", "/api/v1/projects/create/"), ("delete", "/api/v1/projects/demo/")]:
            response = getattr(client, method)(url)
            assert response.status_code == 405
            assert set(response.json()["error"]) == {"message", "details"}
        response = client.post("/api/v1/projects/demo/judgments/create/", "not json", content_type="application/json")
        assert response.status_code == 400 and response.json()["error"]["message"].startswith("JSON parse error")
        response = client.post("/api/v1/projects/demo/judgments/create/", "a=1", content_type="text/plain")
        assert response.status_code == 415 and response.json()["error"]["message"]
        assert client.get("/api/v1/assignments/99999999999999999999999/skip/").status_code == 404
        url = "/api/v1/projects/demo/judgments/create/"
        deep = client.post(url, "[" * 100_000, content_type="application/json")
        assert deep.status_code == 400 and deep.json()["error"]["message"].startswith("JSON parse error")
        huge = client.post(url, "{}", content_type="application/json", CONTENT_LENGTH=str(11 * 1024 * 1024))
        assert huge.status_code == 413 and "smaller batches" in huge.json()["error"]["message"]


def test_session_auth_works_and_enforces_csrf(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["annotator"])
    assert client.get("/api/v1/projects/demo/").status_code == 200
    url = "/api/v1/projects/demo/assignments/next/"
    refused = client.post(url, {}, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]
    client.get("/account/tokens/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    assert client.post(url, {}, content_type="application/json", HTTP_X_CSRFTOKEN=token).status_code == 200


def test_a_token_acts_without_csrf_and_a_bad_header_is_401(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    headers = {"HTTP_AUTHORIZATION": f"Token {world.keys['annotator']}"}
    assert (
        client.post(
            "/api/v1/projects/demo/assignments/next/", {}, content_type="application/json", **headers
        ).status_code
        == 200
    )
    for header in ("Token", "Token a b", "Token nope", "token " + world.keys["revoked"]):
        response = client.get("/api/v1/projects/", HTTP_AUTHORIZATION=header)
        assert response.status_code == 401, header
        assert response.json()["error"]["message"]
