"""The comparisons behind a number: where a judge's item verdict differs from another judge's or a human majority's,
read from the same computation as the judges report, so the list matches the table it is linked from. No Django."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from annotation.analysis.judge_data import ABSENT, CODE_LABEL, UNPARSED
from annotation.analysis.judges import judges_report
from annotation.analysis.verdicts import Label, Verdict, VerdictColumns


@dataclass(frozen=True)
class Disagreement:
    item: int
    judge_label: Label | None  # None: the judge gave no usable verdict
    other_label: Label


def disagreeing_items(
    verdicts: Sequence[Verdict] | VerdictColumns, *, judge: str, other: str, category: str | None = None, seed: int = 0
) -> list[Disagreement]:
    """Items both judged (the other side: `other` as a report reference, a judge's name, HUMAN_MAJORITY or
    HUMAN_LOO, whose drill-down uses the full human majority) where the judge's item verdict is not the other's; an
    unparsed verdict counts as a disagreement, as in the accuracy over both orders. In item id order."""
    report = judges_report(
        verdicts, reference=other, categories=[category] if category else None, bootstrap=0, seed=seed
    )
    context = report.context
    assert context is not None
    judge_data = context.judge_data
    own = judge_data.items.label[judge_data.judge_index(judge)]
    theirs = context.reference_labels
    decided = (theirs >= 0) & (theirs < UNPARSED)
    differ = decided & (own != ABSENT) & (own != theirs)
    item_ids = judge_data.data.item_ids
    return [
        Disagreement(int(item_ids[i]), CODE_LABEL.get(int(own[i])), CODE_LABEL[int(theirs[i])])  # type: ignore[arg-type]
        for i in np.nonzero(differ)[0]
    ]
