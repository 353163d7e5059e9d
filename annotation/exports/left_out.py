"""What an export's review and suspicion filters leave out, counted by reason for the report and the card: judgments
a reviewer excluded, judgments superseded by a correction, and judgments whose suspicion is above the threshold."""

from __future__ import annotations

from dataclasses import replace

from django.db import connection

from annotation.exports.options import ExportFilters
from annotation.exports.source import SUSPICIOUS, judgment_conditions

# What "leave out excluded judgments" leaves out, by reason.
REVIEW_STATUSES = {"excluded": "excluded_by_review", "superseded": "superseded_by_correction"}


def left_out_counts(*, project_id: int, filters: ExportFilters, judge_ids: list[int] | None) -> dict[str, int]:
    """How many judgments the other filters select that `active_only` (by review status) and `max_suspicion` leave
    out, by reason: excluded_by_review, superseded_by_correction, suspicion. A judgment left out for its review
    status is counted there only, not again for its suspicion. One grouped count on the caller's connection."""
    if not filters.active_only and filters.max_suspicion is None:
        return {}
    pg = connection.vendor == "postgresql"
    others = replace(filters, active_only=False, max_suspicion=None)
    where, params = judgment_conditions(project_id=project_id, filters=others, judge_ids=judge_ids, postgres=pg)
    join = ""
    if filters.categories:
        join = " JOIN annotation_comparison c ON c.id = j.comparison_id JOIN annotation_prompt p ON p.id = c.prompt_id"
        where.append(f"p.category IN ({', '.join(['%s'] * len(filters.categories))})")
        params += list(filters.categories)
    suspicious = "0"
    if filters.max_suspicion is not None:
        suspicious = f"CASE WHEN {SUSPICIOUS} THEN 1 ELSE 0 END"
        params = [filters.suspicion_detector, filters.max_suspicion, *params]
    if filters.max_suspicion is None:  # only the review statuses can be left out: count only those
        where.append(f"j.status IN ({', '.join(['%s'] * len(REVIEW_STATUSES))})")
        params += list(REVIEW_STATUSES)
    sql = (
        f"SELECT j.status, {suspicious}, COUNT(*) FROM annotation_judgment j{join} "
        f"WHERE {' AND '.join(where)} GROUP BY 1, 2"
    )
    counts = dict.fromkeys(REVIEW_STATUSES.values(), 0) if filters.active_only else {}
    if filters.max_suspicion is not None:
        counts["suspicion"] = 0
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for status, flagged, n in cursor.fetchall():
            if filters.active_only and status in REVIEW_STATUSES:
                counts[REVIEW_STATUSES[status]] += n
            elif flagged and (status == "active" or not filters.active_only):
                counts["suspicion"] += n
    return counts
