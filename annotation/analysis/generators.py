"""Statistics of the generators (the models that wrote the responses) under each judge, as JUDGING.md "Generators"
defines them. numpy, scipy and scikit-learn; no Django.

- **Win rate** against a baseline generator (AlpacaEval's length-uncontrolled `win_rate`): over a generator's
  comparisons with the baseline, the mean of 1 (it wins), 0.5 (tie), 0 (it loses), x100. A soft preference `p_a`
  is AlpacaEval's continuous preference (p = 1 + P(generator better) contributes p - 1) and replaces the label when
  given (`soft=False` uses labels only). Rows without a verdict are left out and counted.
- **Bradley-Terry ratings** (FastChat `compute_mle_elo`): each usable label is a battle, a tie half a win each way;
  scikit-learn LogisticRegression without penalty or intercept on log(10)-scaled indicators, rating = 400 * coef +
  1000 (the coefficients sum to zero, so the mean rating is 1000), then shifted so that FastChat's anchor
  (mixtral-8x7b-instruct-v0.1 = 1114) holds when that generator is rated. Soft preferences are not used here.
- Intervals: percentile (2.5, 97.5) bootstraps with a fixed seed. Win rates resample the prompts of the verdicts
  passed in (every judge of one call shares the resamples, so differences are paired); BT resamples battles as
  FastChat does, drawn as multinomial counts of the distinct (generator pair, outcome) cells, and each resample is
  fitted by batched Newton steps on the same likelihood (a thousand LogisticRegression fits per judge would take
  minutes; the tests check both fits agree).
- **Rank with CI** (FastChat): rank(m) = 1 + #{m' : lower(m') > upper(m)}; its interval runs to the worst rank the
  intervals allow, N - #{m' : upper(m') < lower(m)}.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from annotation.analysis.bradley_terry import (
    FASTCHAT_ANCHOR,
    RESAMPLES,
    SEED,
    BTRatings,
    LeaderboardAgreement,
    _bt_ratings,
    _finite,
    leaderboard_agreement,
)
from annotation.analysis.verdict_table import VerdictTable, name_code, verdict_table
from annotation.analysis.verdicts import Verdict, VerdictColumns

_CHUNK = 50  # prompt resamples drawn at a time; fixed, since the draws depend on it


@dataclass(frozen=True)
class Estimate:
    value: float | None
    interval: tuple[float, float] | None
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "interval": None if self.interval is None else list(self.interval), "n": self.n}


def _estimate(value: float, samples: np.ndarray, n: int) -> Estimate:
    finite = samples[np.isfinite(samples)]
    if n == 0 or not math.isfinite(value) or finite.size == 0:
        return Estimate(None, None, n)
    low, high = np.percentile(finite, [2.5, 97.5])
    return Estimate(float(value), (float(low), float(high)), n)


# ---- win rates against a baseline -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WinRates:
    judge: str
    baseline: str
    category: str | None
    rates: dict[str, Estimate]  # generator -> win rate x100 against the baseline
    left_out: dict[str, int]  # {"no_verdict": comparisons with the baseline the judge gave no verdict on}


@dataclass(frozen=True)
class Gap:
    """A judge's win rate minus the reference's, on the comparisons both gave a verdict on (n: the judge's verdicts
    there); judge_value and reference_value are the two win rates on those comparisons."""

    value: float | None
    interval: tuple[float, float] | None
    n: int
    judge_value: float | None
    reference_value: float | None

    def to_dict(self) -> dict[str, Any]:
        estimate = Estimate(self.value, self.interval, self.n).to_dict()
        return estimate | {"judge_value": self.judge_value, "reference_value": self.reference_value}


def _against_baseline(table: VerdictTable, baseline: str, soft: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows comparing a generator with the baseline, the other generator, its score: NaN without a verdict)."""
    if baseline not in table.generators:
        raise ValueError(f"the baseline generator {baseline!r} wrote none of these responses")
    code = table.generators.index(baseline)
    a_is, b_is = table.generator_a == code, table.generator_b == code
    s_a = np.where(np.isnan(table.p_a), table.outcome, table.p_a) if soft else table.outcome
    other = np.where(a_is, table.generator_b, table.generator_a)
    return a_is ^ b_is, other, np.where(a_is, 1.0 - s_a, s_a)


def _prompt_bootstrap(
    table: VerdictTable, blocks: Sequence[np.ndarray], other: np.ndarray, score: np.ndarray, resamples: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each block of rows (an index array): per generator, (win rate on all rows (G,), on each resample of the
    prompts (resamples, G)). All blocks read the same resamples (paired differences)."""
    g, p = len(table.generators), len(table.prompts)
    if not blocks:
        return []
    if p == 0:
        return [(np.full(g, np.nan), np.full((resamples, g), np.nan)) for _ in blocks]
    cols = np.concatenate(
        [np.concatenate([b * 2 * g + other[r], b * 2 * g + g + other[r]]) for b, r in enumerate(blocks)]
    )
    data = np.concatenate([np.concatenate([score[r], np.ones(len(r))]) for r in blocks])
    prompt = np.concatenate([np.tile(table.prompt[r], 2) for r in blocks])
    totals = sparse.csr_matrix((data, (prompt, cols)), shape=(p, 2 * g * len(blocks)))
    full = np.asarray(totals.sum(axis=0)).ravel()
    boot = np.empty((resamples, totals.shape[1]))
    rng, transposed = np.random.default_rng(seed), totals.T.tocsr()
    for start in range(0, resamples, _CHUNK):
        c = min(_CHUNK, resamples - start)
        draws = rng.integers(0, p, size=(c, p)) + p * np.arange(c)[:, None]
        weights = np.bincount(draws.ravel(), minlength=c * p).reshape(c, p).T.astype(float)  # (P, c)
        boot[start : start + c] = (transposed @ weights).T
    with np.errstate(invalid="ignore", divide="ignore"):
        return [
            (100 * full[s : s + g] / full[s + g : s + 2 * g], 100 * boot[:, s : s + g] / boot[:, s + g : s + 2 * g])
            for s in range(0, 2 * g * len(blocks), 2 * g)
        ]


def _rate_estimates(
    table: VerdictTable, rates: tuple[np.ndarray, np.ndarray], counts: np.ndarray, baseline: str
) -> dict[str, Estimate]:
    full, boot = rates
    return {
        name: _estimate(full[i], boot[:, i], int(counts[i]))
        for i, name in enumerate(table.generators)
        if counts[i] and name not in (baseline, "")
    }


def win_rates(
    verdicts: Iterable[Verdict] | VerdictColumns | VerdictTable,
    *,
    baseline: str,
    judge: str,
    category: str | None = None,
    soft: bool = True,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> WinRates:
    """Per generator, its win rate x100 against `baseline` under `judge`, n and a 95% prompt-bootstrap interval."""
    table = verdict_table(verdicts, category)
    return _baseline_statistics(table, baseline, category, soft, resamples, seed, judges=[judge])[0][judge]


def _baseline_statistics(
    table: VerdictTable,
    baseline: str,
    category: str | None,
    soft: bool,
    resamples: int,
    seed: int,
    judges: Sequence[str] = (),
    gaps_of: Sequence[str] = (),
    reference: str = "",
) -> tuple[dict[str, WinRates], dict[str, dict[str, Gap]]]:
    """Win rates of `judges` and gaps of `gaps_of` against `reference`, from one pass over the prompt resamples."""
    rows, other, score = _against_baseline(table, baseline, soft)
    usable = rows & ~np.isnan(score)
    mine = {
        j: np.flatnonzero(rows & (table.judge == name_code(table.judges, j))) for j in {*judges, *gaps_of, reference}
    }
    blocks = [mine[j][usable[mine[j]]] for j in judges]
    reference_rows = mine[reference][usable[mine[reference]]]
    for judge in gaps_of:
        judge_rows = mine[judge][usable[mine[judge]]]
        common = np.intersect1d(table.item[judge_rows], table.item[reference_rows])
        blocks += [judge_rows[np.isin(table.item[judge_rows], common)]]
        blocks += [reference_rows[np.isin(table.item[reference_rows], common)]]
    results = _prompt_bootstrap(table, blocks, other, score, resamples, seed)
    rates = {}
    for judge, block, result in zip(judges, blocks, results, strict=False):
        counts = np.bincount(other[block], minlength=len(table.generators))
        left_out = {"no_verdict": int(np.sum(~usable[mine[judge]]))}
        rates[judge] = WinRates(judge, baseline, category, _rate_estimates(table, result, counts, baseline), left_out)
    gaps: dict[str, dict[str, Gap]] = {}
    for k, judge in enumerate(gaps_of):
        (judge_full, judge_boot), (ref_full, ref_boot) = results[len(judges) + 2 * k : len(judges) + 2 * k + 2]
        counts = np.bincount(other[blocks[len(judges) + 2 * k]], minlength=len(table.generators))
        diff = _rate_estimates(table, (judge_full - ref_full, judge_boot - ref_boot), counts, baseline)
        gaps[judge] = {
            name: Gap(e.value, e.interval, e.n, _finite(judge_full[i]), _finite(ref_full[i]))
            for name, e in diff.items()
            for i in [table.generators.index(name)]
        }
    return rates, gaps


def self_preference_gaps(
    verdicts: Iterable[Verdict] | VerdictColumns | VerdictTable,
    *,
    judge: str,
    reference: str,
    baseline: str,
    category: str | None = None,
    soft: bool = True,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict[str, Gap]:
    """Per generator, the judge's win rate against the baseline minus the reference's, on the comparisons both gave
    a verdict on, with a paired prompt bootstrap (the same resamples for both). A judge that is also a generator
    tends to favour itself: read its own row."""
    table = verdict_table(verdicts, category)
    _, gaps = _baseline_statistics(
        table, baseline, category, soft, resamples, seed, gaps_of=[judge], reference=reference
    )
    return gaps[judge]


# ---- everything for a page ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratorReport:
    baseline: str
    reference: str | None
    category: str | None
    win_rates: dict[str, WinRates]  # judge -> ...
    ratings: dict[str, BTRatings]
    agreement: dict[str, LeaderboardAgreement]  # judge -> against the reference's leaderboard
    gaps: dict[str, dict[str, Gap]]  # judge -> generator -> self-preference gap against the reference

    def to_dict(self) -> dict[str, Any]:
        generators: dict[str, dict[str, Any]] = {}
        for judge, rates in self.win_rates.items():
            names = set(rates.rates) | set(self.ratings[judge].ratings) | set(self.gaps.get(judge, {}))
            for name in sorted(names):
                rate, rating = rates.rates.get(name), self.ratings[judge].ratings.get(name)
                gap = self.gaps.get(judge, {}).get(name)
                generators.setdefault(name, {})[judge] = {
                    "win_rate": rate and rate.to_dict(),
                    "bt_rating": rating and rating.to_dict(),
                    "rank": rating and rating.rank,
                    "rank_interval": rating and list(rating.rank_interval),
                    "self_preference_gap": gap and gap.to_dict(),
                }
        judges = {
            judge: {
                "win_rate_left_out": self.win_rates[judge].left_out,
                "battles": self.ratings[judge].battles,
                "bt_left_out": self.ratings[judge].left_out,
                "bt_warning": self.ratings[judge].warning,
                "agreement_with_reference": judge in self.agreement and self.agreement[judge].to_dict() or None,
            }
            for judge in self.win_rates
        }
        return {
            "baseline": self.baseline,
            "reference": self.reference,
            "category": self.category,
            "judges": judges,
            "generators": generators,
        }


def generator_report(
    verdicts: Iterable[Verdict] | VerdictColumns | VerdictTable,
    *,
    baseline: str,
    reference: str | None = None,
    judges: Sequence[str] | None = None,
    category: str | None = None,
    soft: bool = True,
    anchor: tuple[str, float] | None = FASTCHAT_ANCHOR,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> GeneratorReport:
    """Every generator statistic for every judge (all in the verdicts by default), with the gaps and leaderboard
    agreement against `reference` when given. The same numbers as the single functions on the same verdicts."""
    table = verdict_table(verdicts, category)
    judges = list(table.judges if judges is None else judges)
    others = [] if reference is None else [j for j in judges if j != reference]
    rates, gaps = _baseline_statistics(
        table, baseline, category, soft, resamples, seed, judges=judges, gaps_of=others, reference=reference or ""
    )
    ratings = {j: _bt_ratings(table, j, category, anchor, resamples, seed) for j in judges}
    agreement = {}
    if reference is not None:
        reference_ratings = ratings.get(reference) or _bt_ratings(table, reference, category, anchor, resamples, seed)
        agreement = {j: leaderboard_agreement(ratings[j], reference_ratings) for j in others}
    return GeneratorReport(baseline, reference, category, rates, ratings, agreement, gaps)


def generator_reports_by_category(
    verdicts: Iterable[Verdict] | VerdictColumns | VerdictTable, **options: Any
) -> dict[str, GeneratorReport]:
    """`generator_report` per prompt category present in the verdicts."""
    table = verdict_table(verdicts, None)
    return {c: generator_report(table, category=c, **options) for c in table.categories}
