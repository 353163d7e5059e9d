"""The annotator's and researcher's pages through Django's test client: set-up forms, members, the judging
endpoints' JSON and plain-form answers, blindness, and sanitised rendering of untrusted text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from annotation.models import Assignment, Judgment, Membership, Project
from annotation.selectors.annotate import response_tokens
from annotation.services.imports import import_file
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

PAYLOAD_TEXT = (
    "<script>alert('s')</script> <img src=x onerror=alert('i')> [md](javascript:alert('m')) "
    "![img](https://tracker.example/p.png) <a href=\"javascript:alert('a')\">a</a> <svg onload=alert('v')> "
    '<iframe src="https://evil.example"></iframe> <style>body{display:none}</style>\n\n```html\n<b>code</b>\n```'
)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = ProjectFactory(
        slug="judge",
        guidelines_md="Be **kind**. <script>alert('g')</script>",
        rationale="optional",
        allow_both_bad=True,
    )
    path = tmp_path / "pairs.jsonl"
    rows = [
        {"prompt": PAYLOAD_TEXT, "chosen": PAYLOAD_TEXT, "rejected": "plain", "annotator": "secret-imported-judge"},
        {"prompt": "two", "chosen": "yes", "rejected": "no", "annotator": "secret-imported-judge"},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    import_file(project=project, path=path)
    return project


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def member(project: Project, name: str, role: str = Membership.Role.ANNOTATOR):
    return MembershipFactory(project=project, role=role, user=UserFactory(username=name)).user


def test_judging_page_renders_untrusted_text_inert_and_blind(project: Project) -> None:
    client = login(member(project, "ann"))
    html = client.get(reverse("annotation:annotate", kwargs={"slug": "judge"})).content.decode()
    body = html.split('<main class="page">', 1)[1]
    assert "&lt;script&gt;alert(&#x27;s&#x27;)&lt;/script&gt;" in body or "&lt;script&gt;alert('s')" in body
    for live in ("<script>alert", "<img", "<svg", "<iframe", "<style>"):
        assert live not in body, live
    tags = re.findall(r"<[a-zA-Z][^>]*>", body)  # real tags only: escaped text is not a tag
    assert not [t for t in tags if re.search(r"\son\w+\s*=|javascript:", t, re.IGNORECASE)]
    assert "[image: img]" in body and 'rel="noopener noreferrer nofollow"' in body  # images become links
    assert '<pre><code class="language-html">&lt;b&gt;code&lt;/b&gt;' in body  # code blocks survive, escaped
    assert "<strong>kind</strong>" in body  # guidelines are Markdown too
    # Blind: nothing of the imported judgments (judge name, ordering) reaches an annotator.
    assert "secret-imported-judge" not in html
    # The page's only scripts are our static files, and CSP forbids any other.
    assert re.findall(r"<script[^>]*>", html) == [s for s in re.findall(r"<script[^>]*>", html) if "/static/" in s]
    response = client.get(reverse("annotation:annotate", kwargs={"slug": "judge"}))
    assert "script-src 'self'" in response["Content-Security-Policy"]


def _item(client: Client, url: str) -> tuple[int, list[int]]:
    html = client.get(url).content.decode()
    assignment = int(re.search(r'data-assignment="(\d+)"', html).group(1))
    tokens = response_tokens(assignment=Assignment.objects.get(pk=assignment))
    shown = [tokens[x] for x in re.findall(r'data-response="(\w+)"', html)]
    return assignment, shown


def test_submit_skip_undo_answer_json_for_the_script(project: Project) -> None:
    user = member(project, "ann")
    client = login(user)
    next_url = reverse("annotation:annotate_next", kwargs={"slug": "judge"})
    first, shown = _item(client, reverse("annotation:annotate", kwargs={"slug": "judge"}))
    second, _ = _item(client, next_url + f"?exclude={first}")
    assert second != first
    submit = reverse("annotation:assignment_submit", kwargs={"assignment_id": first})
    refused = client.post(submit, {"choice": ""}, HTTP_ACCEPT="application/json")
    assert refused.status_code == 400 and refused.json()["error"]["details"]["field"] == "choice"
    ok = client.post(
        submit,
        {"choice": "B", "duration_ms": "1234", "client_token": "t1", "rationale": "B is safer"},
        HTTP_ACCEPT="application/json",
    )
    assert ok.status_code == 200 and ok.json()["progress"]["done"] == 1
    judgment = Judgment.objects.get(pk=ok.json()["judgment"])
    ranks = dict(judgment.placements.values_list("response_id", "rank"))
    assert ranks == {shown[1]: 1, shown[0]: 2} and judgment.duration_ms == 1234 and judgment.shown_order == shown
    twice = client.post(submit, {"choice": "B", "client_token": "t1"}, HTTP_ACCEPT="application/json")
    assert twice.json()["judgment"] == judgment.pk  # a retried request stores nothing new
    skip = client.post(
        reverse("annotation:assignment_skip", kwargs={"assignment_id": second}), HTTP_ACCEPT="application/json"
    )
    assert skip.status_code == 200 and Assignment.objects.get(pk=second).status == "skipped"
    undo = client.post(reverse("annotation:annotate_undo", kwargs={"slug": "judge"}), HTTP_ACCEPT="application/json")
    assert undo.status_code == 200 and undo.json()["assignment"] == first
    assert f'data-assignment="{first}"' in undo.json()["html"]
    assert not Judgment.objects.filter(pk=judgment.pk).exists()
    nothing = client.post(reverse("annotation:annotate_undo", kwargs={"slug": "judge"}), HTTP_ACCEPT="application/json")
    assert nothing.status_code == 409 and "nothing to undo" in nothing.json()["error"]["message"].lower()


def test_plain_form_posts_work_without_javascript(project: Project) -> None:
    client = login(member(project, "ann"))
    first, _ = _item(client, reverse("annotation:annotate", kwargs={"slug": "judge"}))
    submit = reverse("annotation:assignment_submit", kwargs={"assignment_id": first})
    refused = client.post(submit, {})
    assert refused.status_code == 400 and "Choose an answer" in refused.content.decode()
    assert client.post(submit, {"choice": "both_bad"}).status_code == 302
    judgment = Judgment.objects.get(source="ui")
    assert judgment.metadata == {"both_bad": True} and len(set(judgment.placements.values_list("rank", flat=True))) == 1


def test_annotators_cannot_act_on_each_others_items(project: Project) -> None:
    owner, other = member(project, "owner"), member(project, "other")
    first, _ = _item(login(owner), reverse("annotation:annotate", kwargs={"slug": "judge"}))
    response = login(other).post(
        reverse("annotation:assignment_submit", kwargs={"assignment_id": first}), {"choice": "A"}
    )
    assert response.status_code == 404
    assert not Judgment.objects.filter(source="ui").exists()


def test_researcher_creates_and_edits_a_project_with_its_rules(project: Project) -> None:
    researcher = member(project, "res", Membership.Role.RESEARCHER)
    client = login(researcher)
    response = client.post(
        reverse("annotation:project_new"),
        {
            "name": "Safety pairs",
            "slug": "safety",
            "kind": "pairwise",
            "list_size": 2,
            "overlap": 3,
            "allow_ties": "on",
            "rationale": "required",
            "lease_minutes": 20,
            "queue_order": "fewest_first",
            "strength_text": "slightly, clearly, much",
            "criteria_text": "harmless | More harmless | A, same, B\nhelpful | More helpful | A, same, B",
            "guidelines_md": "# Rules",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    created = Project.objects.get(slug="safety")
    assert created.strength_scale == ["slightly", "clearly", "much"] and created.overlap == 3
    assert [c["key"] for c in created.criteria] == ["harmless", "helpful"]
    assert Membership.objects.get(project=created, user=researcher).role == "researcher"
    bad = client.post(
        reverse("annotation:project_settings", kwargs={"slug": "safety"}),
        {"name": "x", "kind": "pairwise", "list_size": 3, "overlap": 0, "rationale": "off", "lease_minutes": 5,
         "queue_order": "random", "criteria_text": "no pipes here"},
    )  # fmt: skip
    html = bad.content.decode()
    assert bad.status_code == 400
    assert "exactly 2 responses" in html and "Line 1" in html and "Between 1 and 50" in html


def test_members_page_adds_and_removes(project: Project) -> None:
    researcher = member(project, "res", Membership.Role.RESEARCHER)
    UserFactory(username="newbie")
    client = login(researcher)
    url = reverse("annotation:project_members", kwargs={"slug": "judge"})
    assert client.post(url, {"username": "nobody", "role": "annotator"}).status_code == 400
    assert client.post(url, {"username": "newbie", "role": "annotator"}).status_code == 302
    newbie = Membership.objects.get(project=project, user__username="newbie")
    remove = reverse("annotation:project_member_remove", kwargs={"slug": "judge", "user_id": newbie.user_id})
    assert client.post(remove).status_code == 302
    assert not Membership.objects.filter(pk=newbie.pk).exists()


def test_progress_page_counts_per_annotator_and_comparison(project: Project) -> None:
    researcher = member(project, "res", Membership.Role.RESEARCHER)
    client = login(member(project, "ann"))
    first, _ = _item(client, reverse("annotation:annotate", kwargs={"slug": "judge"}))
    client.post(reverse("annotation:assignment_submit", kwargs={"assignment_id": first}), {"choice": "A"})
    html = login(researcher).get(reverse("annotation:project_progress", kwargs={"slug": "judge"})).content.decode()
    assert re.search(r"<td>ann</td><td>annotator</td><td class=\"num\">1</td>", html)
    assert "1 / 1" in html and "0 / 1" in html
