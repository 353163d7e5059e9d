"""Training-run pages: list, launch, the live run page (progress, curves, metrics), cancel, restart, download,
evaluate on another project, score a project as a judge. Thin: selectors check, services act."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rewards.charts import line_chart, reliability_diagram
from rewards.forms import ProjectChoiceForm, TrainingRunForm
from rewards.models import Evaluation, ScoringJob, TrainingRun
from rewards.selectors import (
    has_lists,
    metric_rows,
    researcher_projects,
    run_curves,
    run_get,
    run_list_for_user,
    run_warnings,
)
from rewards.services.base_models import scrub_config, scrub_paths
from rewards.services.downloads import zip_stream
from rewards.services.runs import (
    DEFAULT_JUDGE_KINDS,
    config_from,
    training_run_cancel,
    training_run_create,
    training_run_restart,
    training_runs_reap,
)
from rewards.services.scoring import evaluation_create, scoring_job_create
from workbench.exceptions import ApplicationError, PermissionDenied


@require_GET
@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    if not researcher_projects(user=request.user).exists():
        # Runs are visible to the researchers of every project they train on: a pure annotator sees none.
        raise PermissionDenied("Reward models are for the researchers of a project.")
    training_runs_reap()
    runs = run_list_for_user(user=request.user)
    return render(request, "rewards/run_list.html", {"runs": runs})


@require_http_methods(["GET", "POST"])
@login_required
def run_new(request: HttpRequest) -> HttpResponse:
    projects = researcher_projects(user=request.user)
    if not projects.exists():
        raise PermissionDenied("Only researchers of a project (and admins) train reward models.")
    initial = {"projects": projects.filter(slug=request.GET.get("project", "")).values_list("pk", flat=True)}
    data = request.POST if request.method == "POST" else None
    form = TrainingRunForm(data, projects=projects, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            run = training_run_create(
                user=request.user,
                projects=list(form.cleaned_data["projects"]),
                config=config_from(form.config_values()),
                judge_kinds=form.cleaned_data["judge_kinds"],
                name=form.cleaned_data["name"],
                data_filters=form.cleaned_data["data_filters"],
            )
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            return redirect("rewards:run_detail", run_id=run.pk)
    status = 400 if form.errors else 200
    return render(request, "rewards/run_new.html", {"form": form}, status=status)


@require_GET
@login_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    training_runs_reap()
    run = run_get(user=request.user, run_id=run_id)
    curves = run_curves(run=run)
    smooth = max(1, len(curves.get("loss", [])) // 40)
    context = {
        "run": run,
        # What the page shows of the run: its base model as a reference, no server path anywhere.
        "config": scrub_config(run.config),
        "error": scrub_paths(run.error),
        "loss_chart": mark_safe(line_chart({"loss": curves.get("loss", [])}, title="Training loss", smooth=smooth)),  # noqa: S308
        "accuracy_chart": mark_safe(  # noqa: S308 - built by rewards.charts, every label escaped
            line_chart(
                {"accuracy": curves.get("accuracy", [])}, title="Training accuracy", y_range=(0, 1), smooth=smooth
            )
        ),
    }
    if request.htmx:  # type: ignore[attr-defined]
        response = render(request, "rewards/run_detail.html#live", context | {"oob": True})
        if run.is_finished and request.headers.get("HX-Trigger") == "live":
            response["HX-Refresh"] = "true"  # the poll saw the end: reload once to show the results
        return response
    projects = researcher_projects(user=request.user)
    evaluations = list(Evaluation.objects.filter(run=run).select_related("project"))
    held_out = next((e for e in evaluations if e.held_out), None)
    for evaluation in evaluations:
        evaluation.rows = metric_rows(evaluation.metrics)  # type: ignore[attr-defined]
        evaluation.error = scrub_paths(evaluation.error)
    scoring_jobs = list(ScoringJob.objects.filter(run=run).select_related("project"))
    for job in scoring_jobs:
        job.error = scrub_paths(job.error)
    context.update(
        held_out_rows=metric_rows(run.metrics),
        pairs_only=bool(run.metrics) and not has_lists(run.metrics),
        warnings=run_warnings(run=run, curves=curves),
        evaluations=[e for e in evaluations if not e.held_out],
        held_out=held_out,
        reliability=mark_safe(reliability_diagram(run.metrics.get("reliability", []))) if run.metrics else "",  # noqa: S308
        scoring_jobs=scoring_jobs,
        project_form=ProjectChoiceForm(projects=projects),
    )
    return render(request, "rewards/run_detail.html", context)


def _act_on_run(request: HttpRequest, run_id: int, action: Callable[[TrainingRun], str]) -> HttpResponse:
    """The run buttons: check the run, do one service call, say how it went, back to the run page."""
    run = run_get(user=request.user, run_id=run_id)
    try:
        messages.success(request, action(run))
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("rewards:run_detail", run_id=run.pk)


@require_POST
@login_required
def run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    def cancel(run: TrainingRun) -> str:
        training_run_cancel(run=run)
        return "Cancelling: the run stops before its next optimiser step."

    return _act_on_run(request, run_id, cancel)


@require_POST
@login_required
def run_restart(request: HttpRequest, run_id: int) -> HttpResponse:
    def restart(run: TrainingRun) -> str:
        return f"Restarted as attempt {training_run_restart(run=run).attempt}."

    return _act_on_run(request, run_id, restart)


@require_GET
@login_required
def run_download(request: HttpRequest, run_id: int) -> HttpResponse:
    """The trained model as a zip of its Hugging Face folder (config, weights, tokenizer, model card)."""
    run = run_get(user=request.user, run_id=run_id)
    if not run.artifact_dir:
        raise ApplicationError("This run has no trained model to download yet.")
    folder = Path(settings.DATA_DIR) / run.artifact_dir
    name = f"reward-model-run-{run.pk}"
    # Streamed: the zip is written as the client reads it, from the files on disk, one chunk at a time.
    response = StreamingHttpResponse(zip_stream(folder, name), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}.zip"'
    return response


def _project_choice(request: HttpRequest) -> ProjectChoiceForm:
    form = ProjectChoiceForm(request.POST, projects=researcher_projects(user=request.user))
    if not form.is_valid():
        raise ApplicationError("Choose a project you are a researcher in.")
    return form


@require_POST
@login_required
def run_evaluate(request: HttpRequest, run_id: int) -> HttpResponse:
    def evaluate(run: TrainingRun) -> str:
        form = _project_choice(request)
        kinds = form.cleaned_data["judge_kinds"] or list(DEFAULT_JUDGE_KINDS)
        evaluation_create(run=run, project=form.cleaned_data["project"], judge_kinds=kinds)
        return "Evaluation queued on the worker."

    return _act_on_run(request, run_id, evaluate)


@require_POST
@login_required
def run_score(request: HttpRequest, run_id: int) -> HttpResponse:
    def score(run: TrainingRun) -> str:
        scoring_job_create(run=run, project=_project_choice(request).cleaned_data["project"])
        return "Scoring queued: the model's orderings will appear as judgments of its judge."

    return _act_on_run(request, run_id, score)
