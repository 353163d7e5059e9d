"""The model-free detectors on PandaLM's three human annotators with 20% of individual labels flipped (seeded): the
combined suspicion ranks the flips well above chance. With three annotators and no model, a flipped label among
two intact ones is caught, but a 1-1 split among the others is a coin toss: if flips were the only disagreement the
best possible AUROC would be 0.896 (docs/noise.md); the issue's 0.90 needs the reward model as well."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from annotation.analysis.noise.detect import DETECTORS, combine, detect
from annotation.analysis.noise.records import A_WINS, B_WINS, TIE, NoiseInput


def flipped_records(shared_data: Path, rate: float, seed: int) -> tuple[NoiseInput, np.ndarray]:
    items = json.loads((shared_data / "pandalm/testset-v1.json").read_text())
    labels = np.array([[int(item[f"annotator{k}"]) for k in (1, 2, 3)] for item in items])
    rng = np.random.default_rng(seed)
    flipped = rng.random(labels.shape) < rate
    noisy = labels.copy()
    noisy[flipped & (labels == 1)] = 2
    noisy[flipped & (labels == 2)] = 1
    ties = flipped & (labels == 0)
    noisy[ties] = rng.integers(1, 3, size=int(ties.sum()))
    n = len(items)
    item = np.repeat(np.arange(n), 3)
    rows = [
        {
            "judgment_id": i + 1,
            "comparison_id": int(item[i]) + 1,
            "prompt_id": int(item[i]) + 1,
            "judge_id": i % 3 + 1,
            "response_a": 2 * int(item[i]) + 1,
            "response_b": 2 * int(item[i]) + 2,
            "outcome": {1: A_WINS, 2: B_WINS, 0: TIE}[int(label)],
            "judge_sequence": int(item[i]),
        }
        for i, label in enumerate(noisy.ravel())
    ]
    return NoiseInput.from_rows(rows), flipped.ravel()


def test_pandalm_flips_are_ranked_first(shared_data: Path) -> None:
    aurocs = []
    for seed in (0, 1, 2):
        records, flipped = flipped_records(shared_data, 0.2, seed)
        flags = detect(records, DETECTORS)
        combined = combine(flags)
        assert len(combined) == len(records)  # every label has two other annotators
        score = np.array([s.score for s in sorted(combined, key=lambda s: s.judgment_id)])
        aurocs.append(roc_auc_score(flipped, score))
    # Measured 0.834-0.864 over seeds 0-4 (bench/noise_pandalm_quick.py).
    assert min(aurocs) > 0.82 and np.mean(aurocs) > 0.84, aurocs
