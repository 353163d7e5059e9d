"""Review actions on judgments: leave one out of exports and training (kept in the database), bring it back, or send
a comparison back to the queue for more annotators. The noisy-label review screen and the API call these."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotation.models import Comparison, Judgment
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
