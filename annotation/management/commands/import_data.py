"""python manage.py import_data PATH --project SLUG [--format NAME] [--create-project] [--judge NAME]
[--judge-kind KIND] ..."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.importers.formats import FORMATS
from annotation.importers.formats.base import JUDGE_KINDS
from annotation.models import Project
from annotation.services.imports import ImportFailed, import_file
from annotation.services.projects import project_create
from workbench.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Import preference data (JSONL, JSON list, CSV or Parquet, optionally gzipped) into a project."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument(
            "--format", choices=sorted(FORMATS), help="data format; detected from the columns if omitted"
        )
        parser.add_argument("--create-project", action="store_true", help="create the project if it does not exist")
        parser.add_argument("--project-kind", choices=["pairwise", "listwise"], help="kind of a created project")
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
        try:
            if project is None:
                if not options["create_project"]:
                    raise CommandError(f"no project {slug!r}; pass --create-project to create it")
                fields = {"kind": options["project_kind"]} if options["project_kind"] else {}
                project = project_create(slug=slug, **fields)
            import_options = {k: options[k] for k in ("judge", "judge_kind", "conversations") if options.get(k)}
            report = import_file(
                project=project, path=options["path"], format_name=options["format"], options=import_options
            )
        except ImportFailed as failure:
            if options["json"]:
                self.stdout.write(json.dumps(failure.report.as_dict(), indent=2))
            raise CommandError(failure.report.summary()) from None
        except ApplicationError as error:
            raise CommandError(error.message) from None
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            self.stdout.write(self.style.SUCCESS(report.summary()))
