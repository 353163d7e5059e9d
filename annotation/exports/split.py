"""Deterministic train/test split by prompt: a prompt's split depends only on its external id and the seed, so every
row of one prompt lands in the same split, and the same prompt lands in the same split in every export (and on
every machine) with the same seed and fraction. No Django."""

from __future__ import annotations

import hashlib

TRAIN = "train"
TEST = "test"


def prompt_bucket(external_id: str, seed: int) -> float:
    """A number in [0, 1) from the prompt's external id and the seed (BLAKE2b; stable across Python versions and
    processes, unlike hash())."""
    digest = hashlib.blake2b(f"{seed}\x00{external_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def split_of(external_id: str, *, seed: int, test_fraction: float) -> str:
    if test_fraction <= 0:
        return TRAIN
    return TEST if prompt_bucket(external_id, seed) < test_fraction else TRAIN
