"""The plain record the judge statistics read: one judge's verdict on one pairwise comparison, in the comparison's
canonical orientation (response `a` is the one with the lower id), whatever order the judge saw them in. Built from
judgments by the selectors; built by hand in tests and notebooks. No Django."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Label = Literal["A", "B", "T"]  # a is better, b is better, tie
LABEL_NUMBER = {"A": 1.0, "T": 1.5, "B": 2.0}  # JUDGING.md's e(): where a number is needed
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

    @property
    def first_won(self) -> bool | None:
        """Whether the verdict picked the response shown first; None for a tie, no verdict or unknown order."""
        if self.label in (None, "T") or self.shown_first is None:
            return None
        return (self.label == "A") == (self.shown_first == "a")
