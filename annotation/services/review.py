"""Review actions on judgments: leave one out of exports and training (kept in the database), bring it back, or send
a comparison back to the queue for more annotators; and the reviewed forms of these (keep, correct, exclude,
re-queue), each recorded as a ReviewAction and undoable. The noisy-label review screen and the API call these."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from annotation.models import Comparison, Judge, Judgment, LabelFlag, Placement, Project, ReviewAction
from annotation.services.judgments import InvalidJudgment
from workbench.exceptions import ApplicationError, Conflict


@transaction.atomic
def judgment_exclude(*, judgment: Judgment) -> Judgment:
    """Mark an active judgment excluded: exports and training read active judgments only. Excluding twice is a no-op;
    a "no verdict" has nothing to exclude."""
    if judgment.status == Judgment.Status.NO_VERDICT:
        raise Conflict(
            "A judgment without a verdict is not in exports or training already.", extra={"field": "judgment"}
        )
    Judgment.objects.filter(pk=judgment.pk).update(status=Judgment.Status.EXCLUDED, updated_at=timezone.now())
    judgment.refresh_from_db(fields=["status"])
    return judgment


@transaction.atomic
def judgment_restore(*, judgment: Judgment) -> Judgment:
    """Make an excluded judgment active again, unless its judge has another active judgment of the comparison in the
    same shown order (one active judgment per judge, comparison and order). Only excluded judgments come back: a
    "no verdict" stays what it is."""
    if judgment.status != Judgment.Status.EXCLUDED:
        raise Conflict("Only an excluded judgment can be restored.", extra={"field": "judgment"})
    others = Judgment.objects.filter(
        judge_id=judgment.judge_id,
        comparison_id=judgment.comparison_id,
        order_key=judgment.order_key,
        status__in=[Judgment.Status.ACTIVE, Judgment.Status.NO_VERDICT],
    ).exclude(pk=judgment.pk)
    if others.exists():
        raise Conflict(
            "This judge has another active judgment of the comparison; exclude that one first.",
            extra={"field": "judgment"},
        )
    Judgment.objects.filter(pk=judgment.pk).update(status=Judgment.Status.ACTIVE, updated_at=timezone.now())
    judgment.refresh_from_db(fields=["status"])
    return judgment


@transaction.atomic
def comparison_requeue(*, comparison: Comparison, annotators: int = 1) -> Comparison:
    """Open `annotators` more annotator slots on the comparison (annotators who already judged it are not offered
    it again: the queue never gives one annotator a comparison twice)."""
    if annotators < 1:
        raise ApplicationError("Ask for at least one more annotator.", extra={"field": "annotators"})
    Comparison.objects.filter(pk=comparison.pk).update(slots_left=F("slots_left") + annotators)
    comparison.refresh_from_db(fields=["slots_left"])
    return comparison


# -- review actions: each recorded as a ReviewAction (who, when, why) and undoable --------------------------------

MAX_REQUEUE = 20
REVIEW_JUDGE_PREFIX = "review:"
FLAG_STATUS_OF = {
    ReviewAction.Action.KEEP: LabelFlag.Status.KEPT,
    ReviewAction.Action.CORRECT: LabelFlag.Status.CORRECTED,
    ReviewAction.Action.EXCLUDE: LabelFlag.Status.EXCLUDED,
    ReviewAction.Action.REQUEUE: LabelFlag.Status.REQUEUED,
}


def _locked(judgment: Judgment) -> Judgment:
    """The judgment re-read under a row lock: two reviewers acting on it at once act one after the other."""
    return Judgment.objects.select_for_update().select_related("project").get(pk=judgment.pk)


def _record(*, judgment: Judgment, user: AbstractBaseUser, action: str, note: str, **fields: Any) -> ReviewAction:
    """The action's row, and every flag of the judgment (all detectors) set to the action's status; the statuses
    before are kept on the row so an undo puts them back."""
    flags = LabelFlag.objects.filter(judgment_id=judgment.pk)
    previous = {str(flag_id): status for flag_id, status in flags.values_list("id", "status")}
    now = timezone.now()
    flags.update(status=FLAG_STATUS_OF[action], reviewed_by=user, reviewed_at=now, updated_at=now)
    return ReviewAction.objects.create(
        project_id=judgment.project_id,
        judgment=judgment,
        action=action,
        note=note.strip(),
        user=user,
        previous_flag_status=previous,
        **fields,
    )


@transaction.atomic
def flag_keep(*, judgment: Judgment, user: AbstractBaseUser, note: str = "") -> ReviewAction:
    """The reviewer read the flags and the label stands: its flags are dismissed (kept); the judgment is unchanged."""
    judgment = _locked(judgment)
    return _record(judgment=judgment, user=user, action=ReviewAction.Action.KEEP, note=note)


@transaction.atomic
def review_exclude(*, judgment: Judgment, user: AbstractBaseUser, note: str = "") -> ReviewAction:
    """Leave an active judgment out of exports and training (it stays in the database), recorded for undo."""
    judgment = _locked(judgment)
    if judgment.status != Judgment.Status.ACTIVE:
        raise Conflict(f"Only an active judgment can be excluded; this one is {judgment.status}.")
    judgment_exclude(judgment=judgment)
    return _record(judgment=judgment, user=user, action=ReviewAction.Action.EXCLUDE, note=note)


@transaction.atomic
def review_requeue(*, judgment: Judgment, user: AbstractBaseUser, annotators: int = 1, note: str = "") -> ReviewAction:
    """Send the judgment's comparison back for `annotators` more annotators; the judgment itself stays as it is."""
    if not 1 <= annotators <= MAX_REQUEUE:
        raise ApplicationError(f"Ask for 1 to {MAX_REQUEUE} more annotators.", extra={"field": "annotators"})
    judgment = _locked(judgment)
    comparison_requeue(comparison=judgment.comparison, annotators=annotators)
    return _record(judgment=judgment, user=user, action=ReviewAction.Action.REQUEUE, note=note, requeued=annotators)


def review_judge_for(*, user: AbstractBaseUser, project: Project) -> Judge:
    """The judge that holds `user`'s corrections in `project`: a human judge named `review:<username>` with no
    `user` (a person's own human judge is their annotation work; a correction is not a blind annotation, and
    keeping it apart keeps it out of that person's annotator statistics and queue, and lets a reviewer correct a
    comparison they also judged). Marked by `metadata.reviewer` so an imported judge of the same name is never
    taken for it."""
    judge = Judge.objects.filter(project=project, kind=Judge.Kind.HUMAN, metadata__reviewer=user.pk).first()
    if judge is not None:
        return judge
    name = f"{REVIEW_JUDGE_PREFIX}{user.get_username()}"
    if Judge.objects.filter(project=project, name=name).exists():
        name = f"{name}#{user.pk}"
    try:
        with transaction.atomic():
            return Judge.objects.create(
                project=project,
                kind=Judge.Kind.HUMAN,
                name=name,
                description="A reviewer's corrections of flagged judgments.",
                metadata={"reviewer": user.pk},
            )
    except IntegrityError:  # a concurrent first correction by the same reviewer
        return Judge.objects.get(project=project, name=name)


def _ordering_checked(*, judgment: Judgment, ordering: list[list[int]]) -> list[list[int]]:
    response_ids = Comparison.response_ids_of(judgment.comparison.key)
    flat = [rid for group in ordering for rid in group]
    if any(not group for group in ordering) or sorted(flat) != sorted(response_ids):
        raise InvalidJudgment(
            "The ordering must place each response of this comparison exactly once.", extra={"field": "ordering"}
        )
    if len(ordering) < len(flat) and not judgment.project.allow_ties:
        raise InvalidJudgment("This project does not allow ties.", extra={"field": "ordering"})
    return [sorted(group) for group in ordering]


def ordering_of(*, judgment: Judgment) -> list[list[int]]:
    """The judgment's ordering as groups of response ids, best first (ids sorted inside a tie)."""
    groups: dict[int, list[int]] = {}
    for rank, response_id in judgment.placements.order_by("rank", "response_id").values_list("rank", "response_id"):
        groups.setdefault(rank, []).append(response_id)
    return [groups[rank] for rank in sorted(groups)]


@transaction.atomic
def judgment_correct(
    *,
    judgment: Judgment,
    user: AbstractBaseUser,
    ordering: list[list[int]],
    note: str = "",
    source: str = Judgment.Source.UI,
) -> ReviewAction:
    """The reviewer's ordering becomes a new active judgment by the reviewer's review judge; the old one is kept as
    superseded, linked to it. When the reviewer already corrected another judgment of this comparison to the same
    ordering, that correction supersedes this one too (one active judgment per judge and comparison)."""
    judgment = _locked(judgment)
    if judgment.status != Judgment.Status.ACTIVE:
        raise Conflict(f"Only an active judgment can be corrected; this one is {judgment.status}.")
    ordering = _ordering_checked(judgment=judgment, ordering=ordering)
    if ordering == ordering_of(judgment=judgment):
        raise InvalidJudgment("That is the judgment's own ordering: keep it instead.", extra={"field": "ordering"})
    judge = review_judge_for(user=user, project=judgment.project)
    correction = Judgment.objects.filter(
        judge=judge, comparison_id=judgment.comparison_id, order_key="", status=Judgment.Status.ACTIVE
    ).first()
    if correction is not None and ordering_of(judgment=correction) != ordering:
        raise Conflict(
            "You already corrected a judgment of this comparison to another ordering; correct it the same way, "
            "or undo that correction first.",
            extra={"field": "ordering", "correction": correction.pk},
        )
    if correction is None:
        correction = Judgment.objects.create(
            project_id=judgment.project_id,
            comparison_id=judgment.comparison_id,
            judge=judge,
            rationale=note.strip(),
            shown_order=Comparison.response_ids_of(judgment.comparison.key),
            source=source,
            metadata={"corrects": judgment.pk},
        )
        Placement.objects.bulk_create(
            Placement(judgment=correction, response_id=rid, rank=rank)
            for rank, group in enumerate(ordering, start=1)
            for rid in group
        )
    Judgment.objects.filter(pk=judgment.pk).update(
        status=Judgment.Status.SUPERSEDED, superseded_by=correction, updated_at=timezone.now()
    )
    judgment.status, judgment.superseded_by = Judgment.Status.SUPERSEDED, correction
    return _record(judgment=judgment, user=user, action=ReviewAction.Action.CORRECT, note=note, correction=correction)


def review_action_create(
    *,
    judgment: Judgment,
    user: AbstractBaseUser,
    action: str,
    note: str = "",
    ordering: list[list[int]] | None = None,
    annotators: int = 1,
    source: str = Judgment.Source.UI,
) -> ReviewAction:
    """One entry point for the review screen and the API: the action by name."""
    if action == ReviewAction.Action.KEEP:
        return flag_keep(judgment=judgment, user=user, note=note)
    if action == ReviewAction.Action.EXCLUDE:
        return review_exclude(judgment=judgment, user=user, note=note)
    if action == ReviewAction.Action.REQUEUE:
        return review_requeue(judgment=judgment, user=user, annotators=annotators, note=note)
    if action == ReviewAction.Action.CORRECT:
        if not ordering:
            raise InvalidJudgment("A correction needs the ordering.", extra={"field": "ordering"})
        return judgment_correct(judgment=judgment, user=user, ordering=ordering, note=note, source=source)
    raise ApplicationError(f"Unknown action {action!r}.", extra={"field": "action"})


def _restore_flags(action: ReviewAction) -> None:
    """Flags back to their statuses before the action. A flag written after it (a detector rerun replaces flags)
    takes the status of the judgment's latest action still standing, or open."""
    standing = (
        ReviewAction.objects.filter(judgment_id=action.judgment_id, undone_at__isnull=True)
        .exclude(pk=action.pk)
        .order_by("-created_at", "-id")
        .first()
    )
    for flag in LabelFlag.objects.filter(judgment_id=action.judgment_id):
        status = action.previous_flag_status.get(str(flag.pk))
        if status is None:
            status = FLAG_STATUS_OF[standing.action] if standing else LabelFlag.Status.OPEN
        reviewed = status != LabelFlag.Status.OPEN and standing is not None
        flag.status = status
        flag.reviewed_by_id = standing.user_id if reviewed and standing else None
        flag.reviewed_at = standing.created_at if reviewed and standing else None
        flag.save(update_fields=["status", "reviewed_by", "reviewed_at", "updated_at"])


def _undo_correction(action: ReviewAction, judgment: Judgment) -> None:
    correction = action.correction
    if correction is None:
        raise Conflict("The correction this action made is gone; nothing to undo.")
    if ReviewAction.objects.filter(judgment=correction, undone_at__isnull=True).exists():
        raise Conflict("The correction was reviewed since; undo that action first.")
    if judgment.status != Judgment.Status.SUPERSEDED or judgment.superseded_by_id != correction.pk:
        raise Conflict("This judgment is no longer superseded by that correction.")
    others = Judgment.objects.filter(
        judge_id=judgment.judge_id,
        comparison_id=judgment.comparison_id,
        order_key=judgment.order_key,
        status__in=[Judgment.Status.ACTIVE, Judgment.Status.NO_VERDICT],
    ).exclude(pk=judgment.pk)
    if others.exists():
        raise Conflict("This judge has another active judgment of the comparison now; it cannot come back.")
    Judgment.objects.filter(pk=judgment.pk).update(
        status=Judgment.Status.ACTIVE, superseded_by=None, updated_at=timezone.now()
    )
    # The correction goes with the action, unless it also stands in for another judgment of the comparison.
    if not Judgment.objects.filter(superseded_by=correction).exists():
        correction.delete()


@transaction.atomic
def review_action_undo(*, action: ReviewAction, user: AbstractBaseUser) -> ReviewAction:
    """Reverse the action exactly (the judgment's status, a correction, the re-opened slots, its flags' statuses)
    and mark it undone; the row stays in the history. Actions on a judgment are undone latest first."""
    action = ReviewAction.objects.select_for_update().get(pk=action.pk)
    if action.undone_at is not None:
        raise Conflict("This action was already undone.")
    judgment = _locked(action.judgment)
    latest = (
        ReviewAction.objects.filter(judgment_id=judgment.pk, undone_at__isnull=True)
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )
    if latest != action.pk:
        raise Conflict("A later action on this judgment stands; undo that one first.")
    if action.action == ReviewAction.Action.EXCLUDE:
        if judgment.status != Judgment.Status.EXCLUDED:
            raise Conflict("This judgment is no longer excluded.")
        judgment_restore(judgment=judgment)
    elif action.action == ReviewAction.Action.REQUEUE:
        # Only slots still free can be closed again: once an annotator took one, the undo would not be exact.
        if not Comparison.objects.filter(pk=judgment.comparison_id, slots_left__gte=action.requeued).update(
            slots_left=F("slots_left") - action.requeued
        ):
            raise Conflict("Annotators have already taken the re-opened slots; the re-queue cannot be undone.")
    elif action.action == ReviewAction.Action.CORRECT:
        _undo_correction(action, judgment)
    ReviewAction.objects.filter(pk=action.pk).update(undone_at=timezone.now(), undone_by=user)
    action.refresh_from_db()
    _restore_flags(action)
    return action
