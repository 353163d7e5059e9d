"""The plain record the judge statistics read: one judge's verdict on one pairwise comparison, in the comparison's
canonical orientation (response `a` is the one with the lower id), whatever order the judge saw them in; and the
same as columns of arrays (`VerdictColumns`), which the statistics encode from. Records are built by hand in tests
and notebooks; the selectors build columns from the database. No Django."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Label = Literal["A", "B", "T"]  # a is better, b is better, tie
HUMAN_MAJORITY = "human-majority"
HUMAN_LOO = "human-loo"


@dataclass(frozen=True, slots=True)  # slots: a million of them for a big project's report
class Verdict:
    item: int  # the comparison
    prompt: str  # the prompt's id: bootstrap resamples prompts
    judge: str
    kind: str  # human | llm | reward_model | reference | imported
    label: Label | None  # None: the judge gave no usable verdict (unparsed output)
    shown_first: Literal["a", "b"] | None = None  # which response the judge saw first; None when unknown
    category: str = ""
    generator_a: str = ""
    generator_b: str = ""
    length_a: int = 0  # characters
    length_b: int = 0
    score_a: float | None = None  # the judge's scores, when it gives numbers (reward models)
    score_b: float | None = None
    p_a: float | None = None  # a soft preference: the probability that a is better


LABEL_CODE = {"A": 0, "B": 1, "T": 2, None: 3}  # 3: the judge gave no usable verdict
SHOWN_CODE = {"a": 0, "b": 1, None: -1}


def factorize(values: Sequence[Hashable]) -> tuple[np.ndarray, list[str]]:
    """(codes, names): each value's index into the names, which are the distinct values sorted as text, so codes do
    not depend on the order the values came in."""
    names = sorted(dict.fromkeys(values), key=str)
    index = {name: i for i, name in enumerate(names)}
    return np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values)), [str(n) for n in names]


@dataclass(frozen=True)
class VerdictColumns:
    """Verdicts as arrays, one entry per verdict, names as indices into sorted name lists: what the judge and generator
    statistics encode from. Built from `Verdict` records (`from_verdicts`) or straight from the database's rows by a
    selector, so a million verdicts never become a million objects."""

    judges: list[str]
    kinds: list[str]  # kinds[j]: judge j's kind
    prompts: list[str]
    categories: list[str]
    generators: list[str]
    judge: np.ndarray  # (V,) index into judges
    item: np.ndarray  # (V,) the comparison's id
    prompt: np.ndarray  # (V,) index into prompts
    category: np.ndarray  # (V,) index into categories
    label: np.ndarray  # (V,) int8: LABEL_CODE
    shown: np.ndarray  # (V,) int8: SHOWN_CODE
    generator_a: np.ndarray  # (V,) index into generators
    generator_b: np.ndarray
    length_a: np.ndarray  # (V,) characters
    length_b: np.ndarray
    score_a: np.ndarray  # (V,) float, NaN without scores
    score_b: np.ndarray
    p_a: np.ndarray  # (V,) float, NaN without a soft preference

    def __len__(self) -> int:
        return len(self.item)

    @classmethod
    def from_verdicts(cls, verdicts: Sequence[Verdict]) -> VerdictColumns:
        rows = list(verdicts)
        n = len(rows)
        judge, judges = factorize([v.judge for v in rows])
        kind_of = {v.judge: v.kind for v in rows}
        prompt, prompts = factorize([v.prompt for v in rows])
        category, categories = factorize([v.category for v in rows])
        generator, generators = factorize([g for v in rows for g in (v.generator_a, v.generator_b)])
        nan = float("nan")

        def floats(values: Iterable[float | None]) -> np.ndarray:
            return np.fromiter((nan if x is None else x for x in values), dtype=np.float64, count=n)

        return cls(
            judges=judges,
            kinds=[kind_of[name] for name in judges],
            prompts=prompts,
            categories=categories,
            generators=generators,
            judge=judge,
            item=np.fromiter((v.item for v in rows), dtype=np.int64, count=n),
            prompt=prompt,
            category=category,
            label=np.fromiter((LABEL_CODE[v.label] for v in rows), dtype=np.int8, count=n),
            shown=np.fromiter((SHOWN_CODE[v.shown_first] for v in rows), dtype=np.int8, count=n),
            generator_a=generator[0::2],
            generator_b=generator[1::2],
            length_a=np.fromiter((v.length_a for v in rows), dtype=np.int64, count=n),
            length_b=np.fromiter((v.length_b for v in rows), dtype=np.int64, count=n),
            score_a=floats(v.score_a for v in rows),
            score_b=floats(v.score_b for v in rows),
            p_a=floats(v.p_a for v in rows),
        )
