"""python manage.py find_noisy_labels --project SLUG [--detectors a,b] [--folds K] [--seeds S] [--wait [--timeout S]]
[--json]

Starts a noisy-label run on the project (docs/noise.md, "Running the detectors"): the same run the Noisy labels page
and `POST /api/v1/projects/{slug}/noise/runs/create/` start, computed by a worker of the default queue (and the
cross-fitted reward model by one of the gpu queue). Without --wait it prints the queued run and returns; with --wait it
follows the run's phase until it ends, then prints what each detector flagged, and exits non-zero unless it
succeeded. --json prints the run as the API shows it. Bad parameters exit non-zero with a message naming them.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from annotation.models import NoiseRun, Project
from annotation.services.noise_runs import model_free_detectors, noise_run_start, noise_runs_reap
from workbench.exceptions import ApplicationError

POLL_S = 1.0


class Command(BaseCommand):
    help = "Run the noisy-label detectors on a project (on a worker); --wait follows the run to its end."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument(
            "--detectors",
            default="",
            help="comma-separated detector names (default: every detector that needs no model); add reward_model "
            "and confident_learning for the cross-fitted reward model (a gpu-queue worker)",
        )
        parser.add_argument("--folds", type=int, default=5, help="folds of the cross-fitted reward model (2-10)")
        parser.add_argument("--seeds", type=int, default=1, help="seeds per fold of the reward model (1-10)")
        parser.add_argument("--wait", action="store_true", help="follow the run until it ends")
        parser.add_argument("--timeout", type=float, default=0, help="with --wait: give up after this many seconds")
        parser.add_argument("--json", action="store_true", help="print the run as JSON (as the API shows it)")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = Project.objects.filter(slug=opts["project"]).first()
        if project is None:
            raise CommandError(f"No project {opts['project']!r}.")
        detectors = [d.strip() for d in opts["detectors"].split(",") if d.strip()] or list(model_free_detectors())
        try:
            run = noise_run_start(
                project=project, user=None, detectors=detectors, folds=opts["folds"], seeds=opts["seeds"]
            )
        except ApplicationError as error:
            raise CommandError(error.message) from error
        if not opts["json"]:
            self.stderr.write(f"noise run {run.pk} queued: {', '.join(run.detectors)}")
        if opts["wait"]:
            run = self._follow(run, timeout=opts["timeout"], quiet=opts["json"])
        self._print(run, as_json=opts["json"])
        if opts["wait"] and run.status != NoiseRun.Status.SUCCEEDED:
            sys.exit(1)

    def _follow(self, run: NoiseRun, *, timeout: float, quiet: bool) -> NoiseRun:
        started = time.monotonic()
        shown = ""
        while True:
            noise_runs_reap(project=run.project)  # a worker that died ends the run as failed
            run.refresh_from_db()
            line = f"{run.status}: {run.phase}"
            if line != shown and not quiet:
                self.stderr.write(line)
                shown = line
            if run.is_finished:
                return run
            if timeout and time.monotonic() - started > timeout:
                raise CommandError(
                    f"Noise run {run.pk} is still {run.status} ({run.phase}) after {timeout:g} s; is a worker "
                    "running? It goes on; follow it with the API or on the Noisy labels page."
                )
            time.sleep(POLL_S)

    def _print(self, run: NoiseRun, *, as_json: bool) -> None:
        from annotation.apis.noise_runs import NoiseRunSerializer

        if as_json:
            self.stdout.write(json.dumps(NoiseRunSerializer(run).data, cls=DjangoJSONEncoder, indent=2))
            return
        self.stdout.write(f"noise run {run.pk}: {run.status}" + (f": {run.error}" if run.error else ""))
        detectors = (run.report or {}).get("detectors", {})
        if detectors:
            self.stdout.write(f"{'detector':<20} {'flags':>8} {'> 0.5':>8} {'seconds':>8}")
            for name, row in detectors.items():
                seconds = "–" if row.get("seconds") is None else f"{row['seconds']:.2f}"
                self.stdout.write(f"{name:<20} {row['flags']:>8} {row['above_half']:>8} {seconds:>8}")
