"""Reads for annotators and for watching their progress. Blind: an annotator's reads never include other
judges' judgments of an item; the permission check is in each selector."""

from __future__ import annotations

import json
from dataclasses import dataclass
from statistics import median
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.utils.crypto import salted_hmac

from annotation.models import Assignment, Comparison, Judgment, Membership, Project, Response
from annotation.selectors.projects import User, project_get, role_of
from workbench.exceptions import ApplicationError, NotFound

ANNOTATING_ROLES = ("admin", "researcher", "annotator")


def project_get_for_annotating(*, user: User, slug: str) -> Project:
    """Any member may annotate (researchers often judge a few items themselves); outsiders get 404."""
    return project_get(user=user, slug=slug, roles=ANNOTATING_ROLES)


# The judging endpoints' reads are written out as plain SQL: each runs on every submit and prefetch, and
# compiling the equivalent querysets (joins, a role subquery) costs several times the query's own time.
_ASSIGNMENT_SQL = """
SELECT a.*, m.role AS member_role FROM annotation_assignment a
LEFT JOIN annotation_membership m ON m.project_id = a.project_id AND m.user_id = %s
WHERE a.id = %s AND a.annotator_id = %s
"""
_PROJECT_SQL = "SELECT * FROM annotation_project WHERE id = %s"


def assignment_get_for_annotator(*, user: User, assignment_id: int) -> Assignment:
    """Only the annotator who holds an assignment may see or act on it; anyone else gets 404. The assignment
    comes with its project, and its annotator is `user` itself."""
    assignment = next(iter(Assignment.objects.raw(_ASSIGNMENT_SQL, [user.pk, assignment_id, user.pk])), None)
    if assignment is None or role_of(user=user, member_role=assignment.member_role) is None:
        raise NotFound("No such item in your queue.")
    assignment.project = next(iter(Project.objects.raw(_PROJECT_SQL, [assignment.project_id])))
    assignment.annotator = user
    return assignment


# Annotators never see response ids: ids follow import order, and most sources list the preferred response
# first, so the lower id would predict the imported winner. Each response is shown under a token that is an HMAC
# of (assignment, response) with the secret key: it carries no order and differs between assignments, so two
# annotators cannot match their items, and it is recomputed (not stored) to map a submitted ordering back.
TOKEN_LENGTH = 12


def response_token(*, assignment_id: int, response_id: int) -> str:
    digest = salted_hmac("annotation.response-token", f"{assignment_id}:{response_id}", algorithm="sha256")
    return digest.hexdigest()[:TOKEN_LENGTH]


def response_tokens(*, assignment: Assignment) -> dict[str, int]:
    """{token: response id} for the responses of this assignment's comparison."""
    ids = list(assignment.shown_order) or Comparison.response_ids_of(assignment.comparison.key)
    return {response_token(assignment_id=assignment.pk, response_id=rid): rid for rid in ids}


def ranking_from_tokens(*, assignment: Assignment, ranking: list[list[str]]) -> list[list[int]]:
    """An ordering given in the tokens the annotator was shown, as response ids; an unknown token is a 400 that
    names the field (a stale page after a secret-key change, or a guessed id)."""
    tokens = response_tokens(assignment=assignment)
    try:
        return [[tokens[str(token)] for token in group] for group in ranking]
    except KeyError:
        raise ApplicationError(
            "The ordering names a response that is not part of this item; reload the page.",
            extra={"field": "ranking"},
        ) from None


@dataclass
class ShownResponse:
    label: str  # "A", "B" for pairs; "1".."K" for lists: also the key that picks or focuses it
    response: Response
    token: str  # what the page and the API call this response (never its id)

    @property
    def messages(self) -> list[dict[str, str]] | None:
        """Where this response ends its own conversation (MT-Bench turn 2), the turns before its last one."""
        conversation = self.response.conversation
        return conversation[:-1] if conversation else None


@dataclass
class AnnotationItem:
    assignment: Assignment
    project: Project
    messages: list[dict[str, Any]]
    responses: list[ShownResponse]


_ITEM_SQL = """
SELECT r.*, p.messages AS prompt_messages FROM annotation_comparisonresponse cr
JOIN annotation_response r ON r.id = cr.response_id
JOIN annotation_prompt p ON p.id = r.prompt_id
WHERE cr.comparison_id = %s
"""


def annotation_item(*, assignment: Assignment) -> AnnotationItem:
    """The assignment's prompt and responses in the order this annotator is shown them (one query)."""
    by_id = {r.pk: r for r in Response.objects.raw(_ITEM_SQL, [assignment.comparison_id])}
    token = {rid: response_token(assignment_id=assignment.pk, response_id=rid) for rid in by_id}
    # An assignment without a stored order (none are made so today) falls back to token order, never id order.
    order = [rid for rid in assignment.shown_order if rid in by_id] or sorted(by_id, key=token.__getitem__)
    pairwise = len(order) == 2
    shown = [
        ShownResponse(label=chr(ord("A") + i) if pairwise else str(i + 1), response=by_id[rid], token=token[rid])
        for i, rid in enumerate(order)
    ]
    messages = by_id[order[0]].prompt_messages if order else []
    if isinstance(messages, str):  # an extra column is not converted like a model field: JSON text here
        messages = json.loads(messages)
    return AnnotationItem(assignment=assignment, project=assignment.project, messages=messages, responses=shown)


@dataclass
class AnnotatorProgress:
    done: int
    skipped: int
    project_done: int  # human judgments from this project's queue
    project_target: int  # comparisons x overlap

    @property
    def percent(self) -> int:
        return min(100, int(100 * self.project_done / self.project_target)) if self.project_target else 100


PROJECT_TOTALS_KEY = "project-totals:{}"
PROJECT_TOTALS_SECONDS = 15


def project_totals(*, project: Project) -> tuple[int, int]:
    """(human judgments from the queue, comparisons x overlap). Counting a big project's rows on every submit
    would cost more than the submit itself, so the project-wide numbers are cached for a few seconds; an
    annotator's own counts are always exact."""
    key = PROJECT_TOTALS_KEY.format(project.pk)
    totals = cache.get(key)
    if totals is None:
        done = Assignment.objects.filter(project=project, status=Assignment.Status.DONE).count()
        totals = (done, Comparison.objects.filter(project=project).count() * project.overlap)
        cache.set(key, totals, PROJECT_TOTALS_SECONDS)
    return totals


def project_totals_add(*, project: Project, done: int) -> None:
    """Move the cached project count by an annotator's own submit (+1) or undo (-1), so the judging page never
    shows fewer project judgments than the annotator has just made; the next recount corrects any lost race."""
    key = PROJECT_TOTALS_KEY.format(project.pk)
    totals = cache.get(key)
    if totals is not None:
        cache.set(key, (max(0, totals[0] + done), totals[1]), PROJECT_TOTALS_SECONDS)


_MY_COUNTS_SQL = """
SELECT COALESCE(SUM(CASE WHEN status = 'done' THEN 1 ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN status = 'skipped' THEN 1 ELSE 0 END), 0)
FROM annotation_assignment WHERE project_id = %s AND annotator_id = %s
"""


def annotator_progress(*, project: Project, user: User) -> AnnotatorProgress:
    """The annotator's own counts (exact, one indexed read: sent back with every submit) and the project's
    (cached for a few seconds)."""
    with connection.cursor() as cursor:
        cursor.execute(_MY_COUNTS_SQL, [project.pk, user.pk])
        done, skipped = cursor.fetchone()
    project_done, project_target = project_totals(project=project)
    return AnnotatorProgress(
        done=int(done), skipped=int(skipped), project_done=project_done, project_target=project_target
    )


@dataclass
class AnnotatorRow:
    username: str
    role: str
    done: int
    skipped: int
    leased: int
    expired: int
    median_seconds: float | None


def project_progress_by_annotator(*, project: Project) -> list[AnnotatorRow]:
    counts = {
        row["annotator_id"]: row
        for row in Assignment.objects.filter(project=project)
        .values("annotator_id")
        .annotate(
            done=Count("id", filter=Q(status=Assignment.Status.DONE)),
            skipped=Count("id", filter=Q(status=Assignment.Status.SKIPPED)),
            leased=Count("id", filter=Q(status=Assignment.Status.LEASED)),
            expired=Count("id", filter=Q(status=Assignment.Status.EXPIRED)),
        )
    }
    durations: dict[int, list[int]] = {}
    for annotator_id, duration in Judgment.objects.filter(
        project=project, source=Judgment.Source.UI, duration_ms__isnull=False, assignment__isnull=False
    ).values_list("assignment__annotator_id", "duration_ms"):
        durations.setdefault(annotator_id, []).append(duration)
    members = {m.user_id: m for m in Membership.objects.filter(project=project).select_related("user")}
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=set(counts) | set(members))}
    rows = []
    for user_id, user in sorted(users.items(), key=lambda item: item[1].get_username()):
        c = counts.get(user_id, {})
        mine = durations.get(user_id)
        rows.append(
            AnnotatorRow(
                username=user.get_username(),
                role=members[user_id].role if user_id in members else "former member",
                done=c.get("done", 0),
                skipped=c.get("skipped", 0),
                leased=c.get("leased", 0),
                expired=c.get("expired", 0),
                median_seconds=round(median(mine) / 1000, 1) if mine else None,
            )
        )
    return rows


def project_progress_by_comparison(*, project: Project, page: int, per_page: int = 50) -> tuple[QuerySet, bool]:
    """Comparisons with their human judgments so far against the overlap, least complete first."""
    start = (page - 1) * per_page
    rows = list(
        Comparison.objects.filter(project=project)
        .select_related("prompt")
        .annotate(
            done=Count("assignments", filter=Q(assignments__status=Assignment.Status.DONE)),
            leased=Count("assignments", filter=Q(assignments__status=Assignment.Status.LEASED)),
            skipped=Count("assignments", filter=Q(assignments__status=Assignment.Status.SKIPPED)),
        )
        .order_by("done", "id")[start : start + per_page + 1]
    )
    return rows[:per_page], len(rows) > per_page  # type: ignore[return-value]


@dataclass
class ProgressTotals:
    comparisons: int
    complete: int  # comparisons with all `overlap` judgments
    done: int
    leased: int
    skipped: int
    target: int  # comparisons x overlap

    @property
    def percent(self) -> int:
        return min(100, int(100 * self.done / self.target)) if self.target else 100


def project_progress_totals(*, project: Project) -> ProgressTotals:
    """The progress page's overall line, counted exactly (a researcher's page, not the judging hot path)."""
    counts = Assignment.objects.filter(project=project).aggregate(
        done=Count("id", filter=Q(status=Assignment.Status.DONE)),
        leased=Count("id", filter=Q(status=Assignment.Status.LEASED)),
        skipped=Count("id", filter=Q(status=Assignment.Status.SKIPPED)),
    )
    comparisons = Comparison.objects.filter(project=project).count()
    complete = (
        Comparison.objects.filter(project=project)
        .annotate(done=Count("assignments", filter=Q(assignments__status=Assignment.Status.DONE)))
        .filter(done__gte=project.overlap)
        .count()
    )
    return ProgressTotals(comparisons=comparisons, complete=complete, target=comparisons * project.overlap, **counts)


def annotator_projects(*, user: User) -> list[tuple[Project, str, AnnotatorProgress]]:
    """The annotator home: each project they belong to, their role and their progress in it."""
    from annotation.selectors.projects import project_list_for_user

    result = []
    for project in project_list_for_user(user=user):
        role = role_of(user=user, member_role=project.member_role) or ""
        result.append((project, role, annotator_progress(project=project, user=user)))
    return result
