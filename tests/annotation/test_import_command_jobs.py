"""Every import is an ImportJob the project's pages list, the command line's too; `--create-project` leaves
nothing behind when its import fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from annotation.models import ImportJob, Judge, Judgment, Membership, Project, Prompt
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db

OASST = "oasst_en100/en_100_tree.jsonl.gz"


def pairs_file(path: Path, rows: int, *, bad_row: int | None = None) -> Path:
    lines = []
    for i in range(rows):
        row = {"prompt": f"question {i}", "chosen": f"good {i}", "rejected": f"bad {i}"}
        if i + 1 == bad_row:
            row["chosen"] = ["not", "messages"]
        lines.append(json.dumps(row))
    path.write_text("\n".join(lines) + "\n")
    return path


def researcher_client(project: Project) -> Client:
    client = Client()
    client.force_login(MembershipFactory(project=project, role=Membership.Role.RESEARCHER).user)
    return client


def test_a_command_line_import_is_a_job_the_import_page_lists(tmp_path: Path, capsys) -> None:
    project = ProjectFactory(slug="cli")
    path = pairs_file(tmp_path / "cli-pairs.jsonl", 5)
    call_command("import_data", str(path), "--project", "cli", "--judge", "labeller")
    out = capsys.readouterr().out
    job = ImportJob.objects.get(project=project)
    assert f"Import job {job.pk} in project cli." in out and "5 new judgments" in out
    assert (job.origin, job.status, job.original_name) == ("command", "succeeded", "cli-pairs.jsonl")
    assert job.format == "trl-pairwise"  # detected
    assert job.report["judgments_created"] == 5 and job.options == {"judge": "labeller"}
    assert job.started_at and job.finished_at and job.path == str(path.resolve())
    # The imported judgments name the job, as a page import's do.
    assert set(Judgment.objects.filter(project=project).values_list("import_job_id", flat=True)) == {job.pk}

    client = researcher_client(project)
    page = client.get(reverse("annotation:import_upload", kwargs={"slug": "cli"})).content.decode()
    assert "cli-pairs.jsonl" in page and "Command line" in page and "5 new judgments" in page
    overview = client.get(reverse("annotation:project_overview", kwargs={"slug": "cli"})).content.decode()
    assert "cli-pairs.jsonl" in overview
    detail = client.get(reverse("annotation:import_job", kwargs={"job_id": job.pk})).content.decode()
    assert "from the command line" in detail and "new judgments" in detail
    api = client.get("/api/v1/projects/cli/imports/").json()
    assert [(j["original_name"], j["origin"]) for j in api["results"]] == [("cli-pairs.jsonl", "command")]


def test_a_failed_command_line_import_into_an_existing_project_is_a_failed_job(tmp_path: Path) -> None:
    project = ProjectFactory(slug="cli")
    path = pairs_file(tmp_path / "broken.jsonl", 4, bad_row=3)
    with pytest.raises(CommandError, match="row 3, chosen"):
        call_command("import_data", str(path), "--project", "cli")
    job = ImportJob.objects.get(project=project)
    assert (job.origin, job.status) == ("command", "failed")
    assert job.report["error_count"] == 1 and "nothing was written" in job.error
    assert not Prompt.objects.filter(project=project).exists()
    page = researcher_client(project).get(reverse("annotation:import_upload", kwargs={"slug": "cli"}))
    assert "broken.jsonl" in page.content.decode() and "1 error, nothing written" in page.content.decode()


def test_a_page_and_an_api_import_say_where_they_came_from(tmp_path: Path, django_capture_on_commit_callbacks) -> None:
    project = ProjectFactory(slug="web")
    client = researcher_client(project)
    upload = SimpleUploadedFile("page.jsonl", pairs_file(tmp_path / "page.jsonl", 3).read_bytes())
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("annotation:import_upload", kwargs={"slug": "web"}), {"file": upload})
    upload = SimpleUploadedFile("api.jsonl", pairs_file(tmp_path / "api.jsonl", 4).read_bytes())
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/projects/web/imports/create/", {"file": upload})
    assert response.status_code == 202, response.content
    origins = dict(ImportJob.objects.filter(project=project).values_list("original_name", "origin"))
    assert origins == {"page.jsonl": "page", "api.jsonl": "api"}
    assert set(ImportJob.objects.filter(project=project).values_list("status", flat=True)) == {"succeeded"}


@pytest.mark.parametrize("failure", ["bad row", "wrong shape", "no such format"])
def test_create_project_leaves_nothing_behind_when_the_import_fails(
    tmp_path: Path, shared_data: Path, failure: str
) -> None:
    before = (Project.objects.count(), Judge.objects.count(), ImportJob.objects.count())
    if failure == "bad row":
        args = [str(pairs_file(tmp_path / "broken.jsonl", 50, bad_row=50)), "--judge", "j"]
    elif failure == "wrong shape":
        args = [str(shared_data / OASST), "--project-kind", "pairwise"]
    else:
        (tmp_path / "odd.jsonl").write_text('{"what": 1}\n')
        args = [str(tmp_path / "odd.jsonl")]
    with pytest.raises(CommandError):
        call_command("import_data", *args, "--project", "fresh", "--create-project")
    assert not Project.objects.filter(slug="fresh").exists()
    assert (Project.objects.count(), Judge.objects.count(), ImportJob.objects.count()) == before
    # The same slug is free for the next attempt, which then works.
    call_command("import_data", str(pairs_file(tmp_path / "fine.jsonl", 3)), "--project", "fresh", "--create-project")
    project = Project.objects.get(slug="fresh")
    assert Judgment.objects.filter(project=project).count() == 3
    assert ImportJob.objects.get(project=project).status == ImportJob.Status.SUCCEEDED


def test_the_api_takes_as_pairs_and_refuses_lists_without_it(settings, django_capture_on_commit_callbacks) -> None:
    settings.WORKBENCH_INLINE_IMPORT_MAX_KB = 1024  # the 70 KB demo file imports right after the request
    project = ProjectFactory(slug="api-pairs")
    client = researcher_client(project)
    data = (Path(settings.BASE_DIR) / "demo_data" / "oasst" / "en_tree.first30.jsonl.gz").read_bytes()
    url = "/api/v1/projects/api-pairs/imports/create/"
    with django_capture_on_commit_callbacks(execute=True):
        refused = client.post(url, {"file": SimpleUploadedFile("oasst.jsonl.gz", data)}).json()
    job = client.get(f"/api/v1/imports/{refused['id']}/").json()
    assert job["status"] == "failed" and job["origin"] == "api"
    assert "but this project is pairwise (list size 2)" in job["report"]["errors"][0]["message"]
    with django_capture_on_commit_callbacks(execute=True):
        taken = client.post(url, {"file": SimpleUploadedFile("oasst.jsonl.gz", data), "as_pairs": "true"}).json()
    job = client.get(f"/api/v1/imports/{taken['id']}/").json()
    assert job["status"] == "succeeded" and job["report"]["judgments_created"] > 59
    assert Judgment.objects.filter(project=project).count() == job["report"]["judgments_created"]
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(url, {"file": SimpleUploadedFile("oasst.jsonl.gz", data), "as_pairs": "true"}).json()
    assert client.get(f"/api/v1/imports/{again['id']}/").json()["report"]["already_imported"] == taken["id"]
    unknown = client.post(url, {"file": SimpleUploadedFile("x.jsonl", b"{}\n"), "as_pair": "true"})
    assert unknown.status_code == 400 and "as_pair" in unknown.json()["error"]["message"]
