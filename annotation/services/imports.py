"""Importing a file into a project: validate every row, then write everything in one transaction.

Two passes over the file keep memory bounded (nothing is held between them but hashes): the first parses and
validates every row and stops short of writing if anything is wrong, reporting row, field and reason for the
first 100 problems and a count of the rest; the second parses again and bulk-writes inside `transaction.atomic`.
Re-importing a file finds every prompt, response, comparison and judgment already there and writes nothing new.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from annotation.importers.formats import FORMATS, Format, ParseContext, detect_format
from annotation.importers.readers import (
    ImportLimitExceeded,
    ImportLimits,
    Source,
    iter_rows,
    open_source,
    peek_columns,
)
from annotation.importers.records import ImportIssue, ImportItem, RowError
from annotation.importers.validator import ItemValidator
from annotation.importers.writer import BulkWriter, WriteStats
from annotation.models import ImportJob, Project
from workbench.exceptions import ApplicationError

logger = logging.getLogger(__name__)

MAX_REPORTED_ERRORS = 100_000  # every bad row is listed (the import page pages them); past this, counted
BATCH_ROWS = 2000
# A batch is also cut at this many bytes of rows read, so 2000 rows near the row limit are never held together.
BATCH_BYTES = 64 * 1024 * 1024
PROGRESS_EVERY_S = 1.0

ProgressCallback = Callable[[str, int, int, int], None]  # (phase, bytes_done, bytes_total, rows_done)


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

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def add_error(self, issue: ImportIssue) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(issue)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
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


# The writer's counters that the report carries (the rest of WriteStats is conflicts, reported as errors).
WRITE_COUNTS = tuple(f.name for f in fields(WriteStats) if f.name.endswith(("_created", "_unchanged")))


class ImportTimeLimitExceeded(ImportLimitExceeded):
    def __init__(self, seconds: int) -> None:
        super().__init__(f"the import ran past its {seconds} s time limit (WORKBENCH_IMPORT_TIME_LIMIT_S)")


class _Deadline:
    def __init__(self, seconds: int | None) -> None:
        self.seconds = seconds
        self.at = None if seconds is None else time.monotonic() + seconds

    def check(self) -> None:
        if self.at is not None and time.monotonic() > self.at:
            assert self.seconds is not None
            raise ImportTimeLimitExceeded(self.seconds)


class ImportFailed(ApplicationError):
    def __init__(self, report: ImportReport) -> None:
        super().__init__(report.summary(), extra={"errors": [e.as_dict() for e in report.errors]})
        self.report = report


def resolve_format(path: Path, format_name: str | None, limits: ImportLimits | None = None) -> Format:
    if format_name:
        try:
            return FORMATS[format_name]
        except KeyError:
            raise ApplicationError(f"unknown format {format_name!r}; known formats: {', '.join(FORMATS)}") from None
    columns = peek_columns(path, limits=limits)
    found = detect_format(columns)
    if found is None:
        if not columns:
            # Nothing readable to detect from (empty, truncated, not UTF-8): say why, row by row, as pass 1 would.
            raise _unreadable(path, limits)
        shown = ", ".join(sorted(columns)[:20])
        raise ApplicationError(
            f"cannot tell the format of {path.name} from its columns ({shown}){_closest_hint(columns)}; "
            f"pass a format, one of: {', '.join(FORMATS)}"
        )
    return found


def _closest_hint(columns: set[str]) -> str:
    candidates = [f for f in FORMATS.values() if f.required & columns and not f.excluded & columns]
    if not candidates:
        return ""
    closest = min(candidates, key=lambda f: (-len(f.required & columns), len(f.required - columns)))
    missing = sorted(closest.required - columns)
    return f"; closest is {closest.name}, which also needs {', '.join(missing)}" if missing else ""


def _unreadable(path: Path, limits: ImportLimits | None) -> ImportFailed:
    report = ImportReport(path=path.name)
    rows = 0
    with open_source(path) as source:
        for _, row in iter_rows(source, limits=limits):
            if isinstance(row, ImportIssue):
                report.add_error(row)
            else:
                rows += 1
    if report.ok:
        report.add_error(ImportIssue(None, None, "every row is an empty object" if rows else "the file holds no rows"))
    return ImportFailed(report)


class _Progress:
    def __init__(self, callback: ProgressCallback | None, source: Source) -> None:
        self.callback = callback
        self.source = source
        self.last = 0.0

    def __call__(self, phase: str, rows: int, *, force: bool = False) -> None:
        if self.callback is None:
            return
        now = time.monotonic()
        if force or now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            self.callback(phase, self.source.bytes_read(), self.source.size, rows)


def _parsed_items(
    source: Source,
    fmt: Format,
    ctx: ParseContext,
    report: ImportReport | None,
    limits: ImportLimits,
    deadline: _Deadline,
) -> Any:
    """Yield (row number, item) for every row that parses; parse errors go to the report (first pass only)."""
    required_checked = source.container != "csv"
    for row_number, row in iter_rows(source, max_row_bytes=ctx.options.get("max_row_bytes"), limits=limits):
        deadline.check()
        if isinstance(row, ImportIssue):
            if report is not None:
                report.add_error(row)
            continue
        if not required_checked:
            # A CSV column missing from the header is one error, not one per row.
            required_checked = True
            # A header that fits the format's own rule lacks nothing (UltraFeedback rows carry no `responses`).
            missing = [] if fmt.matches(set(row)) else sorted(fmt.required - set(row))
            if missing:
                if report is not None:
                    report.add_error(ImportIssue(1, ", ".join(missing), "missing column in the CSV header"))
                return
        if report is not None:
            report.rows += 1
        try:
            items = fmt.parse(row, row_number, ctx)
        except RowError as error:
            if report is not None:
                report.add_error(ImportIssue(row_number, error.field, error.message))
            continue
        except RecursionError:
            # The readers bound nesting; this catches a nested value that reached a format by another way.
            if report is not None:
                report.add_error(ImportIssue(row_number, None, limits.depth_message()))
            continue
        for item in items:
            yield row_number, item


def import_file(
    *,
    project: Project,
    path: Path | str,
    format_name: str | None = None,
    options: dict[str, Any] | None = None,
    import_job: ImportJob | None = None,
    progress: ProgressCallback | None = None,
    batch_rows: int = BATCH_ROWS,
    limits: ImportLimits | None = None,
    time_limit_s: int | None = None,
) -> ImportReport:
    """Import one file atomically. Returns the report; raises ImportFailed (nothing written) if any row is bad,
    ImportLimitExceeded if the file is past a limit (`limits`, by default the WORKBENCH_IMPORT_* settings) or the
    import runs past `time_limit_s`."""
    started = time.monotonic()
    deadline = _Deadline(time_limit_s)
    limits = limits or ImportLimits.from_settings()
    path = Path(path)
    report = ImportReport(path=path.name)
    if not path.exists():
        raise ApplicationError(f"no such file: {path.name}")
    fmt = resolve_format(path, format_name, limits)
    report.format = fmt.name
    options = dict(options or {})

    # Pass 1: validate everything, write nothing.
    ctx = ParseContext(project_slug=project.slug, path=path, options=options)
    validator = ItemValidator(project=project, refers_to_existing=fmt.refers_to_existing, id_field=fmt.id_field)
    with open_source(path) as source:
        tick = _Progress(progress, source)
        pending: list[tuple[int, ImportItem]] = []
        pending_from = 0
        for row_number, item in _parsed_items(source, fmt, ctx, report, limits, deadline):
            try:
                validator.check(item, row_number)
            except RowError as error:
                report.add_error(ImportIssue(row_number, error.field, error.message))
                continue
            report.items += 1
            if validator.needs_database():
                pending.append((row_number, item))
                if len(pending) >= batch_rows or source.decoded_bytes - pending_from > BATCH_BYTES:
                    for bad_row, error in validator.check_against_database(pending):
                        report.add_error(ImportIssue(bad_row, error.field, error.message))
                    pending, pending_from = [], source.decoded_bytes
            tick("validate", report.rows)
        for bad_row, error in validator.check_against_database(pending):
            report.add_error(ImportIssue(bad_row, error.field, error.message))
    fmt.finish(ctx)
    if report.rows == 0 and report.ok:
        report.add_error(ImportIssue(None, None, "the file holds no rows"))
    if report.items == 0 and report.ok:
        report.add_error(ImportIssue(None, None, "no row produced anything to import"))
    report.warnings, report.warning_count = ctx.warnings, ctx.warning_count
    report.counters = dict(ctx.counters)
    if not report.ok:
        report.seconds = time.monotonic() - started
        raise ImportFailed(report)

    # Pass 2: parse again and write, all in one transaction. The parse context is fresh so counters are not doubled.
    write_ctx = ParseContext(project_slug=project.slug, path=path, options=options, cache=ctx.cache)
    with transaction.atomic():
        writer = BulkWriter(project=project, now=timezone.now(), import_job_id=import_job.pk if import_job else None)
        with open_source(path) as source:
            tick = _Progress(progress, source)
            batch: list[tuple[int, ImportItem]] = []
            rows_written = batch_from = 0
            for row_number, item in _parsed_items(source, fmt, write_ctx, None, limits, deadline):
                batch.append((row_number, item))
                if len(batch) >= batch_rows or source.decoded_bytes - batch_from > BATCH_BYTES:
                    writer.write(batch)
                    rows_written, batch_from = row_number, source.decoded_bytes
                    batch = []
                    tick("write", rows_written)
            writer.write(batch)
        stats = writer.stats
        if stats.conflict_count:
            report.errors = stats.conflicts
            report.error_count = stats.conflict_count
            report.seconds = time.monotonic() - started
            transaction.set_rollback(True)
    if not report.ok:
        raise ImportFailed(report)
    for name in WRITE_COUNTS:
        setattr(report, name, getattr(stats, name))
    report.seconds = time.monotonic() - started
    logger.info("import of %s into %s: %s", path.name, project.slug, report.summary().splitlines()[0])
    return report
