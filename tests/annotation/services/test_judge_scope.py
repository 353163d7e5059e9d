"""Judges belong to one project: a person's human judge and a reward model's judge are made per project."""

from __future__ import annotations

import pytest

from annotation.models import Judge
from annotation.services.judgments import human_judge_for
from annotation.services.scored_judgments import reward_model_judge_get_or_create, reward_model_judge_in
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_person_has_one_human_judge_per_project() -> None:
    person = UserFactory(username="ann")
    one, two = ProjectFactory(slug="one"), ProjectFactory(slug="two")
    first = human_judge_for(user=person, project=one)
    assert human_judge_for(user=person, project=one) == first
    second = human_judge_for(user=person, project=two)
    assert second != first
    assert {(j.project.slug, j.name, j.kind) for j in (first, second)} == {
        ("one", "human:ann", "human"),
        ("two", "human:ann", "human"),
    }


def test_a_reward_model_judges_each_project_as_a_judge_of_that_project() -> None:
    one, two = ProjectFactory(slug="one"), ProjectFactory(slug="two")
    judge = reward_model_judge_get_or_create(name="rm:run-1", project=one, metadata={"training_run": 1})
    there = reward_model_judge_in(judge=judge, project=two)
    assert there.project == two and (there.name, there.kind, there.metadata) == (
        judge.name,
        "reward_model",
        {"training_run": 1},
    )
    assert reward_model_judge_in(judge=judge, project=two) == there
    assert reward_model_judge_in(judge=judge, project=one) == judge
    assert Judge.objects.filter(name="rm:run-1").count() == 2
