"""What both lanes of the pairwise fast path share (fast.py's rows of Python values, arrow_pairs.py's record batches):
the signal to fall back to the general path, and the agreement of one prompt's judgments. No Django."""

from __future__ import annotations

from annotation.analysis.agreement import Agreement, comparison_agreement

Members = list[tuple[int, int, int, bool]]  # (comparison id, better id, worse id, tie) of one prompt's judgments


class NotPairwise(Exception):  # noqa: N818 - a signal to fall back, not an error anyone sees
    """The data has something the fast path does not write as the general path would; use the general path."""


def prompt_agreement(members: Members, agreement: Agreement) -> None:
    """runner's agreement for one prompt's judgments (two or more): per comparison, in order of first judgment."""
    by_comparison: dict[int, list[tuple[int, int, int, bool]]] = {}
    for member in members:
        by_comparison.setdefault(member[0], []).append(member)
    for judged in by_comparison.values():
        # Ranks as the outcome sees them: equal for a tie, the better one lower.
        value = comparison_agreement([{better: 1, worse: 1 if tie else 2} for _, better, worse, tie in judged])
        if value is not None:
            agreement.add(value)
