"""Agreement between judges of the same comparison, and the label-noise rate it implies. No Django.

An ordering here is `{response_id: rank}` (rank 1 = best, equal ranks = tie).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from itertools import combinations
from typing import Any


def outcome(ranks: dict[int, int], a: int, b: int) -> int:
    """+1 when a is ranked above b, -1 below, 0 tied (a < b by id, so a pair has one spelling)."""
    rank_a, rank_b = ranks[a], ranks[b]
    return 0 if rank_a == rank_b else (1 if rank_a < rank_b else -1)


def comparison_agreement(orderings: Sequence[dict[int, int]]) -> float | None:
    """How much the judges of one comparison agree: for each pair of its responses, the share of judgments that
    give the most common outcome (a above b, b above a, or a tie), averaged over the pairs. 1.0 is unanimous; a 2-1
    split on a pair is 0.667. None with fewer than two judgments (agreement needs two judges)."""
    if len(orderings) < 2:
        return None
    responses = sorted(set(orderings[0]).intersection(*orderings[1:]))
    if len(responses) < 2:
        return None
    shares = []
    for a, b in combinations(responses, 2):
        counts = Counter(outcome(ranks, a, b) for ranks in orderings)
        shares.append(max(counts.values()) / len(orderings))
    return sum(shares) / len(shares)


class Agreement:
    """A running mean of comparison agreement (and how many comparisons were unanimous)."""

    def __init__(self) -> None:
        self.comparisons = 0
        self.total = 0.0
        self.unanimous = 0

    def add(self, value: float) -> None:
        self.comparisons += 1
        self.total += value
        self.unanimous += value >= 1.0 - 1e-12

    def as_dict(self) -> dict[str, Any]:
        n = self.comparisons
        return {
            "comparisons": n,
            "mean": self.total / n if n else None,
            "unanimous": self.unanimous,
            "unanimous_share": self.unanimous / n if n else None,
        }


def flip_rate_from_agreement(agreement: float) -> float:
    """Flip rate e of a symmetric label-noise model with two independent judges agreeing with probability a.

    a = (1 - e)^2 + e^2  =>  e = (1 - sqrt(2a - 1)) / 2, clipped to [0, 0.49] (a <= 0.5 says labels are noise).
    """
    return min(0.49, max(0.0, (1.0 - math.sqrt(max(0.0, 2.0 * agreement - 1.0))) / 2.0))


Preferences = dict[tuple[Hashable, Hashable], int]  # (a, b) with a < b -> +1 (a better) or -1 (b better)


def untied_agreement(judgments_by_comparison: Iterable[Sequence[Preferences]]) -> tuple[int, int]:
    """(agreeing, compared): over every two judgments of a comparison, the response pairs that both call untied,
    and how many of those they order the same way."""
    agree = total = 0
    for judgments in judgments_by_comparison:
        for first, second in combinations(judgments, 2):
            for pair in first.keys() & second.keys():
                total += 1
                agree += first[pair] == second[pair]
    return agree, total
