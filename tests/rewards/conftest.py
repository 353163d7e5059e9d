"""Fixtures for the app side of reward models: a tiny random BERT built offline, projects with judgments."""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WORKBENCH_TORCH_THREADS", "1")


def keyword_pairs_file(path: Path, n: int, seed: int = 0) -> Path:
    """TRL pairs where the chosen response says 'excellent': learnable by a tiny model in a few steps."""
    import random

    rng = random.Random(seed)
    words = "the cat dog house tree river blue green quick slow water fire stone cloud road hill".split()
    rows = []
    for i in range(n):
        filler = " ".join(rng.choice(words) for _ in range(6))
        rows.append(
            {"prompt": f"question {i}: {filler}?", "chosen": f"excellent {filler}", "rejected": f"{filler} poor"}
        )
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path
