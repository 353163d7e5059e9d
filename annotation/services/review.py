"""Review actions on judgments: leave one out of exports and training (kept in the database), bring it back, or send
a comparison back to the queue for more annotators. The noisy-label review screen and the API call these."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from annotation.models import Comparison, Judgment
from workbench.exceptions import ApplicationError, Conflict


@transaction.atomic
def judgment_exclude(*, judgment: Judgment) -> Judgment:
    """Mark the judgment excluded: exports and training read active judgments only. Excluding twice is a no-op."""
    Judgment.objects.filter(pk=judgment.pk).update(status=Judgment.Status.EXCLUDED)
    judgment.refresh_from_db(fields=["status"])
    return judgment


@transaction.atomic
def judgment_restore(*, judgment: Judgment) -> Judgment:
    """Make an excluded judgment active again, unless its judge has another active judgment of the comparison
    (one active judgment per judge and comparison)."""
    others = Judgment.objects.filter(
        judge_id=judgment.judge_id, comparison_id=judgment.comparison_id, status=Judgment.Status.ACTIVE
    ).exclude(pk=judgment.pk)
    if others.exists():
        raise Conflict(
            "This judge has another active judgment of the comparison; exclude that one first.",
            extra={"field": "judgment"},
        )
    Judgment.objects.filter(pk=judgment.pk).update(status=Judgment.Status.ACTIVE)
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
