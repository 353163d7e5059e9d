"""Reads for training runs, with the permission check: a run is visible to admins and to researchers of every
one of its projects (its data came from all of them)."""

from __future__ import annotations

from django.db.models import QuerySet

from annotation.models import Membership, Project
from annotation.selectors import User
from rewards.models import RunMetric, TrainingRun
from workbench.exceptions import NotFound


def researcher_projects(*, user: User) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user, memberships__role=Membership.Role.RESEARCHER)


def run_list_for_user(*, user: User) -> list[TrainingRun]:
    allowed = set(researcher_projects(user=user).values_list("id", flat=True))
    runs = TrainingRun.objects.prefetch_related("projects").select_related("created_by").order_by("-created_at")[:200]
    return [run for run in runs if {p.pk for p in run.projects.all()} <= allowed]


def run_get(*, user: User, run_id: int) -> TrainingRun:
    """404 for a run the user may not see, so run names do not leak."""
    run = TrainingRun.objects.filter(pk=run_id).prefetch_related("projects").first()
    if run is None:
        raise NotFound("No such training run.")
    allowed = set(researcher_projects(user=user).values_list("id", flat=True))
    if not {p.pk for p in run.projects.all()} <= allowed:
        raise NotFound("No such training run.")
    return run


def run_curves(*, run: TrainingRun) -> dict[str, list[tuple[int, float]]]:
    curves: dict[str, list[tuple[int, float]]] = {}
    for name, step, value in RunMetric.objects.filter(run=run).values_list("name", "step", "value"):
        curves.setdefault(name, []).append((step, value))
    return curves


HEADLINE_METRICS = (
    ("accuracy", "Pairwise accuracy (ties excluded)"),
    ("mean_margin", "Mean margin r(better) - r(worse)"),
    ("brier", "Brier score of σ(r_a - r_b) (lower is better)"),
    ("ece", "Expected calibration error (lower is better)"),
    ("ranking_accuracy", "Ranking accuracy inside lists of 3+"),
    ("kendall_tau", "Kendall τ (lists)"),
    ("ndcg", "NDCG (lists)"),
    ("top1_accuracy", "Top-1 accuracy (lists)"),
)


def metric_rows(metrics: dict) -> list[tuple[str, dict]]:
    """(label, {value, low, high}) for each headline number present, in a fixed order, for the metrics tables."""
    return [(label, metrics[key]) for key, label in HEADLINE_METRICS if metrics.get(key)]
