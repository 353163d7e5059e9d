"""A newcomer's first hour, through Django's test client (issue 17, "Pages"): the judging page's project counter
keeps up with submits, a project is created without a slug, 403 and 404 have the site's layout (JSON under /api/),
the navigation shows only what a role can use, and the progress page has an overall total with linked comparisons.
The same pages in Chromium: tests/browser/test_first_hour_pages.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from annotation.models import Assignment, Comparison, Membership, Project
from annotation.selectors.annotate import response_tokens
from annotation.services.imports import import_file
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = ProjectFactory(slug="hour", name="First hour")
    path = tmp_path / "pairs.jsonl"
    rows = [{"prompt": f"question {i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(6)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    import_file(project=project, path=path)
    return project


def client_for(project: Project | None, name: str, role: str | None = Membership.Role.ANNOTATOR) -> Client:
    user = UserFactory(username=name)
    if project is not None and role is not None:
        MembershipFactory(project=project, user=user, role=role)
    client = Client()
    client.force_login(user)
    return client


def _current_assignment(html: str) -> int:
    return int(re.search(r'data-assignment="(\d+)"', html).group(1))


def _project_counter(html: str) -> tuple[int, int, int]:
    done = re.search(r'data-field="done">(\d+)<', html).group(1)
    project_done = re.search(r'data-field="project_done">(\d+)<', html).group(1)
    target = re.search(r'data-field="project_target">(\d+)<', html).group(1)
    return int(done), int(project_done), int(target)


def test_the_judging_page_counter_follows_each_submit_and_undo(project: Project) -> None:
    client = client_for(project, "ann")
    url = reverse("annotation:annotate", kwargs={"slug": "hour"})
    html = client.get(url).content.decode()
    assert _project_counter(html) == (0, 0, 6)  # the project count is now cached for a few seconds
    for expected in (1, 2, 3):
        assignment = Assignment.objects.get(pk=_current_assignment(html))
        submit = reverse("annotation:assignment_submit", kwargs={"assignment_id": assignment.pk})
        body = client.post(submit, {"choice": "A"}, HTTP_ACCEPT="application/json").json()
        assert body["progress"]["done"] == expected
        assert body["progress"]["project_done"] == expected  # was 0 until the cache ran out (issue 17)
        html = client.get(url).content.decode()
        assert _project_counter(html) == (expected, expected, 6)
    undo = client.post(reverse("annotation:annotate_undo", kwargs={"slug": "hour"}), HTTP_ACCEPT="application/json")
    assert undo.json()["progress"]["done"] == undo.json()["progress"]["project_done"] == 2
    assert _project_counter(client.get(url).content.decode())[:2] == (2, 2)
    # The home page reads the same numbers.
    home = client.get(reverse("annotation:project_list")).content.decode()
    assert "project 2 / 6" in home


def test_a_project_is_created_without_a_slug_and_gets_a_free_one() -> None:
    researcher = client_for(ProjectFactory(slug="elsewhere"), "res", Membership.Role.RESEARCHER)
    ProjectFactory(slug="safety-pairs")  # taken: the next one gets -2
    form = {"name": "Safety pairs", "kind": "pairwise", "list_size": 2, "overlap": 1, "rationale": "off"}
    form |= {"lease_minutes": 30, "queue_order": "random"}
    page = researcher.get(reverse("annotation:project_new")).content.decode()
    assert "Short name for URLs (optional)" in page
    created = researcher.post(reverse("annotation:project_new"), {**form, "slug": ""})
    assert created.status_code == 302, created.content.decode()[-2000:]
    assert created["Location"] == reverse("annotation:project_overview", kwargs={"slug": "safety-pairs-2"})
    project = Project.objects.get(slug="safety-pairs-2")
    assert project.name == "Safety pairs" and project.memberships.get().role == Membership.Role.RESEARCHER
    # A name with nothing to make a slug from still works; a slug given is kept as given.
    assert researcher.post(reverse("annotation:project_new"), {**form, "name": "日本語"}).status_code == 302
    assert Project.objects.filter(slug="project", name="日本語").exists()
    assert researcher.post(reverse("annotation:project_new"), {**form, "slug": "mine"}).status_code == 302
    assert Project.objects.filter(slug="mine", name="Safety pairs").exists()
    # The success message is a success, not a warning (the page styles the two apart).
    overview = researcher.get(reverse("annotation:project_overview", kwargs={"slug": "mine"})).content.decode()
    assert re.search(r'<li class="message success" role="status">Project Safety pairs created', overview)
    # A bad slug is still refused, naming the field.
    refused = researcher.post(reverse("annotation:project_new"), {**form, "slug": "Not A Slug"})
    assert refused.status_code == 400 and "slug" in refused.content.decode().lower()


@pytest.mark.parametrize("anonymous", [False, True])
def test_404_and_403_pages_have_the_layout_and_a_way_back(project: Project, anonymous: bool) -> None:
    client = Client() if anonymous else client_for(project, "ann")
    missing = client.get("/no/such/page/")
    assert missing.status_code == 404
    html = missing.content.decode()
    assert 'class="topbar"' in html and "<h1>Not found</h1>" in html and "There is no page at this address." in html
    way_back = 'href="/accounts/login/"' if anonymous else 'href="/">Back to your projects'
    assert way_back in html
    if not anonymous:
        # An annotator opening a researcher page: a 403 in the layout, with the reason and the way back.
        denied = client.get(reverse("annotation:project_settings", kwargs={"slug": "hour"}))
        assert denied.status_code == 403
        html = denied.content.decode()
        assert "<h1>Not allowed</h1>" in html and "does not allow this page" in html and "Back to your projects" in html


def test_handler403_renders_the_layout_and_the_api_keeps_json() -> None:
    from django.test import RequestFactory

    from workbench.errors import page_not_found, permission_denied

    request = RequestFactory().get("/somewhere/")
    request.user = UserFactory(username="someone")
    response = permission_denied(request, Exception())
    assert response.status_code == 403 and b"<h1>Not allowed</h1>" in response.content
    assert b"Back to your projects" in response.content
    api_request = RequestFactory().get("/api/v1/whatever/")
    api_request.user = request.user
    for handler, status in ((permission_denied, 403), (page_not_found, 404)):
        api = handler(api_request, Exception())
        assert api.status_code == status and api["Content-Type"] == "application/json"
        assert set(json.loads(api.content)) == {"error"}


def test_the_api_keeps_its_json_404(project: Project) -> None:
    response = client_for(project, "ann").get("/api/v1/no-such-endpoint/")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert set(response.json()) == {"error"}


def _nav(html: str) -> list[str]:
    nav = html.split('<nav class="topnav"', 1)[1].split("</nav>", 1)[0]
    return re.findall(r"<a [^>]*>([^<]+)</a>", nav)


def test_the_navigation_shows_what_a_role_can_use(project: Project) -> None:
    home = reverse("annotation:project_list")
    assert _nav(client_for(project, "ann").get(home).content.decode()) == ["Projects", "API tokens"]
    researcher = _nav(client_for(project, "res", Membership.Role.RESEARCHER).get(home).content.decode())
    assert researcher == ["Projects", "Reward models", "API tokens"]
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(admin)
    assert _nav(client.get(home).content.decode()) == ["Projects", "Reward models", "Admin", "API tokens"]
    # The link marks the section the page belongs to.
    runs = reverse("rewards:run_list")
    assert f'href="{runs}" aria-current="page"' in client.get(runs).content.decode()


def test_progress_page_has_an_overall_total_and_linked_comparisons(project: Project) -> None:
    researcher = client_for(project, "res", Membership.Role.RESEARCHER)
    annotator = client_for(project, "ann")
    html = annotator.get(reverse("annotation:annotate", kwargs={"slug": "hour"})).content.decode()
    assignment = Assignment.objects.get(pk=_current_assignment(html))
    tokens = list(response_tokens(assignment=assignment))
    submit = reverse("annotation:assignment_submit", kwargs={"assignment_id": assignment.pk})
    annotator.post(submit, {"ranking": json.dumps([[tokens[0]], [tokens[1]]])}, HTTP_ACCEPT="application/json")
    annotator.get(reverse("annotation:annotate", kwargs={"slug": "hour"}))  # leases the next item
    page = researcher.get(reverse("annotation:project_progress", kwargs={"slug": "hour"})).content.decode()
    assert re.search(r'data-total="done">1 / 6<', page)
    assert re.search(r'data-total="complete">1 / 6<', page)
    assert re.search(r'data-total="leased">1<', page)
    assert re.search(r'<tr class="total"><th scope="row" colspan="2">Total</th><td class="num">1</td>', page)
    comparison = Comparison.objects.get(pk=assignment.comparison_id)
    link = f'href="/projects/hour/?prompt={comparison.prompt_id}#comparison-{comparison.pk}"'
    assert link in page
    # The link lands on that prompt alone, with the comparison's every judgment.
    overview = researcher.get(f"/projects/hour/?prompt={comparison.prompt_id}").content.decode()
    assert f'id="comparison-{comparison.pk}"' in overview and overview.count('class="card prompt-card"') == 1
    assert "human:ann" in overview
    # Nonsense or huge ids show the ordinary sample, never an error.
    for value in ("abc", "99999999999999999999999"):
        assert researcher.get(f"/projects/hour/?prompt={value}").status_code == 200
    assert annotator.get(reverse("annotation:project_progress", kwargs={"slug": "hour"})).status_code == 403
