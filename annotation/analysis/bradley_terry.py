"""Bradley-Terry ratings of generators under one judge (FastChat's `compute_mle_elo`), their bootstrap, rank with
CI, and how alike two judges' leaderboards are. numpy, scipy and scikit-learn; no Django. The module docstring of
`generators` says how each is defined."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
from scipy import sparse, stats
from scipy.sparse import csgraph
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from annotation.analysis.verdict_table import VerdictTable, name_code, verdict_table
from annotation.analysis.verdicts import Verdict, VerdictColumns

RESAMPLES = 1000
SEED = 0
SCALE, BASE, INIT_RATING = 400.0, 10.0, 1000.0  # FastChat's Elo scale: 400 points per factor 10 in the odds
FASTCHAT_ANCHOR = ("mixtral-8x7b-instruct-v0.1", 1114.0)
FEW_GENERATORS = 10  # leaderboard agreement over fewer generators gets a warning


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


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


NEWTON_RIDGE = 1e-9
FLAT_GRADIENT = 1e-9


def fit_bt_newton(
    wins: np.ndarray, *, start: np.ndarray | None = None, max_iter: int = 100, tol: float = 1e-6
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
    active = np.arange(len(theta))  # fits still moving: each stops at its own convergence
    for _ in range(max_iter):
        w, n, t = wins[active], games[active], theta[active]
        p = expit(t[:, :, None] - t[:, None, :])
        gradient = (w - n * p).sum(axis=2)
        curvature = n * p * (1 - p)
        # negative Hessian plus the mean over played generators: the likelihood ignores a common shift
        hessian = -curvature + share[active]
        # + NEWTON_RIDGE: a comparison graph in pieces leaves one shift per piece free; the ridge keeps the batched
        # solve regular (the gradient along such a shift is zero, so the step and the fixed point do not change).
        hessian[:, np.arange(g), np.arange(g)] += curvature.sum(axis=2) + ~played[active] + NEWTON_RIDGE
        try:
            step = np.linalg.solve(hessian, gradient[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # not expected with the ridge; kept as the safe path
            step = (np.linalg.pinv(hessian) @ gradient[:, :, None])[:, :, 0]
        theta[active] = t + np.clip(step, -5.0, 5.0)  # damped: a generator that never loses drifts, not jumps
        # A fit stops when its step is under tol, or when its likelihood is flat (every expected win count within
        # FLAT_GRADIENT of the observed): a generator that never loses has no finite rating and would drift forever.
        moving = (np.max(np.abs(step), axis=1) >= tol) & (np.max(np.abs(gradient), axis=1) >= FLAT_GRADIENT)
        active = active[moving]
        if not len(active):
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
    return _bt_ratings(verdict_table(verdicts, category), judge, category, anchor, resamples, seed)


def _bt_ratings(
    table: VerdictTable, judge: str, category: str | None, anchor: tuple[str, float] | None, resamples: int, seed: int
) -> BTRatings:
    mine = np.flatnonzero(table.judge == name_code(table.judges, judge))
    ga, gb, outcome = table.generator_a[mine], table.generator_b[mine], table.outcome[mine]
    unknown = name_code(table.generators, "")
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
    # 95% percentile intervals over the two judges' Bradley-Terry resamples (resample b of each), None without them
    spearman_interval: tuple[float, float] | None = None
    kendall_interval: tuple[float, float] | None = None
    same_order_interval: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for key in ("spearman_interval", "kendall_interval", "same_order_interval"):
            out[key] = None if out[key] is None else list(out[key])
        return out


def leaderboard_agreement(
    first: BTRatings | Mapping[str, float], second: BTRatings | Mapping[str, float]
) -> LeaderboardAgreement:
    """How alike two judges' leaderboards are, over the generators both rated (scipy's Spearman and Kendall). Given
    two BTRatings, each number also gets an interval: the same statistic on each pair of bootstrap resamples."""
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
    intervals: tuple[tuple[float, float] | None, ...] = (None, None, None)
    if isinstance(first, BTRatings) and isinstance(second, BTRatings):
        intervals = _agreement_intervals(_samples_of(first, common), _samples_of(second, common))
    return LeaderboardAgreement(
        len(common),
        _finite(stats.spearmanr(x, y).statistic),
        _finite(stats.kendalltau(x, y).statistic),
        float(same.mean()),
        len(i),
        warning,
        *intervals,
    )


def _samples_of(ratings: BTRatings, names: Sequence[str]) -> np.ndarray:
    order = list(ratings.ratings)
    return ratings.samples[:, [order.index(name) for name in names]]


def _agreement_intervals(x: np.ndarray, y: np.ndarray) -> tuple[tuple[float, float] | None, ...]:
    """Spearman, Kendall tau-b and the same-order share per resample row of x, y (B, m), as 95% percentile
    intervals. Vectorised: tau-b = sum(sx * sy) / sqrt(sum(sx^2) sum(sy^2)) over the pairs' signs (ties give 0)."""
    rows = min(len(x), len(y))
    if rows == 0:
        return (None, None, None)
    x, y = x[:rows], y[:rows]
    complete = np.isfinite(x).all(axis=1) & np.isfinite(y).all(axis=1)
    x, y = x[complete], y[complete]
    if len(x) == 0:
        return (None, None, None)
    rx, ry = stats.rankdata(x, axis=1), stats.rankdata(y, axis=1)
    rx, ry = rx - rx.mean(axis=1, keepdims=True), ry - ry.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        spearman = (rx * ry).sum(axis=1) / np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
        i, j = np.triu_indices(x.shape[1], k=1)
        sx, sy = np.sign(x[:, i] - x[:, j]), np.sign(y[:, i] - y[:, j])
        kendall = (sx * sy).sum(axis=1) / np.sqrt((sx**2).sum(axis=1) * (sy**2).sum(axis=1))
    same = (sx == sy).mean(axis=1)
    return tuple(_percentiles(values) for values in (spearman, kendall, same))


def _percentiles(values: np.ndarray) -> tuple[float, float] | None:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return None
    return (float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5)))
