"""One export, start to end: resolve the filters, read and write the rows, then the report and the card.

Called by the export service (jobs) and by `manage.py export_data`; both get the same files for the same spec.
Files are written under a `.partial` name and renamed when complete, so a failed export leaves no file that looks
finished.

Two readers give the same files and the same report (bar `seconds` and `path`), each row made by the format's one
builder (rows.py): pair records (fast.py: one query row per pairwise judgment, for per-judgment TRL rows as plain
strings) when the options (fast.PAIR_READER_OPTIONS) and then the data allow it, and prompt groups (source.py) for
everything else, or when the pair reader finds data it does not handle: its partial files are then removed and the
general path starts over. The report's `path` says which one wrote the files, and why not the fast one.
"""

from __future__ import annotations

import logging
import shlex
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from django.db import connection
from django.utils import timezone

from annotation.analysis.agreement import Agreement, comparison_agreement
from annotation.analysis.split import TRAIN, split_of
from annotation.exports import fast
from annotation.exports.card import render_card
from annotation.exports.left_out import left_out_counts
from annotation.exports.options import ExportSpec
from annotation.exports.outputs import Outputs
from annotation.exports.rows import Builder, Raw, builder_for
from annotation.exports.schema import Column
from annotation.exports.source import (
    PromptGroup,
    Query,
    count_judgments,
    iso_timestamp,
    iter_prompt_groups,
)
from annotation.exports.tally import Tally
from annotation.models import Judge, Judgment, LabelFlag, Project, ReviewAction
from workbench.exceptions import ApplicationError

logger = logging.getLogger(__name__)

# (judgments done, judgments total, rows written): called once per prompt; the caller throttles.
Progress = Callable[[int, int, int], None]
CARD = "README.md"


@dataclass
class ExportResult:
    files: list[str]  # names in the output folder (folder mode) or the one file's name
    report: dict[str, Any] = field(default_factory=dict)


def resolve_judges(*, project: Project, spec: ExportSpec) -> tuple[dict[int, tuple[str, str]], list[int] | None]:
    """The project's judges {id: (name, kind)}, and the ids the filters keep (None: no judge filter)."""
    ids = Judgment.objects.filter(project=project).values_list("judge_id", flat=True).distinct().order_by()
    judges = {j.pk: (j.name, j.kind) for j in Judge.objects.filter(pk__in=list(ids))}
    f = spec.filters
    if not (f.judges or f.judge_kinds):
        return judges, None
    names = {name for name, _ in judges.values()}
    unknown = [name for name in f.judges if name not in names]
    if unknown:
        raise ApplicationError(
            f"filters.judges: no judge named {unknown[0]!r} has judgments in project {project.slug!r}",
            extra={"field": "filters.judges"},
        )
    keep = [
        pk
        for pk, (name, kind) in judges.items()
        if (not f.judges or name in f.judges) and (not f.judge_kinds or kind in f.judge_kinds)
    ]
    return judges, sorted(keep)


def check_detector(*, project: Project, spec: ExportSpec) -> None:
    """A suspicion threshold needs the detector's flags: without them it would leave nothing out, silently."""
    f = spec.filters
    if f.max_suspicion is None or LabelFlag.objects.filter(project=project, detector=f.suspicion_detector).exists():
        return
    known = sorted(set(LabelFlag.objects.filter(project=project).values_list("detector", flat=True)))
    raise ApplicationError(
        f"filters.suspicion_detector: no judgment of project {project.slug!r} has a {f.suspicion_detector!r} flag; "
        + (f"detectors with flags: {', '.join(known)}" if known else "run the noisy-label detectors first"),
        extra={"field": "filters.suspicion_detector"},
    )


def review_history(*, project: Project) -> dict[int, list[dict[str, Any]]]:
    """Every review action on the project's judgments, by judgment id, oldest first (rows.REVIEW's fields). Review
    is done by hand, so a project holds few enough to keep in memory for the export."""
    out: dict[int, list[dict[str, Any]]] = {}
    actions = (
        ReviewAction.objects.filter(project=project)
        .order_by("created_at", "id")
        .values_list(
            "judgment_id", "action", "user__username", "created_at", "note", "correction_id", "undone_at",
            "undone_by__username",
        )
    )  # fmt: skip
    for judgment_id, action, by, at, note, correction_id, undone_at, undone_by in actions.iterator(chunk_size=2000):
        out.setdefault(judgment_id, []).append(
            {
                "action": action,
                "by": by,
                "at": iso_timestamp(at),
                "note": note,
                "correction_id": correction_id,
                "undone_at": iso_timestamp(undone_at),
                "undone_by": undone_by,
            }
        )
    return out


def _filter_by_agreement(group: PromptGroup, threshold: float | None, agreement: Agreement, stats: Counter) -> None:
    """Record each comparison's agreement; with a threshold, keep only the judgments of comparisons that reach it."""
    judgments = group.judgments
    if len(judgments) == 1:
        if threshold is not None:
            stats["judgments_without_agreement"] += 1
            group.judgments = []
        return
    by_comparison: dict[int, list] = {}
    for judgment in judgments:
        by_comparison.setdefault(judgment.comparison_id, []).append(judgment)
    kept = []
    for members in by_comparison.values():
        value = comparison_agreement([{p[0]: p[1] for p in j.placements} for j in members])
        if value is not None:
            agreement.add(value)
        if threshold is None:
            continue
        if value is None:
            stats["judgments_without_agreement"] += len(members)
        elif value + 1e-12 < threshold:
            stats["judgments_below_agreement"] += len(members)
        else:
            kept += members
    if threshold is not None:
        kept.sort(key=lambda j: j.id)
        group.judgments = kept


def export_project(
    *,
    project: Project,
    spec: ExportSpec,
    out: Path,
    folder: bool,
    progress: Progress | None = None,
    reproduce: str | None = None,
    fast_path: bool = True,
) -> ExportResult:
    """Write the export of `project` to `out`: a folder of split files and README.md, or one file (with a `split`
    column when a test fraction is asked for). Returns the file names and a report. `fast_path=False` makes the
    general path write it whatever the export (the tests compare the two paths' files)."""
    started = time.monotonic()
    out = Path(out)
    if folder:
        out.mkdir(parents=True, exist_ok=True)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
    judges, judge_ids = resolve_judges(project=project, spec=spec)
    check_detector(project=project, spec=spec)
    builder: Builder = builder_for(spec, judges, project.slug)
    if isinstance(builder, Raw):
        reviews = review_history(project=project)
        if reviews:
            builder.add_reviews(reviews)
    left_out = left_out_counts(project_id=project.pk, filters=spec.filters, judge_ids=judge_ids)
    columns = list(builder.columns)
    if not folder and spec.options.test_fraction > 0:
        columns.append(Column("split", pa.string()))
    outputs = Outputs(out, folder, spec, columns)
    path = "fast"
    reason = fast.refusal(spec=spec, project=project, builder=builder) if fast_path else "asked for"
    tally: Tally | None = None
    try:
        if reason is None:
            try:
                tally = fast.export_pairs(
                    project=project,
                    spec=spec,
                    builder=builder,  # type: ignore[arg-type]  # refusal() passed only TrlPairwise
                    judges=judges,
                    judge_ids=judge_ids,
                    outputs=outputs,
                    progress=progress,
                )
                if tally.lane:
                    path = f"fast ({tally.lane})"
            except fast.NotPairwise as why:
                outputs.abort()  # start again from nothing: the general path writes every file itself
                reason = str(why)
        if tally is None:
            path = f"general ({reason})"
            logger.info("export of %s: general path: %s", project.slug, reason)
            tally = _export_groups(
                project=project, spec=spec, builder=builder, judge_ids=judge_ids, outputs=outputs, progress=progress
            )
        files = outputs.close()
    except BaseException:
        outputs.abort()
        raise
    if not folder and not files:
        # Nothing matched: still write the (empty) file, so the caller gets the file it asked for.
        outputs.writer(TRAIN)
        files = outputs.close()
    seconds = time.monotonic() - started
    rows_total = sum(tally.rows.values())
    report: dict[str, Any] = {
        "format": spec.format,
        "file_type": spec.file_type,
        "filters": spec.filters_json(),
        "options": spec.options_json(),
        "judgments_total": tally.judgments_total,
        "judgments_read": tally.judgments_read,
        "judgments_exported": tally.judgments_exported,
        "prompts": tally.prompts,
        "rows": dict(tally.rows),
        "rows_total": rows_total,
        "stats": dict(tally.stats),
        "left_out": left_out,
        "agreement": tally.agreement.as_dict(),
        "judges": [
            {"name": judges[pk][0], "kind": judges[pk][1], "judgments": n}
            for pk, n in sorted(tally.by_judge.items(), key=lambda kv: (-kv[1], judges[kv[0]][0]))
        ],
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows_total / seconds) if seconds > 0 else None,
        "path": path,
    }
    names = list(files.values())
    if folder:
        if not files:
            report["empty"] = True
        ordered = {s: files[s] for s in sorted(files, key=lambda s: (s != TRAIN, s))}
        card = render_card(
            project_name=project.name,
            project_slug=project.slug,
            source=project.source,
            spec=spec,
            files=ordered,
            report=report,
            columns=[(c.name, _type_name(c)) for c in columns],
            created_at=timezone.now().strftime("%Y-%m-%d %H:%M UTC"),
            reproduce=reproduce or reproduce_command(project=project, spec=spec, out=str(out), folder=True),
        )
        (out / CARD).write_text(card, encoding="utf-8")
        names = [*ordered.values(), CARD]
    report["files"] = names
    logger.info("export of %s as %s: %s rows in %.1fs", project.slug, spec.format, rows_total, seconds)
    return ExportResult(files=names, report=report)


def _export_groups(
    *,
    project: Project,
    spec: ExportSpec,
    builder: Builder,
    judge_ids: list[int] | None,
    outputs: Outputs,
    progress: Progress | None,
) -> Tally:
    """The general path: prompt groups from the three streams (source), rows from the format's builder."""
    query = Query(
        project_id=project.pk, filters=spec.filters, judge_ids=judge_ids, full=builder.full, vendor=connection.vendor
    )
    o = spec.options
    with_split_column = not outputs.folder and o.test_fraction > 0
    tally = Tally(judgments_total=count_judgments(query))
    for group in iter_prompt_groups(query):
        tally.judgments_read += len(group.judgments)
        _filter_by_agreement(group, spec.filters.min_agreement, tally.agreement, tally.stats)
        if group.judgments:
            split = split_of(group.external_id, seed=o.seed, test_fraction=o.test_fraction)
            produced = builder.rows(group)
            if with_split_column:
                produced = (row + (split,) for row in produced)
            writer = outputs.writer(split)
            before = writer.rows_written
            writer.write_rows(produced)
            tally.rows[split] += writer.rows_written - before
            tally.prompts += 1
            tally.judgments_exported += len(group.judgments)
            for judgment in group.judgments:
                tally.by_judge[judgment.judge_id] += 1
        if progress is not None:
            progress(tally.judgments_read, tally.judgments_total, outputs.rows_written())
    tally.stats.update(builder.stats)
    return tally


def _type_name(column: Column) -> str:
    if column.free_form:
        return "object (JSON text in Parquet and CSV)"
    return str(column.type).replace("<item: ", "<").replace("element: ", "")


def reproduce_command(*, project: Project, spec: ExportSpec, out: str, folder: bool) -> str:
    """The export_data command line that makes this export again."""
    args = ["python", "manage.py", "export_data", "--project", project.slug, "--format", spec.format, "--out", out]
    if folder and spec.file_type != "jsonl":
        args += ["--file-type", spec.file_type]
    for key, value in spec.filters_json().items():
        flag = "--" + key.replace("_", "-")
        if key == "active_only":
            args.append("--include-excluded")  # recorded only when false
        elif isinstance(value, list):
            args += [flag, ",".join(value)]
        else:
            args += [flag, str(value)]
    for key, value in spec.options_json().items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            if key == "include_text":
                args.append("--no-text")
            else:
                args.append(flag)
        else:
            args += [flag, str(value)]
    return shlex.join(args)
