"""An annotator's session in headless Chromium against the real server: three pairwise items by keyboard alone,
two listwise items (one by drag-and-drop, one by keyboard), a skip and an undo; then the database holds exactly
the expected judgments with shown order and durations. And the payload corpus on the judging page: nothing runs.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotation.models import Assignment, Judgment, Membership, Project
from annotation.selectors.annotate import response_tokens
from annotation.services.imports import import_file
from tests.browser.test_foundation_pages import PAYLOADS, login
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def pairwise_project(tmp_path: Path, slug: str, prompts: list[str], responses: list[tuple[str, str]]) -> Project:
    project = ProjectFactory(
        slug=slug,
        name=f"{slug} pairs",
        strength_scale=["slightly", "clearly", "much"],
        allow_both_bad=True,
        criteria=[{"key": "safe", "label": "Safer", "scale": ["A", "same", "B"]}],
        guidelines_md="Prefer the **safer** answer.",
    )
    path = tmp_path / f"{slug}.jsonl"
    rows = [{"prompt": p, "chosen": c, "rejected": r} for p, (c, r) in zip(prompts, responses, strict=True)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    import_file(project=project, path=path, options={"judge": f"{slug}-source"})
    return project


def listwise_project(tmp_path: Path) -> Project:
    project = ProjectFactory(slug="lists", name="Lists", kind="listwise", list_size=3)
    path = tmp_path / "lists.jsonl"
    rows = [
        {"prompt": f"List question {i}", "responses": [f"first {i}", f"second {i}", f"third {i}"], "ranks": [1, 2, 3]}
        for i in range(2)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    import_file(project=project, path=path)
    return project


def current_id(page) -> int:
    return int(page.locator("#current form.item").get_attribute("data-assignment"))


def shown_ids(page) -> list[str]:
    # The page names responses by per-assignment tokens, never ids; the checks map them back at the end.
    return page.locator("#current [data-response]").evaluate_all("nodes => nodes.map(n => n.dataset.response)")


def wait_for_new_item(page, previous: int) -> None:
    # A CSS wait: the page's CSP (script-src 'self') forbids the eval behind wait_for_function.
    page.wait_for_selector(f"#current form.item:not([data-assignment='{previous}']), #current .empty")


def test_annotator_judges_by_keyboard_and_mouse(page, live_server, tmp_path: Path, artifacts_dir: Path) -> None:
    pairs = pairwise_project(
        tmp_path, "pairs", [f"Pair question {i}" for i in range(5)], [(f"good {i}", f"bad {i}") for i in range(5)]
    )
    lists = listwise_project(tmp_path)
    annotator = UserFactory(username="ann")
    for project in (pairs, lists):
        MembershipFactory(project=project, user=annotator, role=Membership.Role.ANNOTATOR)

    login(page, live_server, "ann")
    page.screenshot(path=str(artifacts_dir / "annotate-home.png"), full_page=True)
    page.click("a[href='/projects/pairs/annotate/']")
    page.wait_for_selector("#current form.item")
    page.wait_for_selector("#prefetch form.item", state="attached")  # the next item is already here
    expected: dict[int, tuple[list[list[str]], int | None]] = {}

    # Three pairwise items, keyboard only: A better clearly; B better much with a criterion; a tie.
    for choice_key, strength_key, expect in (("1", "x", "A"), ("2", "c", "B"), ("3", None, "tie")):
        assignment, shown = current_id(page), shown_ids(page)
        page.wait_for_timeout(150)  # a measurable time on the item
        page.keyboard.press(choice_key)
        if strength_key:
            page.keyboard.press(strength_key)
        if expect == "B":
            page.keyboard.press("k")
            page.keyboard.press("ArrowDown")  # the focused select takes the arrow: "A"
            page.keyboard.press("Escape")
        if expect == "A":
            page.screenshot(path=str(artifacts_dir / "annotate-pairwise.png"), full_page=True)
        a, b = shown
        ranking = {"A": [[a], [b]], "B": [[b], [a]], "tie": [[a, b]]}[expect]
        expected[assignment] = (ranking, {"x": 1, "c": 2}.get(strength_key or ""))
        page.keyboard.press("Enter")
        wait_for_new_item(page, assignment)
        assert page.evaluate("document.activeElement.closest('#current') !== null")  # focus stays in the item

    # Skip one, then undo the tie (the last submission): it comes back in front.
    skipped = current_id(page)
    page.keyboard.press("s")
    wait_for_new_item(page, skipped)
    page.wait_for_selector("text=Skipped.")
    page.wait_for_selector("#annotate[data-pending='0']")  # the tie is stored before it is undone
    tie_assignment = list(expected)[-1]
    page.keyboard.press("u")
    page.wait_for_selector(f"#current form.item[data-assignment='{tie_assignment}']")
    page.wait_for_selector("text=Your last answer was taken back")
    del expected[tie_assignment]
    page.screenshot(path=str(artifacts_dir / "annotate-after-undo.png"), full_page=True)
    page.keyboard.press("?")
    page.wait_for_selector("dialog#keymap[open]")
    page.screenshot(path=str(artifacts_dir / "annotate-keymap.png"))
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog#keymap:not([open])", state="hidden")

    # Listwise, item 1 by drag-and-drop: drag the third response to the top.
    page.goto(f"{live_server.url}/projects/lists/annotate/")
    page.wait_for_selector("#current .ranking")
    first_list, shown = current_id(page), shown_ids(page)
    items = page.locator("#current .rank-item")
    source, target = items.nth(2).bounding_box(), items.nth(0).bounding_box()
    page.mouse.move(source["x"] + 60, source["y"] + 20)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(source["x"] + 60, source["y"] + 20 + (target["y"] + 5 - source["y"] - 20) * step / 10)
        page.wait_for_timeout(30)
    page.mouse.up()
    page.wait_for_timeout(200)
    assert shown_ids(page) == [shown[2], shown[0], shown[1]]
    page.screenshot(path=str(artifacts_dir / "annotate-listwise-dragged.png"), full_page=True)
    expected[first_list] = ([[shown[2]], [shown[0]], [shown[1]]], None)
    page.click("#current [data-action=submit]")  # the mouse path submits too
    wait_for_new_item(page, first_list)

    # Listwise, item 2 by keyboard: pick response 3, move it up once, tie it with the one above.
    second_list, shown = current_id(page), shown_ids(page)
    page.wait_for_timeout(150)  # a measurable time on the item (the checks below want >= 100 ms)
    page.keyboard.press("3")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("t")
    page.screenshot(path=str(artifacts_dir / "annotate-listwise-keyboard.png"), full_page=True)
    expected[second_list] = ([[shown[0], shown[2]], [shown[1]]], None)
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Nothing left for you here")
    page.wait_for_selector("#annotate[data-pending='0']")  # the last answer has reached the server

    # The database holds exactly these judgments, with shown order and durations.
    human = Judgment.objects.filter(source="ui").prefetch_related("placements")
    assert human.count() == len(expected) == 4
    for judgment in human:
        assignment = Assignment.objects.get(judgment=judgment)
        tokens, strength = expected[assignment.pk]
        ids = response_tokens(assignment=assignment)
        ranking = [[ids[token] for token in group] for group in tokens]
        ranks = {p.response_id: p.rank for p in judgment.placements.all()}
        assert ranks == {rid: rank for rank, group in enumerate(ranking, start=1) for rid in group}
        assert judgment.shown_order == assignment.shown_order and len(judgment.shown_order) >= 2
        assert judgment.duration_ms is not None and judgment.duration_ms >= 100
        assert judgment.strength == strength
        assert judgment.judge.user.username == "ann" and judgment.judge.kind == "human"
    b_judgment = next(j for j in human if expected[Assignment.objects.get(judgment=j).pk][1] == 2)
    assert b_judgment.criteria == {"safe": "A"}
    assert Assignment.objects.get(pk=skipped).status == "skipped"
    assert Assignment.objects.get(pk=tie_assignment).status == "leased"  # undone: theirs to judge again
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_payload_corpus_on_the_judging_page_runs_nothing(
    page, live_server, tmp_path: Path, artifacts_dir: Path
) -> None:
    project = pairwise_project(
        tmp_path,
        "xss-judge",
        PAYLOADS,
        [(f"safe answer {i} " + PAYLOADS[-1 - i], payload + f" #{i}") for i, payload in enumerate(PAYLOADS)],
    )
    project.guidelines_md = "\n\n".join(PAYLOADS)
    project.save()
    MembershipFactory(project=project, user=UserFactory(username="ann2"), role=Membership.Role.ANNOTATOR)
    login(page, live_server, "ann2")
    page.goto(f"{live_server.url}/projects/xss-judge/annotate/")
    page.keyboard.press("g")  # open the guidelines: they carry payloads too
    for index in range(len(PAYLOADS)):
        page.wait_for_selector("#current form.item")
        if index == 0:
            page.screenshot(path=str(artifacts_dir / "annotate-payloads.png"), full_page=True)
        scope = page.locator("#current, #guidelines")
        assert scope.locator("script, iframe, img, svg, math, style, object, embed").count() == 0
        hrefs = page.locator("#current a, #guidelines a").evaluate_all("nodes => nodes.map(n => n.href)")
        assert all(h.startswith(("http://", "https://", "mailto:")) for h in hrefs), hrefs
        previous = current_id(page)
        page.keyboard.press("1")
        page.keyboard.press("Enter")
        if index < len(PAYLOADS) - 1:
            try:
                wait_for_new_item(page, previous)
            except Exception:
                page.screenshot(path=str(artifacts_dir / "annotate-payloads-stuck.png"), full_page=True)
                raise AssertionError(f"item {index} did not advance; console: {page.console_errors}") from None
    page.wait_for_selector("text=Nothing left for you here")
    page.wait_for_selector("#annotate[data-pending='0']")
    assert page.dialogs == []  # type: ignore[attr-defined]
    assert Judgment.objects.filter(source="ui").count() == len(PAYLOADS)
