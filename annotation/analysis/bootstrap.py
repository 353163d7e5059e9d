"""Intervals from a bootstrap over prompts, vectorised. numpy only; no Django.

Every statistic here is a function of a few sums over items (counts, agreements, per-bin totals). The bootstrap
resamples prompts with replacement: `Resamples.weights` is a (B, P) matrix holding how many times each prompt was
drawn in each resample, so the resampled sums of every statistic are one matrix product `weights @ sums_per_prompt`
and no Python runs per verdict or per resample. Differences between two statistics use the same resamples (a
paired bootstrap). Percentile intervals (2.5 %, 97.5 %); resamples where a statistic is undefined (a zero
denominator) are left out of its interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

RESAMPLES = 1000
LEVEL = 0.95

# A statistic's finaliser: sums with shape (..., k) -> (values (...), n (...)); a value is nan where undefined.
Finalize = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Interval:
    """A number with its 95 % bootstrap interval and the count it was computed on.

    `value` is None when the number is undefined, and `reason` then says why (never 0 in its place). `low`/`high`
    are None when no interval could be formed (bootstrap off, or undefined in every resample)."""

    value: float | None
    low: float | None
    high: float | None
    n: int
    reason: str | None = None
    samples: np.ndarray | None = field(default=None, repr=False, compare=False)  # (B,) resampled values

    def to_dict(self) -> dict[str, Any]:
        interval = None if self.low is None or self.high is None else [self.low, self.high]
        return {"value": self.value, "interval": interval, "n": self.n, "reason": self.reason}

    @classmethod
    def undefined(cls, reason: str, n: int = 0) -> Interval:
        return cls(None, None, None, n, reason)


class Resamples:
    """The prompt resamples shared by every statistic of one report (so any two can be differenced, paired).

    weights: (B, P) float32, how many times prompt p is drawn in resample b (each row sums to P). B = 0 turns the
    bootstrap off (values without intervals)."""

    def __init__(self, n_prompts: int, resamples: int = RESAMPLES, seed: int = 0) -> None:
        self.n_prompts = n_prompts
        self.resamples = resamples if n_prompts else 0
        rng = np.random.default_rng(seed)
        if self.resamples:
            self.weights = np.empty((self.resamples, n_prompts), dtype=np.float32)
            for start in range(0, self.resamples, 50):  # in chunks: the draws are int64, the weights float32
                rows = min(50, self.resamples - start)
                draws = rng.integers(0, n_prompts, size=(rows, n_prompts), dtype=np.int64)
                draws += (np.arange(rows, dtype=np.int64) * n_prompts)[:, None]
                counts = np.bincount(draws.ravel(), minlength=rows * n_prompts)
                self.weights[start : start + rows] = counts.reshape(rows, n_prompts)
        else:
            self.weights = np.zeros((0, n_prompts), dtype=np.float32)

    def resample(self, sums: np.ndarray, prompts: slice | np.ndarray | None = None) -> np.ndarray:
        """sums: (P', k) per-prompt sums over the prompts selected by `prompts` (all when None) -> (B, k)."""
        weights = self.weights if prompts is None else self.weights[:, prompts]
        return weights @ sums.astype(np.float32)


def per_prompt(prompt: np.ndarray, columns: np.ndarray, n_prompts: int) -> np.ndarray:
    """columns: (k, units) values per unit; prompt: (units,) prompt index -> (n_prompts, k) sums per prompt."""
    out = np.empty((n_prompts, columns.shape[0]))
    for k, column in enumerate(columns):
        out[:, k] = np.bincount(prompt, weights=column, minlength=n_prompts)
    return out


def interval(
    finalize: Finalize,
    sums: np.ndarray,
    resampled: np.ndarray | None,
    undefined_reason: str | Callable[[np.ndarray], str],
) -> Interval:
    """sums: (k,) totals over all data; resampled: (B, k) or None."""
    value, n = finalize(sums[None, :])
    count = int(round(float(n[0])))
    if not np.isfinite(value[0]):
        reason = undefined_reason(sums) if callable(undefined_reason) else undefined_reason
        return Interval.undefined(reason, count)
    low = high = None
    samples = None
    if resampled is not None and len(resampled):
        samples, _ = finalize(resampled.astype(np.float64))
        finite = samples[np.isfinite(samples)]
        if len(finite):
            tail = (1 - LEVEL) / 2 * 100
            low, high = (float(x) for x in np.percentile(finite, [tail, 100 - tail]))
    return Interval(float(value[0]), low, high, count, None, samples)


def difference(first: Interval, second: Interval) -> Interval:
    """first - second with a paired interval (both must come from the same `Resamples`)."""
    if first.value is None or second.value is None:
        return Interval.undefined(first.reason or second.reason or "undefined", min(first.n, second.n))
    value = first.value - second.value
    if first.samples is None or second.samples is None:
        return Interval(value, None, None, min(first.n, second.n))
    samples = first.samples - second.samples
    finite = samples[np.isfinite(samples)]
    if not len(finite):
        return Interval(value, None, None, min(first.n, second.n))
    tail = (1 - LEVEL) / 2 * 100
    low, high = (float(x) for x in np.percentile(finite, [tail, 100 - tail]))
    return Interval(value, low, high, min(first.n, second.n), None, samples)


# Finalisers -----------------------------------------------------------------------------------------------------


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def ratio(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[numerator, denominator] -> numerator / denominator, n = denominator."""
    return _divide(sums[..., 0], sums[..., 1]), sums[..., 1]


KAPPA_COLUMNS = 8  # n, agreeing, judge's counts of A/B/T, reference's counts of A/B/T
P_E_ONE = 1e-12


def kappa(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cohen's κ = (p_o - p_e) / (1 - p_e) from [n, agree, x_A, x_B, x_T, y_A, y_B, y_T]; nan when p_e = 1."""
    n = sums[..., 0]
    p_o = _divide(sums[..., 1], n)
    p_e = _divide((sums[..., 2:5] * sums[..., 5:8]).sum(axis=-1), n * n)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(1 - p_e > P_E_ONE, (p_o - p_e) / (1 - p_e), np.nan)
    return value, n


def kappa_reason(sums: np.ndarray) -> str:
    if sums[0] <= 0:
        return "no items that both judged"
    return "p_e = 1: both always give the same single answer, so chance agreement is 1 and κ is undefined"


ECE_BINS = 10


def ece(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected calibration error from per-bin [count, sum of p, sum of y] (ECE_BINS × 3 columns):
    Σ_b (n_b / N) |mean p_b - mean y_b| = Σ_b |sum p_b - sum y_b| / N."""
    shaped = sums.reshape(*sums.shape[:-1], ECE_BINS, 3)
    n = shaped[..., 0].sum(axis=-1)
    return _divide(np.abs(shaped[..., 1] - shaped[..., 2]).sum(axis=-1), n), n


def fleiss(raters: int) -> Finalize:
    """Fleiss' κ from [items, Σ_i P_i, n_A, n_B, n_T] where every item has `raters` ratings and
    P_i = (Σ_k n_ik² - raters) / (raters (raters - 1))."""

    def finalize(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        items = sums[..., 0]
        p_bar = _divide(sums[..., 1], items)
        shares = sums[..., 2:5] / np.where(items > 0, items * raters, 1.0)[..., None]
        p_e = (shares**2).sum(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where((items > 0) & (1 - p_e > P_E_ONE), (p_bar - p_e) / (1 - p_e), np.nan)
        return value, items

    return finalize


def krippendorff_ordinal(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Krippendorff's α (ordinal, values A < T < B as e() orders them: 1, 1.5, 2) from the 3 × 3 coincidence matrix
    flattened, plus the count of pairable units last; the same formulas as the `krippendorff` package."""
    o = sums[..., :9].reshape(*sums.shape[:-1], 3, 3)
    n_v = o.sum(axis=-1)  # (..., 3)
    total = n_v.sum(axis=-1)
    # ordinal distance: (Σ_{g=c..k} n_g - (n_c + n_k)/2)², with c, k over the ordered values
    cumulative = np.concatenate([np.zeros((*n_v.shape[:-1], 1)), np.cumsum(n_v, axis=-1)], axis=-1)
    lo = np.minimum.outer(np.arange(3), np.arange(3))
    hi = np.maximum.outer(np.arange(3), np.arange(3))
    between = cumulative[..., hi + 1] - cumulative[..., lo]
    d = (between - (n_v[..., :, None] + n_v[..., None, :]) / 2) ** 2
    e = (n_v[..., :, None] * n_v[..., None, :] - n_v[..., :, None] * np.eye(3)) / np.where(total > 1, total - 1, 1.0)[
        ..., None, None
    ]
    observed = (o * d).sum(axis=(-2, -1))
    expected = (e * d).sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where((total > 1) & (expected > 0), 1 - observed / expected, np.nan)
    return value, sums[..., 9]
