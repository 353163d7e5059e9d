"""The report of one import: what was read, written or refused, row by row. Plain data, no Django."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from annotation.importers.records import ImportIssue

MAX_REPORTED_ERRORS = 100_000  # every bad row is listed (the import page pages them); past this, counted


@dataclass
class ImportReport:
    path: str
    format: str = ""
    rows: int = 0
    items: int = 0
    prompts_created: int = 0
    responses_created: int = 0
    comparisons_created: int = 0
    judgments_created: int = 0
    judgments_unchanged: int = 0
    judges_created: int = 0
    errors: list[ImportIssue] = field(default_factory=list)
    error_count: int = 0
    warnings: list[ImportIssue] = field(default_factory=list)
    warning_count: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    # Judgments by the number of responses they order, as in the file ({"2": 57, "3": 117}).
    shape: dict[str, int] = field(default_factory=dict)
    content_hash: str = ""
    # The earlier import job of the same file whose rows are all still there: nothing was parsed or written.
    already_imported: int | None = None
    # The project's rows after this import (see `project_state`); kept on the job, not shown in the report.
    project_state: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def add_error(self, issue: ImportIssue) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(issue)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["project_state"]
        data["errors"] = [e.as_dict() for e in self.errors]
        data["warnings"] = [w.as_dict() for w in self.warnings]
        data["ok"] = self.ok
        return data

    def summary(self) -> str:
        if not self.ok:
            more = self.error_count - len(self.errors)
            lines = [f"{self.error_count} error(s) in {self.path}; nothing was written."]
            lines += [f"  {issue}" for issue in self.errors]
            if more > 0:
                lines.append(f"  ... and {more} more")
            return "\n".join(lines)
        if self.already_imported is not None:
            return (
                f"Already imported: {self.path} ({self.format}, {self.rows} rows) is the file of import job "
                f"{self.already_imported}, read the same way, and the project still holds everything it wrote: "
                f"0 new prompts, responses, comparisons or judgments ({self.judgments_unchanged} already present), "
                f"0 new judges in {self.seconds:.1f}s."
            )
        lines = [
            f"Imported {self.path} as {self.format}: {self.rows} rows -> {self.prompts_created} new prompts, "
            f"{self.responses_created} new responses, {self.comparisons_created} new comparisons, "
            f"{self.judgments_created} new judgments ({self.judgments_unchanged} already present), "
            f"{self.judges_created} new judges in {self.seconds:.1f}s."
        ]
        if self.warning_count:
            lines.append(f"{self.warning_count} warning(s):")
            lines += [f"  {issue}" for issue in self.warnings]
        return "\n".join(lines)
