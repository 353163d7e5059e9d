"""The Noisy labels page and the review screen through Django's test client: who may see them, the list's order and
filters, the annotator table, each action posted as the page posts it, and untrusted text escaped."""

from __future__ import annotations

import pytest
from django.test import Client

from annotation.models import Comparison, Judgment, LabelFlag, Membership, NoiseRun, ReviewAction
from tests.annotation.review_data import review_world
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def _client(user) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    return client


def test_permissions_of_the_pages_and_actions() -> None:
    world = review_world(prompts=1)
    wrong = world.judgments[("a3", 0)]
    outsider = MembershipFactory(project=ProjectFactory(slug="elsewhere"), role=Membership.Role.RESEARCHER).user
    admin = UserFactory(username="boss", is_superuser=True, is_staff=True)
    urls = [f"/projects/{world.project.slug}/noise/", f"/noise/judgments/{wrong.pk}/"]
    for url in urls:
        assert _client(world.researcher).get(url).status_code == 200
        assert _client(admin).get(url).status_code == 200
        assert _client(world.annotator).get(url).status_code == 403
        assert _client(outsider).get(url).status_code == 404
        assert Client().get(url).status_code == 302  # to the login page
    act = f"/noise/judgments/{wrong.pk}/review/"
    assert _client(world.annotator).post(act, {"action": "exclude"}).status_code == 403
    assert _client(outsider).post(act, {"action": "exclude"}).status_code == 404
    assert _client(world.researcher).get(act).status_code == 405
    wrong.refresh_from_db()
    assert wrong.status == "active" and not ReviewAction.objects.exists()
    action = ReviewAction.objects.create(project=world.project, judgment=wrong, action="keep", user=world.researcher)
    assert _client(world.annotator).post(f"/noise/review-actions/{action.pk}/undo/").status_code == 403
    assert _client(outsider).post(f"/noise/review-actions/{action.pk}/undo/").status_code == 404
    assert _client(outsider).get("/noise/judgments/999999/").status_code == 404


def test_the_list_is_sorted_by_suspicion_filters_and_shows_the_annotator_table() -> None:
    world = review_world(prompts=4)
    client = _client(world.researcher)
    page = client.get(f"/projects/{world.project.slug}/noise/")
    rows = page.context["result"].rows
    assert [r.judgment_id for r in rows] == [world.judgments[("a3", i)].pk for i in range(4)] + [
        world.judgments[("a1", 0)].pk
    ]
    assert [r.suspicion for r in rows] == sorted((r.suspicion for r in rows), reverse=True)
    assert b"Noisy labels" in page.content and b"crowd:a3" in page.content
    table = {row.judge: row for row in page.context["annotators"]}
    assert table["crowd:a3"].flagged == 4 and table["crowd:a3"].flag_rate == 1.0
    assert table["crowd:a1"].flagged == 0 and table["crowd:a1"].judgments == 4  # a 0.2 doubt is not a flag
    assert table["crowd:a3"].median_seconds == 20.0
    assert table["crowd:a3"].first_shown_rate == 0.0 and table["crowd:a1"].first_shown_rate == 1.0
    assert "rm:small" not in table  # humans only

    only = client.get(f"/projects/{world.project.slug}/noise/", {"annotator": "crowd:a1", "status": "any"})
    assert [r.judge for r in only.context["result"].rows] == ["crowd:a1"]
    math = client.get(
        f"/projects/{world.project.slug}/noise/", {"category": "math", "min_score": "0.7", "detector": "reward_model"}
    )
    assert [r.judgment_id for r in math.context["result"].rows] == [world.judgments[("a3", 1)].pk]
    by_detector = client.get(f"/projects/{world.project.slug}/noise/", {"detector": "behaviour"})
    assert [r.judgment_id for r in by_detector.context["result"].rows] == [world.judgments[("a1", 0)].pk]
    bad = client.get(f"/projects/{world.project.slug}/noise/", {"min_score": "lots"})
    assert bad.status_code == 400 and b"min_score must be a number" in bad.content


def test_each_action_from_the_screen_moves_to_the_next_flag_and_undo_comes_back() -> None:
    world = review_world(prompts=4)
    client = _client(world.researcher)
    first, second = world.judgments[("a3", 0)], world.judgments[("a3", 1)]
    response = client.post(f"/noise/judgments/{first.pk}/review/?status=open", {"action": "keep", "note": "fine"})
    action = ReviewAction.objects.get(judgment=first)
    assert response.status_code == 302
    assert response["Location"] == f"/noise/judgments/{second.pk}/?status=open&last={action.pk}"
    assert set(LabelFlag.objects.filter(judgment=first).values_list("status", flat=True)) == {"kept"}

    screen = client.get(response["Location"])
    assert screen.context["last"] == action and b"Undo <kbd>u</kbd>" in screen.content
    undone = client.post(f"/noise/review-actions/{action.pk}/undo/?status=open")
    assert undone["Location"] == f"/noise/judgments/{first.pk}/?status=open"
    assert set(LabelFlag.objects.filter(judgment=first).values_list("status", flat=True)) == {"open"}

    client.post(f"/noise/judgments/{second.pk}/review/", {"action": "correct", "choice": "A", "note": "A is right"})
    second.refresh_from_db()
    assert second.status == "superseded" and second.superseded_by.judge.name == "review:rev"
    third = world.judgments[("a3", 2)]
    client.post(f"/noise/judgments/{third.pk}/review/", {"action": "requeue", "annotators": "2"})
    assert Comparison.objects.get(pk=third.comparison_id).slots_left == 2
    fourth = world.judgments[("a3", 3)]
    client.post(f"/noise/judgments/{fourth.pk}/review/", {"action": "exclude"})
    assert Judgment.objects.get(pk=fourth.pk).status == "excluded"
    refused = client.post(f"/noise/judgments/{fourth.pk}/review/", {"action": "exclude"}, follow=True)
    assert b"Only an active judgment can be excluded" in refused.content
    wrong_text = client.post(
        f"/noise/judgments/{first.pk}/review/", {"action": "correct", "ordering": "A > Z"}, follow=True
    )
    assert b"Write the ordering with the labels A, B" in wrong_text.content


def test_untrusted_response_text_is_escaped_on_the_screen() -> None:
    world = review_world(prompts=1)
    screen = _client(world.researcher).get(f"/noise/judgments/{world.judgments[('a3', 0)].pk}/")
    html = screen.content.decode()
    assert "<script>window.__pwned" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned" in html
    assert "margin_mean" not in html and "-2.50" in html  # the out-of-fold margin, shown as a number


def test_run_detectors_form_starts_a_run_and_the_page_follows_it() -> None:
    world = review_world(prompts=6)  # a run needs 20 judgments
    client = _client(world.researcher)
    url = f"/projects/{world.project.slug}/noise/"
    assert _client(world.annotator).post(f"{url}run/", {"detectors": ["cycle"]}).status_code == 403
    response = client.post(f"{url}run/", {"detectors": ["cycle", "too_fast"], "folds": "5"}, follow=True)
    run = NoiseRun.objects.get(project=world.project)
    assert run.detectors == ["cycle", "too_fast"] and run.status == "queued"
    assert b"Detector run queued" in response.content
    assert f"Latest run #{run.pk}".encode() in response.content and b'hx-trigger="every 2s"' in response.content
    again = client.post(f"{url}run/", {"detectors": ["cycle"]}, follow=True)
    assert NoiseRun.objects.count() == 1 and b"is still queued" in again.content  # one open run at a time
    fragment = client.get(url, {"part": "run"}, HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200 and b'id="run-status"' in fragment.content and b"<html" not in fragment.content
    assert "HX-Refresh" not in fragment
    rows = [{"judge_id": world.judges["a3"].pk, "reliability": 0.12}, {"judge_id": world.judges["a1"].pk}]
    NoiseRun.objects.filter(pk=run.pk).update(status="succeeded", report={"annotators": rows})
    finished = client.get(url, {"part": "run"}, HTTP_HX_REQUEST="true")
    assert finished["HX-Refresh"] == "true"
    table = {row.judge: row.reliability for row in client.get(url).context["annotators"]}
    assert table == {"crowd:a3": 0.12, "crowd:a1": None, "crowd:a2": None}
