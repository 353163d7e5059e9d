"""The Noisy labels page and the review screen in headless Chromium against the real server, by keyboard: open the
most suspicious flag, keep it, undo, correct it, exclude the next, re-queue the one after, undo that; follow an
annotator from the annotator table to their flags. A response holding a <script> shows as text and never runs.
Screenshots go to docs/screenshots/noise-*.png (looked at) and test-artifacts/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings

from annotation.models import Comparison, Judgment, LabelFlag, ReviewAction
from tests.annotation.review_data import review_world
from tests.browser.test_foundation_pages import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"


def _flag_statuses(judgment: Judgment) -> set[str]:
    return set(LabelFlag.objects.filter(judgment=judgment).values_list("status", flat=True))


def _shot(page, artifacts_dir: Path, name: str, full_page: bool = False) -> None:  # noqa: ANN001
    page.screenshot(path=str(artifacts_dir / name), full_page=full_page)
    shutil.copy(artifacts_dir / name, SCREENSHOTS / name)


def test_a_researcher_reviews_flags_by_keyboard(page, live_server, artifacts_dir: Path) -> None:
    world = review_world(prompts=4)
    wrong = [world.judgments[("a3", i)] for i in range(4)]
    base = live_server.url
    login(page, live_server, "rev")
    page.goto(f"{base}/projects/{world.project.slug}/")
    page.click("nav.project-nav >> text=Noisy labels")
    page.wait_for_selector("table.flags-table")
    assert page.locator("table.flags-table tbody tr").count() == 5
    assert page.locator("table.annotators-table tbody tr").count() == 3
    page.set_viewport_size({"width": 1400, "height": 1000})
    _shot(page, artifacts_dir, "noise-page.png", full_page=True)

    # Enter opens the most suspicious flag: the judgment whose response B is a script.
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/noise/judgments/{wrong[0].pk}/**")
    assert page.locator("article.response[data-label=B] .response-text").inner_text().startswith("<script>")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("table.orderings tbody tr").count() == 4  # a1, a2, a3 (this one), the reward model
    assert page.locator("dl.margin").inner_text().count("-2.50") == 1
    assert page.locator("ul.reasons li").count() == 3
    _shot(page, artifacts_dir, "noise-review.png", full_page=True)

    # n: a note; Esc leaves the box; k keeps, and the next flag is on screen with an undo.
    page.keyboard.press("n")
    page.keyboard.type("The annotator had a point.")
    page.keyboard.press("Escape")
    page.keyboard.press("k")
    page.wait_for_url(f"**/noise/judgments/{wrong[1].pk}/**")
    assert _flag_statuses(wrong[0]) == {"kept"}
    assert ReviewAction.objects.get(judgment=wrong[0]).note == "The annotator had a point."
    assert "Kept judgment" in page.locator("#undo-last").inner_text()

    # u undoes it and goes back to that judgment.
    page.keyboard.press("u")
    page.wait_for_url(f"**/noise/judgments/{wrong[0].pk}/**")
    page.wait_for_selector("text=is no longer kept")
    assert _flag_statuses(wrong[0]) == {"open"}

    # c, 1 (A is better), Enter: the reviewer's ordering replaces the label.
    page.keyboard.press("c")
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/noise/judgments/{wrong[1].pk}/**")
    wrong[0].refresh_from_db()
    assert wrong[0].status == "superseded" and wrong[0].superseded_by.judge.name == "review:rev"
    assert _flag_statuses(wrong[0]) == {"corrected"}

    # x excludes the next one.
    page.keyboard.press("x")
    page.wait_for_url(f"**/noise/judgments/{wrong[2].pk}/**")
    assert Judgment.objects.get(pk=wrong[1].pk).status == "excluded"

    # r, 2, Enter: two more annotators for the next; then u takes it back.
    page.keyboard.press("r")
    page.keyboard.type("2")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/noise/judgments/{wrong[3].pk}/**")
    assert Comparison.objects.get(pk=wrong[2].comparison_id).slots_left == 2
    assert _flag_statuses(wrong[2]) == {"requeued"}
    _shot(page, artifacts_dir, "noise-review-next.png")
    page.keyboard.press("u")
    page.wait_for_url(f"**/noise/judgments/{wrong[2].pk}/**")
    assert Comparison.objects.get(pk=wrong[2].comparison_id).slots_left == 0
    assert page.locator("section.history tr.history-row.undone").count() == 1
    page.locator("section.history").screenshot(path=str(SCREENSHOTS / "noise-history.png"))

    # The corrected judgment shows its history and its link to the correction.
    page.goto(f"{base}/noise/judgments/{wrong[0].pk}/")
    assert page.locator("text=superseded by").count() == 1
    assert "Correct to A > B" in page.locator("section.history").inner_text()

    # l: back to the list; the annotator table leads to that annotator's flags, reviewed or not.
    page.keyboard.press("l")
    page.wait_for_selector("table.annotators-table")
    page.click("table.annotators-table >> text=crowd:a3")
    page.wait_for_url("**annotator=crowd%3Aa3**")
    rows = page.locator("table.flags-table tbody tr")
    assert rows.count() == 4
    assert page.locator("table.flags-table .badge.review-corrected").count() == 1
    assert page.locator("table.flags-table .badge.review-excluded").count() == 1
    assert page.locator("table.annotators-table >> text=review:rev").count() == 0  # a reviewer, not an annotator
    _shot(page, artifacts_dir, "noise-annotator.png", full_page=True)
    assert page.evaluate("window.__pwned") is None
    assert page.dialogs == []  # type: ignore[attr-defined]
    assert not [e for e in page.console_errors if "Content Security Policy" in e or "pwned" in e]  # type: ignore[attr-defined]
