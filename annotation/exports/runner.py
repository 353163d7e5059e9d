"""One export, start to end: resolve the filters, stream prompt groups, build rows, write files and the card.

Called by the export service (jobs) and by `manage.py export_data`; both get the same files for the same spec.
Files are written under a `.partial` name and renamed when complete, so a failed export leaves no file that looks
finished.
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

from annotation.exports.card import render_card
from annotation.exports.options import ExportSpec
from annotation.exports.pairs import comparison_agreement
from annotation.exports.rows import Builder, builder_for
from annotation.exports.schema import Column
from annotation.exports.source import PromptGroup, Query, count_judgments, iter_prompt_groups
from annotation.exports.split import TRAIN, split_of
from annotation.exports.writers import Writer, open_writer
from annotation.models import Judge, Judgment, Project
from workbench.exceptions import ApplicationError

logger = logging.getLogger(__name__)

# (judgments done, judgments total, rows written): called once per prompt; the caller throttles.
Progress = Callable[[int, int, int], None]
CARD = "README.md"


@dataclass
class ExportResult:
    files: list[str]  # names in the output folder (folder mode) or the one file's name
    report: dict[str, Any] = field(default_factory=dict)


class _Agreement:
    def __init__(self) -> None:
        self.comparisons = 0
        self.total = 0.0
        self.unanimous = 0

    def add(self, value: float) -> None:
        self.comparisons += 1
        self.total += value
        self.unanimous += value >= 1.0 - 1e-12

    def as_dict(self) -> dict[str, Any]:
        n = self.comparisons
        return {
            "comparisons": n,
            "mean": self.total / n if n else None,
            "unanimous": self.unanimous,
            "unanimous_share": self.unanimous / n if n else None,
        }


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


def _filter_by_agreement(group: PromptGroup, threshold: float | None, agreement: _Agreement, stats: Counter) -> None:
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


class _Outputs:
    """Writers by split, opened on their first row under a .partial name."""

    def __init__(self, out: Path, folder: bool, spec: ExportSpec, columns: list[Column]) -> None:
        self.out = out
        self.folder = folder
        self.spec = spec
        self.columns = columns
        self.writers: dict[str, Writer] = {}
        self.paths: dict[str, tuple[Path, Path]] = {}

    def writer(self, split: str) -> Writer:
        if not self.folder:
            split = "all"  # one file; its rows carry a `split` column when a test fraction is asked for
        writer = self.writers.get(split)
        if writer is None:
            final = self.out / f"{split}.{self.spec.file_type}" if self.folder else self.out
            partial = final.with_name(final.name + ".partial")
            writer = open_writer(partial, self.spec.file_type, self.columns)
            self.writers[split] = writer
            self.paths[split] = (partial, final)
        return writer

    def close(self) -> dict[str, str]:
        names = {}
        for split, writer in self.writers.items():
            writer.close()
            partial, final = self.paths[split]
            partial.replace(final)
            names[split] = final.name
        return names

    def abort(self) -> None:
        for split, writer in self.writers.items():
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - cleaning up after the real error
                logger.warning("closing %s after a failed export", split, exc_info=True)
            self.paths[split][0].unlink(missing_ok=True)


def export_project(
    *,
    project: Project,
    spec: ExportSpec,
    out: Path,
    folder: bool,
    progress: Progress | None = None,
    reproduce: str | None = None,
) -> ExportResult:
    """Write the export of `project` to `out`: a folder of split files and README.md, or one file (with a `split`
    column when a test fraction is asked for). Returns the file names and a report."""
    started = time.monotonic()
    out = Path(out)
    if folder:
        out.mkdir(parents=True, exist_ok=True)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
    judges, judge_ids = resolve_judges(project=project, spec=spec)
    builder: Builder = builder_for(spec, judges, project.slug)
    query = Query(
        project_id=project.pk, filters=spec.filters, judge_ids=judge_ids, full=builder.full, vendor=connection.vendor
    )
    total = count_judgments(query)
    o = spec.options
    with_split_column = not folder and o.test_fraction > 0
    columns = list(builder.columns)
    if with_split_column:
        columns.append(Column("split", pa.string()))
    outputs = _Outputs(out, folder, spec, columns)
    stats: Counter[str] = Counter()
    agreement = _Agreement()
    by_judge: Counter[int] = Counter()
    rows: Counter[str] = Counter()
    judgments_read = judgments_exported = prompts = 0
    try:
        for group in iter_prompt_groups(query):
            judgments_read += len(group.judgments)
            _filter_by_agreement(group, spec.filters.min_agreement, agreement, stats)
            if group.judgments:
                split = split_of(group.external_id, seed=o.seed, test_fraction=o.test_fraction)
                produced = builder.rows(group)
                if with_split_column:
                    produced = (row + (split,) for row in produced)
                writer = outputs.writer(split)
                before = writer.rows_written
                writer.write_rows(produced)
                rows[split] += writer.rows_written - before
                prompts += 1
                judgments_exported += len(group.judgments)
                for judgment in group.judgments:
                    by_judge[judgment.judge_id] += 1
            if progress is not None:
                progress(judgments_read, total, sum(w.rows_written for w in outputs.writers.values()))
        files = outputs.close()
    except BaseException:
        outputs.abort()
        raise
    if not folder and not files:
        # Nothing matched: still write the (empty) file, so the caller gets the file it asked for.
        outputs.writer(TRAIN)
        files = outputs.close()
    stats.update(builder.stats)
    seconds = time.monotonic() - started
    rows_total = sum(rows.values())
    report: dict[str, Any] = {
        "format": spec.format,
        "file_type": spec.file_type,
        "filters": spec.filters_json(),
        "options": spec.options_json(),
        "judgments_total": total,
        "judgments_read": judgments_read,
        "judgments_exported": judgments_exported,
        "prompts": prompts,
        "rows": dict(rows),
        "rows_total": rows_total,
        "stats": dict(stats),
        "agreement": agreement.as_dict(),
        "judges": [
            {"name": judges[pk][0], "kind": judges[pk][1], "judgments": n}
            for pk, n in sorted(by_judge.items(), key=lambda kv: (-kv[1], judges[kv[0]][0]))
        ],
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows_total / seconds) if seconds > 0 else None,
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
