"""Generator statistics under each judge: win rates against a direct formula, BT ratings against an independent
maximum-likelihood fit, the rank-with-CI rule, leaderboard agreement against scipy, and MT-Bench's real votes."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats
from scipy.special import expit, log_expit

from annotation.analysis import bradley_terry as bt_module
from annotation.analysis import generators
from annotation.analysis.bradley_terry import FASTCHAT_ANCHOR, bt_ratings, leaderboard_agreement, rank_with_ci
from annotation.analysis.consensus import bradley_terry
from annotation.analysis.generators import (
    generator_report,
    generator_reports_by_category,
    self_preference_gaps,
    win_rates,
)
from annotation.analysis.verdict_table import VerdictTable
from annotation.analysis.verdicts import Verdict

GENERATORS = ["alpha", "beta", "gamma", "delta", "epsilon"]
MTBENCH_ORDER = ["gpt-4", "claude-v1", "gpt-3.5-turbo", "vicuna-13b-v1.2", "alpaca-13b", "llama-13b"]


def random_verdicts(seed: int, n: int = 400, judges: tuple[str, ...] = ("j1", "j2"), soft: float = 0.0) -> list:
    """Verdicts of several judges on the same random comparisons of five generators with known strengths."""
    rng = np.random.default_rng(seed)
    strength = dict(zip(GENERATORS, np.linspace(-1, 1, len(GENERATORS)), strict=True))
    comparisons = []
    for item in range(n):
        a, b = rng.choice(GENERATORS, size=2, replace=False)
        comparisons.append((item, f"q{rng.integers(0, n // 4)}", str(a), str(b), ["x", "y"][item % 2]))
    verdicts = []
    for judge in judges:
        for item, prompt, a, b, category in comparisons:
            p = float(expit(strength[a] - strength[b]))
            u = rng.random()
            label = None if u < 0.05 else ("T" if u < 0.2 else ("A" if rng.random() < p else "B"))
            p_a = round(p + rng.normal(0, 0.1), 3) if rng.random() < soft else None
            verdicts.append(Verdict(item, prompt, judge, "llm", label, None, category, a, b, p_a=p_a))
    return verdicts


def direct_win_rate(verdicts: list, judge: str, baseline: str, generator: str, soft: bool = True) -> tuple:
    scores = []
    for v in verdicts:
        if v.judge != judge or {v.generator_a, v.generator_b} != {generator, baseline}:
            continue
        if soft and v.p_a is not None:
            score_a = v.p_a
        elif v.label is None:
            continue
        else:
            score_a = {"A": 1.0, "T": 0.5, "B": 0.0}[v.label]
        scores.append(score_a if v.generator_a == generator else 1 - score_a)
    return 100 * sum(scores) / len(scores), len(scores)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), soft=st.sampled_from([0.0, 0.5]))
def test_win_rate_is_the_mean_score_against_the_baseline(seed: int, soft: float) -> None:
    verdicts = random_verdicts(seed, n=120, soft=soft)
    result = win_rates(verdicts, baseline="gamma", judge="j1", resamples=50)
    assert set(result.rates) == {"alpha", "beta", "delta", "epsilon"}
    for generator, estimate in result.rates.items():
        value, n = direct_win_rate(verdicts, "j1", "gamma", generator)
        assert estimate.value == pytest.approx(value)
        assert estimate.n == n
        assert estimate.interval[0] <= estimate.interval[1]
    missing = sum(
        v.judge == "j1" and "gamma" in (v.generator_a, v.generator_b) and v.label is None and v.p_a is None
        for v in verdicts
    )
    assert result.left_out == {"no_verdict": missing}


def test_soft_preference_replaces_the_label_unless_asked_for_labels() -> None:
    verdicts = [
        Verdict(1, "q1", "j", "llm", "A", generator_a="base", generator_b="m", p_a=0.7),  # m: 0.3 soft, 0 hard
        Verdict(2, "q2", "j", "llm", "T", generator_a="m", generator_b="base", p_a=0.9),  # m: 0.9 soft, 0.5 hard
        Verdict(3, "q3", "j", "llm", None, generator_a="m", generator_b="base"),  # left out
    ]
    assert win_rates(verdicts, baseline="base", judge="j").rates["m"].value == pytest.approx(60.0)
    hard = win_rates(verdicts, baseline="base", judge="j", soft=False)
    assert hard.rates["m"].value == pytest.approx(25.0)
    assert hard.rates["m"].n == 2
    assert hard.left_out == {"no_verdict": 1}


def test_win_rate_interval_is_the_prompt_bootstrap_of_the_ratio() -> None:
    """A slow bootstrap over prompts with the same seeded draws gives the same percentiles."""
    verdicts = random_verdicts(3, n=200)
    result = win_rates(verdicts, baseline="alpha", judge="j2", resamples=120, seed=7)
    prompts = sorted({v.prompt for v in verdicts})
    rng, draws = np.random.default_rng(7), []
    for start in range(0, 120, generators._CHUNK):
        draws += list(rng.integers(0, len(prompts), size=(min(generators._CHUNK, 120 - start), len(prompts))))
    for generator in ("beta", "epsilon"):
        per_prompt: dict[str, list[float]] = {}
        for v in verdicts:
            if v.judge == "j2" and {v.generator_a, v.generator_b} == {"alpha", generator} and v.label:
                score_a = {"A": 1.0, "T": 0.5, "B": 0.0}[v.label]
                per_prompt.setdefault(v.prompt, []).append(score_a if v.generator_a == generator else 1 - score_a)
        boot = []
        for draw in draws:
            scores = [s for i in draw for s in per_prompt.get(prompts[i], [])]
            boot.append(100 * sum(scores) / len(scores))
        expected = np.percentile(boot, [2.5, 97.5])
        assert result.rates[generator].interval == pytest.approx(tuple(expected))


def independent_bt(verdicts: list, judge: str) -> dict[str, float]:
    """Maximum likelihood over the raw battles with scipy (ties: half a win each way), on the Elo scale."""
    names = sorted({g for v in verdicts for g in (v.generator_a, v.generator_b)})
    index = {name: i for i, name in enumerate(names)}
    rows = [(index[v.generator_a], index[v.generator_b], {"A": 1.0, "T": 0.5, "B": 0.0}[v.label])
            for v in verdicts if v.judge == judge and v.label is not None]  # fmt: skip
    a, b, y = (np.array(column) for column in zip(*rows, strict=True))

    def loss(theta: np.ndarray) -> float:
        d = theta[a] - theta[b]
        return -float(np.sum(y * log_expit(d) + (1 - y) * log_expit(-d)))

    theta = optimize.minimize(loss, np.zeros(len(names)), method="BFGS", options={"gtol": 1e-10}).x
    ratings = 400 / math.log(10) * (theta - theta.mean()) + 1000
    return dict(zip(names, ratings, strict=True))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bt_ratings_match_an_independent_maximum_likelihood_fit(seed: int) -> None:
    verdicts = random_verdicts(seed, n=600)
    result = bt_ratings(verdicts, judge="j1", resamples=200)
    expected = independent_bt(verdicts, "j1")
    assert result.values() == pytest.approx(expected, abs=0.05)
    assert np.mean(list(result.values().values())) == pytest.approx(1000.0)
    assert list(result.ratings) == sorted(expected, key=lambda m: -expected[m])  # best first
    assert result.battles == sum(v.judge == "j1" and v.label is not None for v in verdicts)
    for name, rating in result.ratings.items():
        assert rating.interval[0] < rating.value < rating.interval[1]
        battles = [v for v in verdicts if v.judge == "j1" and v.label is not None]
        assert rating.n == sum(name in (v.generator_a, v.generator_b) for v in battles)
    assert result.warning is None


def test_bootstrap_fits_are_the_same_likelihood_as_logistic_regression() -> None:
    """Batched Newton (the bootstrap) and FastChat's LogisticRegression (the point) agree, resample by resample;
    consensus' MM fit without pseudo-counts agrees too."""
    table = VerdictTable.from_verdicts(random_verdicts(5, n=500))
    usable = ~np.isnan(table.outcome) & (table.judge == 0)
    cells, counts = bt_module.battle_counts(
        table.generator_a[usable], table.generator_b[usable], table.outcome[usable], len(table.generators)
    )
    draws = np.random.default_rng(0).multinomial(counts.sum(), counts / counts.sum(), size=5)
    wins = bt_module.win_matrix(cells, draws, len(table.generators))
    newton = bt_module.fit_bt_newton(wins)
    for k in range(5):
        assert newton[k] == pytest.approx(bt_module.fit_bt_logistic(wins[k]), abs=0.01)
        mm = bradley_terry(len(table.generators), wins[k], prior=0.0, tol=1e-12)
        assert newton[k] == pytest.approx(400 / math.log(10) * mm + 1000, abs=0.01)


def test_a_generator_that_never_loses_stops_the_fit_early_and_leaves_the_others_exact() -> None:
    """Its rating has no finite maximum: the fit stops once the likelihood is flat (not after max_iter steps of
    drifting), ranks it first, and the other generators' ratings are the fit of their own battles; a graph in two
    pieces solves too (the ridge), each piece centred by the common mean."""
    wins = np.zeros((2, 4, 4))
    wins[:, 0, 1], wins[:, 0, 2] = 6, 4  # generator 0 beats 1 and 2 every time
    wins[:, 1, 2], wins[:, 2, 1] = 7, 3
    wins[1, 3, 1], wins[1, 1, 3] = 2, 2  # resample 1: a fourth generator, even with 1
    calls: list[int] = []
    real_solve = np.linalg.solve

    def counting_solve(a, b):  # noqa: ANN001, ANN202
        calls.append(len(a))
        return real_solve(a, b)

    np.linalg.solve = counting_solve
    try:
        ratings = bt_module.fit_bt_newton(wins, max_iter=100)
    finally:
        np.linalg.solve = real_solve
    assert len(calls) < 30
    assert np.all(ratings[:, 0] > ratings[:, 1:3].max(axis=1) + 1000)
    gap = 400 / math.log(10) * math.log(7 / 3)  # 1 against 2 alone: their own likelihood's maximum
    assert ratings[0, 1] - ratings[0, 2] == pytest.approx(gap, abs=1e-3)
    assert ratings[1, 1] - ratings[1, 3] == pytest.approx(0.0, abs=1e-3)
    assert np.isnan(ratings[0, 3])
    pieces = np.zeros((1, 4, 4))
    pieces[0, 0, 1], pieces[0, 1, 0], pieces[0, 2, 3], pieces[0, 3, 2] = 3, 1, 1, 1
    split = bt_module.fit_bt_newton(pieces)
    assert split[0, 0] - split[0, 1] == pytest.approx(400 / math.log(10) * math.log(3), abs=1e-3)
    assert split[0, 2] == pytest.approx(split[0, 3], abs=1e-6)
    assert np.nanmean(split) == pytest.approx(1000.0)


def test_bt_anchor_follows_fastchat_and_can_be_turned_off() -> None:
    verdicts = [
        Verdict(i, f"q{i}", "j", "llm", label, generator_a=a, generator_b=b)
        for i, (a, b, label) in enumerate(
            [("mixtral-8x7b-instruct-v0.1", "x", "A"), ("mixtral-8x7b-instruct-v0.1", "x", "B")] * 3
            + [("x", "y", "A"), ("x", "y", "T"), ("x", "y", "B"), ("mixtral-8x7b-instruct-v0.1", "y", "A")]
            + [("mixtral-8x7b-instruct-v0.1", "y", "B")]
        )
    ]
    anchored = bt_ratings(verdicts, judge="j", resamples=50)
    assert anchored.ratings[FASTCHAT_ANCHOR[0]].value == pytest.approx(1114.0)
    assert np.allclose(anchored.samples[:, list(anchored.ratings).index(FASTCHAT_ANCHOR[0])], 1114.0)
    free = bt_ratings(verdicts, judge="j", anchor=None, resamples=50)
    assert np.mean(list(free.values().values())) == pytest.approx(1000.0)
    shift = 1114.0 - free.ratings[FASTCHAT_ANCHOR[0]].value
    assert anchored.values() == pytest.approx({m: r + shift for m, r in free.values().items()}, abs=1e-6)


def test_bt_leaves_out_and_counts_rows_that_are_no_battle() -> None:
    verdicts = [
        Verdict(1, "q", "j", "llm", "A", generator_a="x", generator_b="y"),
        Verdict(2, "q", "j", "llm", "B", generator_a="x", generator_b="y"),
        Verdict(3, "q", "j", "llm", None, generator_a="x", generator_b="y"),
        Verdict(4, "q", "j", "llm", "A", generator_a="x", generator_b="x"),
        Verdict(5, "q", "j", "llm", "A", generator_a="x", generator_b=""),
    ]
    result = bt_ratings(verdicts, judge="j", resamples=20)
    assert result.battles == 2
    assert result.left_out == {"no_verdict": 1, "same_generator": 1, "unknown_generator": 1}
    assert result.values() == pytest.approx({"x": 1000.0, "y": 1000.0})


def test_a_generator_that_never_loses_gets_a_warning() -> None:
    verdicts = [Verdict(i, "q", "j", "llm", "A", generator_a="x", generator_b="y") for i in range(5)]
    verdicts += [Verdict(9, "q", "j", "llm", "T", generator_a="y", generator_b="z")]
    assert "never lost" in bt_ratings(verdicts, judge="j", resamples=20).warning


def test_rank_with_ci_on_a_hand_made_case() -> None:
    # a [10, 12]; b [9, 11] overlaps a; c [5, 8] below both; d [7, 9.5] overlaps b and c but sits under a
    lower, upper = np.array([10, 9, 5, 7]), np.array([12, 11, 8, 9.5])
    rank, worst = rank_with_ci(lower, upper)
    assert rank.tolist() == [1, 1, 3, 2]  # c: a and b certainly above; d: only a (10 > 9.5)
    assert worst.tolist() == [2, 3, 4, 4]  # a: c and d certainly below; b: c below; c, d: none certainly below


def test_leaderboard_agreement_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    for n in (4, 12):
        names = [f"m{i}" for i in range(n)]
        one = dict(zip(names, rng.normal(1000, 100, n), strict=True))
        two = {m: r + rng.normal(0, 80) for m, r in one.items()}
        two["only-here"] = 1.0
        result = leaderboard_agreement(one, two)
        x, y = [one[m] for m in names], [two[m] for m in names]
        assert result.generators == n
        assert result.spearman == pytest.approx(stats.spearmanr(x, y).statistic)
        assert result.kendall == pytest.approx(stats.kendalltau(x, y).statistic)
        same = [(one[a] - one[b]) * (two[a] - two[b]) > 0 for i, a in enumerate(names) for b in names[i + 1 :]]
        assert result.same_order == pytest.approx(np.mean(same))
        # with no tied ratings, the share ordered alike is (1 + tau) / 2
        assert result.same_order == pytest.approx((1 + result.kendall) / 2)
        assert result.pairs == n * (n - 1) // 2
        assert (result.warning is not None) == (n < 10)


def test_leaderboard_agreement_intervals_are_the_statistic_per_resample() -> None:
    """Each interval is the 2.5/97.5 percentile of scipy's statistic on resample b of both judges' BT samples."""
    verdicts = random_verdicts(5, n=600, judges=("ref", "other"))
    one = bt_ratings(verdicts, judge="ref", resamples=200)
    two = bt_ratings(verdicts, judge="other", resamples=200)
    result = leaderboard_agreement(one, two)
    names = sorted(one.ratings)
    x = one.samples[:, [list(one.ratings).index(m) for m in names]]
    y = two.samples[:, [list(two.ratings).index(m) for m in names]]
    spearman = [stats.spearmanr(a, b).statistic for a, b in zip(x, y, strict=True)]
    kendall = [stats.kendalltau(a, b).statistic for a, b in zip(x, y, strict=True)]
    assert result.spearman_interval == pytest.approx(tuple(np.percentile(spearman, [2.5, 97.5])))
    assert result.kendall_interval == pytest.approx(tuple(np.percentile(kendall, [2.5, 97.5])))
    low, high = result.same_order_interval
    assert 0 <= low <= high <= 1
    assert result.to_dict()["kendall_interval"] == list(result.kendall_interval)
    # plain mappings carry no resamples: values only
    assert leaderboard_agreement(one.values(), two.values()).spearman_interval is None


def test_self_preference_gap_is_paired() -> None:
    """A judge that copies the reference has a gap of exactly 0 in every resample; one that favours a generator
    shows the shift, with an interval from the same resamples."""
    verdicts = random_verdicts(11, n=400, judges=("ref",))
    copy = [Verdict(v.item, v.prompt, "copy", "llm", v.label, None, v.category, v.generator_a, v.generator_b)
            for v in verdicts]  # fmt: skip
    biased = [
        Verdict(v.item, v.prompt, "biased", "llm", ("A" if v.generator_a == "delta" else "B")
                if "delta" in (v.generator_a, v.generator_b) else v.label, None, v.category,
                v.generator_a, v.generator_b)
        for v in verdicts
    ]  # fmt: skip
    everything = verdicts + copy + biased
    same = self_preference_gaps(everything, judge="copy", reference="ref", baseline="alpha", resamples=100)
    for gap in same.values():
        assert gap.value == 0.0 and gap.interval == (0.0, 0.0)
    gaps = self_preference_gaps(everything, judge="biased", reference="ref", baseline="alpha", resamples=200)
    judge_rate, _ = direct_win_rate(everything, "biased", "alpha", "delta")
    reference_rate, n = direct_win_rate(everything, "ref", "alpha", "delta")
    assert gaps["delta"].judge_value == pytest.approx(100.0) == judge_rate
    assert gaps["delta"].value == pytest.approx(judge_rate - reference_rate)
    assert gaps["delta"].interval[0] > 0 and gaps["delta"].n == n
    assert gaps["beta"].value == 0.0  # no delta in those comparisons


def test_report_is_the_single_functions_and_serialises() -> None:
    verdicts = random_verdicts(8, n=300, judges=("ref", "j1", "j2"))
    report = generator_report(verdicts, baseline="beta", reference="ref", resamples=100)
    assert report.win_rates["j1"] == win_rates(verdicts, baseline="beta", judge="j1", resamples=100)
    assert report.ratings["j2"] == bt_ratings(verdicts, judge="j2", resamples=100)
    assert report.gaps["j1"] == self_preference_gaps(
        verdicts, judge="j1", reference="ref", baseline="beta", resamples=100
    )
    data = json.loads(json.dumps(report.to_dict()))
    cell = data["generators"]["delta"]["j1"]
    assert set(cell["win_rate"]) == set(cell["bt_rating"]) == {"value", "interval", "n"}
    assert cell["rank"] == report.ratings["j1"].ratings["delta"].rank and len(cell["rank_interval"]) == 2
    assert data["generators"]["beta"]["j1"]["win_rate"] is None  # the baseline has no win rate against itself
    assert data["judges"]["j1"]["agreement_with_reference"]["warning"].startswith("only 5 generators")
    # the order of the verdicts changes nothing
    shuffled = generator_report(verdicts[::-1], baseline="beta", reference="ref", resamples=100)
    assert shuffled.to_dict() == report.to_dict()


def test_per_category_is_the_report_on_that_category_alone() -> None:
    verdicts = random_verdicts(9, n=300)
    by_category = generator_reports_by_category(verdicts, baseline="alpha", resamples=60)
    assert set(by_category) == {"x", "y"}
    alone = generator_report([v for v in verdicts if v.category == "y"], baseline="alpha", resamples=60)
    assert by_category["y"].to_dict() == alone.to_dict() | {"category": "y"}
    assert win_rates(verdicts, baseline="alpha", judge="j1", category="y", resamples=60).rates == (
        alone.win_rates["j1"].rates
    )


def test_module_imports_no_django() -> None:
    code = "import sys, annotation.analysis.generators; assert not any(m.startswith('django') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[3])


# ---- MT-Bench: GPT-4 pair verdicts and expert votes -------------------------------------------------------------

LABEL = {"model_a": "A", "model_b": "B", "tie": "T", "tie (inconsistent)": "T"}  # an order flip counts as a tie


def mtbench_verdicts(shared_data: Path) -> list[Verdict]:
    folder = shared_data / "mtbench_human_partial"
    items: dict[tuple, int] = {}
    verdicts = []
    sources = (("gpt4_pair_verdicts", "gpt-4-pair", "gpt4_winner", "llm"), ("human_votes", "human", "winner", "human"))
    for name, judge, column, kind in sources:
        for line in (folder / f"{name}.jsonl").read_text().splitlines():
            row = json.loads(line)
            key = (row["question_id"], row["turn"], row["model_a"], row["model_b"])
            item = items.setdefault(key, len(items))
            verdicts.append(
                Verdict(item, str(row["question_id"]), judge, kind, LABEL[row[column]], None, row["category"],
                        row["model_a"], row["model_b"])
            )  # fmt: skip
    return verdicts


def test_mtbench_leaderboards_under_gpt4_and_humans(shared_data: Path) -> None:
    """Both judges order the six models as the MT-Bench paper does (GPT-4 > Claude-v1 > GPT-3.5 > Vicuna-13B >
    Alpaca-13B > LLaMA-13B); GPT-4 separates all six with its intervals, the experts cannot split Claude-v1 from
    GPT-3.5, and GPT-4 rates the strong models higher than the experts do."""
    report = generator_report(mtbench_verdicts(shared_data), baseline="gpt-3.5-turbo", reference="human")
    gpt4, human = report.ratings["gpt-4-pair"], report.ratings["human"]
    assert (gpt4.battles, human.battles) == (1240, 1751)
    assert list(gpt4.ratings) == list(human.ratings) == MTBENCH_ORDER
    assert [r.rank for r in gpt4.ratings.values()] == [1, 2, 3, 4, 5, 6]
    assert [r.rank for r in human.ratings.values()] == [1, 2, 2, 4, 5, 6]
    assert round(gpt4.ratings["gpt-4"].value) == 1317 and round(human.ratings["gpt-4"].value) == 1182
    agreement = report.agreement["gpt-4-pair"]
    assert (agreement.spearman, agreement.same_order) == (pytest.approx(1.0), 1.0)
    assert agreement.spearman_interval[0] < 1.0 <= agreement.spearman_interval[1] + 1e-12
    assert agreement.warning is not None  # six generators
    rates = report.win_rates["gpt-4-pair"].rates
    assert [round(rates[m].value, 1) for m in MTBENCH_ORDER if m != "gpt-3.5-turbo"] == [80.9, 66.7, 34.4, 13.7, 5.6]
    assert report.gaps["gpt-4-pair"]["gpt-4"].interval[0] > 0  # GPT-4 as a judge favours GPT-4 over the experts


def test_a_pool_is_one_more_judge_with_every_members_verdict() -> None:
    table = VerdictTable.from_verdicts(random_verdicts(3, n=200, judges=("h1", "h2", "llm")))
    pooled = table.with_pool(["h1", "h2"], "humans")
    assert pooled.judges == (*table.judges, "humans")
    members = np.isin(table.judge, [table.judges.index("h1"), table.judges.index("h2")])
    mine = pooled.judge == len(table.judges)
    assert mine.sum() == members.sum()
    assert np.array_equal(pooled.generator_a[mine], table.generator_a[members])
    assert np.array_equal(pooled.outcome[mine], table.outcome[members], equal_nan=True)
    assert table.with_pool(["nobody"], "humans") is table
