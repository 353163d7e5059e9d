"""Exports honour review and suspicion (issue 15): excluded and superseded judgments stay out by default and go out,
with their status, when "leave out excluded judgments" is off; a suspicion threshold leaves out judgments whose
flag (the combined one, or a chosen detector's) scores above it, on the fast path as on the general one; the card
and the report say how many were left out and why; the raw export's provenance carries the review actions; the
API, the page and the command take the new filters and refuse bad values.

The review actions and flags are written by the real services (annotation.services.review, label_flags)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.analysis.noise.suspicion import Suspicion
from annotation.exports.options import export_spec_validate
from annotation.exports.runner import export_project
from annotation.models import ExportJob, Judgment, Membership, NoiseRun, Project
from annotation.services.label_flags import label_flags_replace
from annotation.services.review import judgment_correct, ordering_of, review_exclude
from tests.annotation.exports.test_fast_path import assert_same_export, export_both, make_project
from workbench.exceptions import ApplicationError

pytestmark = pytest.mark.django_db

THRESHOLD = 0.8


def _reviewed_project() -> dict[str, Any]:
    """make_project's data (it has excluded judgments of its own), then by the review services: one judgment
    excluded, one corrected (superseded by the reviewer's new judgment); combined flags on every fifth active
    judgment, some above the threshold, one exactly at it; `behaviour` flags on others."""
    project = make_project(slug="rev", prompts=30)
    user = get_user_model().objects.create_user(username="rita", password="x")  # noqa: S106
    Membership.objects.create(project=project, user=user, role=Membership.Role.RESEARCHER)
    active = list(Judgment.objects.filter(project=project, status=Judgment.Status.ACTIVE).order_by("id"))
    excluded_action = review_exclude(judgment=active[0], user=user, note="clicked through in 2 s")
    target = next(j for j in active[1:] if len(ordering_of(judgment=j)) == 2)  # not a tie: it can be reversed
    active.remove(target)
    corrected_action = judgment_correct(
        judgment=target, user=user, ordering=list(reversed(ordering_of(judgment=target))), note="B is safer"
    )
    run = NoiseRun.objects.create(project=project, detectors=["combined", "behaviour"])
    flagged = [j for j in active[2:] if j.pk % 5 == 0]
    scores = {j.pk: (0.95, 0.81, THRESHOLD, 0.3)[n % 4] for n, j in enumerate(flagged)}
    # One flag on the judgment already excluded: counted as excluded, not again as suspicious.
    scores[active[0].pk] = 0.99
    label_flags_replace(
        run=run,
        detector="combined",
        suspicions=[Suspicion(pk, score, f"made up {score}") for pk, score in scores.items()],
    )
    behaviour = {j.pk: 0.9 for j in active[3:12:3]}
    label_flags_replace(
        run=run, detector="behaviour", suspicions=[Suspicion(pk, s, "too fast") for pk, s in behaviour.items()]
    )
    return {
        "project": project,
        "user": user,
        "excluded": active[0],
        "corrected": target,
        "correction": corrected_action.correction,
        "excluded_action": excluded_action,
        "scores": scores,
        "behaviour": behaviour,
    }


def _count(project: Project, status: str) -> int:
    return Judgment.objects.filter(project=project, status=status).count()


def _raw_rows(project: Project, tmp_path: Path, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    spec = export_spec_validate(format="raw", file_type="jsonl", filters=filters, options={})
    out = tmp_path / f"raw{len(list(tmp_path.iterdir()))}.jsonl"
    export_project(project=project, spec=spec, out=out, folder=False)
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_defaults_leave_out_excluded_and_superseded_and_the_card_counts_them(tmp_path: Path) -> None:
    world = _reviewed_project()
    project = world["project"]
    spec = export_spec_validate(format="trl-pairwise", file_type="jsonl", filters={}, options={})
    result = export_project(project=project, spec=spec, out=tmp_path / "out", folder=True)
    excluded, superseded = _count(project, "excluded"), _count(project, "superseded")
    assert excluded >= 2 and superseded == 1  # make_project's own exclusions and the review's
    assert result.report["judgments_read"] == _count(project, "active")
    assert result.report["left_out"] == {"excluded_by_review": excluded, "superseded_by_correction": 1}
    card = (tmp_path / "out" / "README.md").read_text()
    assert f"- Excluded by review: {excluded}" in card
    assert "- Superseded by a correction: 1 (the corrections" in card

    ids = {row["judgment_id"] for row in _raw_rows(project, tmp_path)}
    assert world["excluded"].pk not in ids and world["corrected"].pk not in ids
    assert world["correction"].pk in ids  # the reviewer's ordering goes out in its place


def test_off_a_raw_export_includes_them_with_their_status_and_the_review_history(tmp_path: Path) -> None:
    world = _reviewed_project()
    rows = {row["judgment_id"]: row for row in _raw_rows(world["project"], tmp_path, {"active_only": False})}
    excluded, corrected = rows[world["excluded"].pk], rows[world["corrected"].pk]
    assert excluded["status"] == "excluded" and corrected["status"] == "superseded"
    (action,) = excluded["review"]
    assert action["action"] == "exclude" and action["by"] == "rita" and action["note"] == "clicked through in 2 s"
    assert action["at"].startswith(str(world["excluded_action"].created_at.year)) and action["undone_at"] is None
    (fix,) = corrected["review"]
    assert fix["action"] == "correct" and fix["correction_id"] == world["correction"].pk and fix["note"] == "B is safer"
    assert rows[world["correction"].pk]["review"] == []  # every row has the column once the project has reviews
    assert {row["status"] for row in rows.values()} == {"active", "excluded", "superseded"}


def test_a_project_without_review_actions_exports_raw_rows_as_before(tmp_path: Path) -> None:
    project = make_project(slug="plain", prompts=6)
    (row, *_) = _raw_rows(project, tmp_path)
    assert list(row)[-3:] == ["duration_ms", "import_job_id", "metadata"]  # no review column: the same bytes


@pytest.mark.parametrize("file_type", ["jsonl", "parquet"])
def test_a_suspicion_threshold_leaves_out_flagged_judgments_on_both_paths(tmp_path: Path, file_type: str) -> None:
    world = _reviewed_project()
    project = world["project"]
    filters = {"max_suspicion": THRESHOLD}
    fast, general, fast_out, general_out = export_both(
        project, tmp_path, file_type=file_type, folder=True, filters=filters
    )
    assert fast.report["path"].startswith("fast")
    assert_same_export(fast, general, fast_out, general_out)
    above = {pk for pk, score in world["scores"].items() if score > THRESHOLD} - {world["excluded"].pk}
    assert len(above) >= 3
    assert fast.report["left_out"]["suspicion"] == len(above)
    assert fast.report["judgments_read"] == _count(project, "active") - len(above)
    card = (fast_out / "README.md").read_text()
    assert f"- Suspicion above 0.8 (detector `combined`): {len(above)} more" in card
    assert "--max-suspicion 0.8" in card  # the reproduce line

    ids = {row["judgment_id"] for row in _raw_rows(project, tmp_path, filters)}
    assert not ids & above
    at_threshold = {pk for pk, score in world["scores"].items() if score == THRESHOLD}
    assert at_threshold and at_threshold <= ids  # "above": a score equal to the threshold stays


def test_a_chosen_detector_and_raw_exports_with_excluded_ones_included(tmp_path: Path) -> None:
    world = _reviewed_project()
    project = world["project"]
    filters = {"max_suspicion": 0.5, "suspicion_detector": "behaviour", "active_only": False}
    ids = {row["judgment_id"] for row in _raw_rows(project, tmp_path, filters)}
    assert not ids & set(world["behaviour"])
    assert world["excluded"].pk in ids  # combined flag 0.99, but this export reads the behaviour detector
    spec = export_spec_validate(format="raw", file_type="jsonl", filters=filters, options={})
    report = export_project(project=project, spec=spec, out=tmp_path / "b.jsonl", folder=False).report
    assert report["left_out"] == {"suspicion": len(world["behaviour"])}


@pytest.mark.parametrize(
    ("filters", "field", "words"),
    [
        ({"max_suspicion": 1.5}, "filters.max_suspicion", "must be in [0, 1]"),
        ({"max_suspicion": "high"}, "filters.max_suspicion", "must be a number"),
        ({"suspicion_detector": "behaviour"}, "filters.suspicion_detector", "only with max_suspicion"),
        ({"max_suspicion": 0.5, "suspicion_detector": "a b"}, "filters.suspicion_detector", "detector name"),
        ({"active_only": "maybe"}, "filters.active_only", "true or false"),
    ],
)
def test_bad_values_are_refused_naming_the_field(filters: dict, field: str, words: str) -> None:
    with pytest.raises(ApplicationError) as caught:
        export_spec_validate(format="raw", filters=filters, options={})
    assert caught.value.extra["field"] == field and words in caught.value.message


def test_a_detector_without_flags_is_refused_not_silently_ignored(tmp_path: Path) -> None:
    world = _reviewed_project()
    spec = export_spec_validate(
        format="raw", filters={"max_suspicion": 0.5, "suspicion_detector": "cycles"}, options={}
    )
    with pytest.raises(ApplicationError) as caught:
        export_project(project=world["project"], spec=spec, out=tmp_path / "x.jsonl", folder=False)
    assert "no judgment of project 'rev' has a 'cycles' flag" in caught.value.message
    assert "detectors with flags: behaviour, combined" in caught.value.message


def test_the_api_takes_the_filters_and_refuses_bad_values(tmp_path: Path, django_capture_on_commit_callbacks) -> None:
    world = _reviewed_project()
    client = APIClient()
    client.force_authenticate(world["user"])
    url = "/api/v1/projects/rev/exports/create/"
    body = {"format": "trl-pairwise", "filters": {"max_suspicion": THRESHOLD, "suspicion_detector": "combined"}}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, body, format="json")
    assert response.status_code == 202, response.content
    job = ExportJob.objects.get(pk=response.json()["id"])
    assert job.filters == {"max_suspicion": THRESHOLD} and job.status == "succeeded", job.error
    assert job.report["left_out"]["suspicion"] > 0 and job.report["left_out"]["superseded_by_correction"] == 1
    for filters, field in (
        ({"max_suspicion": 2}, "max_suspicion"),
        ({"max_suspicion": 0.5, "suspicion_detector": "x" * 40}, "suspicion_detector"),
        ({"suspicion_detector": "behaviour"}, "filters.suspicion_detector"),
        ({"max_suspicion": 0.5, "suspicion_detector": "cycles"}, "detectors with flags: behaviour, combined"),
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(url, {"format": "raw", "filters": filters}, format="json")
        assert response.status_code == 400, (filters, response.content)
        assert field in json.dumps(response.json()["error"]), response.json()
    assert ExportJob.objects.count() == 1  # nothing recorded for a refused request


def test_the_page_takes_the_filters_and_shows_form_errors(django_capture_on_commit_callbacks) -> None:
    world = _reviewed_project()
    client = Client()
    client.force_login(world["user"])
    url = reverse("annotation:export_new", kwargs={"slug": "rev"})
    page = client.get(url).content.decode()
    assert "Leave out excluded judgments" in page and 'name="max_suspicion"' in page
    fields = {"format": "raw", "file_type": "jsonl", "pairs": "all", "ties": "drop", "consensus": "none",
              "test_fraction": "0", "seed": "0", "max_suspicion": "0.8", "suspicion_detector": "combined"}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, fields)  # active_only unticked: excluded ones go out with their status
    assert response.status_code == 302
    job = ExportJob.objects.get()
    assert job.filters == {"active_only": False, "max_suspicion": 0.8} and job.status == "succeeded", job.error
    bad = client.post(url, fields | {"max_suspicion": "1.5"})
    assert bad.status_code == 400 and "less than or equal to 1" in bad.content.decode()
    bad = client.post(url, fields | {"max_suspicion": "", "suspicion_detector": "behaviour"})
    assert bad.status_code == 400 and "applies only with max_suspicion" in bad.content.decode()
    bad = client.post(url, fields | {"suspicion_detector": "cycles"})
    assert bad.status_code == 400 and "detectors with flags: behaviour, combined" in bad.content.decode()
    assert ExportJob.objects.count() == 1


def test_the_command_takes_the_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _reviewed_project()
    out = tmp_path / "cmd.jsonl"
    call_command("export_data", "--project", "rev", "--format", "raw", "--out", str(out), "--max-suspicion", "0.8")
    printed = capsys.readouterr().out
    assert "left out, suspicion: " in printed and "left out, superseded by correction: 1" in printed
    assert out.read_text().count("\n") == _count(Project.objects.get(slug="rev"), "active") - int(
        printed.split("left out, suspicion: ")[1].split()[0]
    )
