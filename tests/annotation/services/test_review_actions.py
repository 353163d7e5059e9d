"""Review actions (keep, correct, exclude, re-queue): each is recorded, sets the judgment's flags' status, and its
undo puts back exactly what was there; the one-active-judgment invariant holds throughout."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from annotation.models import Comparison, Judge, Judgment, LabelFlag, ReviewAction
from annotation.services.review import (
    flag_keep,
    judgment_correct,
    ordering_of,
    review_action_create,
    review_action_undo,
    review_exclude,
    review_requeue,
)
from tests.annotation.review_data import make_judgment, review_world
from tests.factories import UserFactory
from workbench.exceptions import ApplicationError, Conflict

pytestmark = pytest.mark.django_db


def _statuses(judgment: Judgment) -> dict[str, str]:
    return dict(LabelFlag.objects.filter(judgment=judgment).values_list("detector", "status"))


def _active_per_judge(comparison: Comparison) -> dict[int, int]:
    counts: dict[int, int] = {}
    for judge_id in Judgment.objects.filter(comparison=comparison, status="active").values_list("judge_id", flat=True):
        counts[judge_id] = counts.get(judge_id, 0) + 1
    return counts


def test_keep_dismisses_every_flag_of_the_judgment_and_undo_reopens_them() -> None:
    world = review_world()
    wrong = world.judgments[("a3", 0)]
    action = flag_keep(judgment=wrong, user=world.researcher, note="  annotator had a point  ")
    assert action.action == "keep" and action.note == "annotator had a point" and action.user == world.researcher
    assert set(_statuses(wrong).values()) == {"kept"}
    assert (
        LabelFlag.objects.filter(judgment=wrong, reviewed_by=world.researcher, reviewed_at__isnull=False).count() == 3
    )
    wrong.refresh_from_db()
    assert wrong.status == "active"
    undone = review_action_undo(action=action, user=world.researcher)
    assert undone.undone_at is not None and undone.undone_by == world.researcher
    assert set(_statuses(wrong).values()) == {"open"}
    assert not LabelFlag.objects.filter(judgment=wrong, reviewed_by__isnull=False).exists()
    with pytest.raises(Conflict):
        review_action_undo(action=action, user=world.researcher)


def test_exclude_leaves_the_judgment_out_and_undo_brings_it_back() -> None:
    world = review_world()
    wrong = world.judgments[("a3", 1)]
    action = review_exclude(judgment=wrong, user=world.researcher, note="spam")
    wrong.refresh_from_db()
    assert wrong.status == "excluded"
    assert set(_statuses(wrong).values()) == {"excluded"}
    with pytest.raises(Conflict):  # excluding twice is refused, so every undo is exact
        review_exclude(judgment=wrong, user=world.researcher)
    review_action_undo(action=action, user=world.researcher)
    wrong.refresh_from_db()
    assert wrong.status == "active" and set(_statuses(wrong).values()) == {"open"}
    assert ReviewAction.objects.filter(judgment=wrong).count() == 1  # the row stays, marked undone


def test_correct_makes_a_new_active_judgment_and_supersedes_the_old_one() -> None:
    world = review_world()
    wrong = world.judgments[("a3", 0)]
    comparison = wrong.comparison
    before = ordering_of(judgment=wrong)
    action = judgment_correct(judgment=wrong, user=world.researcher, ordering=before[::-1], note="clearly the first")
    wrong.refresh_from_db()
    correction = action.correction
    assert wrong.status == "superseded" and wrong.superseded_by == correction
    assert correction.status == "active" and ordering_of(judgment=correction) == before[::-1]
    assert correction.judge.name == "review:rev" and correction.judge.kind == "human"
    assert correction.judge.user is None and correction.judge.metadata == {"reviewer": world.researcher.pk}
    assert correction.rationale == "clearly the first" and correction.metadata == {"corrects": wrong.pk}
    assert set(_statuses(wrong).values()) == {"corrected"}
    assert all(n == 1 for n in _active_per_judge(comparison).values())
    assert Judgment.objects.filter(comparison=comparison, status="active").count() == 4  # a1, a2, rm, the review

    review_action_undo(action=action, user=world.researcher)
    wrong.refresh_from_db()
    assert wrong.status == "active" and wrong.superseded_by is None
    assert not Judgment.objects.filter(pk=correction.pk).exists()
    assert ordering_of(judgment=wrong) == before and set(_statuses(wrong).values()) == {"open"}
    assert all(n == 1 for n in _active_per_judge(comparison).values())


def test_a_correction_must_change_the_ordering_and_place_every_response_once() -> None:
    world = review_world()
    wrong = world.judgments[("a3", 0)]
    ordering = ordering_of(judgment=wrong)
    with pytest.raises(ApplicationError, match="own ordering"):
        judgment_correct(judgment=wrong, user=world.researcher, ordering=ordering)
    with pytest.raises(ApplicationError, match="exactly once"):
        judgment_correct(judgment=wrong, user=world.researcher, ordering=[ordering[0]])
    world.project.allow_ties = False
    world.project.save()
    with pytest.raises(ApplicationError, match="ties"):
        judgment_correct(judgment=wrong, user=world.researcher, ordering=[[rid for g in ordering for rid in g]])
    assert not ReviewAction.objects.exists()


def test_two_wrong_labels_of_one_comparison_share_the_reviewers_correction() -> None:
    world = review_world()
    comparison = world.comparisons[1]
    first, second = world.judgments[("a3", 1)], world.judgments[("a1", 1)]
    good_first = ordering_of(judgment=world.judgments[("a1", 1)])
    # Say the reviewer thinks both annotators are wrong about prompt 1 in different ways: a tie is the truth.
    tie = [[rid for group in good_first for rid in group]]
    one = judgment_correct(judgment=first, user=world.researcher, ordering=tie)
    two = judgment_correct(judgment=second, user=world.researcher, ordering=tie)
    assert one.correction == two.correction
    with pytest.raises(Conflict, match="another ordering"):
        judgment_correct(judgment=world.judgments[("a2", 1)], user=world.researcher, ordering=good_first[::-1])
    assert all(n == 1 for n in _active_per_judge(comparison).values())
    review_action_undo(action=two, user=world.researcher)
    assert Judgment.objects.filter(pk=one.correction_id, status="active").exists()  # still stands in for `first`
    review_action_undo(action=one, user=world.researcher)
    assert not Judgment.objects.filter(pk=one.correction_id).exists()
    assert Judgment.objects.filter(comparison=comparison, status="active").count() == 4


def test_the_database_refuses_a_second_active_judgment_of_one_judge() -> None:
    world = review_world(prompts=1)
    wrong = world.judgments[("a3", 0)]
    with pytest.raises(IntegrityError), transaction.atomic():
        make_judgment(world.project, wrong.comparison, wrong.judge, ordering_of(judgment=wrong)[::-1])


def test_a_reviewer_who_also_annotated_can_correct_the_comparison() -> None:
    world = review_world(prompts=1)
    wrong = world.judgments[("a3", 0)]
    own = Judge.objects.create(project=world.project, name="human:rev", kind="human", user=world.researcher)
    make_judgment(world.project, wrong.comparison, own, ordering_of(judgment=wrong))
    action = judgment_correct(
        judgment=wrong, user=world.researcher, ordering=ordering_of(judgment=wrong)[::-1], note=""
    )
    assert action.correction.judge != own
    assert all(n == 1 for n in _active_per_judge(wrong.comparison).values())


def test_requeue_opens_slots_and_undo_closes_them_while_free() -> None:
    world = review_world()
    wrong = world.judgments[("a3", 2)]
    comparison = wrong.comparison
    action = review_requeue(judgment=wrong, user=world.researcher, annotators=2, note="ask two more")
    comparison.refresh_from_db()
    assert comparison.slots_left == 2 and action.requeued == 2
    assert set(_statuses(wrong).values()) == {"requeued"}
    review_action_undo(action=action, user=world.researcher)
    comparison.refresh_from_db()
    assert comparison.slots_left == 0 and set(_statuses(wrong).values()) == {"open"}

    again = review_requeue(judgment=wrong, user=world.researcher, annotators=2)
    Comparison.objects.filter(pk=comparison.pk).update(slots_left=1)  # an annotator took one slot
    with pytest.raises(Conflict, match="already taken"):
        review_action_undo(action=again, user=world.researcher)
    assert ReviewAction.objects.get(pk=again.pk).undone_at is None
    with pytest.raises(ApplicationError):
        review_requeue(judgment=wrong, user=world.researcher, annotators=0)


def test_actions_on_a_judgment_are_undone_latest_first_and_restore_the_status_before_each() -> None:
    world = review_world()
    wrong = world.judgments[("a3", 3)]
    keep = flag_keep(judgment=wrong, user=world.researcher)
    other = UserFactory(username="second")
    exclude = review_action_create(judgment=wrong, user=other, action="exclude", note="on second thought")
    assert set(_statuses(wrong).values()) == {"excluded"}
    with pytest.raises(Conflict, match="later action"):
        review_action_undo(action=keep, user=world.researcher)
    review_action_undo(action=exclude, user=world.researcher)
    flags = LabelFlag.objects.filter(judgment=wrong)
    assert {f.status for f in flags} == {"kept"}
    assert {f.reviewed_by_id for f in flags} == {world.researcher.pk}  # back to the keep's reviewer
    review_action_undo(action=keep, user=world.researcher)
    assert set(_statuses(wrong).values()) == {"open"}


def test_a_flag_written_after_the_action_follows_the_actions_still_standing() -> None:
    world = review_world(prompts=1)
    wrong = world.judgments[("a3", 0)]
    keep = flag_keep(judgment=wrong, user=world.researcher)
    # A detector rerun replaces its flags, keeping the review status (services/label_flags.py).
    LabelFlag.objects.filter(judgment=wrong, detector="other_judges").delete()
    LabelFlag.objects.create(
        project=world.project, judgment=wrong, detector="other_judges", score=0.8, reason="rerun", status="kept"
    )
    review_action_undo(action=keep, user=world.researcher)
    assert set(_statuses(wrong).values()) == {"open"}


def test_unknown_action_and_a_correction_without_ordering_are_refused() -> None:
    world = review_world(prompts=1)
    wrong = world.judgments[("a3", 0)]
    with pytest.raises(ApplicationError, match="Unknown action"):
        review_action_create(judgment=wrong, user=world.researcher, action="flip")
    with pytest.raises(ApplicationError, match="needs the ordering"):
        review_action_create(judgment=wrong, user=world.researcher, action="correct")
