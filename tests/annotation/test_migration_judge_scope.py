"""Migration 0004: existing judges get their project from their judgments; a judge used in several projects is split
into one per project; response ids derived from content get the generator in them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from annotation.importers.records import content_id, response_content_id

BEFORE = [("annotation", "0003_assignment_queue_and_exports")]
AFTER = [("annotation", "0004_judge_scope_and_orders")]


@pytest.mark.django_db(transaction=True)
def test_judges_are_split_per_project_and_responses_rekeyed() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    Project, Prompt, Response = (apps.get_model("annotation", m) for m in ("Project", "Prompt", "Response"))
    Comparison, Judge, Judgment = (apps.get_model("annotation", m) for m in ("Comparison", "Judge", "Judgment"))
    User = apps.get_model("auth", "User")
    person = User.objects.create(username="ann")
    shared = Judge.objects.create(name="gpt-4", kind="llm", description="the judge")
    human = Judge.objects.create(name="human:ann", kind="human", user=person)
    idle = Judge.objects.create(name="never-judged", kind="imported")
    comparisons = {}
    for slug in ("one", "two"):
        project = Project.objects.create(name=slug, slug=slug)
        prompt = Prompt.objects.create(project=project, external_id="p", messages=[{"role": "user", "content": "q"}])
        responses = [
            Response.objects.create(prompt=prompt, external_id=content_id([text], "r-"), text=text, generator=gen)
            for text, gen in (("a", "m1"), ("b", ""))
        ]
        comparison = Comparison.objects.create(
            project=project, prompt=prompt, key=",".join(str(r.pk) for r in responses)
        )
        comparisons[slug] = comparison
        for judge in (shared, human):
            Judgment.objects.create(project=project, comparison=comparison, judge=judge, source="import")
    given = Response.objects.create(prompt=prompt, external_id="given-id", text="c", generator="m3")

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    apps = executor.loader.project_state(AFTER).apps
    Judge, Judgment, Response = (apps.get_model("annotation", m) for m in ("Judge", "Judgment", "Response"))
    try:
        assert sorted(Judge.objects.values_list("name", "project__slug", "kind", "user__username")) == [
            ("gpt-4", "one", "llm", None),
            ("gpt-4", "two", "llm", None),
            ("human:ann", "one", "human", "ann"),
            ("human:ann", "two", "human", "ann"),
        ]
        assert not Judge.objects.filter(pk=idle.pk).exists()
        assert Judge.objects.get(pk=shared.pk).project.slug == "one"  # the original keeps its first project
        assert set(Judge.objects.filter(name="gpt-4").values_list("description", flat=True)) == {"the judge"}
        for judgment in Judgment.objects.select_related("judge"):
            assert judgment.judge.project_id == judgment.project_id
            assert judgment.order_key == ""
        assert set(Response.objects.filter(text="a").values_list("external_id", flat=True)) == {
            response_content_id("a", generator="m1")
        }
        assert set(Response.objects.filter(text="b").values_list("external_id", flat=True)) == {content_id(["b"], "r-")}
        assert Response.objects.get(pk=given.pk).external_id == "given-id"
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
