"""Training runs through the app's services with a tiny model: a run trains, evaluates, stores per-pair scores and
becomes a judge; a cancel stops it within a step; a raised error ends it visibly; a scoring job writes the model's
judgments; evaluation on another project; the command prints the run id and a loadable artifact."""

from __future__ import annotations

import threading
import time
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation.models import Judge, Judgment
from annotation.services.imports import import_file
from rewards.models import Evaluation, JobStatus, PairScore, RunMetric, ScoringJob, TrainingRun
from rewards.services.execution import training_run_execute
from rewards.services.runs import config_from, training_run_cancel, training_run_create, training_run_restart
from rewards.services.scoring import evaluation_create, evaluation_run, scoring_job_create, scoring_job_run
from tests.factories import ProjectFactory
from tests.rewards.conftest import install_in_hf_cache, keyword_pairs_file
from workbench.exceptions import ApplicationError, Conflict

pytestmark = pytest.mark.django_db(transaction=True)


def project_with_pairs(tmp_path: Path, slug: str, n: int = 60):
    project = ProjectFactory(slug=slug)
    import_file(
        project=project, path=keyword_pairs_file(tmp_path / f"{slug}.jsonl", n), options={"judge": f"{slug}-src"}
    )
    return project


def make_run(project, model: str, **config) -> TrainingRun:
    values = {"base_model": model, "max_length": 64, "batch_size": 8, "learning_rate": 2e-3, "epochs": 2,
              "eval_fraction": 0.25, "bootstrap_samples": 200} | config  # fmt: skip
    return training_run_create(user=None, projects=[project], config=config_from(values), enqueue=False)


def test_a_run_trains_evaluates_and_becomes_a_judge(tmp_path: Path, tiny_model_ref: str) -> None:
    project = project_with_pairs(tmp_path, "learn")
    run = training_run_execute(run_id=make_run(project, tiny_model_ref).pk)
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.data_stats["examples"] == 60 and run.data_stats["held_out"] > 0
    assert run.step == run.total_steps > 0 and run.dataset_fingerprint
    assert run.metrics["accuracy"]["low"] <= run.metrics["accuracy"]["value"] <= run.metrics["accuracy"]["high"]
    assert run.metrics["accuracy"]["value"] > 0.8  # 'excellent' is easy to learn
    assert RunMetric.objects.filter(run=run, name="loss").count() == run.total_steps
    held_out = Evaluation.objects.get(run=run, held_out=True)
    scores = PairScore.objects.filter(evaluation=held_out)
    assert scores.count() == run.data_stats["held_out"]
    assert all(s.judgment.project_id == project.pk for s in scores.select_related("judgment"))
    assert run.judge.kind == Judge.Kind.REWARD_MODEL
    # The artifact loads with transformers and gives the stored scores' ordering.
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(Path(settings.DATA_DIR) / run.artifact_dir)
    assert model.config.num_labels == 1
    assert (Path(settings.DATA_DIR) / run.artifact_dir / "README.md").exists()


def test_cancel_stops_within_one_step(tmp_path: Path, tiny_model_ref: str) -> None:
    project = project_with_pairs(tmp_path, "cancel", n=200)
    run = make_run(project, tiny_model_ref, epochs=30, batch_size=2)
    worker = threading.Thread(target=training_run_execute, kwargs={"run_id": run.pk})
    worker.start()
    deadline = time.monotonic() + 60
    while TrainingRun.objects.get(pk=run.pk).step < 2:
        assert time.monotonic() < deadline and worker.is_alive(), TrainingRun.objects.get(pk=run.pk).error
        time.sleep(0.05)
    training_run_cancel(run=run)
    asked_at = TrainingRun.objects.get(pk=run.pk).step
    worker.join(timeout=60)
    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED and run.finished_at
    # The stop check runs before every optimiser step; the step under way when we asked may finish, no more.
    # (`step` on the row lags by at most the 2 s write interval, so compare with the curve's last point.)
    last_step = RunMetric.objects.filter(run=run, name="loss").order_by("-step").values_list("step", flat=True).first()
    assert last_step is not None and last_step <= max(asked_at, run.step) + 1 < run.total_steps
    with pytest.raises(Conflict):
        training_run_cancel(run=run)
    restarted = training_run_restart(run=run)
    assert restarted.status == JobStatus.QUEUED and restarted.attempt == 2 and restarted.step == 0


def test_a_raised_error_ends_the_run_visibly(tmp_path: Path, tiny_hf_cache: Path, monkeypatch) -> None:  # noqa: ANN001
    project = project_with_pairs(tmp_path, "broken", n=20)
    not_a_model = tmp_path / "not-a-model"
    not_a_model.mkdir()
    (not_a_model / "config.json").write_text("{}")
    monkeypatch.setenv("HF_HUB_CACHE", str(tiny_hf_cache))
    install_in_hf_cache(not_a_model, tiny_hf_cache, "workbench-test/not-a-model")
    run = training_run_execute(run_id=make_run(project, "cache:workbench-test/not-a-model").pk)
    assert run.status == JobStatus.FAILED and run.finished_at
    assert run.error.splitlines()[0]  # the exception's type and message first, then the traceback tail
    with pytest.raises(ApplicationError, match="not a model reference"):
        config_from({"base_model": str(tmp_path / "missing")})
    with pytest.raises(ApplicationError, match="Invalid training settings"):
        config_from({"base_model": "shipped:all-minilm-l6-v2", "learning_rate": -1})


def test_scoring_writes_the_models_judgments_once(tmp_path: Path, tiny_model_ref: str) -> None:
    project = project_with_pairs(tmp_path, "score", n=30)
    run = training_run_execute(run_id=make_run(project, tiny_model_ref, epochs=1).pk)
    other = project_with_pairs(tmp_path, "other", n=12)
    job = scoring_job_create(run=run, project=other)
    scoring_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.judgments_written == job.comparisons_total == 12
    # Judges are per project: the model judges `other` as that project's judge of the same name.
    written = Judgment.objects.filter(judge__name=run.judge.name, project=other).prefetch_related("placements")
    assert written.count() == 12 and all(j.source == "model" for j in written)
    for judgment in written:
        placements = sorted(judgment.placements.all(), key=lambda p: -p.score)
        assert [p.rank for p in placements] == sorted(p.rank for p in placements) and placements[0].rank == 1
    again = ScoringJob.objects.create(run=run, project=other)
    scoring_job_run(job_id=again.pk)
    again.refresh_from_db()
    assert again.judgments_written == 0 and written.count() == 12  # nothing twice
    evaluation = evaluation_create(run=run, project=other, judge_kinds=["imported"])
    evaluation_run(evaluation_id=evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.status == JobStatus.SUCCEEDED and evaluation.metrics["n_pairs"] == 12
    assert PairScore.objects.filter(evaluation=evaluation).count() == 12


def test_the_command_prints_run_id_and_artifact(tmp_path: Path, tiny_model_ref: str) -> None:
    project_with_pairs(tmp_path, "cli", n=24)
    out = StringIO()
    call_command("train_reward_model", "--project", "cli", "--base-model", tiny_model_ref, "--max-length", "64",
                 "--epochs", "1", "--batch-size", "8", stdout=out)  # fmt: skip
    lines = out.getvalue().splitlines()
    run_id = int(lines[0].split()[1])
    artifact = Path(lines[1].split(" ", 1)[1])
    assert TrainingRun.objects.get(pk=run_id).status == JobStatus.SUCCEEDED
    assert (artifact / "config.json").exists() and lines[2].startswith("held-out accuracy")
    with pytest.raises(CommandError, match="no such project"):
        call_command("train_reward_model", "--project", "nope", stdout=StringIO())
    with pytest.raises(CommandError, match="invalid choice: 'fp16'"):  # choices come from TrainingConfig's types
        call_command("train_reward_model", "--project", "cli", "--precision", "fp16", stdout=StringIO())
