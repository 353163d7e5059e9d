"""Benchmark: the model-free noise detectors on 1M synthetic pairwise judgments (20 judges, 50k comparisons, every
judge on every comparison), no database.

    OMP_NUM_THREADS=1 .venv/bin/python bench/noise_scoring.py [--comparisons 50000] [--no-doc]

Data (`annotation/analysis/noise/synthetic.py`, seed 0): prompts of three responses with a hidden true order, each
pair a comparison; 16 judges right with probability 0.75-0.90, one random spammer (0.5), one that always picks the
first-shown side, one that takes a tenth of the others' time, one at 0.6. Times each detector through `detect`,
one call per detector on one `NoiseInput` as the noise run does (the crowd-kit one-coin fit is made by the first
consensus detector and reused by the second), then `combine` over all of them, then `annotator_table` (adds MACE
and NoisyBT); reports the combined suspicion's AUROC against the
known wrong labels as a sanity check. Results go to docs/benchmarks.md between `<!-- bench:noise_scoring -->`
markers; the rest of the file is kept.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import load_average, machine, write_section  # noqa: E402

from annotation.analysis.noise.detect import DETECTORS, annotator_table, combine, detect  # noqa: E402
from annotation.analysis.noise.synthetic import Judges, synthetic  # noqa: E402

TARGET_S = 60.0


def judges() -> Judges:
    accuracy = [0.75 + 0.01 * i for i in range(16)] + [0.5, 0.5, 0.85, 0.6]
    medians = [20.0] * 18 + [2.0, 20.0]
    return Judges(accuracy, always_first={17}, median_seconds=medians)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--comparisons", type=int, default=50_000)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    load_before = load_average()
    started = time.perf_counter()
    records, wrong = synthetic(args.comparisons, judges(), per_comparison=20, seed=0)
    build_s = time.perf_counter() - started
    print(f"built {len(records):,} judgments in {build_s:.1f} s", flush=True)

    timings: dict[str, float] = {}
    flags = {}
    for name in DETECTORS:
        started = time.perf_counter()
        flags.update(detect(records, (name,)))
        timings[name] = time.perf_counter() - started
        print(f"{name}: {timings[name]:.2f} s, {len(flags[name]):,} scored", flush=True)
    started = time.perf_counter()
    combined = combine(flags)
    timings["combine"] = time.perf_counter() - started
    print(f"combine: {timings['combine']:.2f} s", flush=True)
    started = time.perf_counter()
    table = annotator_table(records, {**flags, "combined": combined})
    table_s = time.perf_counter() - started
    print(f"annotator_table: {table_s:.2f} s", flush=True)
    total = sum(timings.values())

    score = np.zeros(len(records))
    score[np.searchsorted(records.judgment_id, [s.judgment_id for s in combined])] = [s.score for s in combined]
    auroc = roc_auc_score(wrong, score)
    load_after = load_average()
    print(f"detectors + combine: {total:.1f} s (target {TARGET_S:.0f} s); AUROC {auroc:.3f}")

    rows = "\n".join(
        f"| {name} | {timings[name]:.2f} | {len(flags[name]):,} |"
        if name in flags
        else f"| {name} | {timings[name]:.2f} | |"
        for name in timings
    )
    text = f"""## Noise detectors without a model: 1M judgments (`bench/noise_scoring.py`)

| step | seconds | judgments scored |
|---|---:|---:|
{rows}
| **detectors + combine** | **{total:.1f}** | {len(combined):,} combined |
| annotator_table (crowd-kit one-coin, MACE, NoisyBT) | {table_s:.1f} | {len(table)} annotators |

- Date: {datetime.now(UTC):%a %b %d %H:%M:%S UTC %Y}; load average before/after {load_before:.2f} / {load_after:.2f}
- Machine: {machine()}
- Data: {len(records):,} pairwise judgments, 20 judges x {args.comparisons:,} comparisons (every judge on every
  comparison), prompts of three responses; 16 judges right 75-90% of the time, a random spammer, one always picking
  the first-shown side, one ten times faster than the rest, one at 60%; built in {build_s:.1f} s (not counted).
- Each detector is timed alone through `detect`, one call each on one `NoiseInput` as the noise run calls them: the
  crowd-kit one-coin Dawid-Skene fit is counted in `other_judges` and reused by `crowdlab`.
  Target (issue 15): every detector but the reward model, plus combine, under {TARGET_S:.0f} s.
- Sanity: AUROC of the combined suspicion against the {int(wrong.sum()):,} wrong labels: {auroc:.3f}.
- Command: `OMP_NUM_THREADS=1 .venv/bin/python bench/noise_scoring.py`
"""
    print(text)
    if not args.no_doc:
        write_section("noise_scoring", text)


if __name__ == "__main__":
    main()
