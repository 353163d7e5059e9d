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

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from operator import attrgetter
from typing import Any

import numpy as np
from scipy import sparse, stats
from scipy.sparse import csgraph
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from annotation.analysis.verdicts import Verdict, VerdictColumns

RESAMPLES = 1000
SEED = 0
SCALE, BASE, INIT_RATING = 400.0, 10.0, 1000.0  # FastChat's Elo scale: 400 points per factor 10 in the odds
FASTCHAT_ANCHOR = ("mixtral-8x7b-instruct-v0.1", 1114.0)
FEW_GENERATORS = 10  # leaderboard agreement over fewer generators gets a warning
_CHUNK = 50  # prompt resamples drawn at a time; fixed, since the draws depend on it
_FIELDS = [
    attrgetter(name) for name in ("judge", "prompt", "category", "item", "generator_a", "generator_b", "label", "p_a")
]
_ROW_COLUMNS = ("judge", "category", "item", "generator_a", "generator_b", "outcome", "p_a")


@dataclass(frozen=True)
class VerdictTable:
    """Verdicts as arrays: one row per verdict, names as indices into sorted name lists. Build it once with
    `VerdictTable.from_verdicts` when several statistics read the same verdicts."""

    judges: tuple[str, ...]
    generators: tuple[str, ...]
    prompts: tuple[str, ...]
    categories: tuple[str, ...]
    judge: np.ndarray  # (n,) int indices
    prompt: np.ndarray
    category: np.ndarray
    item: np.ndarray
    generator_a: np.ndarray
    generator_b: np.ndarray
    outcome: np.ndarray  # (n,) a's score from the label: 1, 0.5, 0; NaN without a label
    p_a: np.ndarray  # (n,) soft preference for a; NaN where none

    @classmethod
    def from_verdicts(cls, verdicts: Iterable[Verdict]) -> VerdictTable:
        rows = verdicts if isinstance(verdicts, list | tuple) else list(verdicts)
        return cls.from_columns(VerdictColumns.from_verdicts(rows))

    @classmethod
    def from_columns(cls, columns: VerdictColumns) -> VerdictTable:
        # a's score from the label: A 1, tie 0.5, B 0 (2 - e()), NaN without a verdict
        outcome = np.array([1.0, 0.0, 0.5, math.nan])[columns.label.astype(np.int64)]
        return cls(
            judges=tuple(columns.judges),
            generators=tuple(columns.generators),
            prompts=tuple(columns.prompts),
            categories=tuple(columns.categories),
            judge=columns.judge.astype(np.int64),
            prompt=columns.prompt.astype(np.int64),
            category=columns.category.astype(np.int64),
            item=columns.item.astype(np.int64),
            generator_a=columns.generator_a.astype(np.int64),
            generator_b=columns.generator_b.astype(np.int64),
            outcome=outcome,
            p_a=columns.p_a.astype(float),
        )

    def select(self, keep: np.ndarray) -> VerdictTable:
        """The rows where `keep` holds; the prompts renumbered to those left (the bootstrap draws from them)."""
        kept_prompts, prompt = np.unique(self.prompt[keep], return_inverse=True)
        return dataclasses.replace(
            self,
            prompts=tuple(self.prompts[i] for i in kept_prompts),
            prompt=prompt.astype(np.int64),
            **{name: getattr(self, name)[keep] for name in _ROW_COLUMNS},
        )

    def for_category(self, category: str | None) -> VerdictTable:
        if category is None:
            return self
        code = self.categories.index(category) if category in self.categories else -1
        return self.select(self.category == code)


def _table(verdicts: Iterable[Verdict] | VerdictColumns | VerdictTable, category: str | None) -> VerdictTable:
    if isinstance(verdicts, VerdictColumns):
        return VerdictTable.from_columns(verdicts).for_category(category)
    table = verdicts if isinstance(verdicts, VerdictTable) else VerdictTable.from_verdicts(verdicts)
    return table.for_category(category)


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
    table = _table(verdicts, category)
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
    mine = {j: np.flatnonzero(rows & (table.judge == _code(table.judges, j))) for j in {*judges, *gaps_of, reference}}
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
    table = _table(verdicts, category)
    _, gaps = _baseline_statistics(
        table, baseline, category, soft, resamples, seed, gaps_of=[judge], reference=reference
    )
    return gaps[judge]


def _code(names: tuple[str, ...], name: str) -> int:
    return names.index(name) if name in names else -1


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


# ---- Bradley-Terry ratings ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rating:
    value: float
    interval: tuple[float, float]
    n: int  # battles the generator took part in
    rank: int
    rank_interval: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "interval": list(self.interval), "n": self.n}


@dataclass(frozen=True)
class BTRatings:
    judge: str
    category: str | None
    ratings: dict[str, Rating]  # best first
    battles: int
    left_out: dict[str, int]  # {"no_verdict": ..., "same_generator": ..., "unknown_generator": ...}
    warning: str | None
    samples: np.ndarray = field(repr=False, compare=False)  # (resamples, generators) in `ratings` order

    def values(self) -> dict[str, float]:
        return {name: rating.value for name, rating in self.ratings.items()}


def rank_with_ci(lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rank, worst rank): 1 + #{m' : lower(m') > upper(m)}, and N - #{m' : upper(m') < lower(m)}."""
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    above = (lower[None, :] > upper[:, None]).sum(axis=1)
    below = (upper[None, :] < lower[:, None]).sum(axis=1)
    return 1 + above, len(lower) - below


def battle_counts(
    generator_a: np.ndarray, generator_b: np.ndarray, outcome: np.ndarray, n_generators: int
) -> tuple[np.ndarray, np.ndarray]:
    """Battles as counts of distinct cells: (cells (K, 3): low generator, high generator, the low one's score x2
    (0, 1, 2); counts (K,))."""
    low, high = np.minimum(generator_a, generator_b), np.maximum(generator_a, generator_b)
    twice = np.rint(2 * np.where(generator_a < generator_b, outcome, 1.0 - outcome)).astype(np.int64)
    counts = np.bincount((low * n_generators + high) * 3 + twice, minlength=n_generators * n_generators * 3)
    key = np.flatnonzero(counts)
    return np.stack([key // 3 // n_generators, key // 3 % n_generators, key % 3], axis=1), counts[key]


def win_matrix(cells: np.ndarray, counts: np.ndarray, n_generators: int) -> np.ndarray:
    """wins[..., i, j]: times i beat j, a tie half a win each way. counts (..., K) -> (..., G, G)."""
    g = n_generators
    spread = np.zeros((len(cells), g * g))
    k = np.arange(len(cells))
    spread[k, cells[:, 0] * g + cells[:, 1]] = cells[:, 2] / 2
    spread[k, cells[:, 1] * g + cells[:, 0]] = 1 - cells[:, 2] / 2
    return (np.asarray(counts, dtype=float) @ spread).reshape(*np.shape(counts)[:-1], g, g)


def fit_bt_logistic(wins: np.ndarray) -> np.ndarray:
    """FastChat's fit: ratings (G,) on the Elo scale (mean INIT_RATING), from wins (G, G); every generator must
    have played."""
    g = len(wins)
    pairs = [(i, j) for i, j in combinations(range(g), 2) if wins[i, j] + wins[j, i] > 0]
    x = np.zeros((2 * len(pairs), g))
    for row, (i, j) in enumerate(pairs):
        x[2 * row : 2 * row + 2, i], x[2 * row : 2 * row + 2, j] = math.log(BASE), -math.log(BASE)
    y = np.tile([1.0, 0.0], len(pairs))
    weights = np.array([w for i, j in pairs for w in (wins[i, j], wins[j, i])])
    model = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-6, max_iter=1000)
    model.fit(x, y, sample_weight=weights)
    return SCALE * model.coef_[0] + INIT_RATING


def fit_bt_newton(
    wins: np.ndarray, *, start: np.ndarray | None = None, max_iter: int = 100, tol: float = 1e-9
) -> np.ndarray:
    """The same maximum likelihood, many fits at once: wins (R, G, G) -> ratings (R, G) on the Elo scale, mean
    INIT_RATING over the generators that played in each fit, NaN for those that did not. `start`: ratings (G,) to
    start from (the fit on all battles, for bootstrap resamples of them)."""
    games = wins + np.swapaxes(wins, 1, 2)
    played = games.sum(axis=2) > 0  # (R, G)
    g = wins.shape[1]
    share = played[:, :, None] * played[:, None, :] / np.maximum(played.sum(axis=1), 1)[:, None, None]
    theta = np.zeros(wins.shape[:2])
    if start is not None:
        theta += (start - INIT_RATING) * math.log(BASE) / SCALE
    for _ in range(max_iter):
        p = expit(theta[:, :, None] - theta[:, None, :])
        gradient = (wins - games * p).sum(axis=2)
        curvature = games * p * (1 - p)
        # negative Hessian plus the mean over played generators: the likelihood ignores a common shift
        hessian = -curvature + share
        hessian[:, np.arange(g), np.arange(g)] += curvature.sum(axis=2) + ~played
        try:
            step = np.linalg.solve(hessian, gradient[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # a comparison graph in pieces
            step = (np.linalg.pinv(hessian) @ gradient[:, :, None])[:, :, 0]
        theta += np.clip(step, -5.0, 5.0)  # damped: a generator that never loses drifts instead of jumping
        if np.max(np.abs(step)) < tol:
            break
    theta -= (theta * played).sum(axis=1, keepdims=True) / np.maximum(played.sum(axis=1, keepdims=True), 1)
    return np.where(played, SCALE / math.log(BASE) * theta + INIT_RATING, np.nan)


def _anchor(ratings: np.ndarray, names: Sequence[str], anchor: tuple[str, float] | None) -> np.ndarray:
    if anchor is None or anchor[0] not in names:
        return ratings
    return ratings + (anchor[1] - ratings[..., [list(names).index(anchor[0])]])


def bt_ratings(
    verdicts: Iterable[Verdict] | VerdictColumns | VerdictTable,
    *,
    judge: str,
    category: str | None = None,
    anchor: tuple[str, float] | None = FASTCHAT_ANCHOR,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> BTRatings:
    """Bradley-Terry ratings of the generators from all of `judge`'s pairwise verdicts (FastChat), with bootstrap
    intervals over battles and the rank with CI."""
    return _bt_ratings(_table(verdicts, category), judge, category, anchor, resamples, seed)


def _bt_ratings(
    table: VerdictTable, judge: str, category: str | None, anchor: tuple[str, float] | None, resamples: int, seed: int
) -> BTRatings:
    mine = np.flatnonzero(table.judge == _code(table.judges, judge))
    ga, gb, outcome = table.generator_a[mine], table.generator_b[mine], table.outcome[mine]
    unknown = _code(table.generators, "")
    same = ga == gb
    unnamed = ~same & ((ga == unknown) | (gb == unknown))
    usable = ~same & ~unnamed & ~np.isnan(outcome)
    left_out = {"no_verdict": int(np.sum(~same & ~unnamed & ~usable)), "same_generator": int(same.sum())}
    left_out["unknown_generator"] = int(unnamed.sum())
    ga, gb, outcome = ga[usable], gb[usable], outcome[usable]
    played = np.flatnonzero(np.bincount(np.concatenate([ga, gb]), minlength=len(table.generators)))
    if played.size == 0:
        return BTRatings(judge, category, {}, 0, left_out, None, np.empty((resamples, 0)))
    names = [table.generators[i] for i in played]
    local = np.full(len(table.generators), -1)
    local[played] = np.arange(len(played))
    cells, counts = battle_counts(local[ga], local[gb], outcome, len(names))
    wins = win_matrix(cells, counts, len(names))
    fitted = fit_bt_logistic(wins)
    value = _anchor(fitted, names, anchor)
    draws = np.random.default_rng(seed).multinomial(counts.sum(), counts / counts.sum(), size=resamples)
    samples = _anchor(fit_bt_newton(win_matrix(cells, draws, len(names)), start=fitted), names, anchor)
    lower, upper = np.nanpercentile(samples, 2.5, axis=0), np.nanpercentile(samples, 97.5, axis=0)
    rank, worst = rank_with_ci(lower, upper)
    n = np.bincount(np.concatenate([local[ga], local[gb]]), minlength=len(names))
    order = sorted(range(len(names)), key=lambda i: -value[i])
    ratings = {
        names[i]: Rating(
            float(value[i]), (float(lower[i]), float(upper[i])), int(n[i]), int(rank[i]), (int(rank[i]), int(worst[i]))
        )
        for i in order
    }
    return BTRatings(judge, category, ratings, int(usable.sum()), left_out, _separation(wins), samples[:, order])


def _separation(wins: np.ndarray) -> str | None:
    """The maximum likelihood is finite only when every generator can be reached from every other through "beat at
    least partly" (a strongly connected graph); otherwise say so (FastChat's fit just stops somewhere)."""
    pieces, _ = csgraph.connected_components(sparse.csr_matrix(wins > 0), directed=True, connection="strong")
    if pieces == 1:
        return None
    return (
        "some generators never lost (or never won) against the others they met: their ratings are not finite "
        "maximum-likelihood values, and the intervals are meaningless"
    )


# ---- leaderboard agreement ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaderboardAgreement:
    generators: int  # rated by both
    spearman: float | None
    kendall: float | None  # tau-b
    same_order: float | None  # share of generator pairs both leaderboards order the same way
    pairs: int
    warning: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def leaderboard_agreement(
    first: BTRatings | Mapping[str, float], second: BTRatings | Mapping[str, float]
) -> LeaderboardAgreement:
    """How alike two judges' leaderboards are, over the generators both rated (scipy's Spearman and Kendall)."""
    one = first.values() if isinstance(first, BTRatings) else first
    two = second.values() if isinstance(second, BTRatings) else second
    common = sorted(one.keys() & two.keys())
    x, y = np.array([one[m] for m in common]), np.array([two[m] for m in common])
    warning = None
    if len(common) < FEW_GENERATORS:
        warning = f"only {len(common)} generators rated by both: rank correlations over fewer than 10 are unstable"
    if len(common) < 2:
        return LeaderboardAgreement(len(common), None, None, None, 0, warning)
    i, j = np.triu_indices(len(common), k=1)
    same = np.sign(x[i] - x[j]) == np.sign(y[i] - y[j])
    return LeaderboardAgreement(
        len(common),
        _finite(stats.spearmanr(x, y).statistic),
        _finite(stats.kendalltau(x, y).statistic),
        float(same.mean()),
        len(i),
        warning,
    )


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
    table = _table(verdicts, category)
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
    table = _table(verdicts, None)
    return {c: generator_report(table, category=c, **options) for c in table.categories}
