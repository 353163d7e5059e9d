"""Synthetic pairwise judgments with known wrong labels, for the detectors' tests and benchmarks: prompts of three
responses with a hidden true order, every pair of a prompt a comparison, each judged by a few judges who are right
with their own accuracy. Judges can be made spammers (random or always the first-shown side) or too fast."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from annotation.analysis.noise.records import A_WINS, B_WINS, NoiseInput


@dataclass(frozen=True)
class Judges:
    accuracy: list[float]
    always_first: set[int] = field(default_factory=set)  # judge index -> picks the first-shown side every time
    median_seconds: list[float] | None = None  # per judge; default 20 s for everyone
    duration_sigma: float = 0.4  # log-normal spread of one judge's times


def synthetic(n_comparisons: int, judges: Judges, per_comparison: int, seed: int = 0) -> tuple[NoiseInput, np.ndarray]:
    """The records and, per row, whether its label is wrong (against the hidden true order)."""
    rng = np.random.default_rng(seed)
    n_judges = len(judges.accuracy)
    per_comparison = min(per_comparison, n_judges)
    comparison = np.arange(n_comparisons)
    prompt = comparison // 3
    pair = comparison % 3  # (0,1), (0,2), (1,2) of the prompt's three responses
    first = np.array([0, 0, 1])[pair]
    second = np.array([1, 2, 2])[pair]
    response_a, response_b = prompt * 3 + first, prompt * 3 + second
    utility = rng.normal(size=(n_comparisons // 3 + 1) * 3)
    truth_a = utility[response_a] > utility[response_b]

    # Each comparison gets `per_comparison` distinct judges: a random offset into a random rotation of all judges.
    offset = rng.integers(0, n_judges, size=n_comparisons)
    slot = np.arange(per_comparison)
    judge = (offset[:, None] + slot[None, :]) % n_judges
    rows = n_comparisons * per_comparison
    judge = judge.ravel()
    row_comparison = np.repeat(comparison, per_comparison)
    a_first = rng.random(rows) < 0.5
    accuracy = np.asarray(judges.accuracy)[judge]
    right = rng.random(rows) < accuracy
    says_a = np.where(right, truth_a[row_comparison], ~truth_a[row_comparison])
    if judges.always_first:
        clicker = np.isin(judge, list(judges.always_first))
        says_a = np.where(clicker, a_first, says_a)
    outcome = np.where(says_a, A_WINS, B_WINS).astype(np.int8)
    medians = np.asarray(judges.median_seconds or [20.0] * n_judges) * 1000
    duration = medians[judge] * np.exp(rng.normal(0, judges.duration_sigma, rows))
    # Judges work through comparisons in a shuffled order; judge_sequence is that order.
    sequence = np.empty(rows, dtype=np.int64)
    shuffled = rng.permutation(rows)
    for j in range(n_judges):
        mine = shuffled[judge[shuffled] == j]
        sequence[mine] = np.arange(len(mine))
    records = NoiseInput(
        judgment_id=np.arange(rows, dtype=np.int64) + 1,
        comparison_id=row_comparison.astype(np.int64) + 1,
        prompt_id=prompt[row_comparison].astype(np.int64) + 1,
        judge_id=judge.astype(np.int64) + 1,
        judge_is_human=np.ones(rows, dtype=bool),
        response_a=response_a[row_comparison].astype(np.int64) + 1,
        response_b=response_b[row_comparison].astype(np.int64) + 1,
        outcome=outcome,
        a_shown_first=a_first.astype(np.int8),
        order_key=np.zeros(rows, dtype=np.int64),
        duration_ms=duration,
        judge_sequence=sequence,
    )
    wrong = says_a != truth_a[row_comparison]
    return records, wrong
