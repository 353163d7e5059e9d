"""Each row statistic equals an independent computation (scikit-learn or a direct formula) on random verdicts, and
undefined numbers say why."""

from __future__ import annotations

import math
import subprocess
import sys
from collections import Counter, defaultdict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, cohen_kappa_score

from annotation.analysis.consensus import majority
from annotation.analysis.judge_data import majority_codes
from annotation.analysis.judges import BASELINE_LONGER, CEILING, judges_report
from annotation.analysis.verdicts import HUMAN_LOO, HUMAN_MAJORITY, Verdict

from .strategies import verdict_sets

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def item_verdicts(verdicts: list[Verdict], judge: str) -> dict[int, str | None]:
    """The judge's verdict per item by consensus.majority over its usable verdicts (None: none usable)."""
    votes: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    seen = set()
    for v in verdicts:
        if v.judge != judge:
            continue
        seen.add(v.item)
        if v.label is not None:
            votes[v.item]["ABT".index(v.label)] += 1
    out: dict[int, str | None] = {}
    for item in seen:
        if item not in votes:
            out[item] = None
            continue
        verdict = majority(0, 1, votes[item])
        out[item] = "T" if verdict.tie else ("A" if verdict.better == 0 else "B")
    return out


def first_in_order(verdicts: list[Verdict], judge: str) -> dict[tuple[int, str], str | None]:
    out: dict[tuple[int, str], str | None] = {}
    for v in verdicts:
        if v.judge == judge and v.shown_first is not None:
            out.setdefault((v.item, v.shown_first), v.label)
    return out


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def close(value: float | None, expected: float | None) -> bool:
    if expected is None or (isinstance(expected, float) and math.isnan(expected)):
        return value is None
    return value is not None and abs(value - expected) < 1e-9


@PROPERTY
@given(verdict_sets())
def test_llm_row_against_a_named_reference_matches_direct_computation(verdicts: list[Verdict]) -> None:
    report = judges_report(verdicts, reference="gold", bootstrap=20)
    gold = {v.item: v.label for v in verdicts if v.judge == "gold"}
    length = {v.item: (v.length_a, v.length_b) for v in verdicts}
    if "llm" not in {v.judge for v in verdicts}:
        return
    row = report.row("llm").metrics
    y = item_verdicts(verdicts, "llm")
    covered = [i for i in gold if y.get(i) is not None]
    assert close(row["coverage"].value, len(covered) / len(gold))
    decisive = [i for i in covered if y[i] != "T" and gold[i] != "T"]
    assert close(row["accuracy"].value, mean([y[i] == gold[i] for i in decisive]))
    assert row["accuracy"].n == len(decisive)
    assert close(row["agreement"].value, mean([y[i] == gold[i] for i in covered]))
    if covered:
        with np.errstate(invalid="ignore", divide="ignore"):
            expected = cohen_kappa_score([y[i] for i in covered], [gold[i] for i in covered], labels=["A", "B", "T"])
        assert close(row["cohen_kappa"].value, float(expected))
    orders = first_in_order(verdicts, "llm")
    rows = [(i, s, label) for (i, s), label in orders.items() if i in gold]
    assert close(row["accuracy_both_orders"].value, mean([label == gold[i] for i, _, label in rows if gold[i] != "T"]))
    both = [i for i in gold if (i, "a") in orders and (i, "b") in orders]
    expected_both = [orders[i, "a"] == orders[i, "b"] == gold[i] for i in both if gold[i] != "T"]
    assert close(row["correct_both_orders"].value, mean(expected_both))
    consistent = [orders[i, "a"] == orders[i, "b"] and orders[i, "a"] is not None for i in both]
    assert close(row["position_consistency"].value, mean(consistent))
    first = [(s == "a") == (label == "A") for _, s, label in rows if label in ("A", "B")]
    assert close(row["prefers_first"].value, mean(first))
    differ = [i for i in covered if abs(length[i][0] - length[i][1]) > 30 and y[i] != "T"]
    longer = {i: "A" if length[i][0] > length[i][1] else "B" for i in differ}
    assert close(row["prefers_longer"].value, mean([y[i] == longer[i] for i in differ]))
    ref_differ = [i for i in gold if abs(length[i][0] - length[i][1]) > 30 and gold[i] != "T"]
    expected_ref = mean([gold[i] == ("A" if length[i][0] > length[i][1] else "B") for i in ref_differ])
    assert close(row["reference_prefers_longer"].value, expected_ref)


@PROPERTY
@given(verdict_sets())
def test_reward_model_scores_match_sklearn(verdicts: list[Verdict]) -> None:
    report = judges_report(verdicts, reference="gold", bootstrap=0)
    gold = {v.item: v.label for v in verdicts if v.judge == "gold"}
    scored = {v.item: v.score_a - v.score_b for v in verdicts if v.judge == "rm"}  # type: ignore[operator]
    if not scored:
        return
    row = report.row("rm").metrics
    items = [i for i in scored if i in gold and gold[i] != "T"]
    right = [(scored[i] > 0 and gold[i] == "A") or (scored[i] < 0 and gold[i] == "B") for i in items]
    assert close(row["score_accuracy"].value, mean(right))
    assert close(row["score_tie_rate"].value, mean([scored[i] == 0 for i in items]))
    if not items:
        assert row["brier"].value is None and row["brier"].reason
        return
    p = 1 / (1 + np.exp(-np.array([scored[i] for i in items])))
    outcome = np.array([gold[i] == "A" for i in items], dtype=float)
    assert close(row["brier"].value, float(np.mean((p - outcome) ** 2)))
    if 0 < outcome.sum() < len(outcome):
        assert close(row["brier"].value, float(brier_score_loss(outcome, p)))
        prob_true, prob_pred = calibration_curve(outcome, p, n_bins=10, strategy="quantile")
        points = report.row("rm").reliability
        assert np.allclose([point["observed"] for point in points], prob_true)
        assert np.allclose([point["p"] for point in points], prob_pred)
    edges = np.percentile(p, np.linspace(0, 100, 11))
    bins = np.searchsorted(edges[1:-1], p)
    expected = sum(abs(p[bins == b].sum() - outcome[bins == b].sum()) for b in range(10)) / len(p)
    assert close(row["ece"].value, float(expected))


@PROPERTY
@given(verdict_sets())
def test_per_category_rows_and_overall_weighted_by_items(verdicts: list[Verdict]) -> None:
    report = judges_report(verdicts, reference="gold", bootstrap=0)
    if "llm" not in {v.judge for v in verdicts}:
        return
    row = report.row("llm")
    gold = {v.item: v.label for v in verdicts if v.judge == "gold"}
    category = {v.item: v.category for v in verdicts}
    y = item_verdicts(verdicts, "llm")
    for name, sub in row.categories.items():
        covered = [i for i in gold if category[i] == name and y.get(i) is not None]
        assert close(sub.metrics["agreement"].value, mean([y[i] == gold[i] for i in covered]))
    parts = [(sub.metrics["agreement"].value, sub.metrics["agreement"].n) for sub in row.categories.values()]
    parts = [(value, n) for value, n in parts if value is not None]
    if parts:
        weighted = sum(value * n for value, n in parts) / sum(n for _, n in parts)
        assert close(row.metrics["agreement"].value, weighted)


@PROPERTY
@given(verdict_sets())
def test_human_majority_is_the_mode_with_ties_broken_among_the_modes(verdicts: list[Verdict]) -> None:
    report = judges_report(verdicts, reference=HUMAN_MAJORITY, bootstrap=0)
    assert report.context is not None
    labels = report.context.reference_labels
    ids = report.context.judge_data.data.item_ids
    votes: dict[int, Counter[str]] = defaultdict(Counter)
    for v in verdicts:
        if v.kind == "human" and v.label is not None:
            votes[v.item][v.label] += 1
    for index, item in enumerate(ids):
        if item not in votes:
            assert labels[index] == -1
            continue
        top = max(votes[item].values())
        modes = {label for label, count in votes[item].items() if count == top}
        assert "ABT"[labels[index]] in modes
    again = judges_report(verdicts, reference=HUMAN_MAJORITY, bootstrap=0)
    assert again.context is not None and (again.context.reference_labels == labels).all()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=4), min_size=3, max_size=3))
def test_item_verdict_rule_is_consensus_majority(counts: list[int]) -> None:
    code = int(majority_codes(np.array(counts))[()])
    if sum(counts) == 0:
        assert code == 3
        return
    verdict = majority(0, 1, counts)
    assert code == (2 if verdict.tie else verdict.better)


def pair(item: int, judge: str, label: str | None, kind: str = "llm", shown: str | None = None, **extra) -> Verdict:
    return Verdict(item, f"p{item}", judge, kind, label, shown, **extra)  # type: ignore[arg-type]


def test_kappa_is_undefined_when_both_always_answer_a() -> None:
    verdicts = [pair(i, "gold", "A", "reference") for i in range(5)] + [pair(i, "llm", "A") for i in range(5)]
    row = judges_report(verdicts, reference="gold", bootstrap=10).row("llm").metrics
    assert row["cohen_kappa"].value is None
    assert "p_e = 1" in (row["cohen_kappa"].reason or "")
    assert row["accuracy"].value == 1.0


def test_order_metrics_are_undefined_without_both_orders_and_unparsed_counts_wrong() -> None:
    verdicts = [pair(i, "gold", "A", "reference") for i in range(4)]
    verdicts += [pair(0, "llm", None, shown="a"), pair(1, "llm", "A", shown="a"), pair(2, "llm", "A")]
    row = judges_report(verdicts, reference="gold", bootstrap=10).row("llm")
    metrics = row.metrics
    assert metrics["position_consistency"].value is None
    assert metrics["position_consistency"].reason == "no items judged in both orders"
    assert metrics["correct_both_orders"].value is None
    assert metrics["accuracy_both_orders"].value == 0.5  # the unparsed verdict is wrong, not dropped
    assert metrics["coverage"].value == 0.5  # item 0 unparsed, item 3 not judged
    assert row.left_out == {"no_verdict": 1, "unparsed": 1, "judge_tie": 0, "reference_tie": 0, "one_order_only": 2}
    assert metrics["score_accuracy"].value is None and metrics["score_accuracy"].reason


def test_inconsistent_orders_make_a_tie_and_break_consistency() -> None:
    verdicts = [pair(0, "gold", "A", "reference"), pair(0, "llm", "A", shown="a"), pair(0, "llm", "A", shown="b")]
    verdicts += [pair(1, "gold", "B", "reference"), pair(1, "llm", "A", shown="a"), pair(1, "llm", "B", shown="b")]
    row = judges_report(verdicts, reference="gold", bootstrap=0).row("llm").metrics
    assert row["position_consistency"].value == 0.5
    assert row["correct_both_orders"].value == 0.5
    assert row["accuracy_both_orders"].value == 0.75
    assert row["prefers_first"].value == 0.75  # A shown first, A; A first, A; a first, A; b first, B
    assert row["accuracy"].value == 1.0 and row["accuracy"].n == 1  # item 1 is a tie (inconsistent)
    assert row["agreement"].value == 0.5


def test_leave_one_out_ceiling_and_reference_by_hand() -> None:
    humans = {0: "AAAB", 1: "BBBA", 2: "AATT"}
    verdicts = [pair(i, f"h{k}", label, "human") for i, labels in humans.items() for k, label in enumerate(labels)]
    verdicts += [pair(i, "llm", "A") for i in humans]
    report = judges_report(verdicts, reference=HUMAN_LOO, bootstrap=0)
    ceiling = report.row(CEILING).metrics
    # item 0: three A voters see A, A, B -> A (right); the B voter sees A. item 1 likewise. item 2: the A voters see
    # A, T, T -> T (wrong), the T voters see A, A, T -> A (wrong).
    assert ceiling["agreement"].value == pytest.approx(6 / 12)
    assert ceiling["agreement"].n == 12
    llm = report.row("llm").metrics
    # the llm against each leave-one-out majority, 1/4 each: item 0 all A (1), item 1 all B (0), item 2 T,T,A,A (0.5)
    assert llm["agreement"].value == pytest.approx((1 + 0 + 0.5) / 3)
    assert llm["agreement"].n == 3


def test_baselines_and_reference_validation() -> None:
    verdicts = [pair(i, "gold", "A", "reference", length_a=100, length_b=10 * i) for i in range(11)]
    report = judges_report(verdicts, reference="gold", bootstrap=0)
    longer = report.row(BASELINE_LONGER).metrics
    assert longer["accuracy"].value == 1.0 and longer["accuracy"].n == 10  # the equal-length item gives a tie
    with pytest.raises(ValueError, match="unknown reference"):
        judges_report(verdicts, reference="nobody")


def test_bootstrap_is_seeded_and_paired() -> None:
    rng = np.random.default_rng(1)
    verdicts = [pair(i, "gold", "AB"[rng.integers(2)], "reference") for i in range(60)]
    verdicts += [pair(i, "x", "AB"[rng.integers(2)]) for i in range(60)]
    verdicts += [pair(i, "y", "AB"[rng.integers(2)]) for i in range(60)]
    first = judges_report(verdicts, reference="gold", seed=3)
    second = judges_report(verdicts, reference="gold", seed=3)
    assert first.row("x").metrics["accuracy"].to_dict() == second.row("x").metrics["accuracy"].to_dict()
    diff = first.difference("x", "y", "accuracy")
    x, y = first.row("x").metrics["accuracy"], first.row("y").metrics["accuracy"]
    assert diff.value == pytest.approx(x.value - y.value)  # type: ignore[operator]
    assert diff.samples is not None and np.allclose(diff.samples, x.samples - y.samples)  # type: ignore[operator]
    assert diff.low is not None and diff.high is not None and diff.low <= diff.value <= diff.high
    assert first.context is not None and (first.context.judge_data.resamples.weights.sum(axis=1) == 60).all()


def test_to_dict_has_the_documented_keys() -> None:
    verdicts = [pair(i, "gold", "A", "reference", shown="a") for i in range(3)] + [
        pair(i, "llm", "B") for i in range(3)
    ]
    out = judges_report(verdicts, reference="gold", bootstrap=10).to_dict()
    row = out["judges"][0]
    for key in (
        "name",
        "kind",
        "n",
        "coverage",
        "accuracy",
        "accuracy_both_orders",
        "correct_both_orders",
        "position_consistency",
        "prefers_first",
        "prefers_longer",
        "agreement",
        "cohen_kappa",
    ):
        assert key in row
    assert set(row["accuracy"]) == {"value", "interval", "n", "reason"}
    assert "matrix" in out and out["matrix"]["judges"] == ["llm"]


def test_package_imports_no_django() -> None:
    code = "import annotation.analysis.judges, sys; assert 'django' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
