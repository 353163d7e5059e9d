"""python manage.py export_data --project SLUG --format NAME --out PATH [filters] [options]

The file type comes from the extension of PATH (.jsonl, .parquet, .csv). A PATH without one of those extensions is
a folder: it gets one file per split (train, test) of --file-type and a dataset card (README.md), and loads with
`datasets.load_dataset(PATH)`. Bad options exit non-zero with a message naming the option.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.exports.options import (
    CONSENSUS_MODES,
    FILE_TYPES,
    FORMATS,
    MARGIN_MODES,
    PAIR_MODES,
    TIE_MODES,
    export_spec_validate,
    file_type_for,
)
from annotation.exports.runner import export_project
from annotation.models import Project
from workbench.exceptions import ApplicationError

# command-line flag -> field of the filters or options dict
FILTER_FLAGS = (
    "judge_kinds", "judges", "min_agreement", "date_from", "date_to", "categories", "max_suspicion",
    "suspicion_detector",
)  # fmt: skip
OPTION_FLAGS = ("pairs", "ties", "consensus", "margin", "test_fraction", "seed", "license")


class Command(BaseCommand):
    help = "Export a project's judgments as TRL pairs, listwise rows or raw judgments (JSONL, Parquet or CSV)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--format", required=True, choices=FORMATS, help="what the rows are")
        parser.add_argument(
            "--out",
            required=True,
            help="a .jsonl, .parquet or .csv file, or a folder (split files and README.md, for datasets)",
        )
        parser.add_argument("--file-type", choices=FILE_TYPES, help="file type in a folder (default jsonl)")
        parser.add_argument("--overwrite", action="store_true", help="replace an existing file or folder's files")
        filters = parser.add_argument_group("filters")
        filters.add_argument("--judge-kinds", help="comma-separated: human, reward_model, llm, imported")
        filters.add_argument("--judges", help="comma-separated judge names")
        filters.add_argument("--include-excluded", action="store_true", help="also excluded judgments")
        filters.add_argument("--min-agreement", help="keep comparisons whose agreement is at least this (0-1)")
        filters.add_argument("--date-from", help="judgments created on or after (ISO date or datetime)")
        filters.add_argument("--date-to", help="judgments created before (a bare date includes that day)")
        filters.add_argument("--categories", help="comma-separated prompt categories")
        filters.add_argument("--max-suspicion", help="leave out judgments whose suspicion is above this (0-1)")
        filters.add_argument("--suspicion-detector", help="the detector --max-suspicion reads (default: combined)")
        options = parser.add_argument_group("options")
        options.add_argument("--conversational", action="store_true", help="message lists instead of strings")
        options.add_argument("--pairs", help=f"listwise expansion: {', '.join(PAIR_MODES)}")
        options.add_argument("--ties", help=f"{', '.join(TIE_MODES)} (keep adds a `tie` column)")
        options.add_argument("--consensus", help=f"one row per prompt and pair: {', '.join(CONSENSUS_MODES)}")
        options.add_argument("--margin", help=f"margin column: {', '.join(MARGIN_MODES)}")
        options.add_argument("--drop-empty", action="store_true", help="leave out pairs with an empty response")
        options.add_argument("--no-text", action="store_true", help="raw: placements without response texts")
        options.add_argument("--test-fraction", help="share of prompts in the test split (0 = no test split)")
        options.add_argument("--seed", help="seed of the split (default 0)")
        options.add_argument("--license", help="licence for the dataset card (default: read from the project)")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = Project.objects.filter(slug=opts["project"]).first()
        if project is None:
            raise CommandError(f"no project {opts['project']!r}")
        out = Path(opts["out"])
        file_type = file_type_for(str(out))
        folder = file_type is None
        if folder:
            file_type = opts["file_type"] or "jsonl"
        elif opts["file_type"] and opts["file_type"] != file_type:
            raise CommandError(f"--file-type {opts['file_type']} contradicts the extension of --out {out}")
        filters: dict[str, Any] = {k: opts[k] for k in FILTER_FLAGS if opts.get(k) is not None}
        if opts["include_excluded"]:
            filters["active_only"] = False
        options: dict[str, Any] = {k: opts[k] for k in OPTION_FLAGS if opts.get(k) is not None}
        for flag in ("conversational", "drop_empty"):
            if opts[flag]:
                options[flag] = True
        if opts["no_text"]:
            options["include_text"] = False
        try:
            spec = export_spec_validate(format=opts["format"], file_type=file_type, filters=filters, options=options)
        except ApplicationError as error:
            field = str(error.extra.get("field", ""))
            flag = "--" + field.split(".", 1)[-1].replace("_", "-") if field else ""
            raise CommandError(f"{error.message}" + (f" (option {flag})" if flag else "")) from None
        self._check_target(out, folder, opts["overwrite"])
        started = time.monotonic()
        try:
            result = export_project(project=project, spec=spec, out=out, folder=folder)
        except ApplicationError as error:
            raise CommandError(error.message) from None
        report = result.report
        if opts["json"]:
            self.stdout.write(json.dumps(report, indent=2, default=str))
            return
        where = ", ".join(str(out / name) if folder else str(out) for name in result.files)
        rows = ", ".join(f"{split} {n:,}" for split, n in report["rows"].items()) or "0"
        self.stdout.write(
            self.style.SUCCESS(
                f"Exported {report['rows_total']:,} rows ({rows}) from {report['judgments_exported']:,} judgments of "
                f"{report['prompts']:,} prompts as {spec.format} in {time.monotonic() - started:.1f}s: {where}"
            )
        )
        for key, value in sorted(report["stats"].items()):
            self.stdout.write(f"  {key.replace('_', ' ')}: {value:,}")
        for key, value in report.get("left_out", {}).items():
            self.stdout.write(f"  left out, {key.replace('_', ' ')}: {value:,}")

    @staticmethod
    def _check_target(out: Path, folder: bool, overwrite: bool) -> None:
        if folder:
            if out.exists() and not out.is_dir():
                raise CommandError(f"--out {out} is a file, and a path without .jsonl/.parquet/.csv is a folder")
            if out.is_dir() and any(out.iterdir()) and not overwrite:
                raise CommandError(f"--out {out} is a folder that is not empty; pass --overwrite to replace its files")
        else:
            if out.is_dir():
                raise CommandError(f"--out {out} is a folder")
            if out.exists() and not overwrite:
                raise CommandError(f"--out {out} exists; pass --overwrite to replace it")
