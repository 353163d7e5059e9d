"""The cross-fitted reward-model detector as users run it: a noise run started by the service goes through real
Celery workers (the annotation task on `default`, the hand-over to `rewards.noise_crossfit` on `gpu`), and the
reward-model and confident-learning flags land on the planted flips; plus the task's refusals, inline."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from sklearn.metrics import roc_auc_score

from annotation.models import LabelFlag, NoiseRun, Placement
from annotation.services.imports import import_file
from annotation.services.noise_runs import PHASE_AWAITING_MODEL, noise_run_start
from rewards.services.noise_crossfit import noise_crossfit_execute
from tests.factories import ProjectFactory
from tests.workers import start_worker, stop, wait_until

LOG = Path(os.environ["WORKBENCH_DATA_DIR"]) / "noise-crossfit-worker.log"
# One process serves both queues here; deployed, the gpu queue has a worker of its own (same task code).
WORKER = {"queues": "default,gpu", "pool": "prefork", "extra": ("--concurrency", "1", "--max-tasks-per-child", "1")}
N, FLIPPED = 120, 24


def noisy_pairs_file(path: Path) -> Path:
    """TRL pairs where the chosen response says 'excellent', with FLIPPED of them swapped (planted label noise)."""
    rng = random.Random(0)
    words = "the cat dog house tree river blue green quick slow water fire stone cloud road hill".split()
    flipped = set(rng.sample(range(N), FLIPPED))
    rows = []
    for i in range(N):
        filler = " ".join(rng.choice(words) for _ in range(6))
        good, bad = f"excellent {filler}", f"{filler} poor"
        chosen, rejected = (bad, good) if i in flipped else (good, bad)
        rows.append({"prompt": f"question {i}: {filler}?", "chosen": chosen, "rejected": rejected})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def training_options(reference: str) -> dict[str, object]:
    return {"base_model": reference, "max_length": 64, "batch_size": 8, "epochs": 4, "learning_rate": 2e-3}


def wait(run: NoiseRun, worker, timeout: float = 240) -> NoiseRun:  # noqa: ANN001
    return wait_until(run, lambda r: r.is_finished, worker, LOG, timeout, poll=0.3)


@pytest.mark.worker
@pytest.mark.slow
def test_a_noise_run_writes_reward_model_and_cleanlab_flags_on_a_worker(
    transactional_db, tmp_path: Path, tiny_model_ref: str
) -> None:
    project = ProjectFactory(slug="noisy")
    import_file(project=project, path=noisy_pairs_file(tmp_path / "pairs.jsonl"), options={"judge": "src"})
    run = noise_run_start(project=project, user=None, detectors=["reward_model", "confident_learning"], folds=3)
    NoiseRun.objects.filter(pk=run.pk).update(options={**run.options, "training": training_options(tiny_model_ref)})

    worker = start_worker(LOG, **WORKER)
    try:
        run = wait(run, worker)
    finally:
        stop(worker)
    assert run.status == NoiseRun.Status.SUCCEEDED, (run.error, LOG.read_text()[-3000:])
    assert run.phase == "done" and run.rows_done == N

    winners = dict(
        Placement.objects.filter(judgment__project=project, rank=1).values_list("judgment_id", "response__text")
    )
    flipped = {j for j, text in winners.items() if not text.startswith("excellent")}
    assert len(winners) == N and len(flipped) == FLIPPED

    model_flags = list(LabelFlag.objects.filter(project=project, detector="reward_model"))
    assert {f.judgment_id for f in model_flags} == set(winners) and all(f.run_id == run.pk for f in model_flags)
    assert all(f.details["p_wrong"] == f.score and 0 <= f.score <= 1 for f in model_flags)
    auroc = roc_auc_score([f.judgment_id in flipped for f in model_flags], [f.score for f in model_flags])
    assert auroc >= 0.9, auroc

    cl_flags = LabelFlag.objects.filter(project=project, detector="confident_learning")
    issues = {f.judgment_id for f in cl_flags if f.details["label_issue"]}
    assert cl_flags.count() == N and len(issues & flipped) >= 0.7 * len(issues) > 0

    report = run.report
    assert report["flags"]["reward_model"] == N and report["flags"]["confident_learning"] == N
    assert report["reward_model"]["folds"] == 3 and report["reward_model"]["models"] == 3
    assert report["reward_model"]["base_model"] == tiny_model_ref  # the reference, never a server path
    assert 0.1 <= report["confident_learning"]["flip_rate"] <= 0.3  # planted: 24 / 120 = 0.2
    cl = report["confident_learning"]
    assert cl["epsilon_for_robust_loss"] == round(cl["flip_rate"], 4) and cl["label_issues"] == len(issues)
    # noise_run_finish combined the detectors' flags.
    assert LabelFlag.objects.filter(project=project, detector="combined").count() == N


def _awaiting_run(project, **options: object) -> NoiseRun:  # noqa: ANN001
    return NoiseRun.objects.create(
        project=project, status=NoiseRun.Status.RUNNING, phase=PHASE_AWAITING_MODEL,
        detectors=["reward_model"], options={"folds": 3, "seeds": 1, **options},
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_the_task_does_nothing_unless_the_run_waits_for_it(tmp_path: Path) -> None:
    project = ProjectFactory()
    for status, phase in [(NoiseRun.Status.QUEUED, "queued"), (NoiseRun.Status.CANCELLED, "cancelled"),
                          (NoiseRun.Status.RUNNING, "reward model: reading judgments")]:  # fmt: skip
        run = NoiseRun.objects.create(project=project, status=status, phase=phase, detectors=["reward_model"])
        noise_crossfit_execute(run_id=run.pk)  # a duplicate message, a cancelled run, one already taken
        after = NoiseRun.objects.get(pk=run.pk)
        assert (after.status, after.phase, after.worker) == (status, phase, "")


@pytest.mark.django_db(transaction=True)
def test_a_refused_base_model_fails_the_run_with_the_reason(tmp_path: Path) -> None:
    project = ProjectFactory()
    run = _awaiting_run(project, training={"base_model": "cache:nobody/not-downloaded"})
    noise_crossfit_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == NoiseRun.Status.FAILED and run.phase == "failed"
    assert "not-downloaded" in run.error and str(tmp_path) not in run.error


@pytest.mark.django_db(transaction=True)
def test_bad_training_options_fail_the_run_naming_them(tmp_path: Path) -> None:
    project = ProjectFactory()
    run = _awaiting_run(project, training={"epochz": 3})
    noise_crossfit_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == NoiseRun.Status.FAILED and "epochz" in run.error
