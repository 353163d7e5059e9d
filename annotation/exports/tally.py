"""What an export counts while it writes: judgments read and exported, prompts, rows per split, dropped pairs, judges
and agreement. Both readers (prompt groups and pair records) fill one of these, so the report and the
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

    def close_pairs(self, read: int, stats: Counter[str]) -> None:
        """Close a pair-reader export: every judgment read was exported (one row each, or counted in `stats`)."""
        self.judgments_read = self.judgments_exported = read
        self.stats.update(stats)
