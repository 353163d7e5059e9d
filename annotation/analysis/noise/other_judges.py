"""Detectors that read the other judges (JUDGING.md detector 3).

`other_judges`: a judgment's label against the reliability-weighted consensus of the OTHER judges on the same task
(one response pair of one comparison). Reliability is each judge's confusion matrix P(vote | true class) from
crowd-kit's Dawid-Skene (`reliability.py`); a vote v_j adds log P_j(v_j | k) to each true class k, so the consensus
of the others is softmax(log prior + sum over other judges). The suspicion is P(true class != this label) after the
judge's own matrix is put against that consensus: a spammer's label (no better than chance) is judged by the others
alone, a reliable judge's label needs a confident consensus to be doubted.

`crowdlab`: cleanlab's CROWDLAB quality of each individual label (1 - quality), which mixes the annotators with a
classifier's probabilities: the reward model's out-of-fold probabilities when given, otherwise the one-coin
posterior of the crowd (Dawid-Skene) stands in for the classifier.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from cleanlab.multiannotator import get_label_quality_multiannotator

from annotation.analysis.noise.grouping import CLASS_A, CLASS_B, CLASS_NAMES, suspicions
from annotation.analysis.noise.records import NoiseInput
from annotation.analysis.noise.reliability import Reliability, TaskVotes
from annotation.analysis.noise.suspicion import Suspicion


def _vote_loglik(records: NoiseInput, votes: TaskVotes, reliability: Reliability) -> np.ndarray:
    """(rows, k): log P(this row's vote | true class) under its judge's confusion matrix."""
    judge = np.searchsorted(reliability.judges, records.judge_id)
    return np.log(reliability.confusion[judge, :, votes.label])


def _own_kept_row(records: NoiseInput, votes: TaskVotes) -> np.ndarray:
    """For every row, the row crowd-kit saw for the same (task, judge): the judge's own vote on that task."""
    group = (
        pd.DataFrame({"t": votes.task, "j": records.judge_id})
        .groupby(["t", "j"], sort=False)
        .ngroup()
        .to_numpy(dtype=np.int64)
    )
    kept_rows = np.flatnonzero(votes.kept)
    by_group = np.empty(int(group.max()) + 1 if len(group) else 0, dtype=np.int64)
    by_group[group[kept_rows]] = kept_rows
    return by_group[group]


def other_judges(records: NoiseInput, votes: TaskVotes, reliability: Reliability) -> list[Suspicion]:
    if not len(records):
        return []
    k = votes.k
    by_judge = np.array([reliability.skill[int(j)] for j in reliability.judges.tolist()])
    skill = by_judge[np.searchsorted(reliability.judges, records.judge_id)]
    loglik = _vote_loglik(records, votes, reliability)
    kept = votes.kept
    totals = np.zeros((votes.n_tasks, k))
    counts = np.zeros((votes.n_tasks, k))
    for c in range(k):
        totals[:, c] = np.bincount(votes.task[kept], weights=loglik[kept, c], minlength=votes.n_tasks)
        counts[:, c] = np.bincount(votes.task[kept], weights=(votes.label[kept] == c), minlength=votes.n_tasks)
    own = _own_kept_row(records, votes)
    rows = np.arange(len(records))
    others_log = np.log(reliability.prior)[None, :] + totals[votes.task] - loglik[own]
    others_log -= others_log.max(axis=1, keepdims=True)
    consensus = np.exp(others_log)
    consensus /= consensus.sum(axis=1, keepdims=True)
    with_own = consensus * np.exp(loglik)
    with_own /= with_own.sum(axis=1, keepdims=True)
    score = 1.0 - with_own[rows, votes.label]

    other_counts = counts[votes.task].copy()
    other_counts[rows, votes.label[own]] -= 1
    n_others = other_counts.sum(axis=1).astype(np.int64)
    preferred = consensus.argmax(axis=1)
    n_preferred = other_counts[rows, preferred].astype(np.int64)

    def describe(rows: np.ndarray) -> tuple[list[str], list[dict]]:
        label, pref = votes.label[rows], preferred[rows]
        columns = zip(
            (label == pref).tolist(),
            [_name(c) for c in pref.tolist()],
            [_name(c) for c in label.tolist()],
            n_preferred[rows].tolist(),
            n_others[rows].tolist(),
            other_counts[rows, label].astype(np.int64).tolist(),
            np.round(consensus[rows, pref], 2).tolist(),
            np.round(consensus[rows, label], 4).tolist(),
            np.round(skill[rows], 4).tolist(),
            strict=True,
        )
        reasons, details = [], []
        for agrees, pref_name, own_name, n_pref, n_oth, n_same, cons, cons_label, rel in columns:
            verb = "agree" if agrees else f"prefer {pref_name}"
            reasons.append(
                f"{n_pref} of {n_oth} other judges {verb} (this judge says {own_name}); "
                f"weighted consensus {cons:.2f}; judge reliability {rel:.2f}"
            )
            details.append(
                {
                    "other_judges": n_oth,
                    "others_for_label": n_same,
                    "consensus_for_label": cons_label,
                    "reliability": rel,
                }
            )
        return reasons, details

    return suspicions(records, score, n_others >= 1, describe)


def _name(cls: int) -> str:
    return CLASS_NAMES[int(cls)] if cls != CLASS_A and cls != CLASS_B else f"response {CLASS_NAMES[int(cls)]}"


def _model_probs(records: NoiseInput, votes: TaskVotes, model_p_wrong: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per task P(A wins) implied by the model's per-row P(label wrong), and which tasks the model scored."""
    p_wrong = np.asarray(model_p_wrong, dtype=float)
    if p_wrong.shape != (len(records),):
        raise ValueError(f"model_p_wrong has shape {p_wrong.shape}, the records have {len(records)} rows")
    p_a = np.where(votes.label == CLASS_A, 1.0 - p_wrong, np.where(votes.label == CLASS_B, p_wrong, np.nan))
    usable = np.isfinite(p_a)
    total = np.bincount(votes.task[usable], weights=p_a[usable], minlength=votes.n_tasks)
    n = np.bincount(votes.task[usable], minlength=votes.n_tasks)
    with np.errstate(invalid="ignore"):
        return total / np.maximum(n, 1), n > 0


def crowdlab(
    records: NoiseInput, votes: TaskVotes, reliability: Reliability, model_p_wrong: np.ndarray | None = None
) -> list[Suspicion]:
    kept = np.flatnonzero(votes.kept)
    judges = np.unique(records.judge_id[kept])
    per_task = np.bincount(votes.task[kept], minlength=votes.n_tasks)
    probs = reliability.posterior.copy()
    if model_p_wrong is not None:
        p_a, scored = _model_probs(records, votes, model_p_wrong)
        keep_tie = probs[scored, 2] if votes.k == 3 else 0.0
        probs[scored, CLASS_A] = p_a[scored] * (1 - keep_tie)
        probs[scored, CLASS_B] = (1 - p_a[scored]) * (1 - keep_tie)
        # Without other judges a single label is judged by the model alone, which CROWDLAB allows.
        tasks = np.flatnonzero((per_task >= 2) | scored)
    else:
        # Without a model the stand-in classifier already contains the label, so a lone label cannot be judged.
        tasks = np.flatnonzero(per_task >= 2)
    if len(judges) < 2 or not len(tasks) or not np.any(per_task >= 2):
        return []
    task_row = np.full(votes.n_tasks, -1, dtype=np.int64)
    task_row[tasks] = np.arange(len(tasks))
    in_matrix = kept[task_row[votes.task[kept]] >= 0]
    matrix = np.full((len(tasks), len(judges)), np.nan)
    cols = np.searchsorted(judges, records.judge_id[in_matrix])
    matrix[task_row[votes.task[in_matrix]], cols] = votes.label[in_matrix]
    used = ~np.all(np.isnan(matrix), axis=0)
    matrix = matrix[:, used]
    col_map = np.cumsum(used) - 1
    pred = np.clip(probs[tasks], 1e-6, 1.0)
    pred /= pred.sum(axis=1, keepdims=True)
    result = get_label_quality_multiannotator(
        matrix, pred, verbose=False, return_detailed_quality=True, return_annotator_stats=False
    )
    detailed = result["detailed_label_quality"].to_numpy(dtype=float)
    consensus = result["label_quality"]["consensus_label"].to_numpy()
    consensus_quality = result["label_quality"]["consensus_quality_score"].to_numpy(dtype=float)

    score = np.zeros(len(records))
    mask = np.zeros(len(records), dtype=bool)
    row_task = task_row[votes.task[in_matrix]]
    score[in_matrix] = 1.0 - detailed[row_task, col_map[cols]]
    mask[in_matrix] = True
    matrix_row = np.full(len(records), -1, dtype=np.int64)
    matrix_row[in_matrix] = row_task
    source = "the reward model" if model_p_wrong is not None else "the crowd's Dawid-Skene posterior"

    def describe(rows: np.ndarray) -> tuple[list[str], list[dict]]:
        r = matrix_row[rows]
        quality = np.round(1 - score[rows], 4).tolist()
        agrees = (consensus[r] == votes.label[rows]).tolist()
        names = [_name(c) for c in consensus[r].tolist()]
        cq = np.round(consensus_quality[r], 4).tolist()
        reasons = [
            f"CROWDLAB label quality {q:.2f}: {'agrees with' if a else 'goes against'} consensus {n} "
            f"(quality {c:.2f}, classifier: {source})"
            for q, a, n, c in zip(quality, agrees, names, cq, strict=True)
        ]
        return reasons, [{"label_quality": q, "consensus_quality": c} for q, c in zip(quality, cq, strict=True)]

    return suspicions(records, score, mask, describe)
