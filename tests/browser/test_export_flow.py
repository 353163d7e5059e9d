"""A researcher exports a dataset from the page with a real worker process: judge kinds picked as chips, a held-out
split asked for, the job page polls until the files are listed, and the downloaded train file holds exactly the
judgments of the train split. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from annotation.analysis.split import TRAIN, split_of
from annotation.models import ExportJob, Judge, Membership
from annotation.services.imports import import_file
from tests.browser.conftest import download
from tests.browser.test_foundation_pages import login
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.workers import start_worker, stop

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]
LOG = Path(os.environ["WORKBENCH_DATA_DIR"]) / "browser-export-worker.log"


def test_export_from_the_page_on_a_worker(page, live_server, settings, tmp_path: Path, artifacts_dir: Path) -> None:
    settings.WORKBENCH_INLINE_EXPORT_MAX_JUDGMENTS = 0  # every export goes to the worker, as a large one would
    project = ProjectFactory(slug="exp", name="Export source")
    MembershipFactory(project=project, role=Membership.Role.RESEARCHER, user=UserFactory(username="res"))
    rows = [
        {"prompt": f"<b>q{i}</b>", "chosen": f"yes {i}", "rejected": f"no {i}", "prompt_id": f"q{i}"} for i in range(40)
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    import_file(project=project, path=path, options={"judge": "src"})
    expected_train = sorted(f"<b>q{i}</b>" for i in range(40) if split_of(f"q{i}", seed=3, test_fraction=0.25) == TRAIN)
    assert 0 < len(expected_train) < 40

    worker = start_worker(LOG, queues="default")
    try:
        login(page, live_server, "res")
        page.goto(f"{live_server.url}/projects/exp/export/")
        # Judge kinds are chips on one line, each checkbox inside its own label.
        chips = page.locator("#id_judge_kinds label")
        assert chips.count() == len(Judge.Kind.choices)
        rows = [round(chips.nth(i).bounding_box()["y"]) for i in range(chips.count())]
        # Side by side (five kinds may take a second line), never one chip a line under its label.
        assert len(set(rows)) <= 2 and rows[0] == rows[1] == rows[2], f"judge-kind chips stack: {rows}"
        page.click("#id_judge_kinds label:has-text('Imported source')")
        assert page.locator("#id_judge_kinds input[value=imported]").is_checked()
        page.fill("#id_test_fraction", "0.25")
        page.fill("#id_seed", "3")
        # Blur first: after a full-page screenshot taken while a number input has focus, headless Chromium drops
        # the next click.
        page.locator("#id_seed").blur()
        page.screenshot(path=str(artifacts_dir / "export-form.png"), full_page=True)
        page.click("button:has-text('Export')")
        page.wait_for_url("**/exports/*/")
        # The job page polls until the worker has written the files.
        page.wait_for_selector("#job-status a:has-text('train.jsonl')", timeout=60_000)
        page.screenshot(path=str(artifacts_dir / "export-finished.png"), full_page=True)
        assert page.locator("#job-status[hx-trigger]").count() == 0  # polling has stopped
        # What was written, from the job's report: rows per file and the headline numbers.
        train_row = page.locator("#job-status tr:has-text('train.jsonl') td.num").first.inner_text()
        test_row = page.locator("#job-status tr:has-text('test.jsonl') td.num").first.inner_text()
        assert (int(train_row), int(test_row)) == (len(expected_train), 40 - len(expected_train))
        assert "40 of 40" in page.locator(".export-summary").inner_text()
        train = download(page, "#job-status a:has-text('train.jsonl')", tmp_path / "train.jsonl")
    finally:
        stop(worker)
    job = ExportJob.objects.get(project=project)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert job.filters == {"judge_kinds": ["imported"]} and job.options["test_fraction"] == 0.25
    assert job.files == ["train.jsonl", "test.jsonl", "README.md"]
    exported = [json.loads(line) for line in train.read_text().splitlines()]
    assert sorted(row["prompt"] for row in exported) == expected_train
    assert all(row["chosen"].startswith("yes") and row["rejected"].startswith("no") for row in exported)
