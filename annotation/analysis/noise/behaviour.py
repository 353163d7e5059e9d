"""Behaviour of one annotator (JUDGING.md detector 5). Each score is P(label wrong) read as RANDOM_WRONG times the
evidence that the judgment was not genuinely made, so a pure clicker's labels score 0.5 (half are right by chance)
and normal annotators stay at 0.

`too_fast`: time on an item far under the annotator's own median, or the annotator's median far under the other
annotators' (a uniformly fast clicker has a normal-looking own median). Ratio 0.5 or more: 0; 0.1 or less: full
evidence; linear in log ratio between.

`long_run`: runs of one answer (A / B / tie by response id) or one shown position (first / second) in the judge's own
time order, on pairwise judgments. The chance of a run this long anywhere in n verdicts at the other judges' rate q
of that value is p = 1 - exp(-n (1 - q) q^L); evidence is `strength_from_p(p)`.

`position_bias`: an annotator's first-shown rate r far from 0.5 (two-sided binomial test). If a share b of picks
go to one side regardless of content, r = b + (1 - b)/2, so b = |2r - 1|, and a pick of the favoured side is
content-blind with probability b / max(r, 1 - r).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binom

from annotation.analysis.noise.grouping import RANDOM_WRONG, strength_from_p, suspicions
from annotation.analysis.noise.records import A_WINS, B_WINS, UNKNOWN, NoiseInput
from annotation.analysis.noise.suspicion import Suspicion

FAST_RATIO = (0.5, 0.1)  # no evidence at or above the first ratio, full evidence at or under the second
RATE_CLIP = (0.05, 0.95)  # other judges' rate of a value, kept off 0 and 1 so one run cannot be infinitely unlikely
POSITION_NAMES = {1: "the first-shown response", 2: "the second-shown response", 0: "tie"}
ANSWER_NAMES = {A_WINS: "response A", B_WINS: "response B", 0: "tie"}


def _ratio_evidence(ratio: np.ndarray) -> np.ndarray:
    hi, lo = np.log(FAST_RATIO[0]), np.log(FAST_RATIO[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        evidence = (hi - np.log(ratio)) / (hi - lo)
    return np.clip(np.nan_to_num(evidence, nan=0.0, posinf=1.0), 0.0, 1.0)


def _first_row(judgment_id: np.ndarray) -> np.ndarray:
    _, first = np.unique(judgment_id, return_index=True)
    mask = np.zeros(len(judgment_id), dtype=bool)
    mask[first] = True
    return mask


def too_fast(records: NoiseInput) -> list[Suspicion]:
    usable = _first_row(records.judgment_id) & records.judge_is_human & np.isfinite(records.duration_ms)
    if not usable.any():
        return []
    frame = pd.DataFrame({"j": records.judge_id[usable], "d": records.duration_ms[usable]})
    medians = frame.groupby("j")["d"].median()
    own = medians.reindex(records.judge_id).to_numpy(dtype=float)
    item_ratio = records.duration_ms / own
    peers = np.full(len(records), np.nan)
    if len(medians) >= 3:
        values = medians.to_numpy(dtype=float)
        others = {j: float(np.median(np.delete(values, i))) for i, j in enumerate(medians.index.tolist())}
        peers = np.array([others.get(int(j), np.nan) for j in records.judge_id.tolist()])
    judge_ratio = own / peers
    item_ev = np.where(usable, _ratio_evidence(item_ratio), 0.0)
    judge_ev = np.where(usable, _ratio_evidence(judge_ratio), 0.0)
    score = RANDOM_WRONG * np.maximum(item_ev, judge_ev)
    # Every row of a listwise judgment shares its duration; the first row stands for the judgment.
    mask = usable & (score > 0)

    def describe(rows: np.ndarray) -> tuple[list[str], list[dict]]:
        by_judge = (judge_ev[rows] >= item_ev[rows]).tolist()
        seconds = np.round(records.duration_ms[rows] / 1000, 1).tolist()
        own_s, peer_s = np.round(own[rows] / 1000, 1).tolist(), np.round(peers[rows] / 1000, 1).tolist()
        item_r, judge_r = np.round(item_ratio[rows], 2).tolist(), np.round(judge_ratio[rows], 2).tolist()
        reasons = [
            f"annotator's median time {o} s is {jr:.2f} of the other annotators' {p} s"
            if j
            else f"took {d} s, {ir:.2f} of this annotator's median {o} s"
            for j, d, o, p, ir, jr in zip(by_judge, seconds, own_s, peer_s, item_r, judge_r, strict=True)
        ]
        return reasons, [{"seconds": d, "own_median_seconds": o} for d, o in zip(seconds, own_s, strict=True)]

    return suspicions(records, score, mask, describe)


def _pairwise_rows(records: NoiseInput) -> np.ndarray:
    """Rows of judgments that have exactly one row (pairwise), in the judge's own time order."""
    _, inverse, counts = np.unique(records.judgment_id, return_inverse=True, return_counts=True)
    rows = np.flatnonzero(counts[inverse] == 1)
    return rows[np.lexsort([records.judge_sequence[rows], records.judge_id[rows]])]


def _run_scores(judge: np.ndarray, value: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row (already in judge/time order): the run length of its value and the run's evidence of not being
    genuine. Rows with an unknown value break runs and score 0."""
    n = len(judge)
    if not n:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    key = np.where(known, value, np.iinfo(np.int64).min + np.arange(n))
    start = np.ones(n, dtype=bool)
    start[1:] = (judge[1:] != judge[:-1]) | (key[1:] != key[:-1])
    run = np.cumsum(start) - 1
    length = np.bincount(run)[run]
    frame = pd.DataFrame({"j": judge[known], "v": value[known]})
    own = frame.groupby(["j", "v"]).size()
    total = frame.groupby("v").size()
    per_judge = frame.groupby("j").size()
    index = pd.MultiIndex.from_arrays([judge, value])
    own_count = own.reindex(index).fillna(0).to_numpy(dtype=float)
    own_n = per_judge.reindex(judge).fillna(0).to_numpy(dtype=float)
    other_count = total.reindex(value).fillna(0).to_numpy(dtype=float) - own_count
    other_n = float(known.sum()) - own_n
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.clip(np.where(other_n > 0, other_count / other_n, 0.5), *RATE_CLIP)
    log_lambda = np.log(np.maximum(own_n, 1)) + np.log1p(-q) + length * np.log(q)
    p = -np.expm1(-np.exp(log_lambda))
    return length, np.where(known, strength_from_p(p), 0.0)


def long_runs(records: NoiseInput) -> list[Suspicion]:
    rows = _pairwise_rows(records)
    if not len(rows):
        return []
    judge, outcome, first = records.judge_id[rows], records.outcome[rows].astype(np.int64), records.a_shown_first[rows]
    picked_first = ((outcome == A_WINS) & (first == 1)) | ((outcome == B_WINS) & (first == 0))
    position = np.where(outcome == 0, 0, np.where(picked_first, 1, 2))
    answer_len, answer_ev = _run_scores(judge, outcome, np.ones(len(rows), dtype=bool))
    position_len, position_ev = _run_scores(judge, position, first != UNKNOWN)
    by_position = position_ev > answer_ev
    evidence = np.maximum(answer_ev, position_ev)
    score = np.zeros(len(records))
    score[rows] = RANDOM_WRONG * evidence
    mask = np.zeros(len(records), dtype=bool)
    mask[rows] = evidence > 0
    at = np.full(len(records), -1, dtype=np.int64)
    at[rows] = np.arange(len(rows))

    def describe(rows: np.ndarray) -> tuple[list[str], list[dict]]:
        i = at[rows]
        positional = by_position[i].tolist()
        lengths = np.where(by_position[i], position_len[i], answer_len[i]).tolist()
        values = [
            POSITION_NAMES[p] if bp else ANSWER_NAMES[o]
            for bp, p, o in zip(positional, position[i].tolist(), outcome[i].tolist(), strict=True)
        ]
        reasons = [f"one of {n} verdicts in a row for {v}" for n, v in zip(lengths, values, strict=True)]
        return reasons, [{"run": n, "by_position": bp} for n, bp in zip(lengths, positional, strict=True)]

    return suspicions(records, score, mask, describe)


def first_shown_rates(records: NoiseInput) -> pd.DataFrame:
    """Per judge with known shown order on strict pairwise verdicts: n, first-shown picks, rate, two-sided p."""
    rows = _pairwise_rows(records)
    outcome, first = records.outcome[rows], records.a_shown_first[rows]
    usable = (first != UNKNOWN) & (outcome != 0)
    rows = rows[usable]
    picked_first = ((records.outcome[rows] == A_WINS) & (records.a_shown_first[rows] == 1)) | (
        (records.outcome[rows] == B_WINS) & (records.a_shown_first[rows] == 0)
    )
    frame = pd.DataFrame({"j": records.judge_id[rows], "f": picked_first})
    stats = frame.groupby("j")["f"].agg(n="size", first="sum")
    n, k = stats["n"].to_numpy(), stats["first"].to_numpy()
    stats["rate"] = k / np.maximum(n, 1)
    stats["p_value"] = np.minimum(1.0, 2 * np.minimum(binom.cdf(k, n, 0.5), binom.sf(k - 1, n, 0.5)))
    return stats


def position_bias(records: NoiseInput) -> list[Suspicion]:
    stats = first_shown_rates(records)
    if stats.empty:
        return []
    rate = stats["rate"].to_numpy(dtype=float)
    favoured_rate = np.maximum(rate, 1 - rate)
    blind = np.abs(2 * rate - 1) / favoured_rate
    judge_score = pd.Series(
        RANDOM_WRONG * blind * strength_from_p(stats["p_value"].to_numpy(dtype=float)), index=stats.index
    )
    favours_first = pd.Series(rate > 0.5, index=stats.index)
    rows = _pairwise_rows(records)
    rows = rows[(records.a_shown_first[rows] != UNKNOWN) & (records.outcome[rows] != 0)]
    judge = records.judge_id[rows]
    picked_first = ((records.outcome[rows] == A_WINS) & (records.a_shown_first[rows] == 1)) | (
        (records.outcome[rows] == B_WINS) & (records.a_shown_first[rows] == 0)
    )
    favoured = picked_first == favours_first.reindex(judge).to_numpy(dtype=bool)
    score = np.zeros(len(records))
    score[rows] = np.where(favoured, judge_score.reindex(judge).to_numpy(dtype=float), 0.0)
    mask = score > 0
    rate_of = stats["rate"].to_dict()
    n_of = stats["n"].to_dict()

    def describe(rows: np.ndarray) -> tuple[list[str], list[dict]]:
        judges = records.judge_id[rows].tolist()
        reasons = [
            f"annotator picks the first-shown response in {rate_of[j]:.0%} of {n_of[j]} pairs; "
            "this pick is on the favoured side"
            for j in judges
        ]
        return reasons, [{"first_rate": round(rate_of[j], 4)} for j in judges]

    return suspicions(records, score, mask, describe)
