"""Whether a file's comparisons fit the project they go into, and the explicit conversion of lists into pairs.

A pairwise project compares two responses; a listwise one ranks lists of up to its list size. Data of another shape
is refused as a whole, naming the first rows that do not fit and how many, and the project's kind and list size,
unless the import asks for `as_pairs`: each ranking of three or more responses then becomes the pairs it induces
(a over b where a ranks above b, a tie where they share a rank), so 3-9 ranked replies give 3-36 pairwise judgments.
No Django here: the project's settings come in as plain values.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from annotation.importers.records import ImportIssue, ImportItem, JudgmentIn

ROWS_NAMED = 5  # rows named in a refusal; the rest are counted
PAIRWISE, LISTWISE = "pairwise", "listwise"


def _rows_text(rows: list[int], count: int) -> str:
    named = ", ".join(map(str, rows[:ROWS_NAMED]))
    more = count - min(len(rows), ROWS_NAMED)
    if count == 1:
        return f"row {named}"
    return f"rows {named}" + (f" and {more:,} more ({count:,} in all)" if more else "")


@dataclass
class _Rows:
    """Rows with a property: the first few by number, and how many."""

    first: list[int] = field(default_factory=list)
    count: int = 0
    _last: int | None = None

    def add(self, row: int) -> None:
        if row == self._last:  # several comparisons of one row (an OpenAssistant tree) count as one row
            return
        self._last = row
        self.count += 1
        if len(self.first) < ROWS_NAMED:
            self.first.append(row)


@dataclass
class ShapeCheck:
    """Watches every comparison of pass 1 and says, at the end, whether the file fits the project."""

    kind: str
    list_size: int
    as_pairs: bool = False
    # Judgments by the number of responses they order, as the file has them (before any conversion to pairs).
    sizes: Counter[int] = field(default_factory=Counter)
    _lists: _Rows = field(default_factory=_Rows)  # rows with more responses than the project compares
    _pair_rows: _Rows = field(default_factory=_Rows)

    def observe(self, row: int, item: ImportItem) -> None:
        for judgment in item.judgments:
            n = len(judgment.response_ids())
            self.sizes[n] += 1
            if n > self.list_size:
                self._lists.add(row)
            elif n == 2:
                self._pair_rows.add(row)

    def problems(self) -> list[ImportIssue]:
        return shape_problems(
            self.kind, self.list_size, self.as_pairs, self.sizes, lists=self._lists, pair_rows=self._pair_rows
        )


def shape_problems(
    kind: str,
    list_size: int,
    as_pairs: bool,
    sizes: Counter[int] | dict[int, int],
    *,
    lists: _Rows | None = None,
    pair_rows: _Rows | None = None,
) -> list[ImportIssue]:
    """The refusal of a file whose comparisons (`sizes`: judgments by responses ordered) do not fit the project.
    Without `lists`/`pair_rows` (a re-import judged from its earlier report) the rows are not named."""
    sizes = Counter({int(n): count for n, count in sizes.items()})
    if not sizes:
        return []
    largest, setting = max(sizes), f"this project is {kind} (list size {list_size})"
    if as_pairs and kind != PAIRWISE:
        return [ImportIssue(None, "as_pairs", f"lists become pairs only for a pairwise project; {setting}")]
    if kind == PAIRWISE and largest > 2 and not as_pairs:
        where = _rows_text(lists.first, lists.count) if lists else f"{_over(sizes, 2):,} comparisons"
        return [
            ImportIssue(
                None,
                "responses",
                f"{where} rank lists of {_span(sizes, 2)} responses, but {setting}. Import the file into a listwise "
                "project, or ask for each ranking as the pairs it induces (import_data --as-pairs; the import "
                "page's 'Import lists as their pairs'; as_pairs=true in the API).",
            )
        ]
    if kind == LISTWISE and largest > list_size:
        where = _rows_text(lists.first, lists.count) if lists else f"{_over(sizes, list_size):,} comparisons"
        return [
            ImportIssue(
                None,
                "responses",
                f"{where} rank lists of {_span(sizes, list_size)} responses, more than the project's list size: "
                f"{setting}. Raise its list size to {largest} (Settings) or import into another project.",
            )
        ]
    if kind == LISTWISE and set(sizes) == {2}:
        where = _rows_text(pair_rows.first, pair_rows.count) if pair_rows else f"{sizes[2]:,} comparisons"
        return [
            ImportIssue(
                None,
                "responses",
                f"the file holds only pairs ({where}: 2 responses each), but {setting}. Import it into a pairwise "
                "project.",
            )
        ]
    return []


def _over(sizes: Counter[int], limit: int) -> int:
    return sum(count for n, count in sizes.items() if n > limit)


def _span(sizes: Counter[int], limit: int) -> str:
    over = [n for n in sizes if n > limit]
    low, high = min(over), max(over)
    return str(low) if low == high else f"{low}-{high}"


def fitting_project(sizes: Counter[int]) -> tuple[str, int]:
    """The kind and list size of a project made for this data (`import_data --create-project`)."""
    largest = max(sizes, default=2)
    return (LISTWISE, largest) if largest > 2 else (PAIRWISE, 2)


def induced_pairs(item: ImportItem) -> ImportItem:
    """The item with every judgment of 3+ responses replaced by one judgment per pair of them (in the comparison's
    order). Each pair keeps the judge, its two responses' scores and criteria ratings, the rationale and the shown
    order (the two as they were shown); strength, margin and duration describe the whole list and are dropped, and
    `metadata` records the list the pair came from (`induced_from`)."""
    if all(len(j.response_ids()) <= 2 for j in item.judgments):
        return item
    judgments: list[JudgmentIn] = []
    for judgment in item.judgments:
        members = judgment.response_ids()
        if len(members) <= 2:
            judgments.append(judgment)
            continue
        rank = {rid: position for position, group in enumerate(judgment.ranking) for rid in group}
        for a, b in combinations(members, 2):
            judgments.append(_pair(judgment, a, b, rank, members))
    return ImportItem(prompt=item.prompt, responses=item.responses, judgments=judgments)


def _pair(judgment: JudgmentIn, a: str, b: str, rank: dict[str, int], members: list[str]) -> JudgmentIn:
    ranking: list[list[str]] = []
    if not judgment.no_verdict:
        ranking = [[a, b]] if rank[a] == rank[b] else ([[a], [b]] if rank[a] < rank[b] else [[b], [a]])
    scores = judgment.scores
    metadata: dict[str, Any] = {**judgment.metadata, "induced_from": members}
    return JudgmentIn(
        judge=judgment.judge,
        ranking=ranking,
        scores={rid: scores[rid] for rid in (a, b) if rid in scores} if scores else None,
        # List criteria are {criterion: {response: rating}}: each pair keeps its two responses' ratings.
        criteria={
            key: {rid: v[rid] for rid in (a, b) if rid in v} if isinstance(v, dict) else v
            for key, v in judgment.criteria.items()
        },
        rationale=judgment.rationale,
        metadata=metadata,
        comparison_order=[a, b],
        shown_order=[rid for rid in judgment.shown_order if rid in (a, b)] if judgment.shown_order else None,
        no_verdict=judgment.no_verdict,
    )
