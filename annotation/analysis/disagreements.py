"""The comparisons behind a number: where a judge's item verdict differs from another judge's or a human majority's,
read from the same computation as the judges report, so the list matches the table it is linked from; and the
verdicts behind the bias charts and the leaderboard (`items_behind`). No Django."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from annotation.analysis.judge_data import ABSENT, CODE_LABEL, UNPARSED
from annotation.analysis.judge_metrics import LONGER_BY
from annotation.analysis.judges import judges_report
from annotation.analysis.verdicts import LABEL_CODE, SHOWN_CODE, Label, Verdict, VerdictColumns


@dataclass(frozen=True)
class Disagreement:
    item: int
    judge_label: Label | None  # None: the judge gave no usable verdict
    other_label: Label | None  # None in `items_behind` lists: no other side was asked about


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


BEHIND = ("first", "longer", "generator")


def items_behind(
    columns: VerdictColumns,
    *,
    judge: str,
    show: str,
    category: str | None = None,
    generator: str | None = None,
    baseline: str | None = None,
) -> list[Disagreement]:
    """The judge's verdicts behind a chart or leaderboard number, one per comparison, in item id order:
    - "first": verdicts for the response shown first (the numerator of prefers_first);
    - "longer": verdicts for the longer response where the lengths differ by more than LONGER_BY characters (the
      numerator of prefers_longer);
    - "generator": every usable verdict on a comparison with `generator` (against `baseline` when given): the
      battles behind its rating and win rate."""
    if show not in BEHIND:
        raise ValueError(f"show must be one of {', '.join(BEHIND)}")
    if judge not in columns.judges:
        return []
    mine = columns.judge == columns.judges.index(judge)
    if category is not None:
        mine &= columns.category == (columns.categories.index(category) if category in columns.categories else -1)
    label = columns.label
    decisive = (label == LABEL_CODE["A"]) | (label == LABEL_CODE["B"])
    picked_a = label == LABEL_CODE["A"]
    if show == "first":
        known = columns.shown != SHOWN_CODE[None]
        keep = mine & decisive & known & (picked_a == (columns.shown == SHOWN_CODE["a"]))
    elif show == "longer":
        differ = np.abs(columns.length_a - columns.length_b) > LONGER_BY
        keep = mine & decisive & differ & (picked_a == (columns.length_a > columns.length_b))
    else:
        code = columns.generators.index(generator) if generator in columns.generators else -2
        involved = (columns.generator_a == code) | (columns.generator_b == code)
        if baseline is not None:
            other = columns.generators.index(baseline) if baseline in columns.generators else -2
            involved &= (columns.generator_a == other) | (columns.generator_b == other)
        keep = mine & involved & (label != LABEL_CODE[None])
    chosen = np.nonzero(keep)[0]
    first_of_item: dict[int, int] = {}
    for index in chosen[np.argsort(columns.item[chosen], kind="stable")]:
        first_of_item.setdefault(int(columns.item[index]), int(label[index]))
    return [Disagreement(item, CODE_LABEL.get(code), None) for item, code in first_of_item.items()]  # type: ignore[arg-type]
