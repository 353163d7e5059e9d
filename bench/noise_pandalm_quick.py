"""Quick check of the model-free detectors on real labels: PandaLM's test set (999 pairs, 3 human annotators), with
a seeded 20% of the individual annotators' labels flipped; AUROC and average precision of the combined suspicion
(and of each consensus detector) against the flips. No database, no model. `--with-judges` adds the two model
judges' verdicts that ship with the test set (never flipped) as other judges, as a user who imports them has.

    OMP_NUM_THREADS=1 .venv/bin/python bench/noise_pandalm_quick.py [--rate 0.2] [--seeds 0 1 2 3 4] [--with-judges]

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


MODEL_JUDGES = (("gpt-3.5-turbo-testset-v1.json", "gpt_result"), ("pandalm-7b-testset-v1.json", "pandalm_result"))
MODEL_CODES = {"1": 1, "2": 2, "0": 0, "Tie": 0}  # anything else (GPT's unparsable text) is no verdict: -1


def load_model_judges(path: Path = DATA) -> np.ndarray:
    """(items, 2) verdicts of the two model judges that ship with the test set (GPT-3.5, PandaLM-7B), joined on
    `idx` in the test set's item order, in the humans' coding; -1 where the judge gave no usable verdict or none."""
    order = [int(item["idx"]) for item in json.loads(path.read_text())]
    out = []
    for name, key in MODEL_JUDGES:
        rows = json.loads((path.parent / name).read_text())
        verdicts = {int(row["idx"]): MODEL_CODES.get(str(row[key]), -1) for row in rows}
        out.append([verdicts.get(idx, -1) for idx in order])
    return np.array(out, dtype=np.int64).T


def flip(labels: np.ndarray, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    flipped = rng.random(labels.shape) < rate
    out = labels.copy()
    out[flipped & (labels == 1)] = 2
    out[flipped & (labels == 2)] = 1
    ties = flipped & (labels == 0)
    out[ties] = rng.integers(1, 3, size=int(ties.sum()))
    return out, flipped


def records(labels: np.ndarray, judges: np.ndarray | None = None) -> NoiseInput:
    """One comparison per item (response ids 2i and 2i+1), one pairwise judgment per annotator label, item by item;
    with `judges` ((items, m) model verdicts, -1 for none), each item's model verdicts follow its human labels as
    non-human judges m+1..., and `judge_is_human` marks the human rows (in the order of `labels.ravel()`)."""
    n, m = labels.shape
    table = labels if judges is None else np.concatenate([labels, judges], axis=1)
    present = table.ravel() >= 0
    item = np.repeat(np.arange(n), table.shape[1])[present]
    judge = np.tile(np.arange(table.shape[1]), n)[present]
    label = table.ravel()[present]
    rows = len(label)
    outcome = np.select([label == 1, label == 2], [A_WINS, B_WINS], TIE).astype(np.int8)
    return NoiseInput(
        judgment_id=np.arange(rows, dtype=np.int64) + 1,
        comparison_id=item + 1,
        prompt_id=item + 1,
        judge_id=judge + 1,
        judge_is_human=judge < m,
        response_a=2 * item + 1,
        response_b=2 * item + 2,
        outcome=outcome,
        a_shown_first=np.full(rows, -1, dtype=np.int8),
        order_key=np.zeros(rows, dtype=np.int64),
        duration_ms=np.full(rows, np.nan),
        judge_sequence=item.astype(np.int64),
    )


def scores_for(data: NoiseInput, items: list) -> np.ndarray:
    out = np.zeros(len(data))
    out[np.searchsorted(data.judgment_id, [s.judgment_id for s in items])] = [s.score for s in items]
    return out


def evaluate(rate: float, seed: int, with_judges: bool = False) -> dict[str, tuple[float, float]]:
    labels, flipped = flip(load_labels(), rate, seed)
    data = records(labels, load_model_judges() if with_judges else None)
    flags = detect(data, DETECTORS)
    result = {}
    for name, items in [*flags.items(), ("combined", combine(flags))]:
        if name in ("other_judges", "crowdlab", "combined"):
            score = scores_for(data, items)[data.judge_is_human]
            result[name] = (roc_auc_score(flipped.ravel(), score), average_precision_score(flipped.ravel(), score))
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--with-judges", action="store_true", help="add the GPT-3.5 and PandaLM-7B verdicts as judges")
    args = parser.parse_args()
    rows = {seed: evaluate(args.rate, seed, args.with_judges) for seed in args.seeds}
    judges = " (with the two model judges)" if args.with_judges else ""
    print(f"PandaLM{judges}, {args.rate:.0%} of individual labels flipped; AUROC / average precision per seed")
    for name in ("other_judges", "crowdlab", "combined"):
        aurocs = [rows[s][name][0] for s in args.seeds]
        aps = [rows[s][name][1] for s in args.seeds]
        per_seed = "  ".join(f"{a:.3f}/{p:.3f}" for a, p in zip(aurocs, aps, strict=True))
        print(f"{name:13s} mean AUROC {np.mean(aurocs):.3f} (min {min(aurocs):.3f}), AP {np.mean(aps):.3f}: {per_seed}")


if __name__ == "__main__":
    main()
