"""Pairs induced by orderings and their margins: the one definition that exports, training, agreement and the judge
statistics use. No Django: plain tuples in and out.

An ordering is a list of placements `(response_id, rank, score)`, rank 1 = best, equal ranks = tie. A pair is
`(better, worse, tie)`; for a tie, `better` is simply the one listed first.
"""

from __future__ import annotations

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


def rank_pairs(ranks: Sequence[int]) -> list[Pair]:
    """The pairs of one ordering given as ranks by position (`ranks[i]` is response i's rank): (better, worse, tie) as
    positions, for every two positions i < j in listed order; a tie keeps the listed order."""
    out: list[Pair] = []
    for i, j in combinations(range(len(ranks)), 2):
        rank_i, rank_j = ranks[i], ranks[j]
        out.append((i, j, True) if rank_i == rank_j else ((i, j, False) if rank_i < rank_j else (j, i, False)))
    return out


def stated_margin(margin: float | None, strength: int | None) -> float | None:
    """The margin a judgment states: its numeric margin if it has one, else its strength (an index into the
    project's scale, weakest = 0) plus one, so every stated preference has a positive margin that grows with its
    strength; None when it states neither."""
    if margin is not None:
        return float(margin)
    if strength is not None and strength >= 0:
        return float(strength + 1)
    return None


def judgment_margin(margin: float | None, strength: int | None) -> float:
    """TRL's `margin` column: the stated margin, or 0 when none (the plain Bradley-Terry loss)."""
    stated = stated_margin(margin, strength)
    return 0.0 if stated is None else stated


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
