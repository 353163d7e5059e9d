"""Pairwise verdicts as arrays for the generator statistics: one row per verdict, names as indices. No Django."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter

import numpy as np

from annotation.analysis.verdicts import Verdict, VerdictColumns

_FIELDS = [
    attrgetter(name) for name in ("judge", "prompt", "category", "item", "generator_a", "generator_b", "label", "p_a")
]
_ROW_COLUMNS = ("judge", "category", "item", "generator_a", "generator_b", "outcome", "p_a")


@dataclass(frozen=True)
class VerdictTable:
    """Verdicts as arrays: one row per verdict, names as indices into sorted name lists. Build it once with
    `VerdictTable.from_verdicts` when several statistics read the same verdicts."""

    judges: tuple[str, ...]
    generators: tuple[str, ...]
    prompts: tuple[str, ...]
    categories: tuple[str, ...]
    judge: np.ndarray  # (n,) int indices
    prompt: np.ndarray
    category: np.ndarray
    item: np.ndarray
    generator_a: np.ndarray
    generator_b: np.ndarray
    outcome: np.ndarray  # (n,) a's score from the label: 1, 0.5, 0; NaN without a label
    p_a: np.ndarray  # (n,) soft preference for a; NaN where none

    @classmethod
    def from_verdicts(cls, verdicts: Iterable[Verdict]) -> VerdictTable:
        rows = verdicts if isinstance(verdicts, list | tuple) else list(verdicts)
        return cls.from_columns(VerdictColumns.from_verdicts(rows))

    @classmethod
    def from_columns(cls, columns: VerdictColumns) -> VerdictTable:
        # a's score from the label: A 1, tie 0.5, B 0 (2 - e()), NaN without a verdict
        outcome = np.array([1.0, 0.0, 0.5, math.nan])[columns.label.astype(np.int64)]
        return cls(
            judges=tuple(columns.judges),
            generators=tuple(columns.generators),
            prompts=tuple(columns.prompts),
            categories=tuple(columns.categories),
            judge=columns.judge.astype(np.int64),
            prompt=columns.prompt.astype(np.int64),
            category=columns.category.astype(np.int64),
            item=columns.item.astype(np.int64),
            generator_a=columns.generator_a.astype(np.int64),
            generator_b=columns.generator_b.astype(np.int64),
            outcome=outcome,
            p_a=columns.p_a.astype(float),
        )

    def select(self, keep: np.ndarray) -> VerdictTable:
        """The rows where `keep` holds; the prompts renumbered to those left (the bootstrap draws from them)."""
        # the prompts left, renumbered in their order (as np.unique would, without its sort)
        present = np.zeros(len(self.prompts), dtype=bool)
        present[self.prompt[keep]] = True
        kept_prompts = np.flatnonzero(present)
        prompt = (np.cumsum(present) - 1)[self.prompt[keep]]
        return dataclasses.replace(
            self,
            prompts=tuple(self.prompts[i] for i in kept_prompts),
            prompt=prompt.astype(np.int64),
            **{name: getattr(self, name)[keep] for name in _ROW_COLUMNS},
        )

    def with_pool(self, members: Sequence[str], name: str) -> VerdictTable:
        """The table plus a judge `name` whose verdicts are every verdict of `members` (e.g. all human annotators
        pooled into one leaderboard, as MT-Bench pools its expert votes); unchanged when no member has verdicts."""
        codes = [self.judges.index(m) for m in members if m in self.judges]
        rows = np.isin(self.judge, codes)
        if not rows.any() or name in self.judges:
            return self
        pooled = {column: getattr(self, column)[rows] for column in _ROW_COLUMNS}
        pooled["judge"] = np.full(int(rows.sum()), len(self.judges), dtype=np.int64)
        return dataclasses.replace(
            self,
            judges=(*self.judges, name),
            prompt=np.concatenate([self.prompt, self.prompt[rows]]),
            **{column: np.concatenate([getattr(self, column), pooled[column]]) for column in _ROW_COLUMNS},  # type: ignore[arg-type]
        )

    def for_category(self, category: str | None) -> VerdictTable:
        if category is None:
            return self
        code = self.categories.index(category) if category in self.categories else -1
        return self.select(self.category == code)


def verdict_table(verdicts: Iterable[Verdict] | VerdictColumns | VerdictTable, category: str | None) -> VerdictTable:
    if isinstance(verdicts, VerdictColumns):
        return VerdictTable.from_columns(verdicts).for_category(category)
    table = verdicts if isinstance(verdicts, VerdictTable) else VerdictTable.from_verdicts(verdicts)
    return table.for_category(category)


def name_code(names: tuple[str, ...], name: str) -> int:
    """The index of `name` in `names`, -1 when absent."""
    return names.index(name) if name in names else -1
