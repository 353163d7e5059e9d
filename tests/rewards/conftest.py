"""Fixtures for the app side of reward models: a tiny random BERT built offline, projects with judgments."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

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


TINY_REPO_ID = "workbench-test/tiny-bert"
TINY_REFERENCE = f"cache:{TINY_REPO_ID}"


def install_in_hf_cache(model_dir: str | Path, cache_dir: Path, repo_id: str) -> Path:
    """Lay a model folder out as `hf download` leaves it in a Hugging Face hub cache (refs/main -> a snapshot), so
    base models name it `cache:<repo_id>` as they would any downloaded model."""
    import shutil

    commit = "0" * 39 + "1"
    repo = cache_dir / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    if not snapshot.exists():
        shutil.copytree(model_dir, snapshot)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(commit)
    return snapshot


@pytest.fixture(scope="session")
def tiny_hf_cache(tiny_model: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("hf-cache")
    install_in_hf_cache(tiny_model, cache, TINY_REPO_ID)
    return cache


@pytest.fixture
def tiny_model_ref(tiny_hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The tiny model as a base model reference: in a Hugging Face cache that this process (and any worker it
    starts) reads through HF_HUB_CACHE."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tiny_hf_cache))
    return TINY_REFERENCE
