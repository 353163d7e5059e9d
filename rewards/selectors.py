"""Reads for training runs, with the permission check: a run is visible to admins and to researchers of every
one of its projects (its data came from all of them)."""

from __future__ import annotations

from django.db.models import QuerySet

from annotation.models import Membership, Project
from annotation.selectors import User
from rewards.models import JobStatus, RunMetric, TrainingRun
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


def run_queryset_for_user(*, user: User) -> QuerySet[TrainingRun]:
    """Every run the user may see, newest first, as a query the API pages through (no cap): the runs none of whose
    projects lies outside the user's researcher projects."""
    if not user.is_authenticated:
        return TrainingRun.objects.none()
    runs = TrainingRun.objects.prefetch_related("projects").select_related("created_by", "judge")
    if not user.is_superuser:
        runs = runs.exclude(projects__in=Project.objects.exclude(pk__in=researcher_projects(user=user)))
    return runs.order_by("-created_at", "-id")


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


LIST_METRICS = frozenset({"ranking_accuracy", "kendall_tau", "ndcg", "top1_accuracy"})


def has_lists(metrics: dict) -> bool:
    """Whether the evaluated data held lists of 3+ replies: only then do the list metrics say anything (on pairs,
    Kendall τ, NDCG and top-1 merely restate pairwise accuracy). `ranking_accuracy` exists only for such lists."""
    return bool(metrics.get("ranking_accuracy"))


def metric_rows(metrics: dict) -> list[tuple[str, dict]]:
    """(label, {value, low, high}) for each headline number that applies, in a fixed order, for the metrics
    tables: the list metrics only when the data had lists of 3+ replies."""
    lists = has_lists(metrics)
    return [
        (label, metrics[key])
        for key, label in HEADLINE_METRICS
        if metrics.get(key) and (lists or key not in LIST_METRICS)
    ]


CHANCE = 0.5
# Loss "did not move": the mean of its last tenth within this fraction of the mean of its first tenth.
FLAT_LOSS_TOLERANCE = 0.01


def run_warnings(*, run: TrainingRun, curves: dict[str, list[tuple[int, float]]]) -> list[str]:
    """Plain sentences for a finished run whose model may have learned nothing: the held-out accuracy interval
    includes chance, or the training loss stayed where it started."""
    if run.status != JobStatus.SUCCEEDED:
        return []
    out = []
    accuracy = (run.metrics or {}).get("accuracy") or {}
    if accuracy and accuracy.get("low") is not None and accuracy["low"] <= CHANCE <= accuracy["high"]:
        out.append(
            f"Held-out accuracy is {accuracy['value']:.3f} with a 95% interval of {accuracy['low']:.2f} to "
            f"{accuracy['high']:.2f}, which includes 0.5: on this evaluation the model cannot be told apart from "
            "guessing. Do not use it as a judge yet: more data, more epochs or another learning rate may help."
        )
    losses = [value for _step, value in curves.get("loss", [])]
    if len(losses) >= 2:
        window = max(1, len(losses) // 10)
        first = sum(losses[:window]) / window
        last = sum(losses[-window:]) / window
        if abs(first - last) <= FLAT_LOSS_TOLERANCE * max(abs(first), 1e-8):
            out.append(
                f"The training loss did not move ({first:.3f} at the start, {last:.3f} at the end): the model "
                "learned nothing from this data with these settings."
            )
    return out
