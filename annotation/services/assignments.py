"""Handing out work: claim, skip, expire.

Exact overlap rests on one counter, `Comparison.slots_left`: a claim takes a slot with a conditional UPDATE
(`slots_left > 0`, row count checked), so two annotators racing for the last slot cannot both win, on SQLite
(IMMEDIATE transactions serialise writers) or PostgreSQL (the UPDATE takes the row lock and re-checks the
condition after waiting). A submission keeps its slot; a skip or an expired lease gives it back. The unique
constraint on open assignments per (comparison, annotator) keeps annotators distinct even from two tabs.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from annotation.models import Assignment, Comparison, Project
from workbench.exceptions import Conflict

# Candidates read per attempt: enough that a burst of claimers rarely all lose the same few rows.
_CANDIDATES = 8
_ATTEMPTS = 6
REAP_SECONDS = 30


def assignment_expire_leases(*, project: Project) -> int:
    """Return the slots of this project's expired leases to the pool. Cheap when there are none (an index on
    status and lease end), so claims call it every time instead of relying on a periodic job."""
    now = timezone.now()
    stale = list(
        Assignment.objects.filter(project=project, status=Assignment.Status.LEASED, leased_until__lt=now).values_list(
            "id", "comparison_id"
        )[:500]
    )
    expired = 0
    for assignment_id, comparison_id in stale:
        with transaction.atomic():
            # Conditional: a submission racing the reaper wins or loses as a whole, never both.
            if Assignment.objects.filter(id=assignment_id, status=Assignment.Status.LEASED).update(
                status=Assignment.Status.EXPIRED
            ):
                Comparison.objects.filter(id=comparison_id).update(slots_left=F("slots_left") + 1)
                expired += 1
    return expired


_OPEN_LEASES_SQL = """
SELECT * FROM annotation_assignment
WHERE project_id = %s AND annotator_id = %s AND status = 'leased' AND leased_until >= %s ORDER BY id
"""


def _open_leases(*, project: Project, user: AbstractBaseUser) -> list[Assignment]:
    # Asked on every prefetch: a written-out statement costs a fraction of compiling the queryset.
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    return list(Assignment.objects.raw(_OPEN_LEASES_SQL, [project.pk, user.pk, now]))


def _candidates(*, project: Project, user: AbstractBaseUser) -> QuerySet[Comparison]:
    # Blind and distinct: never a comparison this annotator holds, judged or skipped (expired leases may return).
    seen = Assignment.objects.filter(comparison=OuterRef("pk"), annotator=user).exclude(
        status=Assignment.Status.EXPIRED
    )
    return Comparison.objects.filter(project=project, slots_left__gt=0).exclude(Exists(seen))


def _random_candidates(*, project: Project, user: AbstractBaseUser) -> list[tuple[int, str]]:
    """(id, key) of a few open comparisons this annotator may take, from a random starting point in id order:
    index-friendly, and spreads concurrent annotators apart (the other queue orders claim in one statement)."""
    candidates = _candidates(project=project, user=user)
    bounds = Comparison.objects.filter(project=project).order_by("id").values_list("id", flat=True)
    first, last = bounds.first(), bounds.last()
    pivot = random.randint(first, last) if first is not None and last is not None else 0
    after = list(candidates.filter(id__gte=pivot).order_by("id").values_list("id", "key")[:_CANDIDATES])
    if len(after) < _CANDIDATES:
        after += list(candidates.filter(id__lt=pivot).order_by("id").values_list("id", "key")[:_CANDIDATES])
    random.shuffle(after)
    return after


def _take_slot(*, comparison_id: int, key: str, project: Project, user: AbstractBaseUser) -> Assignment | None:
    # Inside the claim's transaction (no savepoint of its own): a failure rolls the whole claim back.
    if not Comparison.objects.filter(id=comparison_id, slots_left__gt=0).update(slots_left=F("slots_left") - 1):
        return None
    return _lease(comparison_id=comparison_id, key=key, project=project, user=user)


def _lease(*, comparison_id: int, key: str, project: Project, user: AbstractBaseUser) -> Assignment:
    """The assignment for a slot just taken, in the claim's transaction. If this annotator took the comparison
    in another tab a moment ago, the unique constraint raises IntegrityError and the claim's transaction rolls
    back, slot included (cheaper than a savepoint around every lease for a race that almost never happens)."""
    now = timezone.now()
    shown = Comparison.response_ids_of(key)
    random.shuffle(shown)  # the order shown is randomised per assignment and kept with the judgment
    return Assignment.objects.create(
        project=project,
        comparison_id=comparison_id,
        annotator=user,
        status=Assignment.Status.LEASED,
        leased_until=now + timedelta(minutes=project.lease_minutes),
        served_at=now,
        shown_order=shown,
    )


# The common claim in one statement: pick the first open comparison this annotator has not seen, in queue order,
# and take a slot of it. PostgreSQL passes over rows other claimers hold (SKIP LOCKED); SQLite serialises writers.
# The outer `slots_left > 0` re-checks the row after any wait, so a slot is never taken below zero.
_CLAIM_SQL = """
UPDATE annotation_comparison SET slots_left = slots_left - 1
WHERE slots_left > 0 AND id = (
    SELECT c.id FROM annotation_comparison c
    WHERE c.project_id = %s AND c.slots_left > 0
      AND NOT EXISTS (SELECT 1 FROM annotation_assignment a
                      WHERE a.comparison_id = c.id AND a.annotator_id = %s AND a.status <> 'expired')
    ORDER BY {order} LIMIT 1 {lock})
RETURNING id, key
"""


def _take_next_in_order(*, project: Project, user: AbstractBaseUser) -> tuple[int, str] | None | bool:
    """(id, key) of the comparison whose slot was taken; None when nothing is open for this annotator; False
    when a concurrent claimer won the row between the pick and the update (try again)."""
    order = "c.slots_left DESC, c.id" if project.queue_order == Project.QueueOrder.FEWEST_FIRST else "c.id"
    lock = "FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL.format(order=order, lock=lock), [project.pk, user.pk])
        row = cursor.fetchone()
    if row is not None:
        return row[0], row[1]
    return None if not _candidates(project=project, user=user).exists() else False


def _reap_due(project: Project) -> bool:
    """Expired leases are reaped at most every REAP_SECONDS per project (and whenever the pool looks empty), so
    the common claim does not pay for a scan it almost never needs."""
    return cache.add(f"lease-reaper:{project.pk}", True, REAP_SECONDS)


def assignment_claim(*, project: Project, user: AbstractBaseUser, exclude_ids: Iterable[int] = ()) -> Assignment | None:
    """The annotator's next item: an open lease they already hold (a reload shows the same item; the page's
    prefetched item is the second one), else a newly claimed comparison. None when nothing is left for them.
    `exclude_ids`: leases the page already shows, so the prefetch asks for a different one."""
    excluded = set(exclude_ids)
    held = next((a for a in _open_leases(project=project, user=user) if a.pk not in excluded), None)
    if held is not None:
        return held
    if _reap_due(project):
        assignment_expire_leases(project=project)
    reaped = False
    for _ in range(_ATTEMPTS):
        try:
            with transaction.atomic():
                outcome = _claim_once(project=project, user=user)
        except IntegrityError:  # the same annotator claimed that comparison from another tab: try the next one
            continue
        if isinstance(outcome, Assignment):
            return outcome
        if outcome is None:  # nothing open for this annotator: expired leases may give some back
            if reaped or not assignment_expire_leases(project=project):
                return None
            reaped = True
    return None


_RETRY = object()


def _claim_once(*, project: Project, user: AbstractBaseUser) -> Assignment | None | object:
    """An assignment; None when nothing is open for this annotator; _RETRY when others won every candidate."""
    if project.queue_order == Project.QueueOrder.RANDOM:
        candidates = _random_candidates(project=project, user=user)
        for comparison_id, key in candidates:
            assignment = _take_slot(comparison_id=comparison_id, key=key, project=project, user=user)
            if assignment is not None:
                return assignment
        return _RETRY if candidates else None
    taken = _take_next_in_order(project=project, user=user)
    if not taken:
        return None if taken is None else _RETRY
    return _lease(comparison_id=taken[0], key=taken[1], project=project, user=user)


@transaction.atomic
def assignment_skip(*, assignment: Assignment) -> None:
    """Give the item back for others; this annotator will not be offered it again."""
    if not Assignment.objects.filter(id=assignment.pk, status=Assignment.Status.LEASED).update(
        status=Assignment.Status.SKIPPED
    ):
        raise Conflict("This item is no longer yours to skip (it was submitted, skipped or its lease expired).")
    Comparison.objects.filter(id=assignment.comparison_id).update(slots_left=F("slots_left") + 1)
    assignment.status = Assignment.Status.SKIPPED


def assignment_retake_expired(*, assignment: Assignment) -> bool:
    """An annotator submitting after their lease was reaped: take a slot again if one is free, so a slow
    answer is kept rather than lost. False when the comparison filled up meanwhile."""
    with transaction.atomic():
        if not Comparison.objects.filter(id=assignment.comparison_id, slots_left__gt=0).update(
            slots_left=F("slots_left") - 1
        ):
            return False
        try:
            with transaction.atomic():
                updated = Assignment.objects.filter(id=assignment.pk, status=Assignment.Status.EXPIRED).update(
                    status=Assignment.Status.LEASED, leased_until=timezone.now() + timedelta(minutes=1)
                )
        except IntegrityError:
            updated = 0
        if not updated:
            Comparison.objects.filter(id=assignment.comparison_id).update(slots_left=F("slots_left") + 1)
            return False
    assignment.status = Assignment.Status.LEASED
    return True


def assignment_release_all(*, project: Project, user: AbstractBaseUser) -> int:
    """Return every open lease of this annotator in this project (they left the project)."""
    released = 0
    for assignment_id, comparison_id in Assignment.objects.filter(
        project=project, annotator=user, status=Assignment.Status.LEASED
    ).values_list("id", "comparison_id"):
        with transaction.atomic():
            if Assignment.objects.filter(id=assignment_id, status=Assignment.Status.LEASED).update(
                status=Assignment.Status.EXPIRED
            ):
                Comparison.objects.filter(id=comparison_id).update(slots_left=F("slots_left") + 1)
                released += 1
    return released
