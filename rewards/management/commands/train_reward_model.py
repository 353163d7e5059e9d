"""Train a reward model on a project's judgments from the command line; prints the run id and the artifact path.

    python manage.py train_reward_model --project SLUG [--project SLUG2] [--base-model REF] [--user NAME] [--loss NAME]
        [--epochs N] [--max-length N] [--batch-size N] [--lr X] [--seed N] [--judge-kinds human,imported] ...

Runs in this process by default (the run is recorded and shown in the app like any other); `--queue` sends it to
a worker of the gpu queue instead and returns at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.models import Project
from rewards.models import JobStatus
from rewards.services.base_models import ALLOWED_FORMS, DEFAULT_BASE_MODEL
from rewards.services.execution import training_run_execute
from rewards.services.runs import LAUNCH_DEFAULTS as DEFAULTS
from rewards.services.runs import config_from, training_run_create
from rewards.training import FIELD_CHOICES
from workbench.exceptions import ApplicationError


class Command(BaseCommand):
    help = __doc__.split("\n\n")[0]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", action="append", required=True, help="project slug (repeatable)")
        parser.add_argument("--name", default="")
        parser.add_argument("--judge-kinds", default="human,imported", help="comma-separated judge kinds")
        parser.add_argument(
            "--base-model",
            default=DEFAULT_BASE_MODEL,
            help=f"a reference: {ALLOWED_FORMS} (default: {DEFAULT_BASE_MODEL}); never a path",
        )
        parser.add_argument(
            "--user", default=None, help="launch as this user: their access is checked (needed for run:<id>)"
        )
        parser.add_argument("--loss", default=DEFAULTS["loss"], choices=FIELD_CHOICES["loss"])
        parser.add_argument("--epochs", type=float, default=DEFAULTS["epochs"])
        parser.add_argument("--max-length", type=int, default=DEFAULTS["max_length"])
        parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
        parser.add_argument("--lr", type=float, default=DEFAULTS["learning_rate"])
        parser.add_argument("--seed", type=int, default=DEFAULTS["seed"])
        parser.add_argument("--eval-fraction", type=float, default=DEFAULTS["eval_fraction"])
        parser.add_argument("--max-steps", type=int, default=None)
        parser.add_argument("--truncation-side", default="left", choices=FIELD_CHOICES["truncation_side"])
        parser.add_argument("--warmup-ratio", type=float, default=DEFAULTS["warmup_ratio"])
        parser.add_argument("--weight-decay", type=float, default=DEFAULTS["weight_decay"])
        parser.add_argument("--grad-accum", type=int, default=DEFAULTS["grad_accum"])
        parser.add_argument("--epsilon", type=float, default=None, help="noise-robust losses: flip rate / smoothing")
        parser.add_argument("--lora", action="store_true")
        parser.add_argument("--precision", default="auto", choices=FIELD_CHOICES["precision"])
        parser.add_argument(
            "--list-pairs",
            default="together",
            choices=FIELD_CHOICES["list_pairs"],
            help="pairwise losses on lists: a list's pairs in one step, or each pair on its own at random",
        )
        parser.add_argument("--queue", action="store_true", help="run on a gpu-queue worker instead of here")

    def handle(self, *args: Any, **options: Any) -> None:
        projects = list(Project.objects.filter(slug__in=options["project"]))
        missing = set(options["project"]) - {p.slug for p in projects}
        if missing:
            raise CommandError(f"no such project: {', '.join(sorted(missing))}")
        values = {
            "base_model": options["base_model"],
            "loss": options["loss"], "epochs": options["epochs"], "max_length": options["max_length"],
            "batch_size": options["batch_size"], "learning_rate": options["lr"], "seed": options["seed"],
            "eval_fraction": options["eval_fraction"], "max_steps": options["max_steps"],
            "truncation_side": options["truncation_side"], "warmup_ratio": options["warmup_ratio"],
            "weight_decay": options["weight_decay"], "grad_accum": options["grad_accum"],
            "epsilon": options["epsilon"], "lora": options["lora"], "precision": options["precision"],
            "list_pairs": options["list_pairs"],
        }  # fmt: skip
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"no such user: {options['user']}")
        try:
            run = training_run_create(
                user=user,
                projects=projects,
                config=config_from(values),
                judge_kinds=[k.strip() for k in options["judge_kinds"].split(",") if k.strip()],
                name=options["name"],
                enqueue=options["queue"],
            )
        except ApplicationError as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"run {run.pk}")
        if options["queue"]:
            self.stdout.write("queued for a gpu-queue worker; follow it on the run page")
            return
        run = training_run_execute(run_id=run.pk)
        if run is None or run.status != JobStatus.SUCCEEDED:
            raise CommandError(
                f"run {run.pk if run else '?'} ended {run.status if run else 'unclaimed'}: {run.error if run else ''}"
            )
        accuracy = (run.metrics.get("accuracy") or {}).get("value")
        self.stdout.write(f"artifact {Path(settings.DATA_DIR) / run.artifact_dir}")  # the operator's own machine
        if accuracy is not None:
            interval = run.metrics["accuracy"]
            self.stdout.write(f"held-out accuracy {accuracy:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]")
