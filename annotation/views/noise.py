"""The Noisy labels page (flagged judgments by suspicion, filters, the annotator table, detector runs) and the review
screen (one flagged judgment, keyboard first: keep, correct, exclude, re-queue, undo; then the next flag).

Researchers and admins of the project; annotators get 403 and outsiders 404 (the selectors check). Actions are
plain form posts that redirect, so the screen works without its script; static/js/review.js adds the keys."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from annotation.models import Judgment, NoiseRun, Project, ReviewAction
from annotation.selectors import project_get
from annotation.selectors.noise_flags import (
    FlagFilters,
    annotator_table,
    flag_filter_choices,
    flag_filters_from,
    flag_list,
    latest_noise_run,
    next_flagged_judgment,
)
from annotation.selectors.noise_review import (
    ReviewItem,
    judgment_get_for_review,
    review_action_get,
    review_item,
)
from annotation.services import noise_runs
from annotation.services.review import MAX_REQUEUE, review_action_create, review_action_undo
from workbench.exceptions import ApplicationError

DONE_WORDS = {"keep": "Kept", "correct": "Corrected", "exclude": "Excluded", "requeue": "Re-queued"}


def _filters(request: HttpRequest) -> tuple[FlagFilters, str]:
    """The list's filters from the query (the review screen carries them too, so "next" follows the same list)."""
    try:
        return flag_filters_from(request.GET.dict()), ""
    except ApplicationError as error:
        return FlagFilters(), error.message


def _query(filters: FlagFilters, **extra: Any) -> str:
    return urlencode({**filters.as_query(), **{k: v for k, v in extra.items() if v not in (None, "")}})


def _page_number(request: HttpRequest) -> int:
    value = request.GET.get("page", "1")
    return max(1, int(value)) if value.isdigit() and len(value) < 7 else 1


def _run_context(project: Project) -> dict[str, Any]:
    run = latest_noise_run(project=project)
    return {
        "run": run,
        "run_open": run is not None and run.status in (NoiseRun.Status.QUEUED, NoiseRun.Status.RUNNING),
        "runs_available": True,
        "detectors": list(noise_runs.known_detectors()),
        "default_detectors": list(noise_runs.model_free_detectors()),
    }


@require_GET
@login_required
def noise_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get(user=request.user, slug=slug)
    if request.htmx and request.GET.get("part") == "run":  # type: ignore[attr-defined]
        response = render(request, "annotation/noise.html#run-status", {"project": project, **_run_context(project)})
        run = latest_noise_run(project=project)
        if run is not None and run.is_finished:
            response["HX-Refresh"] = "true"  # the run ended: the whole page shows its flags
        return response
    return _noise_page(request, project)


def _noise_page(request: HttpRequest, project: Project, status: int = 200) -> HttpResponse:
    filters, error = _filters(request)
    result = flag_list(project=project, filters=filters, page=_page_number(request))
    context = {
        "project": project,
        "filters": filters,
        "filter_error": error,
        "result": result,
        "choices": flag_filter_choices(project=project),
        "annotators": annotator_table(project=project),
        "query": _query(filters),
        "previous": "?" + _query(filters, page=result.page - 1) if result.page > 1 else "",
        "next": "?" + _query(filters, page=result.page + 1) if result.has_more else "",
        **_run_context(project),
    }
    return render(request, "annotation/noise.html", context, status=400 if error else status)


@require_POST
@login_required
def noise_run_create(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get(user=request.user, slug=slug)
    folds = request.POST.get("folds", "5")
    try:
        noise_runs.noise_run_start(
            project=project,
            user=request.user,
            detectors=request.POST.getlist("detectors"),
            folds=int(folds) if folds.isdigit() and len(folds) < 4 else -1,
        )
    except ApplicationError as error:
        messages.error(request, error.message)
        return _noise_page(request, project, status=error.status_code)  # the reason, on the page, as a 4xx
    messages.success(request, "Detector run queued; this page follows its progress.")
    return redirect("annotation:noise", slug=slug)


def _ordering_from_text(text: str, item: ReviewItem) -> list[list[int]]:
    """ "B > A = C" (labels, best first, = for a tie) as groups of response ids."""
    by_label = {r.label: r.response_id for r in item.responses}
    groups = []
    for part in text.replace("<", ">").split(">"):
        labels = [label.strip().upper() for label in part.split("=") if label.strip()]
        if not labels or any(label not in by_label for label in labels):
            raise ApplicationError(
                f"Write the ordering with the labels {', '.join(by_label)}, best first: e.g. B > A (= for a tie).",
                extra={"field": "ordering"},
            )
        groups.append([by_label[label] for label in labels])
    return groups


def _review_url(judgment_id: int, filters: FlagFilters, **extra: Any) -> str:
    return reverse("annotation:noise_review", args=[judgment_id]) + "?" + _query(filters, **extra)


@require_GET
@login_required
def review_screen(request: HttpRequest, judgment_id: int) -> HttpResponse:
    return _review_page(request, judgment_get_for_review(user=request.user, judgment_id=judgment_id))


def _review_page(request: HttpRequest, judgment: Judgment, status: int = 200) -> HttpResponse:
    filters, _ = _filters(request)
    last = None
    last_id = request.GET.get("last", "")
    if last_id.isdigit() and len(last_id) < 19:
        try:
            last = review_action_get(user=request.user, action_id=int(last_id))
        except ApplicationError:
            last = None
    item = review_item(judgment=judgment)
    pair = len(item.responses) == 2
    context = {
        "project": judgment.project,
        "item": item,
        "pair": pair,
        "filters": filters,
        "query": _query(filters),
        "last": last,
        "last_word": DONE_WORDS.get(last.action, "") if last else "",
        "max_requeue": MAX_REQUEUE,
        "labels": [r.label for r in item.responses],
        "next_id": next_flagged_judgment(project=judgment.project, filters=filters, after=judgment.pk),
    }
    return render(request, "annotation/noise_review.html", context, status=status)


@require_POST
@login_required
def review_act(request: HttpRequest, judgment_id: int) -> HttpResponse:
    judgment = judgment_get_for_review(user=request.user, judgment_id=judgment_id)
    filters, _ = _filters(request)
    post = request.POST
    action = post.get("action", "")
    try:
        ordering = None
        if action == ReviewAction.Action.CORRECT:
            text = post.get("ordering", "").strip() or {"A": "A > B", "B": "B > A", "tie": "A = B"}.get(
                post.get("choice", ""), ""
            )
            ordering = _ordering_from_text(text, review_item(judgment=judgment))
        annotators = post.get("annotators", "1")
        done = review_action_create(
            judgment=judgment,
            user=request.user,
            action=action,
            note=post.get("note", "")[:10_000],
            ordering=ordering,
            annotators=int(annotators) if annotators.isdigit() and len(annotators) < 4 else 0,
        )
    except ApplicationError as error:
        messages.error(request, error.message)
        return _review_page(request, judgment, status=error.status_code)
    following = next_flagged_judgment(project=judgment.project, filters=filters, after=judgment.pk)
    if following is None:
        messages.success(request, f"{DONE_WORDS[done.action]} judgment #{judgment.pk}. No open flags left here.")
        return redirect(reverse("annotation:noise", args=[judgment.project.slug]) + "?" + _query(filters))
    return redirect(_review_url(following, filters, last=done.pk))


@require_POST
@login_required
def review_undo(request: HttpRequest, action_id: int) -> HttpResponse:
    action = review_action_get(user=request.user, action_id=action_id)
    filters, _ = _filters(request)
    try:
        review_action_undo(action=action, user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return _review_page(request, action.judgment, status=error.status_code)
    word = DONE_WORDS[action.action].lower()
    messages.success(request, f"Undone: judgment #{action.judgment_id} is no longer {word}.")
    return redirect(_review_url(action.judgment_id, filters))
