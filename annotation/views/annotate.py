"""The annotator's pages: the judging page, its prefetch endpoint, submit, skip and undo.

Submit, skip and undo answer JSON to the page's script (which has already shown the prefetched next item)
and redirect back to the judging page for a plain form post, so the page works without JavaScript too.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST

from annotation.models import Assignment, Project
from annotation.selectors import (
    annotation_item,
    annotator_progress,
    assignment_get_for_annotator,
    project_get_for_annotating,
)
from annotation.selectors.annotate import ranking_from_tokens
from annotation.services.assignments import assignment_claim, assignment_skip
from annotation.services.judgments import InvalidJudgment, Verdict, judgment_submit, judgment_undo_last
from workbench.exceptions import ApplicationError

ITEM_TEMPLATE = "annotation/annotate.html#item"


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _progress(project: Project, request: HttpRequest) -> dict[str, Any]:
    progress = annotator_progress(project=project, user=request.user)
    return {
        "done": progress.done,
        "project_done": progress.project_done,
        "project_target": progress.project_target,
        "percent": progress.percent,
    }


def _item_context(project: Project, assignment: Assignment | None) -> dict[str, Any]:
    return {"project": project, "item": annotation_item(assignment=assignment) if assignment else None}


def _error(request: HttpRequest, error: ApplicationError, project: Project) -> HttpResponse:
    """The refusal with its reason and status: JSON for the page's script, the judging page for a plain post."""
    if _wants_json(request):
        body = {"error": {"message": error.message, "details": error.extra}}
        return JsonResponse(body, status=error.status_code)
    messages.error(request, error.message)
    return _annotate_page(request, project, status=error.status_code)


def _annotate_page(request: HttpRequest, project: Project, status: int = 200) -> HttpResponse:
    assignment = assignment_claim(project=project, user=request.user)
    context = _item_context(project, assignment)
    context["progress"] = annotator_progress(project=project, user=request.user)
    return render(request, "annotation/annotate.html", context, status=status)


@require_GET
@login_required
def annotate(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get_for_annotating(user=request.user, slug=slug)
    return _annotate_page(request, project)


@require_GET
@login_required
def annotate_next(request: HttpRequest, slug: str) -> HttpResponse:
    """The item after the ones the page shows (`exclude`): fetched ahead so a submit never waits on it."""
    project = project_get_for_annotating(user=request.user, slug=slug)
    exclude = [int(value) for value in request.GET.getlist("exclude") if value.isdigit()]
    assignment = assignment_claim(project=project, user=request.user, exclude_ids=exclude)
    return render(request, ITEM_TEMPLATE, _item_context(project, assignment))


def _ranking_from_choice(choice: str, shown_order: list[int]) -> list[list[int]]:
    """A pairwise choice as an ordering of the two responses in the order they were shown (A first)."""
    if len(shown_order) != 2 or choice not in ("A", "B", "tie", "both_bad"):
        raise InvalidJudgment("Choose an answer first (A, B, or tie where allowed).", extra={"field": "choice"})
    a, b = shown_order
    return {"A": [[a], [b]], "B": [[b], [a]]}.get(choice, [[a, b]])


def _verdict_from_post(request: HttpRequest, assignment: Assignment) -> Verdict:
    post = request.POST
    if post.get("ranking"):
        try:
            tokens = json.loads(post["ranking"])
            if not isinstance(tokens, list) or not all(
                isinstance(group, list) and all(isinstance(token, str) for token in group) for group in tokens
            ):
                raise ValueError
        except ValueError:
            raise InvalidJudgment(
                "The ordering must be a JSON list of lists of the responses' tokens.", extra={"field": "ranking"}
            ) from None
        ranking = ranking_from_tokens(assignment=assignment, ranking=tokens)
    else:
        ranking = _ranking_from_choice(post.get("choice", ""), list(assignment.shown_order))
    strength = post.get("strength", "")
    duration = post.get("duration_ms", "")
    if (strength and not strength.lstrip("-").isdigit()) or (duration and not duration.isdigit()):
        raise InvalidJudgment("Strength and duration must be whole numbers.", extra={"field": "strength"})
    criteria = {key[len("criteria.") :]: value for key, value in post.items() if key.startswith("criteria.") and value}
    return Verdict(
        ranking=ranking,
        strength=int(strength) if strength else None,
        criteria=criteria,
        rationale=post.get("rationale", ""),
        both_bad=post.get("choice") == "both_bad",
        duration_ms=int(duration) if duration else None,
        client_token=post.get("client_token") or None,
    )


@require_POST
@login_required
def assignment_submit(request: HttpRequest, assignment_id: int) -> HttpResponse:
    assignment = assignment_get_for_annotator(user=request.user, assignment_id=assignment_id)
    try:
        judgment = judgment_submit(assignment=assignment, verdict=_verdict_from_post(request, assignment))
    except ApplicationError as error:
        return _error(request, error, assignment.project)
    if _wants_json(request):
        return JsonResponse({"judgment": judgment.pk, "progress": _progress(assignment.project, request)})
    return redirect("annotation:annotate", slug=assignment.project.slug)


@require_POST
@login_required
def assignment_skip_view(request: HttpRequest, assignment_id: int) -> HttpResponse:
    assignment = assignment_get_for_annotator(user=request.user, assignment_id=assignment_id)
    try:
        assignment_skip(assignment=assignment)
    except ApplicationError as error:
        return _error(request, error, assignment.project)
    if _wants_json(request):
        return JsonResponse({"skipped": assignment.pk, "progress": _progress(assignment.project, request)})
    return redirect("annotation:annotate", slug=assignment.project.slug)


@require_POST
@login_required
def annotate_undo(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get_for_annotating(user=request.user, slug=slug)
    try:
        assignment = judgment_undo_last(project=project, user=request.user)
    except ApplicationError as error:
        return _error(request, error, project)
    if _wants_json(request):
        html = render_to_string(ITEM_TEMPLATE, _item_context(project, assignment), request=request)
        return JsonResponse({"assignment": assignment.pk, "html": html, "progress": _progress(project, request)})
    return redirect("annotation:annotate", slug=slug)
