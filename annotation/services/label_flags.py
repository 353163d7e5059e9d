"""Writing detectors' flags: a detector's rerun replaces its flags on the project (a flag a reviewer already acted
on keeps its review status when the same judgment is flagged again)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from annotation.analysis.noise.suspicion import Suspicion
from annotation.models import LabelFlag, NoiseRun

BATCH = 5000
REASON_MAX = 400


@transaction.atomic
def label_flags_replace(*, run: NoiseRun, detector: str, suspicions: Iterable[Suspicion]) -> int:
    """Replace `detector`'s flags on the run's project with `suspicions`; returns how many were written."""
    reviewed = dict(
        LabelFlag.objects.filter(project_id=run.project_id, detector=detector)
        .exclude(status=LabelFlag.Status.OPEN)
        .values_list("judgment_id", "status")
    )
    LabelFlag.objects.filter(project_id=run.project_id, detector=detector).delete()
    now = timezone.now()
    written = 0
    batch: list[LabelFlag] = []
    for item in suspicions:
        batch.append(
            LabelFlag(
                project_id=run.project_id,
                judgment_id=item.judgment_id,
                run=run,
                detector=detector,
                score=float(item.score),
                reason=item.reason[:REASON_MAX],
                details=item.details,
                status=reviewed.get(item.judgment_id, LabelFlag.Status.OPEN),
                created_at=now,
                updated_at=now,
            )
        )
        if len(batch) >= BATCH:
            LabelFlag.objects.bulk_create(batch)
            written += len(batch)
            batch = []
    if batch:
        LabelFlag.objects.bulk_create(batch)
        written += len(batch)
    return written
