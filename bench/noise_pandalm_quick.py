"""Quick check of the model-free detectors on real labels: PandaLM's test set (999 pairs, 3 human annotators), with
a seeded 20% of the individual annotators' labels flipped; AUROC and average precision of the combined suspicion
(and of each consensus detector) against the flips. No database, no model.

    OMP_NUM_THREADS=1 .venv/bin/python bench/noise_pandalm_quick.py [--rate 0.2] [--seeds 0 1 2 3 4]

A flip turns "response 1 better" into "response 2 better" and back; a tie becomes one of the two at random. The
issue's target for the full benchmark is AUROC >= 0.90 at 20% flips.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from annotation.analysis.noise.detect import DETECTORS, combine, detect  # noqa: E402
from annotation.analysis.noise.records import A_WINS, B_WINS, TIE, NoiseInput  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "pandalm" / "testset-v1.json"
ANNOTATORS = ("annotator1", "annotator2", "annotator3")


def load_labels(path: Path = DATA) -> np.ndarray:
    """(items, 3) labels: 1 = response1 better, 2 = response2 better, 0 = tie."""
    items = json.loads(path.read_text())
    return np.array([[int(item[a]) for a in ANNOTATORS] for item in items], dtype=np.int64)


def flip(labels: np.ndarray, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    flipped = rng.random(labels.shape) < rate
    out = labels.copy()
    out[flipped & (labels == 1)] = 2
    out[flipped & (labels == 2)] = 1
    ties = flipped & (labels == 0)
    out[ties] = rng.integers(1, 3, size=int(ties.sum()))
    return out, flipped


def records(labels: np.ndarray) -> NoiseInput:
    """One comparison per item (response ids 2i and 2i+1), one pairwise judgment per annotator label."""
    n, m = labels.shape
    item = np.repeat(np.arange(n), m)
    outcome = np.select([labels.ravel() == 1, labels.ravel() == 2], [A_WINS, B_WINS], TIE).astype(np.int8)
    return NoiseInput(
        judgment_id=np.arange(n * m, dtype=np.int64) + 1,
        comparison_id=item + 1,
        prompt_id=item + 1,
        judge_id=np.tile(np.arange(m), n) + 1,
        judge_is_human=np.ones(n * m, dtype=bool),
        response_a=2 * item + 1,
        response_b=2 * item + 2,
        outcome=outcome,
        a_shown_first=np.full(n * m, -1, dtype=np.int8),
        order_key=np.zeros(n * m, dtype=np.int64),
        duration_ms=np.full(n * m, np.nan),
        judge_sequence=item.astype(np.int64),
    )


def scores_for(data: NoiseInput, items: list) -> np.ndarray:
    out = np.zeros(len(data))
    out[np.searchsorted(data.judgment_id, [s.judgment_id for s in items])] = [s.score for s in items]
    return out


def evaluate(rate: float, seed: int) -> dict[str, tuple[float, float]]:
    labels, flipped = flip(load_labels(), rate, seed)
    data = records(labels)
    flags = detect(data, DETECTORS)
    result = {}
    for name, items in [*flags.items(), ("combined", combine(flags))]:
        if name in ("other_judges", "crowdlab", "combined"):
            score = scores_for(data, items)
            result[name] = (roc_auc_score(flipped.ravel(), score), average_precision_score(flipped.ravel(), score))
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    rows = {seed: evaluate(args.rate, seed) for seed in args.seeds}
    print(f"PandaLM, {args.rate:.0%} of individual labels flipped; AUROC / average precision per seed")
    for name in ("other_judges", "crowdlab", "combined"):
        aurocs = [rows[s][name][0] for s in args.seeds]
        aps = [rows[s][name][1] for s in args.seeds]
        per_seed = "  ".join(f"{a:.3f}/{p:.3f}" for a, p in zip(aurocs, aps, strict=True))
        print(f"{name:13s} mean AUROC {np.mean(aurocs):.3f} (min {min(aurocs):.3f}), AP {np.mean(aps):.3f}: {per_seed}")


if __name__ == "__main__":
    main()
