"""python manage.py import_data PATH --project SLUG [--format NAME] [--create-project] [--as-pairs] [--judge NAME]
[--judge-kind KIND] ..."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from annotation.importers.formats import FORMATS
from annotation.importers.formats.base import JUDGE_KINDS
from annotation.models import ImportJob, Project
from annotation.services.import_jobs import import_job_run_here
from annotation.services.imports import ImportFailed, ImportReport
from annotation.services.projects import project_create
from workbench.exceptions import ApplicationError


class Command(BaseCommand):
    help = (
        "Import preference data (JSONL, JSON list, CSV or Parquet, optionally gzipped) into a project, as an import "
        "job the project's pages list."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument(
            "--format", choices=sorted(FORMATS), help="data format; detected from the columns if omitted"
        )
        parser.add_argument(
            "--create-project",
            action="store_true",
            help="create the project if it does not exist; if the import fails, nothing of it is left",
        )
        parser.add_argument(
            "--project-kind",
            choices=["pairwise", "listwise"],
            help="kind of a created project (default: what the file holds: listwise if it ranks lists, else "
            "pairwise); a created listwise project takes the longest list as its list size",
        )
        parser.add_argument(
            "--as-pairs",
            action="store_true",
            help="import each ranking of 3+ responses as the pairs it induces (for a pairwise project)",
        )
        parser.add_argument("--judge", help="judge name for formats whose rows name no judge")
        parser.add_argument(
            "--judge-kind",
            choices=JUDGE_KINDS,
            help="the kind of every judge the file names or the import creates (e.g. llm for a TRL file labelled by "
            "an LLM); default: what the format says",
        )
        parser.add_argument("--conversations", help="MT-Bench conversations file (default: beside PATH)")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["project"]
        project = Project.objects.filter(slug=slug).first()
        if project is None and not options["create_project"]:
            raise CommandError(f"no project {slug!r}; pass --create-project to create it")
        import_options: dict[str, Any] = {
            k: options[k] for k in ("judge", "judge_kind", "conversations") if options.get(k)
        }
        if options["as_pairs"]:
            import_options["as_pairs"] = True
        try:
            if project is None:
                # One transaction for the new project and its import: a failed import leaves no project, judge or
                # job behind (on SQLite the write lock is then held while the file is checked, too).
                with transaction.atomic():
                    kind = options["project_kind"]
                    project = project_create(slug=slug, **({"kind": kind} if kind else {}))
                    job, report = self._import(project, options, import_options, fit_project=True, keep_kind=bool(kind))
            else:
                job, report = self._import(project, options, import_options)
        except ImportFailed as failure:
            if options["json"]:
                self.stdout.write(json.dumps(failure.report.as_dict(), indent=2))
            raise CommandError(failure.report.summary()) from None
        except ApplicationError as error:
            raise CommandError(error.message) from None
        if options["json"]:
            self.stdout.write(json.dumps({**report.as_dict(), "import_job": job.pk}, indent=2))
        else:
            self.stdout.write(self.style.SUCCESS(report.summary()))
            self.stdout.write(f"Import job {job.pk} in project {project.slug}.")

    @staticmethod
    def _import(
        project: Project,
        options: dict[str, Any],
        import_options: dict[str, Any],
        *,
        fit_project: bool = False,
        keep_kind: bool = False,
    ) -> tuple[ImportJob, ImportReport]:
        return import_job_run_here(
            project=project,
            path=options["path"],
            format_name=options["format"],
            options=import_options,
            fit_project=fit_project,
            keep_kind=keep_kind,
        )
