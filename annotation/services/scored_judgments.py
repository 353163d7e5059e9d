"""Judgments from a model that scores responses (a reward model): ranks follow the scores, highest first, equal
scores tie, and the scores stay on the placements. The rewards app calls these; it writes no annotation rows itself."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import IntegrityError, transaction

from annotation.models import Comparison, Judge, Judgment, Placement, Project, Response

Scored = tuple[Comparison, Sequence[tuple[Response, float]]]  # a comparison and each of its responses' score


def reward_model_judge_get_or_create(
    *, name: str, project: Project, description: str = "", metadata: dict | None = None
) -> Judge:
    """The project's reward-model judge called `name`, created on first use (judges are per project)."""
    judge = Judge.objects.filter(project=project, name=name, kind=Judge.Kind.REWARD_MODEL).first()
    if judge is not None:
        return judge
    try:
        with transaction.atomic():
            return Judge.objects.create(
                project=project,
                name=name,
                kind=Judge.Kind.REWARD_MODEL,
                description=description,
                metadata=metadata or {},
            )
    except IntegrityError:  # a concurrent first use of the same name
        return Judge.objects.get(project=project, name=name, kind=Judge.Kind.REWARD_MODEL)


def reward_model_judge_in(*, judge: Judge, project: Project) -> Judge:
    """The same model's judge in `project`: a model trained in one project and scoring another judges there as a
    judge of that project, with the same name, description and metadata."""
    if judge.project_id == project.pk:
        return judge
    return reward_model_judge_get_or_create(
        name=judge.name, project=project, description=judge.description, metadata=judge.metadata
    )


def ranks_from_scores(scores: Sequence[float]) -> list[int]:
    """Dense ranks, 1 for the highest score; equal scores share a rank."""
    distinct = sorted(set(scores), reverse=True)
    position = {score: rank for rank, score in enumerate(distinct, start=1)}
    return [position[score] for score in scores]


@transaction.atomic
def scored_judgments_write(*, project: Project, judge: Judge, scored: Sequence[Scored]) -> int:
    """One active judgment of `judge` (its copy in `project`) per scored comparison (source: model scoring); returns
    how many."""
    judge = reward_model_judge_in(judge=judge, project=project)
    judgments = Judgment.objects.bulk_create(
        Judgment(project=project, comparison=comparison, judge=judge, source=Judgment.Source.MODEL)
        for comparison, _ in scored
    )
    placements = []
    for judgment, (_, responses) in zip(judgments, scored, strict=True):
        ranks = ranks_from_scores([score for _, score in responses])
        placements += [
            Placement(judgment=judgment, response=response, rank=rank, score=float(score))
            for (response, score), rank in zip(responses, ranks, strict=True)
        ]
    Placement.objects.bulk_create(placements, batch_size=2000)
    return len(judgments)
