"""Shared plumbing for the model-free detectors: the task index (one task = one response pair of one comparison),
label classes, per-judgment reduction of row scores, and the evidence-strength scale the behaviour detectors use."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from annotation.analysis.noise.records import A_WINS, B_WINS, TIE, NoiseInput
from annotation.analysis.noise.suspicion import Suspicion

CLASS_A, CLASS_B, CLASS_TIE = 0, 1, 2
CLASS_NAMES = ("A", "B", "tie")
# A judgment that is not genuine (random clicks) is still right half the time on a pair, so the behaviour detectors'
# P(wrong) is at most this times their evidence that the judgment is not genuine.
RANDOM_WRONG = 0.5


def label_class(outcome: np.ndarray) -> np.ndarray:
    """A_WINS -> 0, B_WINS -> 1, TIE -> 2."""
    out = np.full(len(outcome), CLASS_TIE, dtype=np.int64)
    out[outcome == A_WINS] = CLASS_A
    out[outcome == B_WINS] = CLASS_B
    return out


def n_classes(outcome: np.ndarray) -> int:
    return 3 if bool(np.any(outcome == TIE)) else 2


def task_index(records: NoiseInput) -> tuple[np.ndarray, int]:
    """One integer per row for its (comparison, response a, response b); and how many tasks there are."""
    frame = pd.DataFrame({"c": records.comparison_id, "a": records.response_a, "b": records.response_b})
    codes = frame.groupby(["c", "a", "b"], sort=False).ngroup().to_numpy(dtype=np.int64)
    return codes, int(codes.max()) + 1 if len(codes) else 0


def latest_per(keys: list[np.ndarray], sequence: np.ndarray) -> np.ndarray:
    """Boolean mask keeping, for each distinct key tuple, the row with the highest `sequence` (a judge's latest
    verdict on a task when it gave several)."""
    if not len(sequence):
        return np.zeros(0, dtype=bool)
    order = np.lexsort([sequence, *reversed(keys)])
    keep = np.zeros(len(sequence), dtype=bool)
    sorted_keys = [k[order] for k in keys]
    last = np.ones(len(order), dtype=bool)
    changed = np.zeros(len(order) - 1, dtype=bool)
    for k in sorted_keys:
        changed |= k[1:] != k[:-1]
    last[:-1] = changed
    keep[order[last]] = True
    return keep


def best_row_per_judgment(judgment_id: np.ndarray, score: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Row indices: for each judgment with a row in `mask`, its row of the highest score (a listwise judgment is
    as suspicious as its most suspicious pair)."""
    rows = np.flatnonzero(mask)
    if not len(rows):
        return rows
    order = rows[np.lexsort([-score[rows], judgment_id[rows]])]
    first = np.ones(len(order), dtype=bool)
    first[1:] = judgment_id[order][1:] != judgment_id[order][:-1]
    return order[first]


Describe = Callable[[np.ndarray], tuple[list[str], list[dict]]]


def suspicions(records: NoiseInput, score: np.ndarray, mask: np.ndarray, describe: Describe) -> list[Suspicion]:
    """One Suspicion per judgment with a row in `mask`, from its highest-scoring row. `describe` gets those rows at
    once and returns their reasons and details (built from `.tolist()` columns: a million judgments stay fast)."""
    rows = best_row_per_judgment(records.judgment_id, score, mask)
    clipped = np.round(np.clip(score[rows], 0.0, 1.0), 4).tolist()
    ids = records.judgment_id[rows].tolist()
    reasons, details = describe(rows)
    return [Suspicion(*item) for item in zip(ids, clipped, reasons, details, strict=True)]


def strength_from_p(p_value: np.ndarray) -> np.ndarray:
    """Evidence in [0, 1] from a p-value: 0 at p >= 0.01, 1 at p <= 1e-4, linear in -log10 p between, so chance
    patterns across a few dozen annotators stay at 0."""
    with np.errstate(divide="ignore"):
        minus_log = -np.log10(np.clip(p_value, 0.0, 1.0))
    return np.clip((minus_log - 2.0) / 2.0, 0.0, 1.0)
