"""The import page in headless Chromium: lists refused by a pairwise project (rows and setting named), imported as
their pairs when the box is ticked, a second upload of the same file already imported, and a command-line import
listed beside them. Screenshots go to docs/screenshots/ (looked at)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from annotation.models import ImportJob, Judgment, Membership, Project
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(django_settings.BASE_DIR) / "docs" / "screenshots"
OASST_DEMO = Path(django_settings.BASE_DIR) / "demo_data" / "oasst" / "en_tree.first30.jsonl.gz"


def login(page, live_server, username: str) -> None:  # noqa: ANN001
    page.goto(f"{live_server.url}/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/")


def upload(page, live_server, path: Path, *, as_pairs: bool = False) -> None:  # noqa: ANN001
    page.goto(f"{live_server.url}/projects/pairs/import/")
    page.set_input_files("#id_file", str(path))
    if as_pairs:
        page.check("#id_as_pairs")
    page.click("text=Upload and import")
    page.wait_for_url("**/imports/*/")


def test_lists_refused_then_imported_as_pairs_then_already_imported(
    page, live_server, settings, shared_data: Path, tmp_path: Path
) -> None:
    settings.WORKBENCH_INLINE_IMPORT_MAX_KB = 1024  # the 70 KB demo file imports inside the request
    project = ProjectFactory(slug="pairs", name="Pairs only", kind=Project.Kind.PAIRWISE, list_size=2)
    MembershipFactory(project=project, role=Membership.Role.RESEARCHER, user=UserFactory(username="res"))
    hh = shared_data / "hhh_alignment" / "hhh_alignment.json"
    call_command("import_data", str(hh), "--project", "pairs", stdout=io.StringIO())

    login(page, live_server, "res")
    upload(page, live_server, OASST_DEMO)
    page.wait_for_selector("text=nothing was written")
    problem = page.locator(".issues").inner_text()
    assert "rank lists of 3-9 responses, but this project is pairwise (list size 2)" in problem
    assert "more (" in problem and "Import lists as their pairs" in problem
    page.screenshot(path=str(SCREENSHOTS / "import-shape-refused.png"), full_page=True)
    assert Judgment.objects.filter(project=project).count() == 221  # the HHH pairs only

    upload(page, live_server, OASST_DEMO, as_pairs=True)
    page.wait_for_selector("text=new judgments")
    assert "lists imported as their pairs" in page.locator("#job-status").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "import-as-pairs.png"), full_page=True)
    pairs = Judgment.objects.filter(project=project).count() - 221
    assert pairs > 59  # 59 ranked groups of 2-9 replies give more pairs than groups

    upload(page, live_server, OASST_DEMO, as_pairs=True)
    page.wait_for_selector("text=Already imported.")
    assert "nothing new was written" in page.locator("#job-status").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "import-already-imported.png"), full_page=True)
    assert Judgment.objects.filter(project=project).count() == 221 + pairs

    page.goto(f"{live_server.url}/projects/pairs/import/")
    recent = page.locator("section:has(h2:text('Recent imports')) tbody tr")
    assert recent.count() == 4
    rows = [recent.nth(i).inner_text() for i in range(4)]
    assert "already imported" in rows[0] and "Import page" in rows[0]
    assert f"{pairs} new judgments" in rows[1]
    assert "1 error, nothing written" in rows[2]
    assert "hhh_alignment.json" in rows[3] and "Command line" in rows[3] and "221 new judgments" in rows[3]
    page.screenshot(path=str(SCREENSHOTS / "import-recent.png"), full_page=True)
    assert list(ImportJob.objects.filter(project=project).order_by("id").values_list("origin", flat=True)) == [
        "command",
        "page",
        "page",
        "page",
    ]
    assert page.console_errors == []  # type: ignore[attr-defined]
