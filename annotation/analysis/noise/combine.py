"""The combined suspicion per judgment (docs/noise.md "Detectors without a model" says why this rule).

Detectors are grouped into families that read the same evidence: the consensus of others (other judges,
CROWDLAB), the reward model (its margin, confident learning), the judge's own consistency (cycles, order flips) and
its behaviour (speed, runs, position bias). Inside a family the strongest score counts (two views of one piece of
evidence are not two pieces); across families the scores are treated as independent chances of being wrong and
joined by a noisy-OR, combined = 1 - prod over families of (1 - max score in the family). A detector that did not
score a judgment adds nothing; a judgment no detector scored is left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from annotation.analysis.noise.suspicion import Suspicion

FAMILIES: dict[str, str] = {
    "other_judges": "consensus",
    "crowdlab": "consensus",
    "reward_model": "model",
    "confident_learning": "model",
    "cycle": "consistency",
    "order_flip": "consistency",
    "too_fast": "behaviour",
    "long_run": "behaviour",
    "position_bias": "behaviour",
}
COMBINED = "combined"


def combine(flags: Mapping[str, Sequence[Suspicion]]) -> list[Suspicion]:
    """One Suspicion per judgment any detector scored; the reason names the strongest detector of each family that
    adds to the score. Unknown detector names form a family of their own."""
    ids: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    family_codes: list[np.ndarray] = []
    detector_codes: list[np.ndarray] = []
    names = [name for name in flags if name != COMBINED]
    families = sorted({FAMILIES.get(name, name) for name in names})
    for d, name in enumerate(names):
        items = flags[name]
        if not items:
            continue
        ids.append(np.fromiter((s.judgment_id for s in items), dtype=np.int64, count=len(items)))
        scores.append(np.fromiter((s.score for s in items), dtype=float, count=len(items)))
        family_codes.append(np.full(len(items), families.index(FAMILIES.get(name, name))))
        detector_codes.append(np.full(len(items), d))
    if not ids:
        return []
    j, score = np.concatenate(ids), np.concatenate(scores)
    family, detector = np.concatenate(family_codes), np.concatenate(detector_codes)
    # The strongest detector per (judgment, family), then the noisy-OR across families.
    order = np.lexsort([-score, family, j])
    j, score, family, detector = j[order], score[order], family[order], detector[order]
    first = np.r_[True, (j[1:] != j[:-1]) | (family[1:] != family[:-1])]
    j, score, detector = j[first], score[first], detector[first]
    judgments, start = np.unique(j, return_index=True)
    group = np.repeat(np.arange(len(judgments)), np.diff(np.r_[start, len(j)]))
    log_keep = np.bincount(group, weights=np.log1p(-np.minimum(score, 1 - 1e-12)), minlength=len(judgments))
    combined = np.round(np.clip(-np.expm1(log_keep), 0.0, 1.0), 4).tolist()
    # Reasons and details: one pass per piece (a judgment has at most one per family), no per-judgment slicing.
    reasons: list[list[str]] = [[] for _ in judgments]
    details: list[dict[str, float]] = [{} for _ in judgments]
    shown = np.flatnonzero(score > 0)
    shown = shown[np.lexsort([-score[shown], group[shown]])]
    values = np.round(score[shown], 4).tolist()
    for g, d, value in zip(group[shown].tolist(), detector[shown].tolist(), values, strict=True):
        reasons[g].append(f"{names[d]} {value:.2f}")
        details[g][names[d]] = value
    return [
        Suspicion(judgment_id, total, " + ".join(parts) or "no detector found anything", detail)
        for judgment_id, total, parts, detail in zip(judgments.tolist(), combined, reasons, details, strict=True)
    ]
