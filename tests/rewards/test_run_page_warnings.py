"""The run page says plainly when a finished model may have learned nothing (the held-out accuracy interval includes
chance, or the training loss did not move), and shows the list metrics only for data that had lists."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from annotation.models import Membership
from rewards.models import JobStatus, RunMetric, TrainingRun
from rewards.selectors import metric_rows, run_warnings
from rewards.services.runs import config_from, training_run_create
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def interval(value: float, low: float, high: float) -> dict:
    return {"value": value, "low": low, "high": high}


PAIRS_ONLY = {  # what evaluation stores for pairs: the list metrics exist but restate pairwise accuracy
    "accuracy": interval(0.471, 0.21, 0.64), "mean_margin": interval(0.0, -0.01, 0.01),
    "brier": interval(0.25, 0.24, 0.26), "ece": interval(0.02, 0.01, 0.05), "ranking_accuracy": None,
    "kendall_tau": interval(-0.06, -0.6, 0.3), "ndcg": interval(0.8, 0.7, 0.9),
    "top1_accuracy": interval(0.47, 0.2, 0.6),
    "n_pairs": 17, "n_examples": 17, "n_groups": 17, "n_tied_pairs": 0, "bootstrap_samples": 1000, "reliability": [],
}  # fmt: skip
LEARNED_LISTS = PAIRS_ONLY | {
    "accuracy": interval(0.91, 0.85, 0.96), "mean_margin": interval(2.1, 1.8, 2.4),
    "ranking_accuracy": interval(0.9, 0.8, 0.95), "kendall_tau": interval(0.8, 0.7, 0.9),
}  # fmt: skip


def finished_run(project, metrics: dict, losses: list[float]) -> TrainingRun:  # noqa: ANN001
    run = training_run_create(user=None, projects=[project], config=config_from({}), enqueue=False)
    TrainingRun.objects.filter(pk=run.pk).update(status=JobStatus.SUCCEEDED, metrics=metrics, step=len(losses))
    RunMetric.objects.bulk_create(
        RunMetric(run=run, step=step, name="loss", value=value) for step, value in enumerate(losses, 1)
    )
    run.refresh_from_db()
    return run


@pytest.fixture
def page_for():  # noqa: ANN201
    project = ProjectFactory(slug="warn")
    client = Client()
    client.force_login(MembershipFactory(project=project, role=Membership.Role.RESEARCHER).user)

    def page(metrics: dict, losses: list[float]) -> str:
        run = finished_run(project, metrics, losses)
        return client.get(reverse("rewards:run_detail", kwargs={"run_id": run.pk})).content.decode()

    return page


def test_a_model_at_chance_with_a_flat_loss_is_called_out(page_for) -> None:  # noqa: ANN001
    html = page_for(PAIRS_ONLY, [0.6931, 0.6932, 0.6930, 0.6931] * 10)
    assert "This model may not have learned anything." in html
    assert "Held-out accuracy is 0.471 with a 95% interval of 0.21 to 0.64, which includes 0.5" in html
    assert "The training loss did not move (0.693 at the start, 0.693 at the end)" in html
    # Pairs only: no Kendall τ, NDCG or top-1 rows, and the page says why.
    assert "Kendall" not in html.split("Only pairs were evaluated")[0].split("Held-out evaluation")[1]
    assert "NDCG (lists)" not in html and "Top-1 accuracy (lists)" not in html
    assert "Only pairs were evaluated, so the list metrics" in html


def test_a_model_that_learned_gets_no_warning_and_its_list_metrics(page_for) -> None:  # noqa: ANN001
    html = page_for(LEARNED_LISTS, [0.69 - 0.015 * step for step in range(40)])
    assert "may not have learned anything" not in html and "did not move" not in html
    assert "Kendall τ (lists)" in html and "NDCG (lists)" in html and "Only pairs were evaluated" not in html


def test_each_warning_on_its_own() -> None:
    project = ProjectFactory(slug="each")
    at_chance = finished_run(project, PAIRS_ONLY, [0.69 - 0.02 * step for step in range(20)])
    assert [w.split(" ")[0] for w in run_warnings(run=at_chance, curves=curves(at_chance))] == ["Held-out"]
    flat = finished_run(project, LEARNED_LISTS, [0.5] * 20)
    assert [w.split(" ")[:3] for w in run_warnings(run=flat, curves=curves(flat))] == [["The", "training", "loss"]]
    # Only a finished, successful run is judged: one still training has not had its chance.
    TrainingRun.objects.filter(pk=flat.pk).update(status=JobStatus.RUNNING)
    flat.refresh_from_db()
    assert run_warnings(run=flat, curves=curves(flat)) == []
    labels = [label for label, _ in metric_rows(PAIRS_ONLY)]
    assert labels == [
        "Pairwise accuracy (ties excluded)", "Mean margin r(better) - r(worse)",
        "Brier score of σ(r_a - r_b) (lower is better)", "Expected calibration error (lower is better)",
    ]  # fmt: skip
    assert len(metric_rows(LEARNED_LISTS)) == 8


def curves(run: TrainingRun) -> dict:
    from rewards.selectors import run_curves

    return run_curves(run=run)
