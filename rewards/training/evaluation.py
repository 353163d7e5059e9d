"""Metrics of a reward model's scores against held-out judgments (numpy only: no torch here).

`evaluate_scores(examples, scores)` takes the examples and one reward per response and returns an
`EvaluationResult`:

- pairwise accuracy over every untied induced pair (an exact score tie counts 1/2); tied judgments are excluded
  from accuracy, margin and calibration and counted in `n_tied_pairs`;
- accuracy per category; mean margin r_better - r_worse;
- calibration of p = sigma(r_a - r_b): Brier score and ECE over equal-width bins, with the reliability-diagram bins.
  Each pair enters in both orientations (p with outcome 1, 1 - p with outcome 0), so the result does not depend
  on which response a file listed first and the diagram is symmetric about 1/2;
- for orderings: ranking accuracy (= pairwise accuracy inside lists), Kendall's tau-b per list, NDCG per list
  (gain 2^rel - 1 with rel = worst rank - rank, log2 discount) and top-1 accuracy, averaged over lists;
- a percentile bootstrap 95% interval on every headline number, resampling prompts (`group_id`), not pairs,
  because judgments of one prompt are correlated;
- `pair_scores`: every induced pair with both rewards and its label, for later noise analysis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from .data import PreferenceExample


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class ReliabilityBin:
    lower: float
    upper: float
    count: int  # pair orientations in the bin (each pair counts twice, see the module doc)
    mean_confidence: float | None
    observed: float | None


@dataclass(frozen=True)
class CategoryAccuracy:
    n_pairs: int
    accuracy: float


@dataclass(frozen=True)
class PairScore:
    example_index: int
    example_id: str
    group_id: str
    category: str
    a: int  # response index of the better response (the first listed, for a tie)
    b: int
    score_a: float
    score_b: float
    tie: bool

    @property
    def correct(self) -> float:
        return 0.5 if self.score_a == self.score_b else float(self.score_a > self.score_b)


@dataclass(frozen=True)
class EvaluationResult:
    n_examples: int
    n_groups: int
    n_pairs: int  # untied pairs scored
    n_tied_pairs: int  # excluded from accuracy, margin and calibration
    accuracy: Interval | None
    mean_margin: Interval | None
    brier: Interval | None
    ece: Interval | None
    per_category: dict[str, CategoryAccuracy]
    reliability: list[ReliabilityBin]
    n_lists: int  # examples with at least two distinct ranks
    ranking_accuracy: Interval | None  # pairwise accuracy inside lists of three or more
    kendall_tau: Interval | None
    ndcg: Interval | None
    top1_accuracy: Interval | None
    bootstrap_samples: int
    pair_scores: list[PairScore] = field(repr=False, default_factory=list)

    def headline(self) -> dict[str, float | None]:
        """Point estimates only: for progress lines and benchmark tables."""
        return {
            name: (None if value is None else value.value)
            for name, value in (
                ("accuracy", self.accuracy),
                ("mean_margin", self.mean_margin),
                ("brier", self.brier),
                ("ece", self.ece),
                ("ranking_accuracy", self.ranking_accuracy),
                ("kendall_tau", self.kendall_tau),
                ("ndcg", self.ndcg),
                ("top1_accuracy", self.top1_accuracy),
            )
        }

    def to_dict(self, *, include_pairs: bool = False) -> dict[str, Any]:
        """JSON-ready (intervals and bins as dicts); per-pair scores only if asked for."""
        data = {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "pair_scores"}
        if include_pairs:
            data["pair_scores"] = [asdict(p) for p in self.pair_scores]
        return data


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return asdict(value) if hasattr(value, "__dataclass_fields__") else value


def evaluate_scores(
    examples: Sequence[PreferenceExample],
    scores: Sequence[Sequence[float]],
    *,
    bins: int = 10,
    bootstrap_samples: int = 1000,
    seed: int = 0,
) -> EvaluationResult:
    """Metrics of `scores[i][k]` (the reward of examples[i].responses[k]) with prompt-level bootstrap intervals."""
    if len(examples) != len(scores):
        raise ValueError("one score list per example")
    groups = sorted({e.group_id for e in examples})
    group_of = {g: n for n, g in enumerate(groups)}
    pairs: list[PairScore] = []
    for index, (example, row) in enumerate(zip(examples, scores, strict=True)):
        if len(row) != len(example.responses):
            raise ValueError(f"example {index}: {len(row)} scores for {len(example.responses)} responses")
        for better, worse, tie in example.induced_pairs():
            pairs.append(
                PairScore(
                    index,
                    example.example_id,
                    example.group_id,
                    example.category,
                    better,
                    worse,
                    float(row[better]),
                    float(row[worse]),
                    tie,
                )
            )
    untied = [p for p in pairs if not p.tie]
    n_groups = len(groups)
    # Per-group sums: every statistic below is a ratio of sums, so a bootstrap replicate is one weighted sum.
    pair_group = np.array([group_of[p.group_id] for p in untied], dtype=np.int64)
    correct = np.array([p.correct for p in untied])
    gap = np.array([p.score_a - p.score_b for p in untied])
    prob = 1.0 / (1.0 + np.exp(-np.clip(gap, -50, 50)))
    sums = {
        "pairs": np.bincount(pair_group, minlength=n_groups).astype(float),
        "correct": np.bincount(pair_group, correct, minlength=n_groups),
        "margin": np.bincount(pair_group, gap, minlength=n_groups),
        "brier": np.bincount(pair_group, (1.0 - prob) ** 2, minlength=n_groups),
    }
    bin_stats = _bin_sums(prob, pair_group, n_groups, bins)  # (3, groups, bins)

    list_stats = _list_metrics(examples, scores)
    list_group = np.array([group_of[examples[i].group_id] for i in list_stats["index"]], dtype=np.int64)
    long_lists = [p for p in untied if len(examples[p.example_index].responses) >= 3]
    long_group = np.array([group_of[p.group_id] for p in long_lists], dtype=np.int64)
    for name in ("tau", "ndcg", "top1"):
        values = np.asarray(list_stats[name], dtype=float)
        valid = ~np.isnan(values)
        sums[f"{name}_n"] = np.bincount(list_group[valid], minlength=n_groups).astype(float)
        sums[name] = np.bincount(list_group[valid], values[valid], minlength=n_groups)
    sums["long_pairs"] = np.bincount(long_group, minlength=n_groups).astype(float)
    sums["long_correct"] = np.bincount(long_group, [p.correct for p in long_lists], minlength=n_groups)

    weights = _bootstrap_weights(n_groups, bootstrap_samples, seed)  # (R, groups) incl. row 0 = all ones

    def ratio(numerator: str, denominator: str) -> Interval | None:
        if sums[denominator].sum() == 0:
            return None
        return _interval((weights @ sums[numerator]) / np.maximum(weights @ sums[denominator], 1e-12))

    brier = ratio("brier", "pairs")
    ece = _interval(_ece(weights, bin_stats)) if untied else None
    return EvaluationResult(
        n_examples=len(examples),
        n_groups=n_groups,
        n_pairs=len(untied),
        n_tied_pairs=len(pairs) - len(untied),
        accuracy=ratio("correct", "pairs"),
        mean_margin=ratio("margin", "pairs"),
        brier=brier,
        ece=ece,
        per_category=_per_category(untied),
        reliability=_reliability(bin_stats.sum(axis=1), bins),
        n_lists=int(np.sum(~np.isnan(np.asarray(list_stats["tau"], dtype=float)))),
        ranking_accuracy=ratio("long_correct", "long_pairs"),
        kendall_tau=ratio("tau", "tau_n"),
        ndcg=ratio("ndcg", "ndcg_n"),
        top1_accuracy=ratio("top1", "top1_n"),
        bootstrap_samples=bootstrap_samples,
        pair_scores=pairs,
    )


def _bootstrap_weights(n_groups: int, samples: int, seed: int) -> np.ndarray:
    # Row 0 is the full sample (the point estimate); rows 1.. count how often each prompt was drawn.
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n_groups, np.full(n_groups, 1.0 / max(n_groups, 1)), size=samples) if n_groups else None
    ones = np.ones((1, n_groups))
    return ones if draws is None else np.vstack([ones, draws.astype(float)])


def _interval(replicates: np.ndarray) -> Interval:
    # replicates[0] is the point estimate; percentile interval from the rest (just the point if there are none).
    point = float(replicates[0])
    rest = replicates[1:]
    rest = rest[np.isfinite(rest)]
    if rest.size == 0:
        return Interval(point, point, point)
    low, high = np.percentile(rest, [2.5, 97.5])
    return Interval(point, float(min(low, point)), float(max(high, point)))


def _bin_sums(prob: np.ndarray, group: np.ndarray, n_groups: int, bins: int) -> np.ndarray:
    # Both orientations of each pair: (p, outcome 1) and (1 - p, outcome 0). Returns (3, groups, bins):
    # counts, summed confidence, summed outcomes.
    p = np.concatenate([prob, 1.0 - prob])
    y = np.concatenate([np.ones_like(prob), np.zeros_like(prob)])
    g = np.concatenate([group, group])
    b = np.minimum((p * bins).astype(np.int64), bins - 1)
    flat = g * bins + b
    size = n_groups * bins
    out = np.stack(
        [
            np.bincount(flat, minlength=size).astype(float),
            np.bincount(flat, p, minlength=size),
            np.bincount(flat, y, minlength=size),
        ]
    )
    return out.reshape(3, n_groups, bins)


def _ece(weights: np.ndarray, bin_stats: np.ndarray) -> np.ndarray:
    # weights: (R, groups); bin_stats: (3, groups, bins) -> (R,) expected calibration errors
    counts, conf, obs = (weights @ bin_stats[k] for k in range(3))  # each (R, bins)
    total = np.maximum(counts.sum(axis=1), 1e-12)
    gaps = np.abs(conf - obs)  # |n (mean confidence - observed)| per bin
    return gaps.sum(axis=1) / total


def _reliability(stats: np.ndarray, bins: int) -> list[ReliabilityBin]:
    counts, conf, obs = stats
    out = []
    for k in range(bins):
        n = int(round(counts[k]))
        out.append(
            ReliabilityBin(
                lower=k / bins,
                upper=(k + 1) / bins,
                count=n,
                mean_confidence=float(conf[k] / counts[k]) if n else None,
                observed=float(obs[k] / counts[k]) if n else None,
            )
        )
    return out


def _per_category(pairs: Sequence[PairScore]) -> dict[str, CategoryAccuracy]:
    totals: dict[str, list[float]] = {}
    for p in pairs:
        totals.setdefault(p.category, []).append(p.correct)
    return {c: CategoryAccuracy(len(v), float(np.mean(v))) for c, v in sorted(totals.items())}


def _list_metrics(examples: Sequence[PreferenceExample], scores: Sequence[Sequence[float]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"index": [], "tau": [], "ndcg": [], "top1": []}
    for index, (example, row) in enumerate(zip(examples, scores, strict=True)):
        ranks = np.asarray(example.ranks, dtype=float)
        if len(set(example.ranks)) < 2:
            continue  # an all-tied judgment orders nothing
        values = np.asarray(row, dtype=float)
        out["index"].append(index)
        out["tau"].append(kendall_tau_b(-ranks, values))
        out["ndcg"].append(ndcg(ranks, values))
        out["top1"].append(float(ranks[int(np.argmax(values))] == ranks.min()))
    return out


def kendall_tau_b(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Kendall's tau-b between two score vectors (ties in either handled); nan if either is constant."""
    i, j = np.triu_indices(len(truth), k=1)
    a = np.sign(truth[i] - truth[j])
    b = np.sign(predicted[i] - predicted[j])
    n0 = len(i)
    ties_a = int(np.sum(a == 0))
    ties_b = int(np.sum(b == 0))
    denominator = math.sqrt((n0 - ties_a) * (n0 - ties_b))
    return float(np.sum(a * b) / denominator) if denominator else float("nan")


def ndcg(ranks: np.ndarray, predicted: np.ndarray) -> float:
    """NDCG of the predicted order; relevance = worst rank - rank (best group highest), gain 2^rel - 1."""
    relevance = ranks.max() - ranks
    gains = 2.0**relevance - 1.0
    discounts = 1.0 / np.log2(np.arange(2, len(ranks) + 2))
    # Stable sort on -score: equal scores keep the listed order (deterministic, no credit for ties).
    order = np.argsort(-predicted, kind="stable")
    ideal = np.sort(gains)[::-1]
    best = float(np.sum(ideal * discounts))
    return float(np.sum(gains[order] * discounts) / best) if best > 0 else float("nan")
