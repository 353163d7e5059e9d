"""Pairs induced by orderings, their margins, and agreement between judges. No Django: plain tuples in and out.

An ordering is a list of placements `(response_id, rank, score)`, rank 1 = best, equal ranks = tie, sorted by
(rank, response_id). A pair is `(better, worse, tie)`; for a tie, `better` is simply the one listed first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import combinations

Placement = tuple[int, int, "float | None"]  # (response id, rank, score)
Pair = tuple[int, int, bool]  # (better, worse, tie)


def induced_pairs(placements: Sequence[Placement], mode: str = "all") -> list[Pair]:
    """The pairs an ordering implies.

    - `all`: every two responses (n(n-1)/2 pairs);
    - `best_vs_rest`: every pair with a best-ranked response in it (ties inside the best group included);
    - `adjacent`: each response against those in the next rank group, and ties inside a group.
    """
    if len(placements) == 2:  # the pairwise case, every mode alike
        (a, rank_a, _), (b, rank_b, _) = placements
        if rank_a == rank_b:
            return [(a, b, True)]
        return [(a, b, False)] if rank_a < rank_b else [(b, a, False)]
    ordered = sorted(placements, key=lambda p: (p[1], p[0]))
    if mode == "all":
        return [(a[0], b[0], a[1] == b[1]) for a, b in combinations(ordered, 2)]
    groups: list[list[int]] = []
    last_rank = None
    for response_id, rank, _ in ordered:
        if rank != last_rank:
            groups.append([])
            last_rank = rank
        groups[-1].append(response_id)
    pairs: list[Pair] = []
    if mode == "best_vs_rest":
        best = groups[0]
        pairs += [(a, b, True) for a, b in combinations(best, 2)]
        pairs += [(a, b, False) for a in best for group in groups[1:] for b in group]
        return pairs
    if mode == "adjacent":
        for index, group in enumerate(groups):
            pairs += [(a, b, True) for a, b in combinations(group, 2)]
            if index + 1 < len(groups):
                pairs += [(a, b, False) for a in group for b in groups[index + 1]]
        return pairs
    raise ValueError(f"unknown pair mode {mode!r}")


def judgment_margin(margin: float | None, strength: int | None) -> float:
    """TRL's `margin` from a judgment: its numeric margin if it has one, else its strength (an index into the
    project's scale, weakest = 0) plus one, else 0 (no margin: the plain Bradley-Terry loss)."""
    if margin is not None:
        return float(margin)
    if strength is not None:
        return float(strength + 1)
    return 0.0


def pair_margin(
    mode: str,
    pair: Pair,
    ranks: dict[int, int],
    scores: dict[int, float | None],
    margin: float | None,
    strength: int | None,
) -> float:
    better, worse, tie = pair
    if tie:
        return 0.0
    if mode == "rank_gap":
        return float(ranks[worse] - ranks[better])
    if mode == "score_gap":
        high, low = scores.get(better), scores.get(worse)
        return float(high - low) if high is not None and low is not None else 0.0
    return judgment_margin(margin, strength)


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
