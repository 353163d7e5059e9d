"""Part (c) of bench/noise_detection.py: the model-free detectors on PandaLM's three annotators with planted flips,
and the best AUROC any rule reading only an item's three labels can reach (the Bayes-optimal posterior).

The flips, the records and the scoring are bench/noise_pandalm_quick.py's (one comparison per item, one pairwise
judgment per annotator label; a flip turns 1 into 2 and back, a tie into 1 or 2 at random). The detectors run as the
noise run task does (`annotation.services.noise_runs._execute`): `detect(records, [name])` one detector at a time,
then `combine` over all their flags.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.noise_pandalm_quick import flip, load_labels, load_model_judges, records, scores_for

SCORED = ("combined", "other_judges", "crowdlab")


def bayes_posterior(observed: np.ndarray, clean: np.ndarray, rate: float) -> np.ndarray:
    """P(label j of item i was flipped | the item's three observed labels), for a rule that knows the flip process
    and the exact distribution of clean label triples over the items (the real data's, annotator by annotator).
    No rule that reads only an item's labels and who gave them ranks the flips better: the oracle's upper bound."""
    patterns, counts = np.unique(clean, axis=0, return_counts=True)
    prior = counts / counts.sum()
    masks = np.array(list(itertools.product((0, 1), repeat=clean.shape[1])))
    cache: dict[tuple[int, ...], np.ndarray] = {}
    out = np.zeros(observed.shape)
    for i, row in enumerate(observed):
        key = tuple(int(v) for v in row)
        if key not in cache:
            weights = np.zeros(len(masks))
            for m, mask in enumerate(masks):
                # P(observed | clean pattern, mask): kept labels must match; a flipped A/B is the other one; a
                # flipped tie is A or B with probability 1/2 each.
                flipped_ab = np.where(patterns == 0, 0.5 * (row != 0), (row == 3 - patterns).astype(float))
                like = np.where(mask == 1, flipped_ab, (row == patterns).astype(float)).prod(axis=1)
                weights[m] = rate ** mask.sum() * (1 - rate) ** (len(mask) - mask.sum()) * float(prior @ like)
            cache[key] = (weights[:, None] * masks).sum(axis=0) / weights.sum()
        out[i] = cache[key]
    return out


def pandalm_runs(
    rates: list[float],
    flip_seeds: list[int],
    metrics: Callable[[np.ndarray, np.ndarray, int], dict[str, float]],
    log: Callable[[str], None],
    with_judges: bool = False,
) -> list[dict[str, Any]]:
    """Per rate and flip seed: metrics of each detector, of the Bayes-optimal posterior and the planted and
    estimated flip counts. k (precision at k) is the detectors' own estimate of the wrong labels: the sum over
    the human labels of `other_judges`' P(label wrong), Dawid-Skene's expected count. `with_judges`: the two model
    judges' verdicts (never flipped) join the records as other judges; only the human labels are scored."""
    from annotation.analysis.noise.detect import DETECTORS, combine, detect

    clean = load_labels()
    judges = load_model_judges() if with_judges else None
    rows = []
    for rate in rates:
        for seed in flip_seeds:
            labels, flipped = flip(clean, rate, seed)
            data = records(labels, judges)
            human = data.judge_is_human
            flags = {name: detect(data, [name]).get(name, []) for name in DETECTORS}
            flags["combined"] = combine(flags)
            truth = flipped.ravel()
            k = round(float(scores_for(data, flags["other_judges"])[human].sum()))
            row: dict[str, Any] = {"rate": rate, "seed": seed, "k": k, "planted": int(truth.sum())}
            for name in SCORED:
                row[name] = metrics(truth, scores_for(data, flags[name])[human], k)
            row["bayes"] = metrics(truth, bayes_posterior(labels, clean, rate).ravel(), k)
            rows.append(row)
            log(f"  PandaLM rate {rate:.0%} seed {seed}: combined AUROC {row['combined']['auroc']:.3f}, "
                f"Bayes-optimal {row['bayes']['auroc']:.3f}, k {k} (planted {row['planted']})")  # fmt: skip
    return rows


def pandalm_table(
    rows: list[dict[str, Any]], fmt: Callable[[list[float]], str], with_judges: bool = False
) -> list[str]:
    lines = ["| flip rate | method | AUROC | average precision | precision at k | k (planted) |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    names = {"combined": "combined suspicion", "other_judges": "`other_judges`", "crowdlab": "`crowdlab`",
             "bayes": "Bayes-optimal rule on the three labels (oracle)"}  # fmt: skip
    oracle = "labels-only oracle" if with_judges else "oracle"
    for rate in sorted({r["rate"] for r in rows}):
        part = [r for r in rows if r["rate"] == rate]
        counts = f"{np.mean([r['k'] for r in part]):.0f} ({np.mean([r['planted'] for r in part]):.0f})"
        for key, name in names.items():
            cells = [fmt([r[key][m] for r in part]) for m in ("auroc", "ap", "p_at_k")]
            lines.append(f"| {rate:.0%} | {name} | {' | '.join(cells)} | {counts} |")
        lines.append(f"| {rate:.0%} | random | 0.500 | {rate:.3f} | {rate:.3f} | |")
        gap = fmt([r["bayes"]["auroc"] - r["combined"]["auroc"] for r in part])
        lines.append(f"| {rate:.0%} | {oracle} − combined (AUROC) | {gap} | | | |")
    return lines
