"""Batches: length grouping, and collation of every response of a batch into one forward pass.

A batch of B comparisons (pairs or lists of K) becomes N = sum of K response sequences, each encoded exactly once,
in one tensor: padded to the longest sequence of the batch (N, L), or packed into one row (1, T) with position ids
and `cu_seqlens` boundaries for the padding-free path. `Batch.scatter` puts the N rewards back as (B, K_max) with a
mask, the shape the losses take.

Length grouping, for padded batches (on the HH harmless pairs that fit 256 MiniLM tokens, random batches of 16 pairs
are 47% real tokens; length-grouped ones 85-89%): the epoch's order is a seeded permutation, cut into mega-batches of
`megabatch_factor` batches; each is sorted by length and cut into batches; the batch order is then shuffled, except
that the longest batch goes first so that a run that does not fit in memory fails at step 1. Packed batches have no
padding to save and are drawn at random, the safer default for generalisation: a batch of only long or only short
examples is a biased sample (on 89 OpenAssistant groups, seed 0, Plackett-Luce reached 56% held-out accuracy with
length-sorted batches and 60% with random ones; other seeds moved it by about as much, so this is a hint, not proof).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, overload

import numpy as np
import torch
from torch import Tensor

from .data import EncodedExample


def length_grouped_batches(
    lengths: Sequence[int],
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    group_by_length: bool = True,
    megabatch_factor: int = 50,
) -> list[list[int]]:
    """Example indices per batch for one epoch; deterministic in (seed, epoch). lengths: cost key per example."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    if not group_by_length:
        return [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    keys = np.asarray(lengths)
    size = batch_size * megabatch_factor
    batches: list[list[int]] = []
    for start in range(0, len(order), size):
        mega = order[start : start + size]
        mega = mega[np.argsort(-keys[mega], kind="stable")]
        batches += [mega[i : i + batch_size].tolist() for i in range(0, len(mega), batch_size)]
    if not batches:
        return batches
    longest = max(range(len(batches)), key=lambda b: (int(keys[batches[b]].max()), len(batches[b])))
    rest = [batches[b] for b in rng.permutation(len(batches)) if b != longest]
    return [batches[longest], *rest]


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Evaluation order: longest first, no shuffling (nothing is learned from it)."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]


@dataclass(frozen=True)
class Batch:
    input_ids: Tensor  # (N, L) padded, or (1, T) packed
    attention_mask: Tensor | None  # (N, L); None when packed
    token_type_ids: Tensor | None  # same shape as input_ids; None if the model takes none
    position_ids: Tensor | None  # (1, T) packed only: restarts at 0 for every sequence
    cu_seqlens: Tensor | None  # (N + 1,) int32 sequence boundaries, packed only
    max_seqlen: int
    list_index: Tensor  # (N,) long: the comparison each sequence belongs to, 0..B-1
    slot_index: Tensor  # (N,) long: its position within the comparison
    ranks: Tensor  # (B, K_max) long, 1 = best; 0 in padded slots
    mask: Tensor  # (B, K_max) bool: real responses
    margin: Tensor  # (B,) float
    n_tokens: int  # real (non-pad) tokens
    n_positions: int  # tokens the model computes, padding included

    @property
    def n_lists(self) -> int:
        return int(self.ranks.shape[0])

    def to(self, device: torch.device | str) -> Batch:
        @overload
        def move(t: Tensor) -> Tensor: ...
        @overload
        def move(t: None) -> None: ...
        @overload
        def move(t: Tensor | None) -> Tensor | None: ...
        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device, non_blocking=True)

        return replace(
            self,
            input_ids=move(self.input_ids),
            attention_mask=move(self.attention_mask),
            token_type_ids=move(self.token_type_ids),
            position_ids=move(self.position_ids),
            cu_seqlens=move(self.cu_seqlens),
            list_index=move(self.list_index),
            slot_index=move(self.slot_index),
            ranks=move(self.ranks),
            mask=move(self.mask),
            margin=move(self.margin),
        )

    def model_inputs(self) -> dict[str, object]:
        return {
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "token_type_ids": self.token_type_ids,
            "position_ids": self.position_ids,
            "cu_seqlens": self.cu_seqlens,
            "max_seqlen": self.max_seqlen,
        }

    def scatter(self, rewards: Tensor) -> Tensor:
        # rewards: (N,) in sequence order -> (B, K_max); padded slots hold 0 and are masked out by `mask`
        out = rewards.new_zeros(self.ranks.shape)
        return out.index_put((self.list_index, self.slot_index), rewards)


def collate(
    examples: Sequence[EncodedExample],
    *,
    pad_id: int,
    packed: bool = False,
    type_a: int | None = None,
    type_b: int | None = None,
    pad_to_multiple_of: int | None = None,
) -> Batch:
    """All responses of `examples` as one model input. Vectorised: one numpy scatter, no per-token Python."""
    sequences = [ids for example in examples for ids in example.input_ids]
    splits = np.fromiter((s for example in examples for s in example.type_split), dtype=np.int64)
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    flat = np.concatenate(sequences).astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    columns = np.arange(len(flat)) - np.repeat(starts, lengths)  # position of each token within its sequence
    token_types = None
    if type_a is not None and type_b is not None:
        token_types = np.where(columns < np.repeat(splits, lengths), type_a, type_b)

    n_lists = len(examples)
    width = max(len(e.input_ids) for e in examples)
    list_index = np.repeat(np.arange(n_lists), [len(e.input_ids) for e in examples])
    slot_index = np.concatenate([np.arange(len(e.input_ids)) for e in examples])
    ranks = np.zeros((n_lists, width), dtype=np.int64)
    ranks[list_index, slot_index] = [r for e in examples for r in e.ranks]
    common: dict[str, Any] = {
        "list_index": torch.from_numpy(list_index),
        "slot_index": torch.from_numpy(slot_index),
        "ranks": torch.from_numpy(ranks),
        "mask": torch.from_numpy(ranks > 0),
        "margin": torch.tensor([e.margin for e in examples], dtype=torch.float32),
        "n_tokens": int(lengths.sum()),
        "max_seqlen": int(lengths.max()),
    }
    if packed:
        cu = np.concatenate(([0], np.cumsum(lengths))).astype(np.int32)
        return Batch(
            input_ids=torch.from_numpy(flat).unsqueeze(0),
            attention_mask=None,
            token_type_ids=None if token_types is None else torch.from_numpy(token_types).unsqueeze(0),
            position_ids=torch.from_numpy(columns).unsqueeze(0),
            cu_seqlens=torch.from_numpy(cu),
            n_positions=int(lengths.sum()),
            **common,
        )
    longest = int(lengths.max())
    if pad_to_multiple_of:
        longest = -(-longest // pad_to_multiple_of) * pad_to_multiple_of
    rows = np.repeat(np.arange(len(sequences)), lengths)
    input_ids = np.full((len(sequences), longest), pad_id, dtype=np.int64)
    input_ids[rows, columns] = flat
    attention = np.zeros((len(sequences), longest), dtype=np.int64)
    attention[rows, columns] = 1
    types = None
    if token_types is not None:
        types = np.zeros((len(sequences), longest), dtype=np.int64)
        types[rows, columns] = token_types
    return Batch(
        input_ids=torch.from_numpy(input_ids),
        attention_mask=torch.from_numpy(attention),
        token_type_ids=None if types is None else torch.from_numpy(types),
        position_ids=None,
        cu_seqlens=None,
        n_positions=len(sequences) * longest,
        **common,
    )
