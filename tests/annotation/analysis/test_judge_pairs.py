"""Judge against judge: each statistic equals the library that defines it (scikit-learn, statsmodels,
krippendorff, scipy) or FastChat's counting rule written out here."""

from __future__ import annotations

from itertools import combinations

import krippendorff
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import kendalltau
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from annotation.analysis.judge_data import JudgeData
from annotation.analysis.judge_pairs import (
    agreement_matrix,
    fleiss_kappa,
    kendall_tau_b,
    krippendorff_alpha,
    mcnemar,
    mtbench_agreement,
    mtbench_human_agreement,
)
from annotation.analysis.verdicts import Verdict

from .strategies import verdict_sets
from .test_judges import item_verdicts

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JUDGES = ["gold", "h1", "h2", "h3", "llm", "rm"]


def present(verdicts: list[Verdict]) -> list[str]:
    names = {v.judge for v in verdicts}
    return [name for name in JUDGES if name in names]


@PROPERTY
@given(verdict_sets())
def test_matrix_matches_sklearn_on_items_both_judged(verdicts: list[Verdict]) -> None:
    data = JudgeData.build(verdicts, bootstrap=10)
    names = present(verdicts)
    matrix = agreement_matrix(data, names)
    for (i, first), (j, second) in combinations(enumerate(names), 2):
        x, y = item_verdicts(verdicts, first), item_verdicts(verdicts, second)
        both = [k for k in x if x[k] is not None and y.get(k) is not None]
        cell = matrix.cells[i][j]
        assert cell is not None and cell.n == len(both) and matrix.cells[j][i] is cell
        if not both:
            assert cell.agreement.value is None
            continue
        assert abs(cell.agreement.value - np.mean([x[k] == y[k] for k in both])) < 1e-9  # type: ignore[operator]
        with np.errstate(invalid="ignore", divide="ignore"):
            expected = cohen_kappa_score([x[k] for k in both], [y[k] for k in both], labels=["A", "B", "T"])
        if np.isnan(expected):
            assert cell.cohen_kappa.value is None and cell.cohen_kappa.reason
        else:
            assert abs(cell.cohen_kappa.value - expected) < 1e-9  # type: ignore[operator]


@PROPERTY
@given(verdict_sets())
def test_fleiss_and_krippendorff_match_statsmodels_and_krippendorff(verdicts: list[Verdict]) -> None:
    data = JudgeData.build(verdicts, bootstrap=10)
    humans = [name for name in ("h1", "h2", "h3") if name in present(verdicts)]
    if len(humans) < 2:
        return
    labels = {name: item_verdicts(verdicts, name) for name in humans}
    items = sorted({v.item for v in verdicts})
    every = [k for k in items if all(labels[name].get(k) is not None for name in humans)]
    table = np.array([[sum(labels[name][k] == c for name in humans) for c in "ABT"] for k in every])
    fleiss = fleiss_kappa(data, humans)
    if every:
        with np.errstate(invalid="ignore", divide="ignore"):
            expected = sm_fleiss_kappa(table)
        assert fleiss.n == len(every)
        if np.isfinite(expected):
            assert abs(fleiss.value - expected) < 1e-9  # type: ignore[operator]
        else:
            assert fleiss.value is None and fleiss.reason
    else:
        assert fleiss.value is None and fleiss.reason
    number = {"A": 1.0, "T": 1.5, "B": 2.0}
    reliability = np.array([[number.get(labels[name].get(k) or "", np.nan) for k in items] for name in humans])
    alpha = krippendorff_alpha(data, humans)
    pairable = (~np.isnan(reliability)).sum(axis=0) >= 2
    values = np.unique(reliability[:, pairable][~np.isnan(reliability[:, pairable])])
    if pairable.any() and len(values) > 1:
        expected = krippendorff.alpha(
            reliability_data=reliability, value_domain=[1.0, 1.5, 2.0], level_of_measurement="ordinal"
        )
        assert abs(alpha.value - expected) < 1e-9  # type: ignore[operator]
        assert alpha.n == int(pairable.sum())
    else:
        assert alpha.value is None and alpha.reason


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=2, max_size=12))
def test_kendall_tau_b_matches_scipy(pairs: list[tuple[int, int]]) -> None:
    first, second = [p[0] for p in pairs], [p[1] for p in pairs]
    expected = kendalltau(first, second, variant="b").statistic
    value = kendall_tau_b(first, second)
    if np.isnan(expected):
        assert value is None
    else:
        assert value is not None and abs(value - expected) < 1e-12


@PROPERTY
@given(verdict_sets())
def test_mcnemar_matches_statsmodels_exact(verdicts: list[Verdict]) -> None:
    if not {"llm", "h1"} <= set(present(verdicts)):
        return
    data = JudgeData.build(verdicts, bootstrap=10)
    gold_of = item_verdicts(verdicts, "gold")
    reference = np.array([{"A": 0, "B": 1, "T": 2}.get(gold_of.get(i) or "", -1) for i in data.data.item_ids])
    result = mcnemar(data, "llm", "h1", reference)
    x, y = item_verdicts(verdicts, "llm"), item_verdicts(verdicts, "h1")
    items = [i for i, g in gold_of.items() if g in "AB" and x.get(i) in ("A", "B") and y.get(i) in ("A", "B")]
    table = np.zeros((2, 2))
    for i in items:
        table[int(x[i] != gold_of[i]), int(y[i] != gold_of[i])] += 1
    assert result.n == len(items) and (result.b, result.c) == (table[0, 1], table[1, 0])
    assert abs(result.p_value - sm_mcnemar(table, exact=True).pvalue) < 1e-12


def fastchat_agreement(votes: dict[int, dict[str, list[str]]], judge: str, ban: list[str]) -> tuple[int, int]:
    """compute_agreement.py's get_mt_bench_agreement, its rules written out: judge vs every human vote, or every
    unordered pair of human votes; a vote containing "tie" counts as a tie."""

    def convert(vote: str) -> str:
        return "tie" if "tie" in vote else vote

    def equal(first: str, second: str) -> bool:
        return ("tie" in first and "tie" in second) or first == second

    agree = total = 0
    for item in votes.values():
        if judge == "human":
            human = item.get("human", [])
            for i in range(len(human) - 1):
                for j in range(i + 1, len(human)):
                    if convert(human[i]) in ban or convert(human[j]) in ban:
                        continue
                    total += 1
                    agree += equal(human[i], human[j])
            continue
        if judge not in item or "human" not in item or convert(item[judge][0]) in ban:
            continue
        for vote in item["human"]:
            if convert(vote) in ban:
                continue
            total += 1
            agree += equal(item[judge][0], vote)
    return agree, total


@PROPERTY
@given(verdict_sets())
def test_mtbench_agreement_follows_fastchat(verdicts: list[Verdict]) -> None:
    data = JudgeData.build(verdicts, bootstrap=10)
    word = {"A": "model_a", "B": "model_b", "T": "tie"}
    votes: dict[int, dict[str, list[str]]] = {}
    for v in verdicts:
        if v.kind == "human" and v.label is not None:
            votes.setdefault(v.item, {}).setdefault("human", []).append(word[v.label])
    for item, label in item_verdicts(verdicts, "llm").items():
        if label is not None:
            votes.setdefault(item, {})["llm"] = [word[label]]
    for ties, ban in ((True, []), (False, ["tie"])):
        for judge in ("llm", "human"):
            agree, total = fastchat_agreement(votes, judge, ban)
            if judge == "llm":
                if "llm" not in present(verdicts):
                    continue
                result = mtbench_agreement(data, "llm", ties=ties)
            else:
                result = mtbench_human_agreement(data, ties=ties)
            assert result.n == total
            if total:
                assert abs(result.value - agree / total) < 1e-12  # type: ignore[operator]
            else:
                assert result.value is None and result.reason


@PROPERTY
@given(verdict_sets())
def test_per_category_agreement_is_the_statistic_on_that_category_alone(verdicts: list[Verdict]) -> None:
    """The report's category_agreement (matrix, Fleiss, Krippendorff) equals the same statistics computed on only
    that category's verdicts; intervals come from the report's own resamples restricted to the category's prompts."""
    from annotation.analysis.judges import judges_report

    report = judges_report(verdicts, reference="gold", bootstrap=20)
    names = report.matrix.judges
    for category, part in report.category_agreement.items():
        alone = JudgeData.build([v for v in verdicts if v.category == category], bootstrap=0)
        here = [name for name in names if name in alone.data.judges]
        expected = agreement_matrix(alone, here)
        for a, b in combinations(here, 2):
            got = part.matrix.cells[names.index(a)][names.index(b)]
            want = expected.cells[here.index(a)][here.index(b)]
            assert got is not None and want is not None
            assert got.n == want.n
            if want.agreement.value is None:
                assert got.agreement.value is None
            else:
                assert abs(got.agreement.value - want.agreement.value) < 1e-9  # type: ignore[operator]
            if got.agreement.low is not None and got.agreement.high is not None:
                assert got.agreement.low <= got.agreement.high
        if here == names and len(names) >= 2:  # the report's Fleiss and α are over every judge it shows
            for ours, theirs in (
                (part.fleiss_kappa, fleiss_kappa(alone, names)),
                (part.krippendorff_alpha, krippendorff_alpha(alone, names)),
            ):
                assert (ours.n, ours.value is None) == (theirs.n, theirs.value is None)
                if ours.value is not None:
                    assert abs(ours.value - theirs.value) < 1e-9  # type: ignore[operator]
    assert set(report.to_dict()["category_agreement"]) == set(report.category_agreement)
