"""Reads of a project's data for researchers and scripts (the REST API): prompts with their responses and
comparisons, judges, judgments with placements. The permission check is the caller's `project_get`; these take
the project it returned."""

from __future__ import annotations

from django.db.models import Count, Prefetch, QuerySet

from annotation.models import (
    Comparison,
    ComparisonResponse,
    Judge,
    Judgment,
    Placement,
    Project,
    Prompt,
    Response,
)
from workbench.exceptions import NotFound


def prompt_list(*, project: Project) -> QuerySet[Prompt]:
    """Prompts in id order with their responses and comparisons (members in position order) prefetched."""
    return (
        Prompt.objects.filter(project=project)
        .order_by("id")
        .prefetch_related(
            Prefetch("responses", queryset=Response.objects.order_by("id")),
            Prefetch(
                "comparisons",
                queryset=Comparison.objects.order_by("id").prefetch_related(
                    Prefetch("members", queryset=ComparisonResponse.objects.order_by("position"))
                ),
            ),
        )
    )


def prompt_get(*, project: Project, prompt_id: int) -> Prompt:
    prompt = prompt_list(project=project).filter(pk=prompt_id).first()
    if prompt is None:
        raise NotFound("No such prompt in this project.")
    return prompt


def judge_list(*, project: Project) -> QuerySet[Judge]:
    """The judges with judgments in this project, with how many (active and excluded)."""
    return (
        Judge.objects.filter(judgments__project=project)
        .annotate(judgment_count=Count("judgments"))
        .order_by("kind", "name")
    )


def judgment_list(*, project: Project) -> QuerySet[Judgment]:
    """A project's judgments with judge, prompt and placements (rank order) loaded; filter and page it further."""
    return (
        Judgment.objects.filter(project=project)
        .select_related("judge", "comparison__prompt")
        .prefetch_related(Prefetch("placements", queryset=Placement.objects.order_by("rank", "response_id")))
        .order_by("id")
    )
