"""The default training run on the HH-RLHF demo project: does a newcomer's first run learn? (issue 17)

Seeds the demo project as `load_demo` does (the same file and import options) into a throwaway SQLite database,
launches a run with the launch page's initial values (rewards.services.runs.LAUNCH_DEFAULTS, the shipped MiniLM),
runs it in this process through the worker's code path (rewards.services.execution.training_run_execute, one torch
thread as the CPU worker uses) and writes the held-out accuracy with its 95% bootstrap interval, the loss at the
start and the end, the wall and CPU time to the `default_run` section of docs/benchmarks.md.

    .venv/bin/python bench/default_run.py            # the default seed; writes the section
    .venv/bin/python bench/default_run.py --seeds 0,1 --no-doc   # other seeds (each moves the split and the head)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import load_average, machine, write_section  # noqa: E402

SLUG = "demo-hh-harmless"


def _setup(data_dir: Path) -> None:
    os.environ.update(
        WORKBENCH_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="workbench.settings",
        HF_HUB_OFFLINE="1",
        WORKBENCH_TORCH_THREADS="1",
        OMP_NUM_THREADS="1",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _demo_project():  # noqa: ANN202 - a Project
    from annotation.management.commands.load_demo import DEMO_DIR, DEMO_PROJECTS
    from annotation.services.imports import import_file
    from annotation.services.projects import project_create

    spec = dict(next(p for p in DEMO_PROJECTS if p["slug"] == SLUG))
    files = spec.pop("files")
    project = project_create(**spec)
    for relative, options in files:
        import_file(project=project, path=DEMO_DIR / relative, options=options)
    return project


def _launch_values(seed: int | None) -> dict[str, object]:
    """What the launch page posts when nothing is changed: its fields' initial values."""
    from rewards.forms import CONFIG_FIELDS, TrainingRunForm
    from rewards.services.base_models import DEFAULT_BASE_MODEL

    form = TrainingRunForm()
    values = {name: form.fields[name].initial for name in CONFIG_FIELDS}
    values["base_model"] = DEFAULT_BASE_MODEL
    if seed is not None:
        values["seed"] = seed
    return values


def run_once(project, seed: int | None) -> dict[str, object]:  # noqa: ANN001 - a Project
    from rewards.models import RunMetric
    from rewards.services.execution import training_run_execute
    from rewards.services.runs import config_from, training_run_create

    values = _launch_values(seed)
    run = training_run_create(user=None, projects=[project], config=config_from(values), enqueue=False)
    load_before = load_average()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    run = training_run_execute(run_id=run.pk)
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    if run is None or run.status != "succeeded":
        raise SystemExit(f"the run did not succeed: {run.error if run else 'not claimed'}")
    losses = list(RunMetric.objects.filter(run=run, name="loss").order_by("step").values_list("value", flat=True))
    head = sum(losses[:5]) / len(losses[:5])
    tail = sum(losses[-5:]) / len(losses[-5:])
    return {
        "seed": values["seed"],
        "values": {k: v for k, v in values.items() if k != "base_model"},
        "examples": run.data_stats["examples"],
        "train": run.data_stats["train"],
        "held_out": run.data_stats["held_out"],
        "accuracy": run.metrics["accuracy"],
        "mean_margin": run.metrics["mean_margin"],
        "steps": run.step,
        "loss_first5": head,
        "loss_last5": tail,
        "wall_s": wall,
        "train_s": run.result.get("timings", {}).get("train"),
        "cpu_s": (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime),
        "load": (load_before, load_average()),
    }


def _interval(metric: dict[str, float]) -> str:
    return f"{metric['value']:.3f} [{metric['low']:.3f}, {metric['high']:.3f}]"


def render(results: list[dict[str, object]], command: str) -> str:
    first = results[0]
    lines = [
        "## Default training run on the HH-RLHF demo project (`bench/default_run.py`)",
        "",
        "The run a newcomer launches without changing a setting (the launch page's initial values, "
        "`rewards.services.runs.LAUNCH_DEFAULTS`, base model: the shipped all-MiniLM-L6-v2) on the `demo-hh-harmless` "
        "project that `scripts/start` seeds (300 HH-RLHF harmless pairs, one crowdworker label each), run through "
        "the worker's code path on one torch thread. Target (issue 17): the held-out accuracy's 95% interval lies "
        "above 0.5, within a few CPU minutes.",
        "",
        f"Config: `{json.dumps(first['values'], sort_keys=True)}`",
        "",
        "| seed | train / held-out pairs | held-out accuracy [95% CI] | mean margin [95% CI] | loss, first → last 5 "
        "steps | steps | wall s (train loop) | CPU s | load before→after |",
        "|---:|---|---|---|---|---:|---|---:|---|",
    ]
    for r in results:
        load = r["load"]
        lines.append(
            f"| {r['seed']} | {r['train']} / {r['held_out']} | {_interval(r['accuracy'])} | "  # type: ignore[arg-type]
            f"{_interval(r['mean_margin'])} | {r['loss_first5']:.3f} → {r['loss_last5']:.3f} | {r['steps']} | "  # type: ignore[arg-type]
            f"{r['wall_s']:.0f} ({r['train_s']:.0f}) | {r['cpu_s']:.0f} | {load[0]:.2f}→{load[1]:.2f} |"  # type: ignore[index]
        )
    lines += [
        "",
        "The interval is the prompt-level bootstrap of the run page (1000 resamples). Wall time is the whole run "
        "(model load, tokenisation, training, evaluation, saving); CPU s is this process's user + system time.",
        "",
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {machine()}",
        f"- Command: `{command}`",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", help="comma-separated seeds (default: the default seed only)")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    seeds: list[int | None] = [int(s) for s in args.seeds.split(",")] if args.seeds else [None]
    with tempfile.TemporaryDirectory(prefix="default-run-") as data_dir:
        _setup(Path(data_dir))
        project = _demo_project()
        results = []
        for seed in seeds:
            result = run_once(project, seed)
            print(json.dumps(result, default=str), flush=True)
            results.append(result)
    command = "python bench/default_run.py" + (f" --seeds {args.seeds}" if args.seeds else "")
    text = render(results, command)
    print(text)
    if not args.no_doc:
        write_section("default_run", text)


if __name__ == "__main__":
    main()
