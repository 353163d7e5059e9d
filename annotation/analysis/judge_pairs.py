"""Judge against judge: the agreement matrix, Fleiss' κ, Krippendorff's α, Kendall's τ-b, McNemar's exact test and
MT-Bench's agreement. No Django.

All take a `JudgeData` (built once from the verdicts) and use each judge's item verdict (`judge_data`), except the
MT-Bench agreement, which, like FastChat's `compute_agreement.py`, counts every human vote.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
from scipy.stats import binom

from annotation.analysis import bootstrap
from annotation.analysis.bootstrap import Interval
from annotation.analysis.judge_data import TIE, UNPARSED, A, B, JudgeData, human_indices
from annotation.analysis.judge_metrics import Scope

MATRIX_CHUNK = 32  # judge pairs resampled in one matrix product (memory: P × 6 × chunk floats)


def _usable(label: np.ndarray) -> np.ndarray:
    return (label >= 0) & (label < UNPARSED)


def _kappa_columns(x: np.ndarray, y: np.ndarray, both: np.ndarray) -> np.ndarray:
    """(6, N): [n, agree, x=A, x=B, y=A, y=B] per item where `both`. The tie counts are n - A - B: leaving them out
    of the resampled columns saves a quarter of the matrix's bootstrap (`_with_ties` puts them back)."""
    w = both.astype(float)
    return np.stack([w, w * (x == y), w * (x == A), w * (x == B), w * (y == A), w * (y == B)])


def _with_ties(sums: np.ndarray) -> np.ndarray:
    """[..., n, agree, x_A, x_B, y_A, y_B] -> [..., n, agree, x_A, x_B, x_T, y_A, y_B, y_T] (bootstrap.kappa's)."""
    n = sums[..., 0:1]
    x_tie = n - sums[..., 2:3] - sums[..., 3:4]
    y_tie = n - sums[..., 4:5] - sums[..., 5:6]
    return np.concatenate([sums[..., 0:4], x_tie, sums[..., 4:6], y_tie], axis=-1)


@dataclass
class MatrixCell:
    agreement: Interval
    cohen_kappa: Interval
    n: int


@dataclass
class AgreementMatrix:
    """Raw agreement and Cohen's κ between every two judges on the items both gave a usable verdict (ties count as
    a third label); the diagonal is None."""

    judges: list[str]
    cells: list[list[MatrixCell | None]]

    def to_dict(self) -> dict[str, Any]:
        def grid(attribute: str) -> list[list[Any]]:
            return [
                [None if cell is None else getattr(cell, attribute).to_dict() for cell in row] for row in self.cells
            ]

        return {
            "judges": self.judges,
            "agreement": grid("agreement"),
            "cohen_kappa": grid("cohen_kappa"),
            "n": [[None if cell is None else cell.n for cell in row] for row in self.cells],
        }


def agreement_matrix(judge_data: JudgeData, judges: Sequence[str], scope: Scope | None = None) -> AgreementMatrix:
    """Every two judges' agreement and κ, over all items or one scope's (a category: its prompts' resamples)."""
    index = [judge_data.judge_index(name) for name in judges]
    labels = judge_data.items.label
    prompt = judge_data.data.item_prompt
    n_prompts, columns = judge_data.data.n_prompts, None
    if scope is not None:
        inside = np.flatnonzero(scope.items)
        labels, prompt = labels[:, inside], scope.local[prompt[inside]]
        n_prompts, columns = scope.size, scope.prompts
    pairs = list(combinations(range(len(index)), 2))
    cells: list[list[MatrixCell | None]] = [[None] * len(index) for _ in index]
    resamples = judge_data.resamples
    for start in range(0, len(pairs), MATRIX_CHUNK):
        chunk = pairs[start : start + MATRIX_CHUNK]
        blocks = []
        for i, j in chunk:
            x, y = labels[index[i]], labels[index[j]]
            blocks.append(bootstrap.per_prompt(prompt, _kappa_columns(x, y, _usable(x) & _usable(y)), n_prompts))
        sums = np.concatenate(blocks, axis=1)
        resampled = resamples.resample(sums, columns) if resamples.resamples else None
        totals = sums.sum(axis=0)
        for k, (i, j) in enumerate(chunk):
            part = slice(6 * k, 6 * k + 6)
            total, sample = _with_ties(totals[part]), None if resampled is None else _with_ties(resampled[:, part])
            agree = bootstrap.interval(
                bootstrap.ratio,
                total[[1, 0]],
                None if sample is None else sample[:, [1, 0]],
                "no items that both judged",
            )
            kappa = bootstrap.interval(bootstrap.kappa, total, sample, bootstrap.kappa_reason)
            cells[i][j] = cells[j][i] = MatrixCell(agree, kappa, int(total[0]))
    return AgreementMatrix(list(judges), cells)


def fleiss_kappa(judge_data: JudgeData, judges: Sequence[str], scope: Scope | None = None) -> Interval:
    """Fleiss' κ over the items (of `scope`, when given) every one of `judges` gave a usable verdict (A, B, tie as
    three categories)."""
    if len(judges) < 2:
        return Interval.undefined("Fleiss' κ needs at least two judges")
    labels = judge_data.items.label[[judge_data.judge_index(name) for name in judges]]  # (m, N)
    every = _usable(labels).all(axis=0)
    if scope is not None:
        every &= scope.items
    item = np.nonzero(every)[0]
    if not len(item):
        return Interval.undefined("no items that every judge of the set judged")
    m = len(judges)
    counts = np.stack([(labels[:, item] == c).sum(axis=0) for c in (A, B, TIE)]).astype(float)  # (3, n)
    agreement = ((counts**2).sum(axis=0) - m) / (m * (m - 1))
    columns = np.vstack([np.ones(len(item)), agreement, counts])
    return judge_data.interval(
        bootstrap.fleiss(m), item, columns, "p_e = 1: every verdict is the same label, so κ is undefined", scope
    )


ORDINAL = {A: 0, TIE: 1, B: 2}  # e(A) = 1 < e(T) = 1.5 < e(B) = 2


def krippendorff_alpha(judge_data: JudgeData, judges: Sequence[str], scope: Scope | None = None) -> Interval:
    """Krippendorff's α, ordinal (A < tie < B), over every item (of `scope`, when given) two or more of `judges`
    judged (missing verdicts allowed). n: the pairable items."""
    labels = judge_data.items.label[[judge_data.judge_index(name) for name in judges]]
    counts = np.stack([(labels == code).sum(axis=0) for code in (A, TIE, B)], axis=-1).astype(float)  # ordinal order
    raters = counts.sum(axis=1)
    item = np.nonzero((raters >= 2) & (True if scope is None else scope.items))[0]
    if not len(item):
        return Interval.undefined("no items with verdicts from two of the judges")
    c = counts[item]
    o = (c[:, :, None] * c[:, None, :] - c[:, :, None] * np.eye(3)[None]) / (raters[item] - 1)[:, None, None]
    columns = np.vstack([o.reshape(len(item), 9).T, np.ones(len(item))])
    return judge_data.interval(
        bootstrap.krippendorff_ordinal, item, columns, "no disagreement is possible: one value only", scope
    )


def kendall_tau_b(first: Sequence[float], second: Sequence[float]) -> float | None:
    """Kendall's τ-b between two orderings of the same list (ranks or scores, ties allowed); None when either is
    constant. Equal to `scipy.stats.kendalltau(first, second, variant="b")`."""
    x, y = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if len(x) != len(y):
        raise ValueError("both orderings must cover the same list")
    i, j = np.triu_indices(len(x), k=1)
    dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    s = float((dx * dy).sum())
    pairs_x, pairs_y = float((dx != 0).sum()), float((dy != 0).sum())
    if pairs_x == 0 or pairs_y == 0:
        return None
    return s / np.sqrt(pairs_x * pairs_y)


@dataclass(frozen=True)
class McNemar:
    """McNemar's exact test on two judges' correctness over the same items (reference and both verdicts not a tie):
    b = first right and second wrong, c = the reverse; p = min(1, 2 · Binomial(b + c, ½).cdf(min(b, c)))."""

    first: str
    second: str
    n: int
    b: int
    c: int
    p_value: float
    accuracy_difference: Interval  # first's accuracy - second's, paired bootstrap

    def to_dict(self) -> dict[str, Any]:
        return {
            "first": self.first,
            "second": self.second,
            "n": self.n,
            "b": self.b,
            "c": self.c,
            "p_value": self.p_value,
            "accuracy_difference": self.accuracy_difference.to_dict(),
        }


def _difference(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = sums[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, (sums[..., 0] - sums[..., 1]) / np.where(n > 0, n, 1), np.nan), n


def mcnemar(judge_data: JudgeData, first: str, second: str, reference: np.ndarray) -> McNemar:
    """reference: (N,) reference codes per item (-1 where none), e.g. `JudgesReport.reference_labels`."""
    x = judge_data.items.label[judge_data.judge_index(first)]
    y = judge_data.items.label[judge_data.judge_index(second)]
    decisive = (reference >= 0) & (reference < TIE) & (x >= 0) & (x < TIE) & (y >= 0) & (y < TIE)
    item = np.nonzero(decisive)[0]
    right_x, right_y = x[item] == reference[item], y[item] == reference[item]
    b, c = int((right_x & ~right_y).sum()), int((~right_x & right_y).sum())
    p_value = min(1.0, 2.0 * float(binom.cdf(min(b, c), b + c, 0.5)))
    columns = np.vstack([right_x, right_y, np.ones(len(item))]).astype(float)
    diff = judge_data.interval(_difference, item, columns, "no items where the reference and both judges decide")
    return McNemar(first, second, len(item), b, c, p_value, diff)


def human_vote_counts(judge_data: JudgeData, humans: Collection[str] | None) -> np.ndarray:
    """(N, 3) every usable human vote per item (each verdict row counts, as FastChat counts every vote)."""
    data = judge_data.data
    human = np.zeros(len(data.judges), dtype=bool)
    human[human_indices(data, humans)] = True
    rows = human[data.judge] & (data.label < UNPARSED)
    counts = np.bincount(data.item[rows].astype(np.int64) * 3 + data.label[rows], minlength=data.n_items * 3)
    return counts.reshape(data.n_items, 3).astype(float)


def mtbench_agreement(
    judge_data: JudgeData, judge: str, *, humans: Collection[str] | None = None, ties: bool = True
) -> Interval:
    """FastChat's judge-vs-human agreement: the judge's verdict on an item compared with every human vote on it,
    pooled over all (item, vote) comparisons (Σ agree / Σ compared). With ties, a tie equals a tie (FastChat's
    "tie (inconsistent)" is a tie); without ties, an item whose judge verdict is a tie is dropped, and so is every
    tie vote."""
    y = judge_data.items.label[judge_data.judge_index(judge)].astype(np.int64)
    counts = human_vote_counts(judge_data, humans)
    valid = _usable(y) & (counts.sum(axis=1) > 0)
    if not ties:
        counts = counts.copy()
        counts[:, TIE] = 0
        valid &= (y != TIE) & (counts.sum(axis=1) > 0)
    item = np.nonzero(valid)[0]
    agree = counts[item, y[item]]
    columns = np.vstack([agree, counts[item].sum(axis=1)])
    return judge_data.interval(bootstrap.ratio, item, columns, "no items with a judge verdict and a human vote")


def mtbench_human_agreement(
    judge_data: JudgeData, *, humans: Collection[str] | None = None, ties: bool = True
) -> Interval:
    """FastChat's human-vs-human agreement: every unordered pair of human votes on an item, pooled; without ties a
    pair with a tie on either side is dropped. n: the pairs compared."""
    counts = human_vote_counts(judge_data, humans)
    if not ties:
        counts[:, TIE] = 0
    votes = counts.sum(axis=1)
    item = np.nonzero(votes >= 2)[0]
    c = counts[item]
    agree = (c * (c - 1) / 2).sum(axis=1)
    pairs = votes[item] * (votes[item] - 1) / 2
    return judge_data.interval(bootstrap.ratio, item, np.vstack([agree, pairs]), "no items with two human votes")
