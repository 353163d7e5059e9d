"""Every page of the foundation, for every kind of visitor; uploads through the page; untrusted text is escaped."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotation.models import ExportJob, ImportJob, Judgment, Membership, Project, ReviewAction
from annotation.services.assignments import assignment_claim
from annotation.services.exports import export_dir
from annotation.services.imports import import_file
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

XSS_PROMPT = '<script>alert("prompt")</script><img src=x onerror=alert(1)>'
XSS_RESPONSE = (
    '<svg onload=alert(2)></svg><a href="javascript:alert(3)">click</a><iframe src="javascript:alert(4)"></iframe>'
)


@pytest.fixture
def world(tmp_path: Path) -> dict:
    project = ProjectFactory(slug="demo")
    other = ProjectFactory(slug="other")
    users = {
        "admin": UserFactory(username="admin", is_superuser=True, is_staff=True),
        "researcher": MembershipFactory(project=project, role=Membership.Role.RESEARCHER, user__username="res").user,
        "annotator": MembershipFactory(project=project, role=Membership.Role.ANNOTATOR, user__username="ann").user,
        "outsider": MembershipFactory(project=other, role=Membership.Role.RESEARCHER, user__username="out").user,
    }
    data = tmp_path / "pairs.jsonl"
    data.write_text(
        f'{{"prompt": {_json(XSS_PROMPT)}, "chosen": {_json(XSS_RESPONSE)}, "rejected": "plain answer"}}\n'
        '{"prompt": "second", "chosen": "yes", "rejected": "no"}\n'
    )
    import_file(project=project, path=data)
    job = ImportJob.objects.create(project=project, path=str(data), original_name="pairs.jsonl", status="succeeded")
    assignment = assignment_claim(project=project, user=users["annotator"])
    export = ExportJob.objects.create(project=project, format="raw", status="succeeded", files=["README.md"])
    folder = export_dir(job=export)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text("# card")
    judgment = Judgment.objects.filter(project=project).order_by("pk").first()
    action = ReviewAction.objects.create(project=project, judgment=judgment, action="keep", user=users["admin"])
    return {
        "project": project,
        "users": users,
        "job": job,
        "assignment": assignment,
        "export": export,
        "judgment": judgment,
        "review_action": action,
    }


def _json(text: str) -> str:
    import json

    return json.dumps(text)


def client_for(world: dict, who: str) -> Client:
    client = Client()
    if who != "anonymous":
        client.force_login(world["users"][who])
    return client


RESEARCHERS_200 = {"anonymous": 302, "annotator": 403, "outsider": 404, "researcher": 200, "admin": 200}
MEMBERS_200 = {"anonymous": 302, "annotator": 200, "outsider": 404, "researcher": 200, "admin": 200}
RESEARCHERS_400 = {"anonymous": 302, "annotator": 403, "outsider": 404, "researcher": 400, "admin": 400}

# (url name, kwargs builder, method) -> expected status per visitor
PAGES = [
    (
        "annotation:project_list",
        lambda w: {},
        "get",
        {"anonymous": 302, "annotator": 200, "outsider": 200, "researcher": 200, "admin": 200},
    ),
    (
        "annotation:project_overview",
        lambda w: {"slug": "demo"},
        "get",
        {"anonymous": 302, "annotator": 403, "outsider": 404, "researcher": 200, "admin": 200},
    ),
    (
        "annotation:import_upload",
        lambda w: {"slug": "demo"},
        "get",
        {"anonymous": 302, "annotator": 403, "outsider": 404, "researcher": 200, "admin": 200},
    ),
    (
        "annotation:import_upload",
        lambda w: {"slug": "demo"},
        "post",
        {"anonymous": 302, "annotator": 403, "outsider": 404, "researcher": 400, "admin": 400},
    ),
    (
        "annotation:import_job",
        lambda w: {"job_id": w["job"].pk},
        "get",
        {"anonymous": 302, "annotator": 403, "outsider": 404, "researcher": 200, "admin": 200},
    ),
    (
        "annotation:import_job_retry",
        lambda w: {"job_id": w["job"].pk},
        "post",
        {"anonymous": 302, "annotator": 403, "outsider": 404, "researcher": 302, "admin": 302},
    ),
    (
        "annotation:project_new",
        lambda w: {},
        "get",
        {"anonymous": 302, "annotator": 403, "outsider": 200, "researcher": 200, "admin": 200},
    ),
    (
        "annotation:project_new",
        lambda w: {},
        "post",
        {"anonymous": 302, "annotator": 403, "outsider": 400, "researcher": 400, "admin": 400},
    ),
    ("annotation:project_settings", lambda w: {"slug": "demo"}, "get", RESEARCHERS_200),
    (
        "annotation:project_settings",
        lambda w: {"slug": "demo"},
        "post",
        {"anonymous": 302, "annotator": 403, "outsider": 404, "researcher": 400, "admin": 400},
    ),
    ("annotation:project_members", lambda w: {"slug": "demo"}, "get", RESEARCHERS_200),
    (
        "annotation:project_members",
        lambda w: {"slug": "demo"},
        "post",
        {"anonymous": 302, "annotator": 403, "outsider": 404, "researcher": 400, "admin": 400},
    ),
    (
        "annotation:project_member_remove",
        lambda w: {"slug": "demo", "user_id": w["users"]["annotator"].pk},
        "post",
        {"anonymous": 302, "annotator": 403, "outsider": 404, "researcher": 302, "admin": 302},
    ),
    ("annotation:project_progress", lambda w: {"slug": "demo"}, "get", RESEARCHERS_200),
    ("annotation:judges", lambda w: {"slug": "demo"}, "get", RESEARCHERS_200),
    # No judge named: researchers get 400 naming the field; everyone else never learns the project's judges.
    ("annotation:judges_disagreements", lambda w: {"slug": "demo"}, "get", RESEARCHERS_400),
    ("annotation:annotate", lambda w: {"slug": "demo"}, "get", MEMBERS_200),
    ("annotation:annotate_next", lambda w: {"slug": "demo"}, "get", MEMBERS_200),
    (
        "annotation:annotate_undo",
        lambda w: {"slug": "demo"},
        "post",
        {"anonymous": 302, "annotator": 409, "outsider": 404, "researcher": 409, "admin": 409},
    ),
    (
        "annotation:assignment_submit",
        lambda w: {"assignment_id": w["assignment"].pk},
        "post",
        {"anonymous": 302, "annotator": 400, "outsider": 404, "researcher": 404, "admin": 404},
    ),
    (
        "annotation:assignment_skip",
        lambda w: {"assignment_id": w["assignment"].pk},
        "post",
        {"anonymous": 302, "annotator": 302, "outsider": 404, "researcher": 404, "admin": 404},
    ),
    ("annotation:export_new", lambda w: {"slug": "demo"}, "get", RESEARCHERS_200),
    (
        "annotation:export_new",
        lambda w: {"slug": "demo"},
        "post",
        {"anonymous": 302, "annotator": 403, "outsider": 404, "researcher": 400, "admin": 400},
    ),
    ("annotation:export_job", lambda w: {"job_id": w["export"].pk}, "get", RESEARCHERS_200),
    (
        "annotation:export_job_retry",
        lambda w: {"job_id": w["export"].pk},
        "post",
        {"anonymous": 302, "annotator": 403, "outsider": 404, "researcher": 302, "admin": 302},
    ),
    ("annotation:export_file", lambda w: {"job_id": w["export"].pk, "name": "README.md"}, "get", RESEARCHERS_200),
    ("annotation:noise", lambda w: {"slug": "demo"}, "get", RESEARCHERS_200),
    # No detectors named, or too few judgments: the reason on the page, as a 400.
    ("annotation:noise_run", lambda w: {"slug": "demo"}, "post", RESEARCHERS_400),
    ("annotation:noise_review", lambda w: {"judgment_id": w["judgment"].pk}, "get", RESEARCHERS_200),
    ("annotation:noise_review_act", lambda w: {"judgment_id": w["judgment"].pk}, "post", RESEARCHERS_400),
    # Undoing a keep: the flags go back to open and the page follows the judgment.
    (
        "annotation:noise_review_undo",
        lambda w: {"action_id": w["review_action"].pk},
        "post",
        {"anonymous": 302, "annotator": 403, "outsider": 404, "researcher": 302, "admin": 302},
    ),
    (
        "admin:index",
        lambda w: {},
        "get",
        {"anonymous": 302, "annotator": 302, "outsider": 302, "researcher": 302, "admin": 200},
    ),
]


@pytest.mark.parametrize("who", ["anonymous", "annotator", "outsider", "researcher", "admin"])
@pytest.mark.parametrize(("name", "kwargs", "method", "expected"), PAGES, ids=[f"{p[0]}-{p[2]}" for p in PAGES])
def test_permission_matrix(world: dict, who: str, name: str, kwargs, method: str, expected: dict) -> None:
    url = reverse(name, kwargs=kwargs(world))
    response = getattr(client_for(world, who), method)(url)
    assert response.status_code == expected[who], (who, url, response.status_code)
    if who == "anonymous":
        assert response["Location"].startswith(reverse("login")) or response["Location"].startswith("/admin/login")


def test_the_matrix_covers_every_url() -> None:
    from annotation.urls import urlpatterns

    covered = {name for name, *_ in PAGES}
    missing = {f"annotation:{pattern.name}" for pattern in urlpatterns} - covered
    assert not missing, f"add these URLs to the permission matrix: {sorted(missing)}"


def test_project_list_shows_only_member_projects(world: dict) -> None:
    html = client_for(world, "annotator").get("/").content.decode()
    assert "Demo" in html and "Other" not in html
    admin_html = client_for(world, "admin").get("/").content.decode()
    assert "Demo" in admin_html and "Other" in admin_html


def test_overview_counts_and_escapes_untrusted_text(world: dict) -> None:
    response = client_for(world, "researcher").get(reverse("annotation:project_overview", kwargs={"slug": "demo"}))
    html = response.content.decode()
    assert response.status_code == 200
    assert "&lt;script&gt;alert(&quot;prompt&quot;)&lt;/script&gt;" in html
    assert "<script>alert" not in html and "<img src=x" not in html and "<svg onload" not in html
    assert 'href="javascript:' not in html and "<iframe" not in html
    assert "demo:imported" in html  # the default judge, with its ordering
    assert '<span class="num">2</span><span class="label">prompts</span>' in html


def test_overview_fragment_for_htmx_paging(world: dict) -> None:
    url = reverse("annotation:project_overview", kwargs={"slug": "demo"}) + "?page=1"
    response = client_for(world, "researcher").get(url, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="sample">')
    assert "<html" not in html


def test_upload_small_file_imports_inline_and_reports(world: dict, django_capture_on_commit_callbacks) -> None:
    client = client_for(world, "researcher")
    upload = SimpleUploadedFile("more.jsonl", b'{"prompt": "p3", "chosen": "a", "rejected": "b"}\n')
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("annotation:import_upload", kwargs={"slug": "demo"}), {"file": upload})
    job = ImportJob.objects.exclude(pk=world["job"].pk).get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "annotation:import_job", kwargs={"job_id": job.pk}
    )
    assert job.status == ImportJob.Status.SUCCEEDED and job.report["judgments_created"] == 1
    html = client.get(response["Location"]).content.decode()
    assert "Succeeded" in html and "hx-trigger" not in html  # finished: the page stops polling


def test_upload_of_a_bad_file_fails_visibly_and_writes_nothing(world: dict, django_capture_on_commit_callbacks) -> None:
    client = client_for(world, "researcher")
    before = Judgment.objects.count()
    upload = SimpleUploadedFile(
        "bad.jsonl",
        b'{"prompt": "p3", "chosen": "a", "rejected": "b"}\n{"prompt": "p4", "chosen": 5, "rejected": "b"}\n',
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("annotation:import_upload", kwargs={"slug": "demo"}), {"file": upload})
    response = client.get(response["Location"])
    html = response.content.decode()
    assert "Failed" in html and "nothing was written" in html
    assert "<code>chosen</code>" in html and ">2<" in html  # row 2, field chosen
    assert Judgment.objects.count() == before


def test_stalled_job_shows_and_can_be_retried(world: dict) -> None:
    job = world["job"]
    ImportJob.objects.filter(pk=job.pk).update(
        status="running",
        started_at=timezone.now() - timedelta(minutes=10),
        heartbeat_at=timezone.now() - timedelta(minutes=10),
    )
    client = client_for(world, "researcher")
    html = client.get(reverse("annotation:import_job", kwargs={"job_id": job.pk})).content.decode()
    assert "may have stopped" in html and "Retry" in html
    client.post(reverse("annotation:import_job_retry", kwargs={"job_id": job.pk}))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.QUEUED


def test_a_finished_job_cannot_be_retried(world: dict) -> None:
    client = client_for(world, "researcher")
    response = client.post(reverse("annotation:import_job_retry", kwargs={"job_id": world["job"].pk}), follow=True)
    assert "Only a failed or stalled import can be retried." in response.content.decode()
    assert Project.objects.get(slug="demo").import_jobs.get().status == "succeeded"


def test_export_page_runs_an_export_and_serves_its_files(world: dict, django_capture_on_commit_callbacks) -> None:
    client = client_for(world, "researcher")
    fields = {"format": "trl-pairwise", "file_type": "jsonl", "active_only": "on", "pairs": "all", "ties": "drop",
              "consensus": "none", "test_fraction": "0.5", "seed": "1"}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("annotation:export_new", kwargs={"slug": "demo"}), fields)
    assert response.status_code == 302
    job = ExportJob.objects.exclude(pk=world["export"].pk).get()
    assert job.status == "succeeded" and job.options["seed"] == 1, job.error  # small: ran inside the request
    page = client.get(reverse("annotation:export_job", kwargs={"job_id": job.pk})).content.decode()
    assert "README.md" in page
    for name in job.files:
        download = client.get(reverse("annotation:export_file", kwargs={"job_id": job.pk, "name": name}))
        assert download.status_code == 200
    bad = client.post(reverse("annotation:export_new", kwargs={"slug": "demo"}), fields | {"min_agreement": "2"})
    assert bad.status_code == 400 and "less than or equal to 1" in bad.content.decode()
    # Only names the job lists resolve: no path from the request reaches the disk.
    missing = client.get(reverse("annotation:export_file", kwargs={"job_id": job.pk, "name": "secret_key"}))
    assert missing.status_code == 404
    assert client.get(f"/exports/{job.pk}/files/..%2F..%2Fsecret_key").status_code == 404
