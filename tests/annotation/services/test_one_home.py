"""One home for each rule: the export's test split is the training run's held-out set; judgments are excluded,
restored and re-queued by annotation's services, and a reward model's orderings are written by them too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from annotation.analysis.split import TEST, split_of
from annotation.models import Comparison, Judgment, Membership
from annotation.services.assignments import assignment_claim
from annotation.services.review import comparison_requeue, judgment_exclude, judgment_restore
from annotation.services.scored_judgments import (
    ranks_from_scores,
    reward_model_judge_get_or_create,
    scored_judgments_write,
)
from rewards.services.examples import load_examples, source_for
from rewards.training import split_by_group
from tests.annotation.exports.conftest import export_data, import_data
from workbench.exceptions import ApplicationError, Conflict

pytestmark = pytest.mark.django_db


def _pairs_file(tmp_path: Path, n: int = 200) -> Path:
    path = tmp_path / "pairs.jsonl"
    with path.open("w") as out:
        for i in range(n):
            out.write(json.dumps({"prompt": f"question {i}?", "chosen": f"good {i}", "rejected": f"bad {i}"}) + "\n")
    return path


def test_the_export_test_split_is_the_training_held_out_set(tmp_path: Path) -> None:
    project = import_data(_pairs_file(tmp_path), "split")
    folder = export_data("split", tmp_path / "out", "trl-pairwise", "--test-fraction", "0.25", "--seed", "7")
    exported_test = {json.loads(line)["prompt"] for line in (folder / "test.jsonl").read_text().splitlines()}
    examples, _ = load_examples(source_for(projects=[project], judge_kinds=["imported"]))
    _, held_out = split_by_group(examples, 0.25, seed=7)
    held_out_prompts = {example.prompt[-1]["content"] for example in held_out}
    assert 20 < len(held_out_prompts) < 80  # about a quarter of 200
    assert held_out_prompts == exported_test
    for example in held_out:
        assert split_of(example.group_id, seed=7, test_fraction=0.25) == TEST


def test_excluded_judgments_leave_exports_and_training_and_come_back(tmp_path: Path) -> None:
    project = import_data(_pairs_file(tmp_path, 10), "review")
    judgment = Judgment.objects.filter(project=project).order_by("id").first()
    judgment_exclude(judgment=judgment)
    assert judgment.status == Judgment.Status.EXCLUDED
    examples, _ = load_examples(source_for(projects=[project], judge_kinds=["imported"]))
    assert len(examples) == 9 and str(judgment.pk) not in {e.example_id for e in examples}
    out = export_data("review", tmp_path / "one.jsonl", "trl-pairwise")
    assert len(out.read_text().splitlines()) == 9
    judgment_restore(judgment=judgment)
    assert judgment.status == Judgment.Status.ACTIVE
    examples, _ = load_examples(source_for(projects=[project], judge_kinds=["imported"]))
    assert len(examples) == 10


def test_a_judgment_is_not_restored_beside_another_active_one_of_its_judge(tmp_path: Path) -> None:
    project = import_data(_pairs_file(tmp_path, 2), "restore")
    judgment = Judgment.objects.filter(project=project).first()
    judgment_exclude(judgment=judgment)
    placements = list(judgment.placements.all())
    judgment.pk = None
    judgment.status = Judgment.Status.ACTIVE
    judgment.save()
    for placement in placements:
        placement.pk, placement.judgment = None, judgment
        placement.save()
    excluded = Judgment.objects.get(project=project, comparison=judgment.comparison, status="excluded")
    with pytest.raises(Conflict):
        judgment_restore(judgment=excluded)


def test_requeue_opens_slots_for_more_annotators(tmp_path: Path) -> None:
    project = import_data(_pairs_file(tmp_path, 1), "requeue")
    user = get_user_model().objects.create_user("late", password="pw")
    Membership.objects.create(project=project, user=user, role=Membership.Role.ANNOTATOR)
    comparison = Comparison.objects.get(project=project)
    Comparison.objects.filter(pk=comparison.pk).update(slots_left=0)
    assert assignment_claim(project=project, user=user) is None
    comparison_requeue(comparison=comparison, annotators=2)
    assert comparison.slots_left == 2
    assignment = assignment_claim(project=project, user=user)
    assert assignment is not None and assignment.comparison_id == comparison.pk
    with pytest.raises(ApplicationError):
        comparison_requeue(comparison=comparison, annotators=0)


def test_ranks_from_scores_are_dense_with_ties() -> None:
    assert ranks_from_scores([0.1, 2.0, 0.1, -1.0]) == [2, 1, 2, 3]
    assert ranks_from_scores([1.0, 1.0]) == [1, 1]


def test_scored_judgments_are_written_by_the_annotation_service(tmp_path: Path) -> None:
    project = import_data(_pairs_file(tmp_path, 3), "scored")
    judge = reward_model_judge_get_or_create(name="rm:test", project=project)
    assert reward_model_judge_get_or_create(name="rm:test", project=project) == judge
    comparisons = list(Comparison.objects.filter(project=project).prefetch_related("responses"))
    scored = [(c, [(r, float(r.pk % 3)) for r in c.responses.order_by("id")]) for c in comparisons]
    assert scored_judgments_write(project=project, judge=judge, scored=scored) == 3
    for judgment in Judgment.objects.filter(judge=judge):
        placements = list(judgment.placements.order_by("response_id"))
        expected = ranks_from_scores([p.score for p in placements])
        assert [p.rank for p in placements] == expected
        assert judgment.source == Judgment.Source.MODEL
