"""A researcher picks a base model from the launch page's picker and launches a reward-model run, with a real
gpu-queue worker process: the run page shows live progress, then the held-out accuracy with its interval; the model
downloads as a zip that `from_pretrained` loads. A model at chance is called out on its run page. Screenshots go to
test-artifacts/ (and the picker and the warning to docs/screenshots/)."""

from __future__ import annotations

import os
import re
import time
import zipfile
from pathlib import Path

import pytest

from annotation.models import Membership
from annotation.services.imports import import_file
from rewards.models import JobStatus, TrainingRun
from tests.browser.conftest import download
from tests.browser.test_foundation_pages import login
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.rewards.conftest import TINY_REFERENCE, TINY_REPO_ID, install_in_hf_cache, keyword_pairs_file
from tests.workers import start_worker, stop

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]
LOG = Path(os.environ["WORKBENCH_DATA_DIR"]) / "browser-gpu-worker.log"
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def wait_for_step(page, at_least: int, timeout: float = 60) -> int:
    """The step shown by the polled fragment (rows are written every 2 s, so exact values may be skipped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"step (\d+) /", page.locator("#live .progress-text").inner_text())
        if found and int(found.group(1)) >= at_least:
            return int(found.group(1))
        page.wait_for_timeout(200)
    raise AssertionError("the run page showed no progress")


def test_launch_watch_and_download_a_run(
    page, live_server, tmp_path: Path, artifacts_dir: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = ProjectFactory(slug="rm", name="Reward data")
    MembershipFactory(project=project, role=Membership.Role.RESEARCHER, user=UserFactory(username="res"))
    import_file(project=project, path=keyword_pairs_file(tmp_path / "pairs.jsonl", 160), options={"judge": "src"})
    # The tiny model sits in a Hugging Face cache, as a downloaded model would; the worker inherits the variable.
    install_in_hf_cache(tiny_model, tmp_path / "hf-cache", TINY_REPO_ID)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    worker = start_worker(LOG, queues="gpu", pool="prefork", extra=("--concurrency", "1", "--max-tasks-per-child", "1"))
    try:
        login(page, live_server, "res")
        page.click("text=Reward models")
        page.click("text=Train a reward model")
        page.check(f"input[name=projects][value='{project.pk}']")
        page.fill("#id_name", "browser run")
        # The picker: the shipped MiniLM (chosen by default) and the cached model, each with its size.
        picker = page.locator("#base-model-picker")
        assert picker.locator("input[value='shipped:all-minilm-l6-v2']").is_checked()
        assert re.search(r"all-MiniLM-L6-v2.*\d+\.\d MB", picker.inner_text().replace("\n", " "))
        page.check(f"#base-model-picker input[value='{TINY_REFERENCE}']")
        picker.screenshot(path=str(DOCS_SCREENSHOTS / "training-launch-picker.png"))
        page.fill("#id_max_length", "64")
        page.fill("#id_batch_size", "2")
        page.fill("#id_epochs", "3")
        page.fill("#id_learning_rate", "0.002")
        page.fill("#id_eval_fraction", "0.25")
        page.screenshot(path=str(artifacts_dir / "training-launch.png"), full_page=True)
        page.click("text=Start training")
        page.wait_for_url("**/rewards/runs/*/")
        run = TrainingRun.objects.get(name="browser run")
        # Live progress: the polled fragment shows steps moving while the run is running.
        page.wait_for_selector("#live .progress-text:has-text('Running')", timeout=60_000)
        assert wait_for_step(page, at_least=1) >= 1
        page.screenshot(path=str(artifacts_dir / "training-running.png"), full_page=True)
        # When the run ends the page reloads once and shows the results.
        page.wait_for_selector("text=Held-out evaluation", timeout=180_000)
        run.refresh_from_db()
        assert run.status == JobStatus.SUCCEEDED, run.error
        page.screenshot(path=str(artifacts_dir / "training-finished.png"), full_page=True)
        headline = page.locator(".stat-card:has-text('held-out accuracy')").inner_text()
        assert f"{run.metrics['accuracy']['value']:.3f}" in headline and "[" in headline
        assert page.locator("#live[hx-trigger]").count() == 0  # polling has stopped
        assert run.config["base_model"] == TINY_REFERENCE and str(tmp_path) not in page.content()
        archive = download(page, "text=Download model", tmp_path / "model.zip")
    finally:
        stop(worker)
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(tmp_path / "model")
    from transformers import AutoModelForSequenceClassification

    folder = next((tmp_path / "model").iterdir())
    assert AutoModelForSequenceClassification.from_pretrained(folder).config.num_labels == 1
    assert page.dialogs == [] and page.console_errors == []  # type: ignore[attr-defined]


def test_a_model_at_chance_is_called_out_on_its_run_page(page, live_server) -> None:
    from rewards.models import RunMetric
    from rewards.services.runs import config_from, training_run_create

    project = ProjectFactory(slug="demo", name="Demo")
    MembershipFactory(project=project, role=Membership.Role.RESEARCHER, user=UserFactory(username="res"))
    run = training_run_create(user=None, projects=[project], config=config_from({}), enqueue=False, name="defaults")
    metrics = {"accuracy": {"value": 0.471, "low": 0.21, "high": 0.64}, "mean_margin": {"value": 0.0, "low": -0.002,
               "high": 0.002}, "kendall_tau": {"value": -0.06, "low": -0.6, "high": 0.3}, "ranking_accuracy": None,
               "n_pairs": 17, "n_examples": 17, "n_groups": 17, "n_tied_pairs": 0, "bootstrap_samples": 1000,
               "reliability": []}  # fmt: skip
    TrainingRun.objects.filter(pk=run.pk).update(
        status=JobStatus.SUCCEEDED, metrics=metrics, step=30, total_steps=30, loss=0.6931, accuracy=0.5
    )
    RunMetric.objects.bulk_create(RunMetric(run=run, step=s, name="loss", value=0.6931) for s in range(1, 31))
    login(page, live_server, "res")
    page.goto(f"{live_server.url}/rewards/runs/{run.pk}/")
    warning = page.locator(".run-warnings")
    assert "includes 0.5" in warning.inner_text() and "did not move" in warning.inner_text()
    assert page.locator("text=Kendall τ (lists)").count() == 0
    page.locator(".run-warnings").scroll_into_view_if_needed()
    page.screenshot(path=str(DOCS_SCREENSHOTS / "training-run-chance-warning.png"), full_page=False)
    assert page.console_errors == []  # type: ignore[attr-defined]
