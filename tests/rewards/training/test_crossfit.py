"""The cross-fitted reward-model detector and confident learning on the training core's synthetic task, with a known
share of flipped labels: the flips are found, no judgment is scored by a model that trained on it, and cleanlab's
flip-rate estimate is near the planted rate."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from rewards.training import PreferenceExample, TrainingConfig
from rewards.training.crossfit import (
    CrossfitResult,
    confident_learning,
    confident_learning_suspicions,
    crossfit,
    flip_labels,
    fold_of,
    in_sample_loss,
    reward_model_suspicions,
)
from rewards.training.synthetic import keyword_examples

FLIP_RATE = 0.2
# The bar: a detector that ranks flips at random scores 0.5; on this learnable task the held-out model must rank
# a flipped judgment above a clean one at least 9 times in 10.
AUROC_BAR = 0.9


def config_for(base: str, **changes: object) -> TrainingConfig:
    values: dict[str, object] = {"base_model": base, "learning_rate": 1e-3, "epochs": 3, "batch_size": 16,
                                 "max_length": 64, "seed": 0, "bootstrap_samples": 50}  # fmt: skip
    return TrainingConfig(**{**values, **changes})  # type: ignore[arg-type]


def numbered(examples: list[PreferenceExample]) -> list[PreferenceExample]:
    """Judgment ids as the database has them (integers as strings), so the results become flags."""
    return [dataclasses.replace(e, example_id=str(1000 + i)) for i, e in enumerate(examples)]


@pytest.fixture(scope="module")
def flipped() -> tuple[list[PreferenceExample], set[str]]:
    return flip_labels(numbered(keyword_examples(300, seed=0)), FLIP_RATE, seed=1)


@pytest.fixture(scope="module")
def fitted(tiny_bert: str, flipped: tuple[list[PreferenceExample], set[str]]) -> tuple[CrossfitResult, list]:
    seen: list = []
    return crossfit(flipped[0], config_for(tiny_bert), folds=5, seeds=2, progress=seen.append), seen


def test_flip_labels_reverses_a_fixed_share_with_a_fixed_seed() -> None:
    clean = numbered(keyword_examples(50, seed=0))
    examples, flips = flip_labels(clean, 0.2, seed=3)
    assert len(flips) == 10 and flip_labels(clean, 0.2, seed=3)[1] == flips
    for before, after in zip(clean, examples, strict=True):
        reversed_ = after.ranks == tuple(3 - r for r in before.ranks)
        assert reversed_ == (before.example_id in flips)
        assert after.responses == before.responses


def test_cross_fitted_suspicion_finds_the_flipped_pairs(fitted: tuple, flipped: tuple) -> None:
    result, _ = fitted
    examples, flips = flipped
    assert result.status == "completed" and len(result.scores) == len(examples)
    truth = [s.example_id in flips for s in result.scores]
    auroc = roc_auc_score(truth, [s.p_wrong for s in result.scores])
    assert auroc >= AUROC_BAR, auroc
    # The spread over two seeds exists, and a flipped judgment's mean margin points the other way on average.
    assert all(s.margin_spread >= 0 for s in result.scores) and any(s.margin_spread > 0 for s in result.scores)
    margins = {s.example_id: s.margin_mean for s in result.scores}
    assert np.mean([margins[k] for k in flips]) < 0 < np.mean([m for k, m in margins.items() if k not in flips])


def test_no_judgment_is_scored_by_a_model_that_trained_on_it(fitted: tuple, flipped: tuple) -> None:
    result, _ = fitted
    examples = flipped[0]
    group = {e.example_id: e.group_id for e in examples}
    assert len(result.models) == 10  # 5 folds x 2 seeds
    for member in range(2):
        models = [m for m in result.models if m.member == member]
        scored = [i for m in models for i in m.scored_ids]
        assert sorted(scored) == sorted(group)  # every judgment exactly once per member
        for model in models:
            assert not set(model.train_ids) & set(model.scored_ids)
            assert not model.train_groups & model.scored_groups  # split by prompt: no prompt on both sides
            assert set(model.train_ids) | set(model.scored_ids) == set(group)
            assert all(fold_of(group[i], folds=5, seed=model.seed) == model.fold for i in model.scored_ids)
            assert all(fold_of(group[i], folds=5, seed=model.seed) != model.fold for i in model.train_ids)
    by_id = result.by_id()
    for model in result.models:
        assert all(by_id[i].folds[model.member] == model.fold for i in model.scored_ids)
    # The two members split the prompts differently (different split seeds), so the ensemble is not one split twice.
    assert any(s.folds[0] != s.folds[1] for s in result.scores)


def test_progress_is_reported_for_every_model(fitted: tuple) -> None:
    _, seen = fitted
    assert {p.model for p in seen} == set(range(1, 11)) and {p.models for p in seen} == {10}
    assert seen[-1].judgments_scored == 600  # 300 judgments x 2 members
    assert all(p.step <= p.total_steps for p in seen)


def test_confident_learning_estimates_the_planted_flip_rate(fitted: tuple, flipped: tuple) -> None:
    result, _ = fitted
    flips = flipped[1]
    cl = confident_learning(result)
    assert cl.flip_rate is not None and abs(cl.flip_rate - FLIP_RATE) <= 0.06, cl.flip_rate
    issues = {k for k, v in cl.label_issue.items() if v}
    precision = len(issues & flips) / len(issues)
    recall = len(issues & flips) / len(flips)
    assert precision >= 0.8 and recall >= 0.7, (precision, recall)
    assert len(cl.joint) == 2 and sum(map(sum, cl.joint)) == pytest.approx(1.0)


def test_confident_learning_does_not_depend_on_the_listing_order(tiny_bert: str) -> None:
    # The database lists a pair by response id, often the chosen one first: cleanlab must still see two classes.
    best_first = [
        dataclasses.replace(e, responses=tuple(sorted(e.responses, key=lambda r: "excellent" not in r)), ranks=(1, 2))
        for e in numbered(keyword_examples(300, seed=6))
    ]
    examples, flips = flip_labels(best_first, FLIP_RATE, seed=2)
    result = crossfit(examples, config_for(tiny_bert), folds=5, seeds=1)
    assert {p.label for p in result.pairs} == {0, 1}
    cl = confident_learning(result)
    assert cl.flip_rate is not None and abs(cl.flip_rate - FLIP_RATE) <= 0.06, cl.flip_rate
    issues = {k for k, v in cl.label_issue.items() if v}
    assert len(issues & flips) >= 0.8 * len(issues) > 0


def test_flags_carry_the_out_of_fold_probability(fitted: tuple, flipped: tuple) -> None:
    result, _ = fitted
    cl = confident_learning(result)
    flags = reward_model_suspicions(result)
    assert len(flags) == 300 and all(isinstance(f.judgment_id, int) for f in flags)
    by_id = result.by_id()
    for flag in flags:
        assert flag.details["p_wrong"] == by_id[str(flag.judgment_id)].p_wrong == flag.score
        assert "never saw this prompt" in flag.reason
    cl_flags = confident_learning_suspicions(result, cl)
    assert sum(f.details["label_issue"] for f in cl_flags) == sum(cl.label_issue.values())
    assert all(f.reason.startswith("Confident learning: a label issue") == f.details["label_issue"] for f in cl_flags)


def test_clean_data_is_left_mostly_unflagged(tiny_bert: str) -> None:
    examples = numbered(keyword_examples(300, seed=4))
    result = crossfit(examples, config_for(tiny_bert), folds=5, seeds=1)
    wrong = np.array([s.p_wrong for s in result.scores])
    assert (wrong > 0.5).mean() < 0.05  # the held-out model agrees with nearly every clean label
    cl = confident_learning(result)
    assert cl.flip_rate is not None and cl.flip_rate < 0.05
    assert sum(cl.label_issue.values()) <= 0.05 * len(examples)


def test_lists_and_ties(tiny_bert: str) -> None:
    lists = numbered(keyword_examples(60, seed=5, list_size=3))
    tie = PreferenceExample.pair("a tie", "x y", "y x", tie=True, group_id="tie", example_id="9")
    result = crossfit([*lists, tie], config_for(tiny_bert, epochs=1), folds=3, seeds=1)
    assert result.unscored == ["9"] and "9" not in result.by_id()
    assert {s.n_pairs for s in result.scores} == {3}  # a list of three: three induced pairs
    assert len(result.pairs) == 3 * 60 and {p.label for p in result.pairs} == {0, 1}


def test_in_sample_loss_scores_every_judgment_it_trained_on(tiny_bert: str, flipped: tuple) -> None:
    examples, flips = flipped
    wrong = in_sample_loss(examples, config_for(tiny_bert))
    assert set(wrong) == {e.example_id for e in examples}
    assert roc_auc_score([k in flips for k in wrong], list(wrong.values())) > 0.5


def test_cancel_stops_before_the_next_step(tiny_bert: str, flipped: tuple) -> None:
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 3

    result = crossfit(flipped[0], config_for(tiny_bert), folds=5, should_stop=stop)
    assert result.status == "cancelled" and result.scores == [] and len(calls) == 4


def test_refuses_data_it_cannot_cross_fit(tiny_bert: str) -> None:
    one_prompt = [PreferenceExample.pair("p", "excellent a", "b", group_id="same", example_id=str(i)) for i in range(5)]
    with pytest.raises(ValueError, match="at least two folds"):
        crossfit(one_prompt, config_for(tiny_bert), folds=3)
    with pytest.raises(ValueError, match="example_id"):
        crossfit([dataclasses.replace(e, example_id="") for e in one_prompt], config_for(tiny_bert), folds=3)
