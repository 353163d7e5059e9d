"""In Chromium: a researcher exports with "leave out excluded judgments" and a suspicion threshold from the export
page, and the dataset card says how many were left out and why; the launch page shows the same settings beside the
training defaults. Screenshots go to docs/screenshots/ (export-review-filters.png, run-launch-defaults.png)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings as django_settings

from annotation.models import ExportJob, Membership
from rewards.services.runs import LAUNCH_DEFAULTS
from tests.annotation.exports.test_review_and_suspicion import THRESHOLD, _reviewed_project
from tests.browser.test_foundation_pages import login
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(django_settings.BASE_DIR) / "docs" / "screenshots"


def test_export_and_launch_pages_take_the_review_filters(page, live_server) -> None:
    world = _reviewed_project()
    Membership.objects.create(project=world["project"], user=UserFactory(username="res"), role="researcher")
    login(page, live_server, "res")
    page.goto(f"{live_server.url}/projects/rev/export/")
    assert page.locator("#id_active_only").is_checked()  # on by default
    assert page.locator("#id_suspicion_detector").input_value() == "combined"
    page.fill("#id_max_suspicion", str(THRESHOLD))
    page.locator("#id_max_suspicion").blur()
    page.screenshot(path=str(SHOTS / "export-review-filters.png"), full_page=True)
    page.click("button:has-text('Export')")
    page.wait_for_url("**/exports/*/")
    page.wait_for_selector("#job-status a:has-text('README.md')", timeout=60_000)
    job = ExportJob.objects.get(project=world["project"])
    assert job.filters == {"max_suspicion": THRESHOLD}
    left = job.report["left_out"]
    assert left["superseded_by_correction"] == 1 and left["suspicion"] >= 3
    card = page.request.get(f"{live_server.url}/exports/{job.pk}/files/README.md").text()
    assert "- Superseded by a correction: 1" in card
    assert f"- Suspicion above 0.8 (detector `combined`): {left['suspicion']} more" in card

    page.goto(f"{live_server.url}/rewards/runs/new/")
    assert page.locator("#id_active_only").is_checked()
    assert float(page.locator("#id_epochs").input_value()) == LAUNCH_DEFAULTS["epochs"]
    assert float(page.locator("#id_learning_rate").input_value()) == LAUNCH_DEFAULTS["learning_rate"]
    assert float(page.locator("#id_eval_fraction").input_value()) == LAUNCH_DEFAULTS["eval_fraction"]
    page.fill("#id_max_suspicion", "0.9")
    page.locator("#id_max_suspicion").blur()
    page.screenshot(path=str(SHOTS / "run-launch-defaults.png"), full_page=True)
    assert not page.console_errors  # type: ignore[attr-defined]
