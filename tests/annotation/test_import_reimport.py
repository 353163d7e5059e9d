"""Re-importing a file already imported writes nothing and says so without reading it row by row, and only when that
is certain: a file changed in one row, other options, or a project that lost or changed rows since take the full
path, which imports what is missing."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Comparison, ImportJob, Judgment, Placement, Project, Prompt, Response
from annotation.services.imports import import_file
from annotation.services.review import judgment_exclude

pytestmark = pytest.mark.django_db

HH = "hh_rlhf_harmless_test/harmless-base_test.jsonl.gz"


def counts(project: Project) -> tuple[int, ...]:
    return (
        Prompt.objects.filter(project=project).count(),
        Response.objects.filter(prompt__project=project).count(),
        Comparison.objects.filter(project=project).count(),
        Judgment.objects.filter(project=project).count(),
        Placement.objects.filter(judgment__project=project).count(),
    )


def run(path: Path, project: str, *extra: str) -> ImportJob:
    call_command("import_data", str(path), "--project", project, *extra)
    return ImportJob.objects.filter(project__slug=project).latest("id")


def test_a_second_import_of_a_real_file_writes_nothing_and_says_already_imported(shared_data: Path, capsys) -> None:
    first = run(shared_data / HH, "hh", "--create-project")
    project = Project.objects.get(slug="hh")
    before = counts(project)
    assert before == (2310, 4624, 2312, 2312, 4624)
    assert first.report["already_imported"] is None and first.content_hash and first.project_state
    capsys.readouterr()

    second = run(shared_data / HH, "hh")
    out = capsys.readouterr().out
    assert counts(project) == before
    assert out.startswith("Already imported: harmless-base_test.jsonl.gz (hh-rlhf, 2312 rows)")
    assert "0 new prompts, responses, comparisons or judgments (2312 already present), 0 new judges" in out
    assert second.status == ImportJob.Status.SUCCEEDED and second.pk != first.pk
    report = second.report
    assert report["already_imported"] == first.pk
    created = ("prompts_created", "responses_created", "comparisons_created", "judgments_created", "judges_created")
    assert [report[k] for k in created] == [0, 0, 0, 0, 0]
    assert (report["rows"], report["judgments_unchanged"]) == (2312, 2312)
    # The file's own warnings (5 diverging transcripts) are still reported.
    assert report["warning_count"] == first.report["warning_count"] > 0
    assert second.content_hash == first.content_hash
    assert not Judgment.objects.filter(import_job=second).exists()
    # A third import finds the second's record just as well.
    assert run(shared_data / HH, "hh").report["already_imported"] == second.pk


def test_a_file_changed_in_one_row_imports_that_row(shared_data: Path, tmp_path: Path) -> None:
    rows = [json.loads(line) for line in gzip.open(shared_data / HH, "rt")]
    original = tmp_path / "hh.jsonl"
    original.write_text("".join(json.dumps(row) + "\n" for row in rows))
    run(original, "hh", "--create-project")
    project = Project.objects.get(slug="hh")
    before = counts(project)

    rows[1000]["chosen"] += " (edited)"  # a new chosen response in row 1001: a new response, comparison, judgment
    changed = tmp_path / "hh.jsonl"
    changed.write_text("".join(json.dumps(row) + "\n" for row in rows))
    job = run(changed, "hh")
    assert job.report["already_imported"] is None
    assert (job.report["judgments_created"], job.report["judgments_unchanged"]) == (1, 2311)
    assert counts(project) == (before[0], before[1] + 1, before[2] + 1, before[3] + 1, before[4] + 2)
    edited = Judgment.objects.get(import_job=job)
    assert edited.placements.get(rank=1).response.text.endswith(" (edited)")


def test_other_options_are_another_import(shared_data: Path) -> None:
    run(shared_data / HH, "hh", "--create-project", "--judge", "crowd")
    job = run(shared_data / HH, "hh", "--judge", "crowd-2")
    assert job.report["already_imported"] is None and job.report["judgments_created"] == 2312
    assert run(shared_data / HH, "hh", "--judge", "crowd-2").report["already_imported"] == job.pk


def test_rows_changed_since_take_the_full_path_and_come_back(shared_data: Path) -> None:
    first = run(shared_data / HH, "hh", "--create-project")
    project = Project.objects.get(slug="hh")
    judgment = Judgment.objects.filter(project=project).order_by("id")[5]
    judgment_exclude(judgment=judgment)  # a reviewer set it aside: the file's judgment is no longer active

    again = run(shared_data / HH, "hh")
    assert again.report["already_imported"] is None
    assert (again.report["judgments_created"], again.report["judgments_unchanged"]) == (1, 2311)
    assert Judgment.objects.filter(project=project, status=Judgment.Status.ACTIVE).count() == 2312
    # Now nothing changed since `again`: the next one is certain again.
    assert run(shared_data / HH, "hh").report["already_imported"] == again.pk
    assert first.pk != again.pk


def test_a_deleted_judgment_is_imported_again(shared_data: Path) -> None:
    """Every judgment counts, whatever its status (a status change shows in `updated_at`); a deleted one lowers
    the count of rows that were there, so the full path runs and brings it back."""
    run(shared_data / HH, "hh", "--create-project")
    project = Project.objects.get(slug="hh")
    Judgment.objects.filter(pk=Judgment.objects.filter(project=project).order_by("id")[7].pk).delete()
    job = run(shared_data / HH, "hh")
    assert job.report["already_imported"] is None and job.report["judgments_created"] == 1
    assert Judgment.objects.filter(project=project).count() == 2312


def test_rows_added_since_do_not_stop_the_no_op(shared_data: Path, tmp_path: Path) -> None:
    first = run(shared_data / HH, "hh", "--create-project")
    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps({"prompt": f"p{i}", "chosen": "a", "rejected": "b"}) + "\n" for i in range(9)))
    run(other, "hh")
    assert run(shared_data / HH, "hh").report["already_imported"] == first.pk


def test_a_project_whose_kind_changed_since_refuses_the_file_again(shared_data: Path) -> None:
    run(shared_data / HH, "hh", "--create-project")
    Project.objects.filter(slug="hh").update(kind=Project.Kind.LISTWISE, list_size=4)
    with pytest.raises(CommandError, match="the file holds only pairs"):
        run(shared_data / HH, "hh")
    assert ImportJob.objects.filter(project__slug="hh").latest("id").status == ImportJob.Status.FAILED


def test_import_file_without_a_job_writes_nothing_on_a_re_import(shared_data: Path) -> None:
    """Callers of the service itself (the demo loader, tests) still get the full path's result: nothing new."""
    run(shared_data / HH, "hh", "--create-project")
    project = Project.objects.get(slug="hh")
    before = counts(project)
    report = import_file(project=project, path=shared_data / HH)
    assert report.already_imported is not None and report.judgments_created == 0
    assert counts(project) == before
