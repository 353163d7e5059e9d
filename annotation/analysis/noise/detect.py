"""The entry point the noise run calls: run the model-free detectors over a `NoiseInput`, combine any detectors'
flags (the reward-model ones included) and build the annotator table the Noisy labels page shows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from annotation.analysis.noise import behaviour, inconsistency, other_judges
from annotation.analysis.noise.combine import COMBINED, FAMILIES, combine
from annotation.analysis.noise.records import NoiseInput
from annotation.analysis.noise.reliability import fitted, mace_spamming, noisy_bt
from annotation.analysis.noise.suspicion import Suspicion

__all__ = ["COMBINED", "DETECTORS", "FAMILIES", "FLAG_THRESHOLD", "annotator_table", "combine", "detect"]

DETECTORS: tuple[str, ...] = (
    "other_judges",
    "crowdlab",
    "cycle",
    "order_flip",
    "too_fast",
    "long_run",
    "position_bias",
)
FLAG_THRESHOLD = 0.5  # a combined suspicion at or above this counts as a flag in the annotator table


def detect(
    records: NoiseInput, detectors: Sequence[str] = DETECTORS, model_p_wrong: np.ndarray | None = None
) -> dict[str, list[Suspicion]]:
    """Each named model-free detector's suspicions. `model_p_wrong`, aligned with the records' rows, is the reward
    model's out-of-fold P(this row's label is wrong); CROWDLAB mixes it in when given."""
    unknown = [name for name in detectors if name not in DETECTORS]
    if unknown:
        raise ValueError(f"unknown detectors {unknown}; the model-free ones are {list(DETECTORS)}")
    out: dict[str, list[Suspicion]] = {}
    if not len(records):
        return {name: [] for name in detectors}
    if "other_judges" in detectors or "crowdlab" in detectors:
        votes, reliability = fitted(records)
        if "other_judges" in detectors:
            out["other_judges"] = other_judges.other_judges(records, votes, reliability)
        if "crowdlab" in detectors:
            out["crowdlab"] = other_judges.crowdlab(records, votes, reliability, model_p_wrong)
    simple = {
        "cycle": inconsistency.cycles,
        "order_flip": inconsistency.order_flips,
        "too_fast": behaviour.too_fast,
        "long_run": behaviour.long_runs,
        "position_bias": behaviour.position_bias,
    }
    for name, detector in simple.items():
        if name in detectors:
            out[name] = detector(records)
    return {name: out[name] for name in detectors}


def annotator_table(records: NoiseInput, flags: Mapping[str, Sequence[Suspicion]]) -> list[dict[str, Any]]:
    """One row per human judge: crowd-kit reliability (one-coin accuracy, MACE spamming probability, NoisyBT skill
    and first-shown bias), first-shown rate with its binomial p, median seconds per judgment, and how many of the
    judge's judgments the combined suspicion flags (>= FLAG_THRESHOLD). Worst reliability first."""
    human = records.judge_is_human
    if not human.any():
        return []
    votes, reliability = fitted(records)
    skill = reliability.skill
    spamming = mace_spamming(records, votes)
    bt = noisy_bt(records)
    rates = behaviour.first_shown_rates(records)
    combined = flags.get(COMBINED) or combine(flags)
    flagged = {s.judgment_id for s in combined if s.score >= FLAG_THRESHOLD}
    frame = pd.DataFrame(
        {"j": records.judge_id[human], "judgment": records.judgment_id[human], "d": records.duration_ms[human]}
    ).drop_duplicates("judgment")
    frame["flagged"] = frame["judgment"].isin(flagged)
    per_judge = frame.groupby("j").agg(n=("judgment", "size"), flagged=("flagged", "sum"), median_ms=("d", "median"))
    rows: list[dict[str, Any]] = []
    for judge, stats in per_judge.iterrows():
        j = int(judge)
        rate = rates.loc[j] if j in rates.index else None
        rows.append(
            {
                "judge_id": j,
                "judgments": int(stats["n"]),
                "reliability": _maybe(skill.get(j)),
                "mace_spamming": _maybe(spamming.get(j)),
                "noisy_bt_skill": _maybe(bt[j][0]) if j in bt else None,
                "noisy_bt_first_bias": _maybe(bt[j][1]) if j in bt else None,
                "first_shown_rate": _maybe(rate["rate"]) if rate is not None else None,
                "first_shown_p": _maybe(rate["p_value"]) if rate is not None else None,
                "median_seconds": _maybe(stats["median_ms"] / 1000),
                "flagged": int(stats["flagged"]),
                "flag_rate": round(int(stats["flagged"]) / int(stats["n"]), 4),
            }
        )
    rows.sort(key=lambda row: (row["reliability"] is None, row["reliability"] or 0.0, row["judge_id"]))
    return rows


def _maybe(value: Any) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), 4)
