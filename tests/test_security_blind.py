"""Blind annotation is blind: nothing an annotator sees on the judging page or in the assignments API predicts the
imported winner. HH-style sources list the chosen response first, so it gets the lower id; ids and the order of
any identifier must therefore be hidden, and no judge or generator name may reach an annotator."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.models import Assignment, Judgment, Membership, Placement, Project, Response
from annotation.services.imports import import_file
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from workbench.tokens import api_token_create

pytestmark = pytest.mark.django_db

ITEMS = 100
# Over 100 fair coin flips, outside 30..70 happens with probability below 1e-4; an identifier that tracks the
# winner (as the ids did: 100 of 100) is far outside.
LOW, HIGH = 30, 70


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = ProjectFactory(slug="blind", overlap=2, allow_ties=True)
    path = tmp_path / "hh.jsonl"
    rows = [
        {"prompt": f"question {i}", "chosen": f"better answer {i}", "rejected": f"worse answer {i}"}
        for i in range(ITEMS)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    import_file(project=project, path=path, options={"judge": "secret-source-judge"})
    return project


def _winners(project: Project) -> dict[int, int]:
    """comparison id -> the imported winner's response id (rank 1 of the imported judgment)."""
    return dict(
        Placement.objects.filter(
            judgment__project=project, judgment__source=Judgment.Source.IMPORT, rank=1
        ).values_list("judgment__comparison_id", "response_id")
    )


class _ResponseAttrs(HTMLParser):
    """The attributes of every element that stands for a response (data-label marks them)."""

    def __init__(self) -> None:
        super().__init__()
        self.responses: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict((k, v or "") for k, v in attrs)
        if "data-label" in found:
            self.responses.append(found)


def _key(value: object) -> tuple[int, object]:
    text = str(value)
    return (0, int(text)) if text.isdigit() else (1, text)


def _check_unpredictable(items: list[tuple[int, list[dict[str, object]]]], winners: dict[int, int]) -> None:
    """items: (assignment id, the identifying fields of each response in the order shown)."""
    first = 0
    lower_by_field: dict[str, int] = {}
    for assignment_id, shown in items:
        assignment = Assignment.objects.get(pk=assignment_id)
        response_ids = {str(rid) for rid in assignment.shown_order}
        winner_at = assignment.shown_order.index(winners[assignment.comparison_id])
        first += winner_at == 0
        for name in shown[0]:
            values = [fields[name] for fields in shown]
            assert not response_ids & {str(v) for v in values}, (name, values)  # ids never appear
            if len(set(map(str, values))) == len(values):  # a field that tells the two apart
                lower_by_field.setdefault(name, 0)
                lower_by_field[name] += _key(values[winner_at]) < _key(values[1 - winner_at])
    assert LOW <= first <= HIGH, f"the winner is shown first {first} of {len(items)} times"
    assert lower_by_field, "the responses carry no identifier at all"
    for name, lower in lower_by_field.items():
        assert LOW <= lower <= HIGH, f"{name}: the winner's is the lower one {lower} of {len(items)} times"


def test_judging_page_identifiers_do_not_predict_the_imported_winner(project: Project) -> None:
    user = MembershipFactory(project=project, role=Membership.Role.ANNOTATOR, user=UserFactory(username="ann")).user
    client = Client()
    client.force_login(user)
    next_url = reverse("annotation:annotate_next", kwargs={"slug": "blind"})
    seen: list[int] = []
    items = []
    pages = []
    for _ in range(ITEMS):
        html = client.get(next_url, {"exclude": seen}).content.decode()
        assignment_id = int(re.search(r'data-assignment="(\d+)"', html).group(1))
        seen.append(assignment_id)
        parser = _ResponseAttrs()
        parser.feed(html)
        assert len(parser.responses) == 2
        fields = [{k: v for k, v in attrs.items() if k not in ("class", "data-label")} for attrs in parser.responses]
        items.append((assignment_id, fields))
        pages.append(html)
    assert len(set(seen)) == ITEMS
    _check_unpredictable(items, _winners(project))
    page = client.get(reverse("annotation:annotate", kwargs={"slug": "blind"})).content.decode()
    for html in [*pages, page]:
        assert "data-response-id" not in html and "secret-source-judge" not in html


def test_assignments_api_identifiers_do_not_predict_the_imported_winner(project: Project) -> None:
    user = MembershipFactory(project=project, role=Membership.Role.ANNOTATOR, user=UserFactory(username="api")).user
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user, name='ui').key}")
    items = []
    for _ in range(ITEMS):
        response = client.post("/api/v1/projects/blind/assignments/next/", {}, format="json")
        assert response.status_code == 200
        body = response.json()
        assert "secret-source-judge" not in response.content.decode()
        assert set(body) == {"assignment", "leased_until", "project", "messages", "responses"}  # no comparison id
        shown = [{k: v for k, v in r.items() if k not in ("label", "text", "messages")} for r in body["responses"]]
        assert all(set(fields) == {"token"} for fields in shown), shown
        items.append((body["assignment"], shown))
        first = body["responses"][0]["token"]
        rest = [r["token"] for r in body["responses"][1:]]
        submitted = client.post(
            f"/api/v1/assignments/{body['assignment']}/submit/", {"ranking": [[first], rest]}, format="json"
        )
        assert submitted.status_code == 201, submitted.content
        judgment = Judgment.objects.get(pk=submitted.json()["judgment"])
        assignment = Assignment.objects.get(pk=body["assignment"])
        # Stored with real response ids and the shown order.
        assert judgment.shown_order == assignment.shown_order
        assert judgment.placements.get(rank=1).response_id == assignment.shown_order[0]
    _check_unpredictable(items, _winners(project))


def test_tokens_differ_between_assignments_and_ids_are_refused(project: Project) -> None:
    clients = []
    for name in ("a1", "a2"):
        user = MembershipFactory(project=project, user=UserFactory(username=name)).user
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user, name='ui').key}")
        clients.append(client)
    first, second = (c.post("/api/v1/projects/blind/assignments/next/", {}, format="json").json() for c in clients)
    a1, a2 = Assignment.objects.get(pk=first["assignment"]), Assignment.objects.get(pk=second["assignment"])
    assert a1.comparison_id == a2.comparison_id  # both annotators hold the same comparison (queue order by id)
    assert not {r["token"] for r in first["responses"]} & {r["token"] for r in second["responses"]}
    # Real ids (guessed or learnt elsewhere) and another assignment's tokens are refused, naming the field.
    for ranking in (
        [[str(rid)] for rid in a1.shown_order],
        [[r["token"]] for r in second["responses"]],
    ):
        refused = clients[0].post(f"/api/v1/assignments/{a1.pk}/submit/", {"ranking": ranking}, format="json")
        assert refused.status_code == 400 and refused.json()["error"]["details"]["field"] == "ranking"


def test_generators_and_judges_stay_hidden_on_a_listwise_page(tmp_path: Path) -> None:
    project = ProjectFactory(slug="lists", kind="listwise", list_size=3)
    path = tmp_path / "lists.jsonl"
    row = {
        "prompt": "Rank these",
        "responses": [{"text": f"answer {i}", "generator": f"secret-model-{i}"} for i in range(3)],
        "ranks": [1, 2, 3],
        "judge": "secret-list-judge",
    }
    path.write_text(json.dumps(row) + "\n")
    import_file(project=project, path=path)
    generators = set(Response.objects.filter(prompt__project=project).values_list("generator", flat=True))
    assert generators == {f"secret-model-{i}" for i in range(3)}  # stored, so hiding them is a real check
    user = MembershipFactory(project=project, user=UserFactory(username="lister")).user
    client = Client()
    client.force_login(user)
    html = client.get(reverse("annotation:annotate", kwargs={"slug": "lists"})).content.decode()
    assert "answer 0" in html
    assert "secret-model" not in html and "secret-list-judge" not in html and "data-response-id" not in html
    # A plain form post of the ordering in the page's tokens stores real response ids.
    assignment = Assignment.objects.get(annotator=user)
    tokens = re.findall(r'data-response="(\w+)"', html)
    post = client.post(
        reverse("annotation:assignment_submit", kwargs={"assignment_id": assignment.pk}),
        {"ranking": json.dumps([[t] for t in reversed(tokens)])},
        HTTP_ACCEPT="application/json",
    )
    assert post.status_code == 200, post.content
    judgment = Judgment.objects.get(pk=post.json()["judgment"])
    assert [p.response_id for p in judgment.placements.order_by("rank")] == assignment.shown_order[::-1]
