"""Judges on lists (three or more responses ordered at once): Kendall's τ-b between two judges' orderings of the same
list, averaged over the lists both ordered, and Krippendorff's α (ordinal) over every judge's rank of every response.
Each with n and a 95% bootstrap interval over prompts. No Django."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import krippendorff
import numpy as np

from annotation.analysis.bootstrap import RESAMPLES, Interval
from annotation.analysis.judge_pairs import kendall_tau_b


@dataclass(frozen=True, slots=True)
class ListVerdict:
    item: int  # the comparison
    prompt: str  # bootstrap resamples prompts
    judge: str
    ranks: Mapping[int, int]  # response id -> rank (1 = best, equal = tie)


@dataclass(frozen=True)
class ListsReport:
    judges: list[str]
    lists: int
    tau_b: list[list[Interval | None]]  # (J, J) mean τ-b over the lists both judges ordered; None on the diagonal
    alpha: Interval

    def to_dict(self) -> dict[str, Any]:
        return {
            "judges": self.judges,
            "lists": self.lists,
            "kendall_tau_b": [[None if cell is None else cell.to_dict() for cell in row] for row in self.tau_b],
            "krippendorff_alpha": self.alpha.to_dict(),
        }


def _interval(values: np.ndarray, prompts: np.ndarray, resamples: int, seed: int, reason: str) -> Interval:
    """Mean of per-list values, resampling prompts (each prompt's lists together)."""
    if len(values) == 0:
        return Interval.undefined(reason)
    value = float(values.mean())
    if not resamples:
        return Interval(value, None, None, len(values))
    codes, prompt = np.unique(prompts, return_inverse=True)
    sums = np.bincount(prompt, weights=values, minlength=len(codes))
    counts = np.bincount(prompt, minlength=len(codes)).astype(float)
    draws = np.random.default_rng(seed).integers(0, len(codes), size=(resamples, len(codes)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(value, float(low), float(high), len(values))


def _alpha(verdicts: Sequence[ListVerdict], judges: list[str], resamples: int, seed: int) -> Interval:
    """Krippendorff's α (ordinal, the `krippendorff` package): units are (list, response), values the judges' ranks;
    the bootstrap resamples prompts and keeps each drawn prompt's units together."""
    units: dict[tuple[int, int], int] = {}
    unit_prompt: list[str] = []
    for verdict in verdicts:
        for response in verdict.ranks:
            if (verdict.item, response) not in units:
                units[(verdict.item, response)] = len(units)
                unit_prompt.append(verdict.prompt)
    data = np.full((len(judges), len(units)), np.nan)
    index = {name: j for j, name in enumerate(judges)}
    for verdict in verdicts:
        for response, rank in verdict.ranks.items():
            data[index[verdict.judge], units[(verdict.item, response)]] = rank
    paired = (~np.isnan(data)).sum(axis=0) >= 2
    if paired.sum() < 2 or len(np.unique(data[~np.isnan(data)])) < 2:
        return Interval.undefined("fewer than two responses ranked by two judges, or a single rank value")
    data, prompts = data[:, paired], np.array(unit_prompt)[paired]
    value = float(krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal"))
    if not resamples:
        return Interval(value, None, None, int(paired.sum()))
    codes, prompt = np.unique(prompts, return_inverse=True)
    by_prompt = [np.flatnonzero(prompt == p) for p in range(len(codes))]
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(resamples):
        columns = np.concatenate([by_prompt[p] for p in rng.integers(0, len(codes), len(codes))])
        sample = data[:, columns]
        if len(np.unique(sample[~np.isnan(sample)])) > 1:
            samples.append(krippendorff.alpha(reliability_data=sample, level_of_measurement="ordinal"))
    low, high = np.percentile(samples, [2.5, 97.5]) if samples else (None, None)
    return Interval(value, None if low is None else float(low), None if high is None else float(high), data.shape[1])


def lists_report(verdicts: Sequence[ListVerdict], *, resamples: int = RESAMPLES, seed: int = 0) -> ListsReport:
    """Judge × judge mean Kendall τ-b over shared lists, and Krippendorff's α over all judges' ranks."""
    judges = sorted({v.judge for v in verdicts})
    by_item: dict[int, dict[str, ListVerdict]] = defaultdict(dict)
    for verdict in verdicts:
        by_item[verdict.item][verdict.judge] = verdict  # a judge's latest ordering of a list
    cells: dict[tuple[str, str], tuple[list[float], list[str]]] = defaultdict(lambda: ([], []))
    for judged in by_item.values():
        for first, second in combinations(sorted(judged), 2):
            a, b = judged[first], judged[second]
            shared = sorted(set(a.ranks) & set(b.ranks))
            if len(shared) < 2:
                continue
            tau = kendall_tau_b([a.ranks[r] for r in shared], [b.ranks[r] for r in shared])
            if tau is not None:
                cells[(first, second)][0].append(tau)
                cells[(first, second)][1].append(a.prompt)
    matrix: list[list[Interval | None]] = [[None] * len(judges) for _ in judges]
    for i, first in enumerate(judges):
        for j, second in enumerate(judges):
            if i < j:
                values, prompts = cells.get((first, second), ([], []))
                matrix[i][j] = matrix[j][i] = _interval(
                    np.array(values), np.array(prompts), resamples, seed, "no list both judges ordered with two ranks"
                )
    return ListsReport(judges, len(by_item), matrix, _alpha(list(verdicts), judges, resamples, seed))
