"""A newcomer's first hour in headless Chromium (issue 17, "Pages"): the judging page's counter and "Saved" notice,
a list that asks before submitting the shown order, a project created without a slug, 403 and 404 in the layout,
navigation by role, the progress page's total and links, and the pages at phone (375 px) and tablet (768 px)
width. Screenshots go to docs/screenshots/ (looked at)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings

from annotation.models import Assignment, Judgment, Membership, Project
from annotation.selectors.annotate import response_tokens
from annotation.services.assignments import assignment_claim
from annotation.services.imports import import_file
from annotation.services.judgments import Verdict, judgment_submit
from tests.browser.test_annotation_flow import current_id, listwise_project, wait_for_new_item
from tests.browser.test_foundation_pages import login
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
GREEN = "rgb(231, 246, 238)"  # the success background in static/css/app.css


def pairs_project(tmp_path: Path, slug: str = "hour", n: int = 8) -> Project:
    project = ProjectFactory(slug=slug, name="First hour pairs", allow_ties=True)
    path = tmp_path / f"{slug}.jsonl"
    rows = [
        {"prompt": f"Question {i}: which reply is kinder?", "chosen": f"A kind reply {i}.", "rejected": f"Curt {i}."}
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    import_file(project=project, path=path)
    return project


def no_horizontal_scroll(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def inside(page, selector: str, width: int) -> None:
    for box in page.locator(selector).evaluate_all("nodes => nodes.map(n => n.getBoundingClientRect().toJSON())"):
        assert box["left"] >= 0 and box["right"] <= width, (selector, box)


def test_judging_page_counter_and_saved_notice(page, live_server, tmp_path: Path) -> None:
    project = pairs_project(tmp_path)
    MembershipFactory(project=project, user=UserFactory(username="ann"), role=Membership.Role.ANNOTATOR)
    login(page, live_server, "ann")
    nav = page.locator("nav.topnav a").all_inner_texts()
    assert nav == ["Projects", "API tokens"]  # no "Reward models" for an annotator
    page.goto(f"{live_server.url}/projects/hour/annotate/")
    page.wait_for_selector("#prefetch form.item", state="attached")
    assert page.inner_text("[data-field=project_done]") == "0"

    previous = current_id(page)
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    wait_for_new_item(page, previous)
    page.wait_for_selector("#flash:has-text('Saved')")
    page.wait_for_timeout(3000)  # a second answer 3 s later: the first notice's timer must not clear the second
    previous = current_id(page)
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    wait_for_new_item(page, previous)
    page.wait_for_selector("#annotate[data-pending='0']")
    page.wait_for_timeout(1800)  # past the first notice's 5 s
    assert "Saved" in page.inner_text("#flash")
    assert page.eval_on_selector("#flash", "n => getComputedStyle(n).backgroundColor") == GREEN
    # The project counter moves with the annotator's own answers (it said "project 0" before).
    assert page.inner_text("[data-field=done]") == "2"
    assert page.inner_text("[data-field=project_done]") == "2"
    page.screenshot(path=str(SCREENSHOTS / "annotate-saved.png"))
    page.wait_for_timeout(3500)
    assert page.inner_text("#flash") == ""  # and it does go away


def test_a_list_asks_before_submitting_the_shown_order(page, live_server, tmp_path: Path) -> None:
    lists = listwise_project(tmp_path)
    MembershipFactory(project=lists, user=UserFactory(username="ann"), role=Membership.Role.ANNOTATOR)
    login(page, live_server, "ann")
    page.goto(f"{live_server.url}/projects/lists/annotate/")
    page.wait_for_selector("#current .ranking")
    first = current_id(page)
    page.keyboard.press("Enter")
    error = page.locator("#current .item-error")
    error.wait_for()
    assert "Rank the responses first" in error.inner_text() and "press o" in error.inner_text()
    page.wait_for_timeout(300)
    assert current_id(page) == first and not Judgment.objects.filter(source="ui").exists()
    page.screenshot(path=str(SCREENSHOTS / "annotate-listwise-ask.png"), full_page=True)
    # Keeping the shown order on purpose (o), then Enter, submits it.
    page.keyboard.press("o")
    assert error.is_hidden()
    page.keyboard.press("Enter")
    wait_for_new_item(page, first)
    page.wait_for_selector("#annotate[data-pending='0']")
    assert Assignment.objects.get(pk=first).status == "done"
    # A move counts as acting on the list too: the second item submits after one.
    second = current_id(page)
    page.keyboard.press("2")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Nothing left for you here")
    page.wait_for_selector("#annotate[data-pending='0']")
    assert Assignment.objects.get(pk=second).status == "done"


def test_researcher_creates_a_project_without_a_slug_and_reads_progress(page, live_server, tmp_path: Path) -> None:
    project = pairs_project(tmp_path, n=4)
    researcher = UserFactory(username="res")
    MembershipFactory(project=project, user=researcher, role=Membership.Role.RESEARCHER)
    MembershipFactory(project=project, user=UserFactory(username="ann"), role=Membership.Role.ANNOTATOR)
    login(page, live_server, "res")
    assert page.locator("nav.topnav a").all_inner_texts() == ["Projects", "Reward models", "API tokens"]

    page.click("text=New project")
    page.fill("#id_name", "Safety pairs")
    page.screenshot(path=str(SCREENSHOTS / "project-new.png"), full_page=True)
    page.click("button:has-text('Create project')")
    page.wait_for_url(f"{live_server.url}/projects/safety-pairs/")
    message = page.locator(".message.success")
    assert "Project Safety pairs created" in message.inner_text()
    assert message.evaluate("n => getComputedStyle(n).backgroundColor") == GREEN
    page.screenshot(path=str(SCREENSHOTS / "project-created.png"))

    # Someone judged an item; the progress page totals it and links the comparison to its judgments.
    annotator = Membership.objects.get(project=project, role="annotator").user
    assignment = assignment_claim(project=project, user=annotator)
    ids = list(response_tokens(assignment=assignment).values())
    judgment_submit(assignment=assignment, verdict=Verdict(ranking=[[ids[0]], [ids[1]]]))
    page.goto(f"{live_server.url}/projects/hour/progress/")
    assert page.inner_text("[data-total=done]") == "1 / 4"
    assert page.inner_text("[data-total=complete]") == "1 / 4"
    assert "Total" in page.inner_text("tfoot")
    page.screenshot(path=str(SCREENSHOTS / "progress.png"), full_page=True)
    page.click(f"a:has-text('#{assignment.comparison_id}')")
    page.wait_for_url(f"**/projects/hour/?prompt=*#comparison-{assignment.comparison_id}")
    table = page.locator(f"#comparison-{assignment.comparison_id}")
    assert table.is_visible() and "human:ann" in table.inner_text()
    assert page.locator(".prompt-card").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "progress-comparison.png"))


def test_403_and_404_pages_have_the_layout(page, live_server, tmp_path: Path) -> None:
    project = pairs_project(tmp_path, n=1)
    MembershipFactory(project=project, user=UserFactory(username="ann"), role=Membership.Role.ANNOTATOR)
    login(page, live_server, "ann")
    response = page.goto(f"{live_server.url}/no/such/page/")
    assert response.status == 404
    assert page.inner_text("h1") == "Not found" and page.locator("header.topbar").is_visible()
    page.screenshot(path=str(SCREENSHOTS / "error-404.png"))
    response = page.goto(f"{live_server.url}/projects/hour/settings/")
    assert response.status == 403 and page.inner_text("h1") == "Not allowed"
    page.screenshot(path=str(SCREENSHOTS / "error-403.png"))
    page.click("text=Back to your projects")
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator(".project-card").count() == 1


@pytest.mark.parametrize("width,height,name", [(375, 812, "phone"), (768, 1024, "tablet")])
def test_narrow_screens_keep_navigation_and_judging_usable(
    browser, live_server, tmp_path: Path, width: int, height: int, name: str
) -> None:
    project = pairs_project(tmp_path, n=4)
    MembershipFactory(project=project, user=UserFactory(username="ann"), role=Membership.Role.ANNOTATOR)
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    MembershipFactory(project=project, user=admin, role=Membership.Role.RESEARCHER)
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        # The widest navigation (an admin's), then an annotator judging by touch-sized buttons.
        login(page, live_server, "root")
        inside(page, "header.topbar a, header.topbar button, header.topbar .who", width)
        no_horizontal_scroll(page, width)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-home.png"), full_page=True)
        page.click("button:has-text('Log out')")
        login(page, live_server, "ann")
        page.goto(f"{live_server.url}/projects/hour/annotate/")
        page.wait_for_selector("#current form.item")
        inside(page, ".annotate-tools button, #progress", width)
        no_horizontal_scroll(page, width)
        page.click("button[data-action=keymap]")  # the Keys button is on screen and opens the list
        page.wait_for_selector("dialog#keymap[open]")
        page.keyboard.press("Escape")
        first = current_id(page)
        page.click("#current label.choice:has-text('A is better')")
        page.click("#current [data-action=submit]")
        wait_for_new_item(page, first)
        page.wait_for_selector("#flash:has-text('Saved')")
        page.wait_for_selector("#annotate[data-pending='0']")
        assert Assignment.objects.get(pk=first).status == "done"
        no_horizontal_scroll(page, width)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-annotate.png"), full_page=True)
    finally:
        context.close()
