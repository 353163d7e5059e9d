"""Evaluation metrics on hand-made scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import kendalltau

from rewards.training import PreferenceExample
from rewards.training.evaluation import evaluate_scores, kendall_tau_b, ndcg


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def pair(group: str, category: str = "c", tie: bool = False) -> PreferenceExample:
    return PreferenceExample.pair("q", "good", "bad", tie=tie, group_id=group, category=category, example_id=group)


def test_pairwise_metrics_by_hand() -> None:
    examples = [pair("p1", "x"), pair("p2", "x"), pair("p3", "y"), pair("p4", "y", tie=True)]
    scores = [[2.0, 0.0], [0.5, 1.0], [1.0, 1.0], [3.0, 0.0]]
    result = evaluate_scores(examples, scores, bins=10, bootstrap_samples=200)
    assert result.n_pairs == 3 and result.n_tied_pairs == 1  # the tie is excluded, and counted
    assert result.accuracy.value == pytest.approx((1 + 0 + 0.5) / 3)
    assert result.mean_margin.value == pytest.approx((2.0 - 0.5 + 0.0) / 3)
    p = [sigmoid(2.0), sigmoid(-0.5), 0.5]
    assert result.brier.value == pytest.approx(sum((1 - x) ** 2 for x in p) / 3)
    assert result.per_category["x"].accuracy == 0.5 and result.per_category["y"].n_pairs == 1
    assert len(result.pair_scores) == 4 and sum(s.tie for s in result.pair_scores) == 1


def test_ece_by_hand_uses_both_orientations() -> None:
    # gaps 2 and -0.5: p = 0.881 (bin 8) and 0.378 (bin 3), outcome 1; mirrored: 0.119 (bin 1), 0.622 (bin 6), outcome 0
    examples = [pair("p1"), pair("p2")]
    result = evaluate_scores(examples, [[2.0, 0.0], [0.5, 1.0]], bins=10, bootstrap_samples=50)
    a, b = sigmoid(2.0), sigmoid(-0.5)
    expected = ((1 - a) + (1 - b) + (1 - a) + (1 - b)) / 4  # every bin holds one item: |confidence - outcome|
    assert result.ece.value == pytest.approx(expected)
    counts = [bin_.count for bin_ in result.reliability]
    assert counts == [0, 1, 0, 1, 0, 0, 1, 0, 1, 0]
    assert result.reliability[8].mean_confidence == pytest.approx(a) and result.reliability[8].observed == 1.0


def test_perfect_calibration_has_zero_ece() -> None:
    # 16 pairs with |gap| = log 3 (p = 0.75 or 0.25), 4 of them wrong: each bin's observed rate equals its p
    examples = [pair(f"p{i}") for i in range(16)]
    gap = math.log(3)
    scores = [[gap, 0.0] if i >= 4 else [0.0, gap] for i in range(16)]
    result = evaluate_scores(examples, scores, bootstrap_samples=50)
    assert result.ece.value == pytest.approx(0.0, abs=1e-12)


def test_kendall_tau_b_matches_scipy_with_ties() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        truth = rng.integers(0, 3, size=6).astype(float)
        predicted = rng.integers(0, 4, size=6).astype(float)
        expected = kendalltau(truth, predicted).statistic
        got = kendall_tau_b(truth, predicted)
        assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)


def test_ndcg_by_hand() -> None:
    ranks = np.array([1.0, 2.0, 3.0])  # relevance 2, 1, 0 -> gains 3, 1, 0
    assert ndcg(ranks, np.array([3.0, 2.0, 1.0])) == pytest.approx(1.0)
    # predicted order: item 1, item 0, item 2 -> DCG = 1/log2(2) + 3/log2(3); ideal = 3 + 1/log2(3)
    expected = (1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3))
    assert ndcg(ranks, np.array([2.0, 3.0, 1.0])) == pytest.approx(expected)


def test_list_metrics_and_ranking_accuracy() -> None:
    lists = [
        PreferenceExample(prompt=(), responses=("a", "b", "c"), ranks=(1, 2, 3), group_id="g1"),
        PreferenceExample(prompt=(), responses=("a", "b", "c"), ranks=(1, 2, 2), group_id="g2"),
    ]
    scores = [[3.0, 1.0, 2.0], [1.0, 2.0, 0.0]]
    result = evaluate_scores(lists, scores, bootstrap_samples=100)
    assert result.n_lists == 2 and result.n_tied_pairs == 1
    # list 1: pairs (0,1) ok, (0,2) ok, (1,2) wrong; list 2: (0,1) wrong, (0,2) ok
    assert result.ranking_accuracy.value == pytest.approx(3 / 5)
    tau1 = kendalltau([3, 2, 1], scores[0]).statistic
    tau2 = kendalltau([2, 1, 1], scores[1]).statistic
    assert result.kendall_tau.value == pytest.approx((tau1 + tau2) / 2)
    assert result.top1_accuracy.value == pytest.approx(0.5)


def test_bootstrap_intervals_contain_the_point_estimate_and_resample_prompts() -> None:
    rng = np.random.default_rng(1)
    examples = [pair(f"p{i // 3}", category=f"c{i % 2}") for i in range(300)]  # 3 judgments per prompt
    scores = [[float(rng.normal(0.5, 1)), 0.0] for _ in examples]
    result = evaluate_scores(examples, scores, bootstrap_samples=500, seed=2)
    assert result.n_groups == 100
    for interval in (result.accuracy, result.mean_margin, result.brier, result.ece):
        assert interval.low <= interval.value <= interval.high
        assert interval.high - interval.low > 0
    again = evaluate_scores(examples, scores, bootstrap_samples=500, seed=2)
    assert again.accuracy == result.accuracy  # seeded


def test_evaluate_rejects_mismatched_scores() -> None:
    with pytest.raises(ValueError):
        evaluate_scores([pair("p")], [[1.0]])
