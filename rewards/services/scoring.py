"""A trained model at work after training: evaluate it on any project's judgments, and score a project's
comparisons so the model becomes a judge whose orderings sit beside everyone else's."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from annotation.models import Comparison, Judge, Judgment, Project
from annotation.services.scored_judgments import reward_model_judge_in, scored_judgments_write
from rewards.models import Evaluation, JobStatus, ScoringJob, TrainingRun
from rewards.services.examples import load_examples, source_for
from rewards.services.execution import reward_model_judge, store_pair_scores
from workbench.exceptions import Conflict

logger = logging.getLogger(__name__)
BATCH = 256


def _artifact(run: TrainingRun) -> Path:
    if run.status != JobStatus.SUCCEEDED or not run.artifact_dir:
        raise Conflict("Only a run that finished training has a model to use.")
    return Path(settings.DATA_DIR) / run.artifact_dir


@transaction.atomic
def scoring_job_create(*, run: TrainingRun, project: Project) -> ScoringJob:
    _artifact(run)
    job = ScoringJob.objects.create(run=run, project=project)
    from rewards.tasks import scoring_job_task

    transaction.on_commit(lambda: scoring_job_task.delay(job.pk))
    return job


@transaction.atomic
def evaluation_create(*, run: TrainingRun, project: Project, judge_kinds: Sequence[str]) -> Evaluation:
    _artifact(run)
    evaluation = Evaluation.objects.create(run=run, project=project, judge_kinds=list(judge_kinds))
    from rewards.tasks import evaluation_task

    transaction.on_commit(lambda: evaluation_task.delay(evaluation.pk))
    return evaluation


def _fail(model: type, pk: int, error: Exception) -> None:
    model.objects.filter(pk=pk).update(
        status=JobStatus.FAILED,
        finished_at=timezone.now(),
        error=f"{type(error).__name__}: {error}\n\n" + traceback.format_exc(limit=6)[-3000:],
    )


def evaluation_run(*, evaluation_id: int) -> None:
    close_old_connections()
    if not Evaluation.objects.filter(pk=evaluation_id, status=JobStatus.QUEUED).update(status=JobStatus.RUNNING):
        return
    evaluation = Evaluation.objects.select_related("run", "project").get(pk=evaluation_id)
    try:
        from rewards.training import RewardScorer

        examples, response_ids = load_examples(
            source_for(projects=[evaluation.project], judge_kinds=evaluation.judge_kinds)
        )
        if not examples:
            raise ValueError("No active judgments from the chosen judge kinds in this project.")
        scorer = RewardScorer.load(_artifact(evaluation.run))
        result = scorer.evaluate(examples)
        with transaction.atomic():
            store_pair_scores(evaluation, result.pair_scores, response_ids)
            Evaluation.objects.filter(pk=evaluation_id).update(
                status=JobStatus.SUCCEEDED, metrics=result.to_dict(), finished_at=timezone.now()
            )
    except Exception as error:
        logger.exception("evaluation %s failed", evaluation_id)
        _fail(Evaluation, evaluation_id, error)


def scoring_job_run(*, job_id: int) -> None:
    """Score every comparison of the project the model's judge has not judged yet; write each as a judgment
    (ranks by reward, highest first; equal rewards tie; rewards kept as placement scores)."""
    close_old_connections()
    if not ScoringJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(status=JobStatus.RUNNING):
        return
    job = ScoringJob.objects.select_related("run", "project").get(pk=job_id)
    try:
        from rewards.training import RewardScorer

        run = job.run
        judge = reward_model_judge_in(judge=reward_model_judge(run), project=job.project)  # judges are per project
        scorer = RewardScorer.load(_artifact(run))
        done_already = Judgment.objects.filter(judge=judge, status=Judgment.Status.ACTIVE).values("comparison_id")
        todo = list(
            Comparison.objects.filter(project=job.project)
            .exclude(id__in=done_already)
            .order_by("id")
            .values_list("id", flat=True)
        )
        ScoringJob.objects.filter(pk=job_id).update(comparisons_total=len(todo))
        written = 0
        for start in range(0, len(todo), BATCH):
            written += _score_batch(scorer, judge, job.project, todo[start : start + BATCH])
            ScoringJob.objects.filter(pk=job_id).update(comparisons_done=start + len(todo[start:start + BATCH]),
                                                        judgments_written=written)  # fmt: skip
        ScoringJob.objects.filter(pk=job_id).update(status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    except Exception as error:
        logger.exception("scoring job %s failed", job_id)
        _fail(ScoringJob, job_id, error)


def _score_batch(scorer, judge: Judge, project: Project, comparison_ids: list[int]) -> int:  # noqa: ANN001
    comparisons = list(
        Comparison.objects.filter(id__in=comparison_ids).select_related("prompt").prefetch_related("responses")
    )
    items, orders = [], []
    for comparison in comparisons:
        responses = sorted(comparison.responses.all(), key=lambda r: r.pk)
        items.append((comparison.prompt.messages, [r.text for r in responses]))
        orders.append(responses)
    rewards = scorer.score(items)
    scored = [
        (comparison, list(zip(responses, scores, strict=True)))
        for comparison, responses, scores in zip(comparisons, orders, rewards, strict=True)
    ]
    return scored_judgments_write(project=project, judge=judge, scored=scored)
