"""Importing a file into a project: validate every row, then write everything in one transaction.

Two passes over the file keep memory bounded (nothing is held between them but hashes): the first parses and
validates every row and stops short of writing if anything is wrong, reporting row, field and reason for the
first 100 problems and a count of the rest; the second parses again and bulk-writes inside `transaction.atomic`.
Re-importing a file finds every prompt, response, comparison and judgment already there and writes nothing new. When
the same bytes were imported the same way before (the content hash on ImportJob) and the project's earlier rows are
unchanged since, the re-import reports "already imported" without parsing the file at all.

Comparisons must fit the project (see `annotation.importers.shape`): lists into a pairwise project are refused
unless `as_pairs` asks for their induced pairs, and a listwise project takes lists up to its list size.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, QuerySet
from django.utils import timezone

from annotation.importers.fingerprint import import_key
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
from annotation.importers.report import ImportReport
from annotation.importers.shape import ShapeCheck, fitting_project, induced_pairs, shape_problems
from annotation.importers.validator import ItemValidator
from annotation.importers.writer import BulkWriter, WriteStats
from annotation.models import Comparison, ImportJob, Judge, Judgment, Project, Prompt, Response
from workbench.exceptions import ApplicationError

logger = logging.getLogger(__name__)

BATCH_ROWS = 2000
# A batch is also cut at this many bytes of rows read, so 2000 rows near the row limit are never held together.
BATCH_BYTES = 64 * 1024 * 1024
PROGRESS_EVERY_S = 1.0

ProgressCallback = Callable[[str, int, int, int], None]  # (phase, bytes_done, bytes_total, rows_done)


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
    shape: ShapeCheck | None = None,
) -> Any:
    """Yield (row number, item) for every row that parses; parse errors go to the report and each item's shape to
    `shape` (first pass only). With the `as_pairs` option, lists come out as their induced pairs."""
    as_pairs = bool(ctx.options.get("as_pairs"))
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
            if shape is not None:
                shape.observe(row_number, item)
            yield row_number, (induced_pairs(item) if as_pairs else item)


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
    fit_project: bool = False,
    keep_kind: bool = False,
) -> ImportReport:
    """Import one file atomically. Returns the report; raises ImportFailed (nothing written) if any row is bad or
    the file's comparisons do not fit the project, ImportLimitExceeded if the file is past a limit (`limits`, by
    default the WORKBENCH_IMPORT_* settings) or the import runs past `time_limit_s`.

    `fit_project`: the project was made for this file, so it takes the kind (unless `keep_kind`: it was chosen) and
    the list size of the file's data. `options["as_pairs"]`: lists go into a pairwise project as their pairs."""
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
    report.content_hash = import_key(path, fmt.name, options)
    earlier = _earlier_import(project, report.content_hash, import_job)
    if earlier is not None and not fit_project:
        return _already_imported(project, report, earlier, bool(options.get("as_pairs")), started)

    # Pass 1: validate everything, write nothing.
    ctx = ParseContext(project_slug=project.slug, path=path, options=options)
    validator = ItemValidator(project=project, refers_to_existing=fmt.refers_to_existing, id_field=fmt.id_field)
    shape = ShapeCheck(kind=project.kind, list_size=project.list_size, as_pairs=bool(options.get("as_pairs")))
    with open_source(path) as source:
        tick = _Progress(progress, source)
        pending: list[tuple[int, ImportItem]] = []
        pending_from = 0
        for row_number, item in _parsed_items(source, fmt, ctx, report, limits, deadline, shape):
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
    report.shape = {str(n): count for n, count in sorted(shape.sizes.items())}
    if fit_project and shape.sizes:
        _fit(project, shape, keep_kind)
    # A file of the wrong shape is refused as a whole: that reason comes first, before any row's own problems.
    for issue in reversed(shape.problems()):
        report.errors.insert(0, issue)
        report.error_count += 1
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
        elif import_job is not None:
            # Read inside the transaction, so it covers exactly this import's writes and what was there before.
            report.project_state = project_state(project)
    if not report.ok:
        raise ImportFailed(report)
    for name in WRITE_COUNTS:
        setattr(report, name, getattr(stats, name))
    report.seconds = time.monotonic() - started
    logger.info("import of %s into %s: %s", path.name, project.slug, report.summary().splitlines()[0])
    return report


def _fit(project: Project, shape: ShapeCheck, keep_kind: bool) -> None:
    """A project made for this file takes the kind and list size of its data (pairwise when lists become pairs); one
    whose kind was chosen keeps it, a listwise one taking the longest list as its list size."""
    kind, list_size = (Project.Kind.PAIRWISE, 2) if shape.as_pairs else fitting_project(shape.sizes)
    if keep_kind:
        kind = project.kind
        list_size = max(shape.sizes) if kind == Project.Kind.LISTWISE else 2
    if (project.kind, project.list_size) != (kind, list_size):
        Project.objects.filter(pk=project.pk).update(kind=kind, list_size=list_size)
        project.kind, project.list_size = kind, list_size
    shape.kind, shape.list_size = kind, list_size


# --- re-importing a file already imported ---------------------------------------------------------------------------


def _state_tables(project: Project) -> dict[str, tuple[QuerySet[Any], bool]]:
    """The project's rows an import reads or writes, and whether to watch their `updated_at` too. Judgments change
    status (excluded, restored, superseded: each stamps `updated_at`); prompts, responses and comparisons are never
    edited by the app, only added (or deleted with their project), so their count is enough, and reading the
    `updated_at` of every prompt and response would cost more than the rest together."""
    return {
        "prompts": (Prompt.objects.filter(project=project), False),
        "responses": (Response.objects.filter(prompt__project=project), False),
        "comparisons": (Comparison.objects.filter(project=project), False),
        "judges": (Judge.objects.filter(project=project), True),
        "judgments": (Judgment.objects.filter(project=project), True),
    }


def _aggregate(rows: QuerySet[Any], stamped: bool) -> dict[str, Any]:
    found = rows.aggregate(n=Count("id"), top=Max("id"), **({"changed": Max("updated_at")} if stamped else {}))
    changed = found.get("changed")
    return {"top": found["top"] or 0, "n": found["n"], "changed": changed.isoformat() if changed else None}


def project_state(project: Project) -> dict[str, Any]:
    """Per table, the highest id, the count of rows and the latest change: recorded after an import, it tells later
    whether any row that existed then was deleted or changed since (rows added later have higher ids)."""
    return {name: _aggregate(rows, stamped) for name, (rows, stamped) in _state_tables(project).items()}


def project_unchanged_since(project: Project, state: dict[str, Any]) -> bool:
    """Whether every row counted in `state` is still there, unchanged. New rows (an annotator's judgments, another
    file) do not matter: an import only finds its rows, or conflicts with a changed one (which shows here)."""
    tables = _state_tables(project)
    if set(state) != set(tables):
        return False
    for name, (rows, stamped) in tables.items():
        then = state[name]
        now = _aggregate(rows.filter(id__lte=then["top"]), stamped)
        if (now["n"], now["changed"]) != (then["n"], then["changed"]):
            return False
    return True


def _earlier_import(project: Project, content_hash: str, current: ImportJob | None) -> ImportJob | None:
    """The latest succeeded import of the same bytes read the same way into this project, if the project still
    holds everything it found or wrote."""
    earlier = (
        ImportJob.objects.filter(project=project, content_hash=content_hash, status=ImportJob.Status.SUCCEEDED)
        .exclude(project_state={})
        .exclude(pk=current.pk if current else None)
        .order_by("-finished_at", "-id")
        .first()
    )
    if earlier is None or not project_unchanged_since(project, earlier.project_state):
        return None
    return earlier


def _already_imported(
    project: Project, report: ImportReport, earlier: ImportJob, as_pairs: bool, started: float
) -> ImportReport:
    """The report of a re-import that writes nothing: the file's numbers from the earlier report, nothing new."""
    before = earlier.report or {}
    report.rows, report.items = int(before.get("rows", 0)), int(before.get("items", 0))
    report.judgments_unchanged = int(before.get("judgments_created", 0)) + int(before.get("judgments_unchanged", 0))
    report.shape = dict(before.get("shape") or {})
    report.counters = dict(before.get("counters") or {})
    report.warnings = [ImportIssue(**w) for w in before.get("warnings") or []]
    report.warning_count = int(before.get("warning_count", len(report.warnings)))
    report.already_imported = earlier.pk
    report.project_state = earlier.project_state
    # The project's settings may have changed since: the file must still fit them.
    sizes = {int(n): count for n, count in report.shape.items()}
    for issue in shape_problems(project.kind, project.list_size, as_pairs, sizes):
        report.add_error(issue)
    report.seconds = time.monotonic() - started
    if not report.ok:
        raise ImportFailed(report)
    logger.info("import of %s into %s: %s", report.path, project.slug, report.summary())
    return report
