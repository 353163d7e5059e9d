"""Handing out work and storing human judgments: exact overlap, distinct and blind annotators, leases, skips,
undo, idempotency and every project rule, through the services."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from annotation.models import Assignment, Comparison, Judgment, Membership, Placement, Project
from annotation.services.assignments import assignment_claim, assignment_expire_leases, assignment_skip
from annotation.services.imports import import_file
from annotation.services.judgments import InvalidJudgment, Verdict, judgment_submit, judgment_undo_last
from annotation.services.projects import membership_remove, project_update
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from workbench.exceptions import Conflict

pytestmark = pytest.mark.django_db


def make_project(tmp_path: Path, pairs: int = 4, **settings: object) -> Project:
    project = ProjectFactory(**settings)
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        "".join(
            json.dumps({"prompt": f"q{i}", "chosen": f"good {i}", "rejected": f"bad {i}"}) + "\n" for i in range(pairs)
        )
    )
    import_file(project=project, path=path)
    return project


def annotator(project: Project, name: str):
    return MembershipFactory(project=project, user=UserFactory(username=name)).user


def prefer_first(assignment: Assignment, **extra: object) -> Verdict:
    a, b = assignment.shown_order
    return Verdict(ranking=[[a], [b]], **extra)  # type: ignore[arg-type]


def test_each_comparison_gets_exactly_overlap_distinct_annotators(tmp_path: Path) -> None:
    project = make_project(tmp_path, pairs=3, overlap=2)
    people = [annotator(project, f"a{i}") for i in range(4)]
    for _ in range(3):
        for person in people:
            assignment = assignment_claim(project=project, user=person)
            if assignment is not None:
                judgment_submit(assignment=assignment, verdict=prefer_first(assignment))
    for comparison in Comparison.objects.filter(project=project):
        human = Judgment.objects.filter(comparison=comparison, source=Judgment.Source.UI)
        assert human.count() == 2
        assert len(set(human.values_list("judge_id", flat=True))) == 2
        assert comparison.slots_left == 0
    # Nothing is left for anyone, including someone new.
    assert assignment_claim(project=project, user=annotator(project, "late")) is None


def test_a_claim_is_stable_across_reloads_and_the_prefetch_gets_another(tmp_path: Path) -> None:
    project = make_project(tmp_path, pairs=3)
    person = annotator(project, "ann")
    first = assignment_claim(project=project, user=person)
    assert assignment_claim(project=project, user=person) == first
    second = assignment_claim(project=project, user=person, exclude_ids=[first.pk])
    assert second is not None and second.comparison_id != first.comparison_id
    # Shown order is a permutation of the comparison's responses, kept on the assignment.
    members = set(Comparison.objects.get(pk=first.comparison_id).members.values_list("response_id", flat=True))
    assert set(first.shown_order) == members and len(first.shown_order) == 2


def test_skip_returns_the_item_to_others_but_not_to_the_skipper(tmp_path: Path) -> None:
    project = make_project(tmp_path, pairs=1)
    skipper, other = annotator(project, "skipper"), annotator(project, "other")
    assignment = assignment_claim(project=project, user=skipper)
    assert assignment_claim(project=project, user=other) is None  # overlap 1: taken
    assignment_skip(assignment=assignment)
    assert assignment_claim(project=project, user=skipper) is None
    taken = assignment_claim(project=project, user=other)
    assert taken is not None and taken.comparison_id == assignment.comparison_id
    with pytest.raises(Conflict):
        assignment_skip(assignment=assignment)


def test_an_expired_lease_returns_the_item_to_the_pool(tmp_path: Path) -> None:
    project = make_project(tmp_path, pairs=1)
    slow, other = annotator(project, "slow"), annotator(project, "other")
    assignment = assignment_claim(project=project, user=slow)
    Assignment.objects.filter(pk=assignment.pk).update(leased_until=timezone.now() - timedelta(seconds=1))
    taken = assignment_claim(project=project, user=other)
    assert taken is not None and taken.comparison_id == assignment.comparison_id
    assert Assignment.objects.get(pk=assignment.pk).status == Assignment.Status.EXPIRED
    # The slow annotator's late answer cannot push the comparison over its overlap.
    assignment.refresh_from_db()
    with pytest.raises(Conflict):
        judgment_submit(assignment=assignment, verdict=prefer_first(assignment))
    assert Judgment.objects.filter(comparison_id=assignment.comparison_id).count() == 1  # only the import


def test_a_late_answer_is_kept_when_a_slot_is_still_free(tmp_path: Path) -> None:
    project = make_project(tmp_path, pairs=1)
    slow = annotator(project, "slow")
    assignment = assignment_claim(project=project, user=slow)
    Assignment.objects.filter(pk=assignment.pk).update(leased_until=timezone.now() - timedelta(seconds=1))
    assert assignment_expire_leases(project=project) == 1
    assignment.refresh_from_db()
    judgment = judgment_submit(assignment=assignment, verdict=prefer_first(assignment))
    assert judgment.pk and Comparison.objects.get(pk=assignment.comparison_id).slots_left == 0


def test_submit_stores_ordering_shown_order_duration_and_is_idempotent(tmp_path: Path) -> None:
    project = make_project(tmp_path, pairs=1, strength_scale=["slightly", "much"], rationale="required")
    person = annotator(project, "ann")
    assignment = assignment_claim(project=project, user=person)
    verdict = prefer_first(assignment, strength=1, rationale="clearer", duration_ms=4200, client_token="tok-1")
    judgment = judgment_submit(assignment=assignment, verdict=verdict)
    again = judgment_submit(assignment=assignment, verdict=verdict)
    assert again.pk == judgment.pk
    assert judgment.judge.kind == "human" and judgment.judge.user == person
    assert judgment.shown_order == assignment.shown_order and judgment.duration_ms == 4200
    assert judgment.strength == 1 and judgment.rationale == "clearer" and judgment.source == "ui"
    ranks = dict(Placement.objects.filter(judgment=judgment).values_list("response_id", "rank"))
    assert ranks == {assignment.shown_order[0]: 1, assignment.shown_order[1]: 2}
    with pytest.raises(Conflict):
        judgment_submit(assignment=assignment, verdict=prefer_first(assignment, rationale="x", client_token="tok-2"))


@pytest.mark.parametrize(
    ("settings", "verdict", "field"),
    [
        ({"allow_ties": False}, {"tie": True}, "ranking"),
        ({}, {"missing": True}, "ranking"),
        ({"allow_both_bad": False}, {"tie": True, "both_bad": True}, "ranking"),
        ({"strength_scale": ["a", "b"]}, {"strength": 2}, "strength"),
        ({}, {"strength": 0}, "strength"),
        ({"strength_scale": ["a", "b"]}, {"tie": True, "strength": 0}, "strength"),
        (
            {"criteria": [{"key": "safe", "label": "Safe", "scale": ["A", "B"]}]},
            {"criteria": {"safe": "C"}},
            "criteria.safe",
        ),
        ({}, {"criteria": {"nope": "A"}}, "criteria.nope"),
        ({"rationale": "required"}, {}, "rationale"),
        ({"rationale": "off"}, {"rationale": "because"}, "rationale"),
        ({}, {"duration_ms": -5}, "duration_ms"),
    ],
)
def test_project_rules_are_enforced_with_the_field_named(
    tmp_path: Path, settings: dict, verdict: dict, field: str
) -> None:
    project = make_project(tmp_path, pairs=1, **settings)
    assignment = assignment_claim(project=project, user=annotator(project, "ann"))
    a, b = assignment.shown_order
    ranking = [[a, b]] if verdict.pop("tie", False) else [[a]] if verdict.pop("missing", False) else [[a], [b]]
    with pytest.raises(InvalidJudgment) as caught:
        judgment_submit(assignment=assignment, verdict=Verdict(ranking=ranking, **verdict))
    assert caught.value.extra["field"] == field
    assert not Judgment.objects.filter(source="ui").exists()
    assert Assignment.objects.get(pk=assignment.pk).status == Assignment.Status.LEASED


def test_undo_takes_back_the_last_submission_while_the_lease_is_open(tmp_path: Path) -> None:
    project = make_project(tmp_path, pairs=2)
    person = annotator(project, "ann")
    first = assignment_claim(project=project, user=person)
    judgment_submit(assignment=first, verdict=prefer_first(first))
    second = assignment_claim(project=project, user=person)
    judgment_submit(assignment=second, verdict=prefer_first(second))
    undone = judgment_undo_last(project=project, user=person)
    assert undone.pk == second.pk and undone.status == Assignment.Status.LEASED and undone.judgment is None
    assert Judgment.objects.filter(source="ui").count() == 1
    assert Comparison.objects.get(pk=second.comparison_id).slots_left == 0  # the slot stayed with the annotator
    # The lease of the first has ended: no more undo.
    Assignment.objects.filter(pk=first.pk).update(leased_until=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Conflict):
        judgment_undo_last(project=project, user=person)


def test_overlap_change_moves_free_slots_and_removing_a_member_releases_leases(tmp_path: Path) -> None:
    project = make_project(tmp_path, pairs=2, overlap=1)
    person = annotator(project, "ann")
    assignment = assignment_claim(project=project, user=person)
    project_update(project=project, overlap=3)
    slots = dict(Comparison.objects.filter(project=project).values_list("id", "slots_left"))
    assert slots[assignment.comparison_id] == 2 and sorted(slots.values()) == [2, 3]
    membership_remove(project=project, user=person)
    assert Assignment.objects.get(pk=assignment.pk).status == Assignment.Status.EXPIRED
    assert Comparison.objects.get(pk=assignment.comparison_id).slots_left == 3
    assert not Membership.objects.filter(project=project, user=person).exists()


@pytest.mark.parametrize("order", ["sequential", "random", "fewest_first"])
def test_every_queue_order_hands_out_every_comparison(tmp_path: Path, order: str) -> None:
    project = make_project(tmp_path, pairs=5, queue_order=order)
    person = annotator(project, "ann")
    seen = []
    while (assignment := assignment_claim(project=project, user=person)) is not None:
        seen.append(assignment.comparison_id)
        judgment_submit(assignment=assignment, verdict=prefer_first(assignment))
    assert sorted(seen) == sorted(Comparison.objects.filter(project=project).values_list("id", flat=True))
