"""The Judges page in headless Chromium against the real server: the demo PandaLM data (three annotators, two model
judges, a synthetic judge in both orders) under a judge name that carries markup; sort, switch the reference, follow
a number to the disagreements. Screenshots go to docs/screenshots/ (looked at) and test-artifacts/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from django.conf import settings

from annotation.models import Membership
from annotation.services.imports import import_file
from tests.browser.test_foundation_pages import login
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEMO = Path(settings.BASE_DIR) / "demo_data" / "pandalm"
SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
HOSTILE = "<img src=x onerror=alert('judge')>"


def test_a_researcher_compares_judges_and_reads_the_disagreements(
    page, live_server, tmp_path: Path, artifacts_dir: Path
) -> None:
    project = ProjectFactory(slug="pandalm", name="PandaLM, 3 annotators")
    MembershipFactory(project=project, role=Membership.Role.RESEARCHER, user=UserFactory(username="res"))
    for name in ("testset-v1.first200.json", "gpt-3.5-turbo-testset-v1.first200.json"):
        import_file(project=project, path=DEMO / name)
    import_file(project=project, path=DEMO / "pandalm-7b-testset-v1.first200.json")
    # The synthetic both-order judge, renamed to carry markup: the page must show it as text.
    import gzip

    rows = [json.loads(line) for line in gzip.open(DEMO / "synthetic-judge-both-orders.first200.jsonl.gz", "rt")]
    hostile = tmp_path / "hostile.jsonl"
    hostile.write_text("".join(json.dumps(row | {"judge": HOSTILE}) + "\n" for row in rows))
    import_file(project=project, path=hostile)

    login(page, live_server, "res")
    page.goto(f"{live_server.url}/projects/pandalm/judges/")
    page.wait_for_selector("table.judges-table")
    assert page.dialogs == []  # type: ignore[attr-defined]
    assert page.locator("table.judges-table tbody tr").count() >= 6
    assert page.locator(f"text={HOSTILE}").count() >= 1  # shown as text, not run
    assert page.locator("table.heatmap td.heat").count() >= 30
    assert page.locator("figure.chart svg").count() >= 3  # position, length, ratings
    page.screenshot(path=str(artifacts_dir / "judges.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.screenshot(path=str(SCREENSHOTS / "judges.png"), full_page=False)
    page.locator("section.bias-charts").screenshot(path=str(SCREENSHOTS / "judges-bias.png"))
    page.locator("section:has(table.heatmap)").screenshot(path=str(artifacts_dir / "judges-heatmap.png"))
    page.locator("section:has(table.leaderboard)").screenshot(path=str(SCREENSHOTS / "judges-generators.png"))

    # Sort by position consistency, then switch the reference to one annotator.
    page.click("table.judges-table th >> text=Consistent")
    page.wait_for_url("**sort=position_consistency**")
    first = page.locator("table.judges-table tbody tr").first.locator("td").first.inner_text()
    assert first == HOSTILE  # the only judge asked in both orders; dashes sort last
    page.select_option("select[name=reference]", "pandalm:annotator1")
    page.click("button:has-text('Compare')")
    page.wait_for_selector("text=Judges against pandalm:annotator1")

    # Follow the synthetic judge's row to where it disagrees with the human majority.
    page.goto(f"{live_server.url}/projects/pandalm/judges/")
    page.locator("table.judges-table tbody tr", has_text=HOSTILE).locator("td a").first.click()
    page.wait_for_selector("article.disagreement")
    assert page.locator("article.disagreement").count() == 10  # a page of them
    assert page.dialogs == []  # type: ignore[attr-defined]
    page.screenshot(path=str(artifacts_dir / "judges-disagreements.png"), full_page=False)
    shutil.copy(artifacts_dir / "judges-disagreements.png", SCREENSHOTS / "judges-disagreements.png")

    # A bias chart's row opens the verdicts behind it; a leaderboard rating opens the battles behind it.
    page.goto(f"{live_server.url}/projects/pandalm/judges/")
    page.locator("section.bias-charts figure").first.locator("a.chart-row").first.click()
    page.wait_for_selector("h1:has-text('chose the response shown first')")
    assert page.locator("article.disagreement").count() >= 1
    page.screenshot(path=str(artifacts_dir / "judges-behind-first.png"), full_page=False)
    page.goto(f"{live_server.url}/projects/pandalm/judges/")
    page.locator("table.leaderboard tbody tr").first.locator("td a").first.click()
    page.wait_for_selector("h1:has-text('verdicts on')")
    assert page.locator("article.disagreement").count() >= 1
    page.goto(f"{live_server.url}/projects/pandalm/judges/")
    agreement = page.locator("table.leaderboard-agreement")
    assert agreement.locator("tbody tr").count() >= 5  # every judge against the pooled humans
    page.locator("section:has(table.leaderboard)").screenshot(path=str(SCREENSHOTS / "judges-generators.png"))
    assert page.dialogs == []  # type: ignore[attr-defined]
