"""python manage.py judges_report --project SLUG [--reference NAME|human-majority|human-loo]
[--baseline-generator NAME] [--category C] [--kinds K,K] [--generators G,G] [--humans PATTERN,...] [--json]

Compares the project's judges (definitions in docs/judges.md) and prints a table, or the whole report as JSON (the
same numbers as the Judges page and `GET /api/v1/projects/{slug}/judges/report/`). The result is stored, so the page
shows it at once afterwards. Bad parameters exit non-zero with a message naming the parameter.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.analysis.verdicts import HUMAN_MAJORITY
from annotation.models import JudgeReport, Project
from annotation.services.judges_report import judges_report_run, judges_report_start, report_request_validate
from workbench.exceptions import ApplicationError

COLUMNS = (
    ("n", "n"),
    ("coverage", "coverage"),
    ("accuracy", "accuracy"),
    ("agreement", "agreement"),
    ("cohen_kappa", "kappa"),
    ("accuracy_both_orders", "acc both"),
    ("position_consistency", "consistent"),
    ("prefers_first", "first"),
    ("prefers_longer", "longer"),
)


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        if value.get("value") is None:
            return "–"
        interval = value.get("interval")
        text = f"{value['value']:.3f}"
        return f"{text} [{interval[0]:.2f},{interval[1]:.2f}]" if interval else text
    return "–" if value is None else str(value)


class Command(BaseCommand):
    help = (
        "Compare a project's judges: agreement, accuracy against a reference, position and length bias, leaderboards."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument(
            "--reference", default=HUMAN_MAJORITY, help="a judge's name, human-majority (default) or human-loo"
        )
        parser.add_argument("--baseline-generator", default="", help="win rates against this generator")
        parser.add_argument("--category", default="", help="only prompts of this category")
        parser.add_argument("--kinds", default="", help="comma-separated judge kinds to compare")
        parser.add_argument("--generators", default="", help="comma-separated generators to keep")
        parser.add_argument(
            "--humans",
            default="",
            help="comma-separated judge names or patterns (mtbench:expert_*) whose votes make the human majority",
        )
        parser.add_argument("--json", action="store_true", help="print the whole report as JSON")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = Project.objects.filter(slug=opts["project"]).first()
        if project is None:
            raise CommandError(f"No project {opts['project']!r}.")
        data = {
            "reference": opts["reference"],
            "baseline_generator": opts["baseline_generator"],
            "category": opts["category"],
            "kinds": opts["kinds"],
            "generators": opts["generators"],
            "humans": opts["humans"],
        }
        try:
            request = report_request_validate(project=project, data=data)
            job = judges_report_start(project=project, request=request, user=None, force=True, schedule=False)
        except ApplicationError as error:
            raise CommandError(error.message) from error
        judges_report_run(job_id=job.pk)  # here, not on a worker: the command waits for its answer anyway
        job.refresh_from_db()
        if job.status != JudgeReport.Status.SUCCEEDED:
            raise CommandError(job.error or "The comparison failed.")
        if opts["json"]:
            self.stdout.write(json.dumps(job.report, indent=2, ensure_ascii=False))
            return
        report = job.report.get("judges_report") or {}
        rows = report.get("judges", [])
        self.stdout.write(f"{project.slug}: {job.report['verdicts']} verdicts, reference {request.reference}")
        header = ["judge", "kind", *[label for _, label in COLUMNS]]
        table = [header] + [[row["name"], row["kind"], *[_cell(row.get(key)) for key, _ in COLUMNS]] for row in rows]
        widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
        for line in table:
            self.stdout.write("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)))
