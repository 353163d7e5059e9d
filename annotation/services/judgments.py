"""Writes of human judgments: submit an assignment's ordering, undo the last one while its lease is open."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.models import Assignment, Comparison, Judge, Judgment, Placement, Project
from annotation.selectors.annotate import project_totals_add
from annotation.services.assignments import assignment_retake_expired
from workbench.exceptions import ApplicationError, Conflict

MAX_DURATION_MS = 24 * 3600 * 1000
MAX_RATIONALE = 10_000


@dataclass(frozen=True)
class Verdict:
    """What an annotator submits. `ranking`: groups of response ids, best group first; ids in a group are tied."""

    ranking: list[list[int]]
    strength: int | None = None
    criteria: dict[str, str] = field(default_factory=dict)
    rationale: str = ""
    both_bad: bool = False
    duration_ms: int | None = None
    client_token: str | None = None


class InvalidJudgment(ApplicationError):
    """The submission breaks one of the project's rules; `details` names the field."""


_JUDGE_OF_USER_SQL = "SELECT * FROM annotation_judge WHERE project_id = %s AND user_id = %s"


def human_judge_for(*, user: AbstractBaseUser, project: Project) -> Judge:
    """The user's human judge in this project, made on their first submission there (judges are per project).
    Names starting `human:` are reserved for these judges (imports and scripts cannot take them), so the name is
    free unless an older row holds it. Read with a written-out statement: every submit asks."""
    judge = next(iter(Judge.objects.raw(_JUDGE_OF_USER_SQL, [project.pk, user.pk])), None)
    if judge is not None:
        return judge
    name = f"{Judge.RESERVED_PREFIX}{user.get_username()}"
    if Judge.objects.filter(project=project, name=name).exists():  # taken before names were reserved
        name = f"{name}#{user.pk}"
    try:
        with transaction.atomic():
            return Judge.objects.create(project=project, user=user, name=name, kind=Judge.Kind.HUMAN)
    except IntegrityError:  # created by a concurrent first submission of the same user
        return Judge.objects.get(project=project, user=user)


def _fail(field_name: str, message: str) -> InvalidJudgment:
    return InvalidJudgment(message, extra={"field": field_name})


def validate_verdict(*, project: Project, response_ids: list[int], verdict: Verdict) -> None:
    """Every project rule, in Python, whatever the page allowed: placements exactly for the comparison's
    responses, ties and "both bad" only where allowed, strength and criteria on their scales, rationale."""
    flat = [rid for group in verdict.ranking for rid in group]
    if any(not group for group in verdict.ranking) or sorted(flat) != sorted(response_ids):
        raise _fail("ranking", "The ordering must place each response of this item exactly once.")
    tied = len(verdict.ranking) < len(flat)
    if verdict.both_bad:
        if not project.allow_both_bad:
            raise _fail("ranking", "This project does not allow 'both bad'.")
        if len(verdict.ranking) != 1:
            raise _fail("ranking", "'Both bad' places the responses as a tie.")
    elif tied and not project.allow_ties:
        raise _fail("ranking", "This project does not allow ties.")
    if verdict.strength is not None:
        if not project.strength_scale:
            raise _fail("strength", "This project has no strength scale.")
        if tied or not 0 <= verdict.strength < len(project.strength_scale):
            raise _fail("strength", f"Strength must be one of 0..{len(project.strength_scale) - 1} for a preference.")
    scales = {c["key"]: [str(v) for v in c.get("scale", [])] for c in project.criteria}
    for key, value in verdict.criteria.items():
        if key not in scales:
            raise _fail(f"criteria.{key}", f"Unknown criterion {key!r}.")
        if str(value) not in scales[key]:
            raise _fail(f"criteria.{key}", f"{value!r} is not on the scale of {key!r}.")
    if project.rationale == Project.Rationale.REQUIRED and not verdict.rationale.strip():
        raise _fail("rationale", "This project asks for a rationale.")
    if project.rationale == Project.Rationale.OFF and verdict.rationale.strip():
        raise _fail("rationale", "This project takes no rationale.")
    if len(verdict.rationale) > MAX_RATIONALE:
        raise _fail("rationale", f"The rationale is longer than {MAX_RATIONALE} characters.")
    if verdict.duration_ms is not None and not 0 <= verdict.duration_ms <= MAX_DURATION_MS:
        raise _fail("duration_ms", "Duration must be between 0 and 24 hours in milliseconds.")
    if verdict.client_token is not None and not 1 <= len(verdict.client_token) <= 64:
        raise _fail("client_token", "The client token must be 1 to 64 characters.")


def _already_answered() -> Conflict:
    return Conflict("This item was already submitted or skipped.")


def _earlier_by_token(*, judge: Judge, verdict: Verdict) -> Judgment | None:
    if not verdict.client_token:
        return None
    return Judgment.objects.filter(judge=judge, client_token=verdict.client_token).first()


def judgment_submit(*, assignment: Assignment, verdict: Verdict, source: str = Judgment.Source.UI) -> Judgment:
    """Store the annotator's ordering for their leased assignment. Idempotent by client token: a retried
    request returns the judgment the first one stored. The token is looked up only when the assignment is no
    longer leased (the common first submit pays nothing for it)."""
    judge = human_judge_for(user=assignment.annotator, project=assignment.project)
    if assignment.status in (Assignment.Status.DONE, Assignment.Status.SKIPPED):
        earlier = _earlier_by_token(judge=judge, verdict=verdict)
        if earlier is not None:
            return earlier
        raise _already_answered()
    project = assignment.project
    # The order shown is a permutation of the comparison's responses, drawn when the item was leased.
    response_ids = list(assignment.shown_order) or Comparison.response_ids_of(assignment.comparison.key)
    validate_verdict(project=project, response_ids=response_ids, verdict=verdict)
    if assignment.status == Assignment.Status.EXPIRED and not assignment_retake_expired(assignment=assignment):
        raise Conflict("Your lease on this item expired and others have since filled it; the answer was not stored.")
    duration = verdict.duration_ms
    if duration is None and assignment.served_at:
        duration = int((timezone.now() - assignment.served_at).total_seconds() * 1000)
    try:
        with transaction.atomic():
            judgment = Judgment.objects.create(
                project=project,
                comparison_id=assignment.comparison_id,
                judge=judge,
                strength=verdict.strength,
                criteria=dict(verdict.criteria),
                rationale=verdict.rationale.strip(),
                shown_order=list(assignment.shown_order),
                duration_ms=min(duration, MAX_DURATION_MS) if duration is not None else None,
                source=source,
                client_token=verdict.client_token or None,
                metadata={"both_bad": True} if verdict.both_bad else {},
            )
            Placement.objects.bulk_create(
                Placement(judgment=judgment, response_id=rid, rank=rank)
                for rank, group in enumerate(verdict.ranking, start=1)
                for rid in group
            )
            # Conditional: only a still-leased assignment becomes done, so a double submit or a race with the
            # reaper or a skip stores one judgment or none (the insert above rolls back with the refusal).
            if not Assignment.objects.filter(id=assignment.pk, status=Assignment.Status.LEASED).update(
                status=Assignment.Status.DONE, judgment=judgment, updated_at=timezone.now()
            ):
                raise _already_answered()
    except (Conflict, IntegrityError):
        # Lost a race: a retry whose first request won meanwhile (same token) gets what that one stored; else
        # the item was answered or skipped (an IntegrityError: this judge's active judgment of it exists).
        earlier = _earlier_by_token(judge=judge, verdict=verdict)
        if earlier is not None:
            return earlier
        raise _already_answered() from None
    assignment.status, assignment.judgment = Assignment.Status.DONE, judgment
    project_totals_add(project=project, done=1)  # the judging page's cached project count moves with it
    return judgment


@transaction.atomic
def judgment_undo_last(*, project: Project, user: AbstractBaseUser) -> Assignment:
    """Take back the annotator's latest submission in this project while its lease is still open: the judgment
    is deleted and the item is theirs again (its slot never left them)."""
    assignment = (
        Assignment.objects.select_for_update()
        .filter(project=project, annotator=user, status=Assignment.Status.DONE, judgment__isnull=False)
        .order_by("-updated_at", "-id")
        .first()
    )
    if assignment is None:
        raise Conflict("There is nothing to undo.")
    if assignment.leased_until is None or assignment.leased_until < timezone.now():
        raise Conflict("The lease on your last submission has ended; it can no longer be undone.")
    judgment_id = assignment.judgment_id
    assignment.status = Assignment.Status.LEASED
    assignment.judgment = None
    assignment.served_at = timezone.now()
    assignment.leased_until = max(assignment.leased_until, timezone.now() + timedelta(minutes=project.lease_minutes))
    assignment.save(update_fields=["status", "judgment", "served_at", "leased_until", "updated_at"])
    Judgment.objects.filter(id=judgment_id).delete()
    project_totals_add(project=project, done=-1)
    return assignment
