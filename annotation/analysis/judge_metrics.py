"""One judge against a reference: the row statistics of JUDGING.md items 1-8, each as sums per prompt so that the
bootstrap is a matrix product. No Django.

A row is computed on *units* (`judge_data.Units`): an item with a reference label and a weight (1, or 1/k for each
of the k leave-one-out human majorities of an item). Every number below is a weighted mean over units, so an item
always weighs 1 in total, and every count n is the summed weight (items).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from annotation.analysis import bootstrap
from annotation.analysis.bootstrap import ECE_BINS, Finalize, Interval, Resamples
from annotation.analysis.judge_data import ABSENT, TIE, UNPARSED, EncodedVerdicts, Units

LONGER_BY = 30  # characters: a pair counts for "prefers longer" when the lengths differ by more than this

ROW_METRICS = (
    "coverage",
    "accuracy",
    "agreement",
    "cohen_kappa",
    "accuracy_both_orders",
    "correct_both_orders",
    "position_consistency",
    "prefers_first",
    "prefers_longer",
    "reference_prefers_longer",
    "score_accuracy",
    "score_tie_rate",
    "brier",
    "ece",
)


@dataclass
class Scope:
    """All items, or one category's: which items, and which columns of the resample weights are its prompts."""

    category: str | None  # None = overall
    items: np.ndarray  # (N,) bool
    prompts: slice | np.ndarray  # columns of Resamples.weights
    local: np.ndarray  # (P,) global prompt index -> index inside the scope (-1 outside)
    size: int


def scopes(data: EncodedVerdicts, categories: list[str] | None) -> list[Scope]:
    """The overall scope, then one per category (in `categories`' order, or the data's)."""
    everything = np.ones(data.n_items, dtype=bool)
    out = [Scope(None, everything, slice(None), np.arange(data.n_prompts), data.n_prompts)]
    names = categories if categories is not None else sorted(data.categories)
    for name in names:
        if name not in data.categories:
            continue
        items = data.item_category == data.categories.index(name)
        if not items.any():
            continue
        prompts = np.unique(data.item_prompt[items])
        local = np.full(data.n_prompts, -1, dtype=np.int64)
        local[prompts] = np.arange(len(prompts))
        contiguous = prompts[-1] - prompts[0] + 1 == len(prompts)
        columns: slice | np.ndarray = slice(int(prompts[0]), int(prompts[-1]) + 1) if contiguous else prompts
        out.append(Scope(name, items, columns, local, len(prompts)))
    return out


@dataclass
class JudgeInputs:
    """What a row is computed from, per unit: the judge's item verdict `y`, its first verdict in each shown order
    (`order`, (U, 2), or None when the row has no shown orders), its score margin s_a - s_b and soft preference
    (None when it gives no numbers)."""

    units: Units
    y: np.ndarray  # (U,) codes -1..3
    order: np.ndarray | None = None
    margin: np.ndarray | None = None
    p_a: np.ndarray | None = None
    no_orders_reason: str = "no verdicts with a known shown order"
    no_scores_reason: str = "the judge gives no scores"


# finaliser, columns (k, U), and why the number is undefined (a string, or a function of the totals)
Spec = tuple[Finalize, np.ndarray, str | Callable[[np.ndarray], str]]


def _spec_ratio(weight: np.ndarray, numerator: np.ndarray, mask: np.ndarray, reason: str) -> Spec:
    w = weight * mask
    return bootstrap.ratio, np.stack([w * numerator, w]), reason


def _specs(inputs: JudgeInputs, data: EncodedVerdicts, keep: np.ndarray) -> dict[str, Spec]:
    units = inputs.units
    w = units.weight[keep]
    y, g, item = inputs.y[keep], units.ref[keep].astype(np.int64), units.item[keep]
    usable = (y >= 0) & (y < UNPARSED)
    decisive = (y == 0) | (y == 1)
    g_decisive = g < TIE
    specs: dict[str, Spec] = {
        "coverage": _spec_ratio(w, usable, np.ones(len(w), bool), "the reference judged no items here"),
        "accuracy": _spec_ratio(w, y == g, decisive & g_decisive, "no items where neither side is a tie"),
        "agreement": _spec_ratio(w, y == g, usable, "no items with a verdict"),
    }
    wu = w * usable
    kappa_columns = [wu, wu * (y == g)]
    kappa_columns += [wu * (y == code) for code in range(3)]
    kappa_columns += [wu * (g == code) for code in range(3)]
    specs["cohen_kappa"] = (bootstrap.kappa, np.stack(kappa_columns), bootstrap.kappa_reason)
    _order_specs(specs, inputs, keep, w, g, g_decisive)
    longer = np.where(data.length_a[item] > data.length_b[item], 0, 1)
    differ = np.abs(data.length_a[item] - data.length_b[item]) > LONGER_BY
    reason = f"no items whose lengths differ by more than {LONGER_BY} characters with a verdict for one side"
    specs["prefers_longer"] = _spec_ratio(w, y == longer, differ & decisive, reason)
    specs["reference_prefers_longer"] = _spec_ratio(w, g == longer, differ & g_decisive, reason)
    _score_specs(specs, inputs, keep, w, g, g_decisive)
    return specs


def _order_specs(
    specs: dict[str, Spec], inputs: JudgeInputs, keep: np.ndarray, w: np.ndarray, g: np.ndarray, g_decisive: np.ndarray
) -> None:
    if inputs.order is None:
        for name in ("accuracy_both_orders", "correct_both_orders", "position_consistency", "prefers_first"):
            specs[name] = (bootstrap.ratio, np.zeros((2, len(w))), inputs.no_orders_reason)
        return
    first, second = inputs.order[keep, 0].astype(np.int64), inputs.order[keep, 1].astype(np.int64)
    has_first, has_second = first != ABSENT, second != ABSENT
    both = has_first & has_second
    # unparsed (3) and ties never equal a decisive reference: they count as wrong here, as JUDGING.md item 4 says
    right = (first == g).astype(float) + (second == g)
    shown = has_first.astype(float) + has_second
    wg = w * g_decisive
    specs["accuracy_both_orders"] = (
        bootstrap.ratio,
        np.stack([wg * right, wg * shown]),
        "no verdicts with a known shown order on items where the reference is not a tie",
    )
    specs["correct_both_orders"] = _spec_ratio(
        w, (first == g) & (second == g), both & g_decisive, "no items judged in both orders (reference not a tie)"
    )
    specs["position_consistency"] = _spec_ratio(
        w, (first == second) & (first != UNPARSED), both, "no items judged in both orders"
    )
    # first shown won: a verdict of A when a was shown first, of B when b was
    won = (first == 0).astype(float) + (second == 1)
    decided = ((first == 0) | (first == 1)).astype(float) + ((second == 0) | (second == 1))
    specs["prefers_first"] = (
        bootstrap.ratio,
        np.stack([w * won, w * decided]),
        "no verdicts for one side with a known shown order",
    )


def _score_specs(
    specs: dict[str, Spec], inputs: JudgeInputs, keep: np.ndarray, w: np.ndarray, g: np.ndarray, g_decisive: np.ndarray
) -> None:
    names = ("score_accuracy", "score_tie_rate", "brier", "ece")
    if inputs.margin is None:
        for name in names:
            specs[name] = (bootstrap.ratio, np.zeros((2, len(w))), inputs.no_scores_reason)
        return
    margin = inputs.margin[keep]
    scored = ~np.isnan(margin) & g_decisive
    reason = "no scored items where the reference is not a tie"
    right = ((margin > 0) & (g == 0)) | ((margin < 0) & (g == 1))  # strict: equal scores are wrong
    specs["score_accuracy"] = _spec_ratio(w, right, scored, reason)
    specs["score_tie_rate"] = _spec_ratio(w, margin == 0, scored, reason)
    p = probability(margin, None if inputs.p_a is None else inputs.p_a[keep])
    calibrated = ~np.isnan(p) & g_decisive
    outcome = (g == 0).astype(float)
    p0 = np.where(calibrated, p, 0.0)
    specs["brier"] = _spec_ratio(w, (p0 - outcome) ** 2, calibrated, reason)
    bins = equal_mass_bins(p0[calibrated], p0) if calibrated.any() else np.zeros(len(w), dtype=np.int64)
    columns = np.zeros((ECE_BINS, 3, len(w)))
    wc = w * calibrated
    for b in range(ECE_BINS):
        in_bin = wc * (bins == b)
        columns[b] = [in_bin, in_bin * p0, in_bin * outcome]
    specs["ece"] = (bootstrap.ece, columns.reshape(ECE_BINS * 3, len(w)), reason)


def probability(margin: np.ndarray, p_a: np.ndarray | None) -> np.ndarray:
    """P(a better): the judge's own soft preference where it gives one, else σ(s_a - s_b)."""
    sigma = 1.0 / (1.0 + np.exp(-np.clip(margin, -700, 700)))
    if p_a is None:
        return sigma
    return np.where(np.isnan(p_a), sigma, p_a)


def equal_mass_bins(reference: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Bin index (0..ECE_BINS-1) of each p, with edges at the deciles of `reference`: scikit-learn's
    `calibration_curve(strategy="quantile")` binning (equal-mass up to equal values)."""
    edges = np.percentile(reference, np.linspace(0, 100, ECE_BINS + 1))
    return np.searchsorted(edges[1:-1], p)


@dataclass
class Row:
    """One row of the judges table: the numbers over all items, then per category."""

    name: str
    kind: str
    n: int  # items the reference judged (in this row's units)
    metrics: dict[str, Interval]
    reliability: list[dict[str, float]]
    left_out: dict[str, int]
    categories: dict[str, Row]

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "kind": self.kind, "n": self.n}
        out.update({name: interval.to_dict() for name, interval in self.metrics.items()})
        out["reliability"] = self.reliability
        out["left_out"] = self.left_out
        if self.categories:
            out["categories"] = {name: row.to_dict() for name, row in self.categories.items()}
        return out


def judge_row(
    name: str, kind: str, inputs: JudgeInputs, data: EncodedVerdicts, scope_list: list[Scope], resamples: Resamples
) -> Row:
    """The row over every scope (the first is overall; the rest are categories)."""
    rows = [_scope_row(name, kind, inputs, data, scope, resamples) for scope in scope_list]
    overall = rows[0]
    overall.categories = {
        scope.category: row for scope, row in zip(scope_list[1:], rows[1:], strict=True) if scope.category is not None
    }
    return overall


def _scope_row(
    name: str, kind: str, inputs: JudgeInputs, data: EncodedVerdicts, scope: Scope, resamples: Resamples
) -> Row:
    keep = scope.items[inputs.units.item]
    specs = _specs(inputs, data, keep)
    prompt = scope.local[data.item_prompt[inputs.units.item[keep]]]
    blocks = [columns for _, columns, _ in specs.values()]
    sums = bootstrap.per_prompt(prompt, np.concatenate(blocks), scope.size)
    totals = sums.sum(axis=0)
    resampled = resamples.resample(sums, scope.prompts) if resamples.resamples else None
    metrics: dict[str, Interval] = {}
    start = 0
    for metric, (finalize, columns, reason) in specs.items():
        stop = start + len(columns)
        part = None if resampled is None else resampled[:, start:stop]
        metrics[metric] = bootstrap.interval(finalize, totals[start:stop], part, reason)
        start = stop
    ece_sums = totals[-3 * ECE_BINS :].reshape(ECE_BINS, 3) if inputs.margin is not None else np.zeros((0, 3))
    reliability = [
        {"p": float(s[1] / s[0]), "observed": float(s[2] / s[0]), "n": float(s[0])} for s in ece_sums if s[0] > 0
    ]
    return Row(
        name,
        kind,
        int(round(float(inputs.units.weight[keep].sum()))),
        metrics,
        reliability,
        _left_out(inputs, keep),
        {},
    )


def _left_out(inputs: JudgeInputs, keep: np.ndarray) -> dict[str, int]:
    w = inputs.units.weight[keep]
    y, g = inputs.y[keep], inputs.units.ref[keep]
    out = {
        "no_verdict": float((w * (y == ABSENT)).sum()),
        "unparsed": float((w * (y == UNPARSED)).sum()),
        "judge_tie": float((w * (y == TIE)).sum()),
        "reference_tie": float((w * (g == TIE)).sum()),
    }
    if inputs.order is not None:
        present = inputs.order[keep] != ABSENT
        out["one_order_only"] = float((w * (present.sum(axis=1) == 1)).sum())
    return {key: int(round(value)) for key, value in out.items()}
