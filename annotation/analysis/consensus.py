"""One consensus verdict per prompt and response pair, from many judges' votes. numpy only; no Django.

Votes for a pair are counted as `[a wins, b wins, ties]` with a < b (response ids). Two methods:

- **majority**: the outcome with the most votes; when a and b have equal votes, or ties have at least as many votes
  as the leading side, the verdict is a tie. The margin is (votes for the winner - votes for the loser) / votes.
- **bradley_terry**: one Bradley-Terry fit per prompt over all its vote counts (a tie counts half a win each way),
  with a pseudo-count of `PRIOR` wins each way on every compared pair so that a response that always wins still
  gets a finite strength. The winner of a pair is the response with the higher strength; the margin is the
  difference of log-strengths (the log-odds that the chosen beats the rejected). Fitted with Hunter's (2004) MM
  iterations, which converge for any connected comparison graph (the pseudo-counts make every compared pair count
  both ways).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

PRIOR = 0.5
TIE_EPSILON = 1e-9


@dataclass(frozen=True)
class Verdict:
    better: int
    worse: int
    tie: bool
    margin: float
    votes_better: int
    votes_worse: int
    votes_tie: int

    @property
    def votes(self) -> int:
        return self.votes_better + self.votes_worse + self.votes_tie


def majority(a: int, b: int, counts: list[int]) -> Verdict:
    wins_a, wins_b, ties = counts
    total = wins_a + wins_b + ties
    lead = max(wins_a, wins_b)
    if wins_a == wins_b or ties >= lead:
        return Verdict(a, b, True, 0.0, wins_a, wins_b, ties)
    if wins_a > wins_b:
        return Verdict(a, b, False, (wins_a - wins_b) / total, wins_a, wins_b, ties)
    return Verdict(b, a, False, (wins_b - wins_a) / total, wins_b, wins_a, ties)


def bradley_terry(
    n: int, wins: np.ndarray, *, prior: float = PRIOR, max_iter: int = 1000, tol: float = 1e-10
) -> np.ndarray:
    """Log-strengths (mean 0 per connected set of compared items) from `wins[i, j]` = times i beat j (ties as 0.5
    each way). Shape: wins (n, n) -> theta (n,)."""
    wins = np.asarray(wins, dtype=float)
    compared = (wins + wins.T) > 0
    w = wins + prior * compared  # pseudo-counts both ways on every compared pair
    games = w + w.T  # (n, n): comparisons between i and j
    total_wins = w.sum(axis=1)  # (n,)
    p = np.ones(n)
    active = total_wins > 0
    for _ in range(max_iter):
        denominator = (games / (p[:, None] + p[None, :])).sum(axis=1)
        new = np.where(active, total_wins / np.where(denominator > 0, denominator, 1.0), 1.0)
        new /= np.exp(np.log(new[active]).mean()) if active.any() else 1.0
        if np.max(np.abs(np.log(new) - np.log(p))) < tol:
            p = new
            break
        p = new
    theta = np.log(p)
    return theta - theta[active].mean() if active.any() else theta


def consensus_verdicts(votes: dict[tuple[int, int], list[int]], method: str) -> list[Verdict]:
    """One verdict per voted pair of one prompt, in the order of `votes` (keys are (a, b) with a < b)."""
    if method == "majority":
        return [majority(a, b, counts) for (a, b), counts in votes.items()]
    if method != "bradley_terry":
        raise ValueError(f"unknown consensus method {method!r}")
    items = sorted({i for pair in votes for i in pair})
    index = {item: k for k, item in enumerate(items)}
    wins = np.zeros((len(items), len(items)))
    for (a, b), (wins_a, wins_b, ties) in votes.items():
        wins[index[a], index[b]] += wins_a + ties / 2
        wins[index[b], index[a]] += wins_b + ties / 2
    theta = bradley_terry(len(items), wins)
    verdicts = []
    for (a, b), (wins_a, wins_b, ties) in votes.items():
        gap = float(theta[index[a]] - theta[index[b]])
        if abs(gap) < TIE_EPSILON:
            verdicts.append(Verdict(a, b, True, 0.0, wins_a, wins_b, ties))
        elif gap > 0:
            verdicts.append(Verdict(a, b, False, gap, wins_a, wins_b, ties))
        else:
            verdicts.append(Verdict(b, a, False, -gap, wins_b, wins_a, ties))
    return verdicts


def count_votes(pairs: Iterable[tuple[int, int, bool]], into: dict[tuple[int, int], list[int]]) -> None:
    """Add induced pairs (better, worse, tie) to vote counts keyed by (smaller id, larger id)."""
    for better, worse, tie in pairs:
        if better < worse:
            counts = into.setdefault((better, worse), [0, 0, 0])
            counts[2 if tie else 0] += 1
        else:
            counts = into.setdefault((worse, better), [0, 0, 0])
            counts[2 if tie else 1] += 1
