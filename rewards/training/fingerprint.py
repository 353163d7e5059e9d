"""What a run was made from: a fingerprint of its data, library versions, the code's git revision."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path

from .data import PreferenceExample, examples_to_jsonl

LIBRARIES = ("torch", "transformers", "accelerate", "peft", "tokenizers", "safetensors", "numpy", "trl")


def data_fingerprint(examples: Sequence[PreferenceExample]) -> str:
    """sha256 of the examples' canonical JSON, independent of their order (the trainer orders them by seed).

    Two runs with equal fingerprints saw the same judgments: same prompts, responses, ranks, margins, groups.
    """
    line_hashes = sorted(
        hashlib.sha256(line.encode()).digest() for line in examples_to_jsonl(examples).split("\n") if line
    )
    digest = hashlib.sha256()
    digest.update(len(line_hashes).to_bytes(8, "big"))
    for h in line_hashes:
        digest.update(h)
    return "sha256:" + digest.hexdigest()


def library_versions(names: Iterable[str] = LIBRARIES) -> dict[str, str]:
    """Installed versions, read from package metadata (importing torch just to ask would cost seconds)."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_revision(path: str | Path | None = None) -> str | None:
    """HEAD of the repository holding this code, with "+dirty" if tracked files differ; None outside git."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")
