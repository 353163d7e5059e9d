"""Verdicts encoded once into numpy arrays, each judge's verdict per item, and the references. No Django.

Label codes: 0 = A (a better), 1 = B, 2 = tie, 3 = no usable verdict (unparsed); -1 = the judge has no verdict on
the item. A judge's **item verdict** combines its usable verdicts on the item (one per shown order, usually) by the
majority rule of `consensus.majority`: agreeing verdicts give that label, a split (A in one order, B in the other,
or a tie against a side) gives a tie, as MT-Bench's "tie (inconsistent)"; an item with verdicts but none usable is
3 (it counts against coverage).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from annotation.analysis.bootstrap import RESAMPLES, Finalize, Interval, Resamples, interval, per_prompt
from annotation.analysis.verdicts import HUMAN_LOO, HUMAN_MAJORITY, Verdict, VerdictColumns

if TYPE_CHECKING:  # judge_metrics imports this module
    from annotation.analysis.judge_metrics import Scope

A, B, TIE, UNPARSED, ABSENT = 0, 1, 2, 3, -1
CODE_LABEL = {A: "A", B: "B", TIE: "T"}


@dataclass
class EncodedVerdicts:
    """Verdict rows as arrays (one entry per verdict) plus per-item and per-judge attributes.

    Items are numbered in order of their id, prompts so that each category's prompts are contiguous (the bootstrap
    then slices them without copying)."""

    judge: np.ndarray  # (V,) judge index
    item: np.ndarray  # (V,) item index
    label: np.ndarray  # (V,) label code 0..3
    shown: np.ndarray  # (V,) 0: a shown first, 1: b shown first, -1 unknown
    margin: np.ndarray  # (V,) score_a - score_b, nan without scores
    p_a: np.ndarray  # (V,) soft preference for a, nan without
    judges: list[str]
    kinds: list[str]
    item_ids: list[int]
    item_prompt: np.ndarray  # (N,) prompt index
    item_category: np.ndarray  # (N,) category index
    length_a: np.ndarray  # (N,)
    length_b: np.ndarray  # (N,)
    generator_a: np.ndarray  # (N,) generator index
    generator_b: np.ndarray  # (N,)
    prompt_ids: list[str]
    categories: list[str]
    generators: list[str]

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_prompts(self) -> int:
        return len(self.prompt_ids)

    @classmethod
    def from_verdicts(cls, verdicts: Sequence[Verdict]) -> EncodedVerdicts:
        return cls.from_columns(VerdictColumns.from_verdicts(verdicts))

    @classmethod
    def from_columns(cls, columns: VerdictColumns) -> EncodedVerdicts:
        """Item attributes come from the item's first verdict; prompts are numbered category by category."""
        c = columns
        item_ids, first, item = np.unique(c.item, return_index=True, return_inverse=True)
        item_category = c.category[first]
        item_prompt_code = c.prompt[first]
        # Prompts in (category, prompt) order, each numbered where it first appears, so that a category's prompts are
        # contiguous (the bootstrap slices them without copying).
        ordered = np.lexsort((item_prompt_code, item_category))
        sequence = item_prompt_code[ordered]
        _, first_seen = np.unique(sequence, return_index=True)
        prompt_order = sequence[np.sort(first_seen)]
        renumber = np.full(len(c.prompts), -1, dtype=np.int64)
        renumber[prompt_order] = np.arange(len(prompt_order))
        return cls(
            judge=c.judge.astype(np.int32),
            item=item.astype(np.int32),
            label=c.label.astype(np.int8),
            shown=c.shown.astype(np.int8),
            margin=c.score_a - c.score_b,
            p_a=c.p_a.astype(np.float64),
            judges=list(c.judges),
            kinds=list(c.kinds),
            item_ids=[int(i) for i in item_ids],
            item_prompt=renumber[item_prompt_code],
            item_category=item_category.astype(np.int64),
            length_a=c.length_a[first].astype(np.int64),
            length_b=c.length_b[first].astype(np.int64),
            generator_a=c.generator_a[first].astype(np.int64),
            generator_b=c.generator_b[first].astype(np.int64),
            prompt_ids=[c.prompts[int(p)] for p in prompt_order],
            categories=list(c.categories),
            generators=list(c.generators),
        )

    def keep_items(self, mask: np.ndarray) -> EncodedVerdicts:
        """Only the items where mask (N,) is true (prompts and categories are renumbered, order kept)."""
        new_item = np.cumsum(mask) - 1
        rows = mask[self.item]
        prompts, prompt = np.unique(self.item_prompt[mask], return_inverse=True)
        return EncodedVerdicts(
            judge=self.judge[rows],
            item=new_item[self.item[rows]].astype(np.int32),
            label=self.label[rows],
            shown=self.shown[rows],
            margin=self.margin[rows],
            p_a=self.p_a[rows],
            judges=self.judges,
            kinds=self.kinds,
            item_ids=[i for i, keep in zip(self.item_ids, mask, strict=True) if keep],
            item_prompt=prompt.astype(np.int64),
            item_category=self.item_category[mask],
            length_a=self.length_a[mask],
            length_b=self.length_b[mask],
            generator_a=self.generator_a[mask],
            generator_b=self.generator_b[mask],
            prompt_ids=[self.prompt_ids[p] for p in prompts],
            categories=self.categories,
            generators=self.generators,
        )


def majority_codes(counts: np.ndarray) -> np.ndarray:
    """`consensus.majority`'s rule, vectorised: counts (..., 3) of [A, B, T] -> code; a tie when A and B have equal
    votes or ties have at least as many as the leading side; UNPARSED where there are no votes."""
    wins_a, wins_b, ties = counts[..., 0], counts[..., 1], counts[..., 2]
    lead = np.maximum(wins_a, wins_b)
    code = np.where(wins_a > wins_b, A, B)
    code = np.where((wins_a == wins_b) | (ties >= lead), TIE, code)
    return np.where(counts.sum(axis=-1) > 0, code, UNPARSED).astype(np.int8)


def random_mode(counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The most common label of each row of counts (..., 3), several equally common broken at random (AlpacaEval's
    `_random_mode`: the mode over A / B / tie with a seeded draw); ABSENT where there are no votes."""
    keys = rng.random(counts.shape)
    top = counts == counts.max(axis=-1, keepdims=True)
    code = np.argmax(np.where(top, keys, -1.0), axis=-1).astype(np.int8)
    return np.where(counts.sum(axis=-1) > 0, code, ABSENT).astype(np.int8)


@dataclass
class ItemVerdicts:
    """Each judge's verdicts per item: `label` (J, N) item verdict codes (-1 absent, 0..3), `order` (J, N, 2) the
    first verdict in each shown order (a first, b first; -1 absent), `margin` / `p_a` (J, N) mean scores
    (nan where none)."""

    label: np.ndarray
    order: np.ndarray
    margin: np.ndarray
    p_a: np.ndarray

    @classmethod
    def from_encoded(cls, data: EncodedVerdicts) -> ItemVerdicts:
        n_judges, n_items = len(data.judges), data.n_items
        cell = data.judge.astype(np.int64) * n_items + data.item
        usable = data.label < UNPARSED
        counts = np.bincount(cell[usable] * 3 + data.label[usable], minlength=n_judges * n_items * 3)
        label = majority_codes(counts.reshape(n_judges, n_items, 3))
        present = np.bincount(cell, minlength=n_judges * n_items).reshape(n_judges, n_items) > 0
        label = np.where(present, label, ABSENT).astype(np.int8)
        order = np.full(n_judges * n_items * 2, ABSENT, dtype=np.int8)
        known = data.shown >= 0
        slot = cell[known] * 2 + data.shown[known]
        slots, first = np.unique(slot, return_index=True)
        order[slots] = data.label[known][first]
        return cls(
            label=label,
            order=order.reshape(n_judges, n_items, 2),
            margin=_mean_per_cell(cell, data.margin, n_judges, n_items),
            p_a=_mean_per_cell(cell, data.p_a, n_judges, n_items),
        )


def _mean_per_cell(cell: np.ndarray, values: np.ndarray, n_judges: int, n_items: int) -> np.ndarray:
    has = ~np.isnan(values)
    size = n_judges * n_items
    count = np.bincount(cell[has], minlength=size)
    total = np.bincount(cell[has], weights=values[has], minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.where(count > 0, count, 1), np.nan).reshape(n_judges, n_items)


@dataclass
class Units:
    """What a judge is scored against: one row per (item, reference label), weighted. A plain reference gives one
    unit per item with weight 1; the leave-one-out human reference gives an item one unit per left-out human."""

    item: np.ndarray  # (U,)
    ref: np.ndarray  # (U,) 0..2
    weight: np.ndarray  # (U,)


def human_indices(data: EncodedVerdicts, humans: Collection[str] | None) -> np.ndarray:
    """The judges whose votes make the human references: those named, or every judge of kind "human"."""
    if humans is None:
        return np.array([j for j, kind in enumerate(data.kinds) if kind == "human"], dtype=np.int64)
    return np.array([j for j, name in enumerate(data.judges) if name in humans], dtype=np.int64)


def human_counts(items: ItemVerdicts, human: np.ndarray) -> np.ndarray:
    """(N, 3) usable human item verdicts per item: counts of A, B, T."""
    labels = items.label[human]  # (H, N)
    return np.stack([(labels == code).sum(axis=0) for code in (A, B, TIE)], axis=-1)


@dataclass
class LeaveOneOut:
    """Per (human, item) with at least `LOO_MIN` usable human verdicts: the human's own verdict and the majority of
    the other humans (random mode, AlpacaEval's rule)."""

    human: np.ndarray  # (U,) judge index
    item: np.ndarray  # (U,)
    own: np.ndarray  # (U,) 0..2
    ref: np.ndarray  # (U,) 0..2
    voters: np.ndarray  # (U,) usable human verdicts on the item


LOO_MIN = 3


def leave_one_out(items: ItemVerdicts, human: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> LeaveOneOut:
    labels = items.label[human]  # (H, N)
    voters = counts.sum(axis=1)
    rows, cols = np.nonzero((labels >= 0) & (labels < UNPARSED) & (voters >= LOO_MIN)[None, :])
    own = labels[rows, cols]
    others = counts[cols].copy()
    others[np.arange(len(cols)), own] -= 1
    return LeaveOneOut(human[rows], cols, own.astype(np.int8), random_mode(others, rng), voters[cols])


def reference_units(
    reference: str,
    data: EncodedVerdicts,
    items: ItemVerdicts,
    majority: np.ndarray,
    loo: LeaveOneOut,
    judge: int,
) -> Units:
    """The units judge `judge` is scored on under `reference` (a judge's name, HUMAN_MAJORITY or HUMAN_LOO)."""
    if reference == HUMAN_MAJORITY:
        item = np.nonzero(majority >= 0)[0]
        return Units(item, majority[item], np.ones(len(item)))
    if reference == HUMAN_LOO:
        weight = 1.0 / loo.voters
        own = loo.human == judge
        # on the items this human labelled: the majority of the others; elsewhere every leave-one-out majority
        labelled = np.zeros(data.n_items, dtype=bool)
        labelled[loo.item[own]] = True
        others = ~labelled[loo.item]
        keep = own | others
        return Units(loo.item[keep], loo.ref[keep], np.where(own, 1.0, weight)[keep])
    index = data.judges.index(reference)
    label = items.label[index]
    item = np.nonzero((label >= 0) & (label < UNPARSED))[0]
    return Units(item, label[item], np.ones(len(item)))


def reference_is_valid(reference: str, data: EncodedVerdicts) -> None:
    if reference not in (HUMAN_MAJORITY, HUMAN_LOO) and reference not in data.judges:
        raise ValueError(f"unknown reference {reference!r}: a judge's name, HUMAN_MAJORITY or HUMAN_LOO")


@dataclass
class JudgeData:
    """Everything the judge statistics share: the encoded verdicts, each judge's verdict per item, and the prompt
    resamples (so that any two numbers computed from one JudgeData can be differenced, paired)."""

    data: EncodedVerdicts
    items: ItemVerdicts
    resamples: Resamples

    @classmethod
    def build(cls, verdicts: Sequence[Verdict], *, bootstrap: int = RESAMPLES, seed: int = 0) -> JudgeData:
        return cls.from_encoded(EncodedVerdicts.from_verdicts(verdicts), bootstrap=bootstrap, seed=seed)

    @classmethod
    def from_encoded(cls, data: EncodedVerdicts, *, bootstrap: int = RESAMPLES, seed: int = 0) -> JudgeData:
        return cls(data, ItemVerdicts.from_encoded(data), Resamples(data.n_prompts, bootstrap, seed))

    def judge_index(self, name: str) -> int:
        try:
            return self.data.judges.index(name)
        except ValueError:
            raise ValueError(f"no verdicts from judge {name!r}") from None

    def per_prompt_of_items(self, item: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """columns (k, U) of values on items `item` (U,) -> (P, k) sums per prompt."""
        return per_prompt(self.data.item_prompt[item], columns, self.data.n_prompts)

    def interval(
        self,
        finalize: Finalize,
        item: np.ndarray,
        columns: np.ndarray,
        reason: str | Callable[[np.ndarray], str],
        scope: Scope | None = None,
    ) -> Interval:
        """A statistic over all prompts (or one scope's: `item` must lie inside it) with its bootstrap interval."""
        if scope is None:
            sums = self.per_prompt_of_items(item, columns)
            resampled = self.resamples.resample(sums) if self.resamples.resamples else None
        else:
            sums = per_prompt(scope.local[self.data.item_prompt[item]], columns, scope.size)
            resampled = self.resamples.resample(sums, scope.prompts) if self.resamples.resamples else None
        return interval(finalize, sums.sum(axis=0), resampled, reason)
