"""The one train/test split, by prompt: a prompt's side depends only on its external id and the seed, so every
judgment of one prompt lands on the same side, and the same prompt lands on the same side in every export, every
training run's held-out set and on every machine, for the same seed and fraction. No Django."""

from __future__ import annotations

import hashlib

TRAIN = "train"
TEST = "test"


def prompt_bucket(external_id: str, seed: int) -> float:
    """A number in [0, 1) from the prompt's external id and the seed (BLAKE2b; stable across Python versions and
    processes, unlike hash())."""
    digest = hashlib.blake2b(f"{seed}\x00{external_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def in_test(external_id: str, *, seed: int, test_fraction: float) -> bool:
    """Whether the prompt is held out: an export's `test` split and a training run's held-out set alike."""
    return test_fraction > 0 and prompt_bucket(external_id, seed) < test_fraction


def split_of(external_id: str, *, seed: int, test_fraction: float) -> str:
    return TEST if in_test(external_id, seed=seed, test_fraction=test_fraction) else TRAIN
