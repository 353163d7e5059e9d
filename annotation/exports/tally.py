"""What an export counts while it writes: judgments read and exported, prompts, rows per split, dropped pairs, judges
and agreement. Both read paths (the general one and the pairwise fast path) fill one of these, so the report and the
dataset card are built the same way from either. No Django."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from annotation.analysis.agreement import Agreement


@dataclass
class Tally:
    judgments_total: int = 0
    judgments_read: int = 0
    judgments_exported: int = 0
    prompts: int = 0
    rows: Counter[str] = field(default_factory=Counter)  # by split, in the order the splits first appear
    stats: Counter[str] = field(default_factory=Counter)  # what was dropped or kept, and why
    by_judge: Counter[int] = field(default_factory=Counter)  # exported judgments by judge id
    agreement: Agreement = field(default_factory=Agreement)
    lane: str = ""  # which lane of the fast path wrote it, where there are several (the report's `path`)

    def close_pairs(self, read: int, *, ties_dropped: int, ties_kept: int, dropped_empty: int) -> None:
        """Close a fast-path pair export: every judgment read was exported (one row each, or counted as dropped)."""
        self.judgments_read = self.judgments_exported = read
        for key, value in (
            ("tie_pairs_dropped", ties_dropped),
            ("tie_pairs_kept", ties_kept),
            ("pairs_dropped_empty", dropped_empty),
        ):
            if value:
                self.stats[key] = value
