"""Judges on lists: mean Kendall τ-b between two judges' orderings equals scipy's per list, averaged; Krippendorff's α
equals the krippendorff package on the same ranks; undefined numbers carry a reason."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest
from scipy.stats import kendalltau

from annotation.analysis.lists import ListVerdict, lists_report


def _verdicts(seed: int = 0) -> list[ListVerdict]:
    rng = np.random.default_rng(seed)
    out = []
    for item in range(30):
        base = rng.permutation(4)
        for judge, noise in (("a", 0), ("b", 1), ("c", 3)):
            ranks = base + rng.integers(0, noise + 1, 4) if noise else base
            out.append(ListVerdict(item, f"p{item // 2}", judge, {100 * item + r: int(ranks[r]) + 1 for r in range(4)}))
    return out


def test_tau_b_and_alpha_equal_scipy_and_krippendorff() -> None:
    verdicts = _verdicts()
    report = lists_report(verdicts, resamples=200)
    index = {name: i for i, name in enumerate(report.judges)}
    by = {(v.item, v.judge): v for v in verdicts}
    taus = []
    for item in range(30):
        a, b = by[(item, "a")].ranks, by[(item, "b")].ranks
        keys = sorted(a)
        tau = kendalltau([a[k] for k in keys], [b[k] for k in keys], variant="b").statistic
        if not np.isnan(tau):
            taus.append(tau)
    cell = report.tau_b[index["a"]][index["b"]]
    assert cell.n == len(taus) and cell.value == pytest.approx(np.mean(taus))
    assert cell.low <= cell.value <= cell.high
    data = np.array([[by[(item, j)].ranks[100 * item + r] for item in range(30) for r in range(4)] for j in "abc"])
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal")
    assert report.alpha.value == pytest.approx(expected)
    assert report.tau_b[0][0] is None


def test_a_judge_with_no_shared_list_has_a_reason_not_a_number() -> None:
    verdicts = [ListVerdict(1, "p", "a", {1: 1, 2: 2, 3: 3}), ListVerdict(2, "q", "b", {4: 1, 5: 2, 6: 3})]
    report = lists_report(verdicts, resamples=50)
    assert report.tau_b[0][1].value is None and report.tau_b[0][1].reason
    assert report.alpha.value is None and report.alpha.reason
