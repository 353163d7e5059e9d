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
import pandas as pd

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
    frame = pd.DataFrame(
        {
            "j": np.concatenate(ids),
            "s": np.concatenate(scores),
            "f": np.concatenate(family_codes),
            "d": np.concatenate(detector_codes),
        }
    )
    # The strongest detector per (judgment, family), then the noisy-OR across families.
    best = frame.sort_values("s", ascending=False, kind="stable").drop_duplicates(["j", "f"])
    best = best.sort_values(["j", "s"], ascending=[True, False], kind="stable")
    best["log_keep"] = np.log1p(-np.minimum(best["s"].to_numpy(), 1 - 1e-12))
    combined = 1.0 - np.exp(best.groupby("j", sort=False)["log_keep"].sum())
    best = best[best["s"] > 0]  # a zero adds nothing to the score and nothing to say
    judgment = best["j"].to_numpy()
    name_of = np.array(names, dtype=object)[best["d"].to_numpy()].tolist()
    value_of = np.round(best["s"].to_numpy(), 4).tolist()
    pieces = [f"{name} {value:.2f}" for name, value in zip(name_of, value_of, strict=True)]
    starts = np.flatnonzero(np.r_[True, judgment[1:] != judgment[:-1]]).tolist() if len(judgment) else []
    ends = [*starts[1:], len(judgment)]
    explained = {int(judgment[a]): (a, b) for a, b in zip(starts, ends, strict=True)}
    out: list[Suspicion] = []
    for judgment_id, total in zip(combined.index.tolist(), np.round(combined.to_numpy(), 4).tolist(), strict=True):
        a, b = explained.get(judgment_id, (0, 0))
        out.append(
            Suspicion(
                judgment_id,
                min(max(total, 0.0), 1.0),
                " + ".join(pieces[a:b]) or "no detector found anything",
                dict(zip(name_of[a:b], value_of[a:b], strict=True)),
            )
        )
    return out
