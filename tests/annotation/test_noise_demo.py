"""The demo's planted-noise project (`demo-noisy`, demo_data/noisy/): the model-free detectors, run as the page runs
them, put the planted judgments (20% of annotator2's decisive labels flipped, a fast clicker who picks the first
shown response) at the top of the Noisy labels page."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from sklearn.metrics import roc_auc_score

from annotation.analysis.noise.detect import DETECTORS
from annotation.models import Judgment, LabelFlag, Membership, Project
from annotation.services.noise_runs import noise_run_execute, noise_run_start
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db
NOISY = Path(settings.BASE_DIR) / "demo_data" / "noisy"


def test_the_detectors_find_the_planted_noise_of_the_demo(django_capture_on_commit_callbacks) -> None:
    call_command("load_demo", stdout=StringIO())
    project = Project.objects.get(slug="demo-noisy")
    planted = {(p["prompt_id"], p["judge"]) for p in json.loads((NOISY / "planted.json").read_text())}
    with django_capture_on_commit_callbacks(execute=False):
        run = noise_run_start(project=project, user=None, detectors=list(DETECTORS))
    noise_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error

    judgments = Judgment.objects.filter(project=project, status="active")
    key = dict(judgments.values_list("pk", "comparison__prompt__external_id"))
    judge = dict(judgments.values_list("pk", "judge__name"))
    combined = dict(LabelFlag.objects.filter(project=project, detector="combined").values_list("judgment_id", "score"))
    truth = [(key[pk], judge[pk]) in planted for pk in key]
    scores = [combined.get(pk, 0.0) for pk in key]
    assert sum(truth) == len(planted)
    auroc = roc_auc_score(truth, scores)
    print(f"demo-noisy combined AUROC {auroc:.3f}")
    assert auroc >= 0.9
    # the fast clicker is the least reliable annotator in the page's table
    annotators = run.report["annotators"]
    names = dict(project.judges.values_list("pk", "name"))
    worst = min(annotators, key=lambda row: row["reliability"] if row["reliability"] is not None else 1.0)
    assert names[worst["judge_id"]] == "fast-clicker"

    # the page lists the most suspicious first: planted ones
    researcher = MembershipFactory(project=project, role=Membership.Role.RESEARCHER).user
    client = Client()
    client.force_login(researcher)
    page = client.get(reverse("annotation:noise", args=[project.slug]))
    assert page.status_code == 200
    top = sorted(key, key=lambda pk: -combined.get(pk, 0.0))[:20]
    assert sum((key[pk], judge[pk]) in planted for pk in top) >= 18


def test_the_demo_imports_are_import_jobs_listed_with_the_others() -> None:
    from annotation.management.commands.load_demo import DEMO_PROJECTS
    from annotation.models import ImportJob

    call_command("load_demo", stdout=StringIO())
    jobs = ImportJob.objects.filter(origin=ImportJob.Origin.COMMAND)
    assert jobs.count() == sum(len(spec["files"]) for spec in DEMO_PROJECTS)
    assert set(jobs.values_list("status", flat=True)) == {ImportJob.Status.SUCCEEDED}
    noisy = jobs.filter(project__slug="demo-noisy")
    assert noisy.exists() and all(job.created_by.username == "researcher" for job in noisy)
