"""The Judges page's sections, built from a stored report's JSON: the judge table, judge against judge, lists, the
bias charts, the generator leaderboard and the per-category table. Every number links to the comparisons behind it
(`comparisons_link`, the disagreements page with a `show` filter)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from annotation.models import Project
from annotation.services.judges_report import HUMAN_POOL
from workbench.charts import IntervalPoint, interval_chart

COLUMNS = (
    ("coverage", "Coverage", "valid verdicts / items the reference judged"),
    ("accuracy", "Accuracy", "agreement with the reference where neither is a tie (chance 0.5)"),
    ("agreement", "Agreement", "agreement with ties counted (tie = tie only)"),
    ("cohen_kappa", "Cohen's κ", "agreement with ties, corrected for chance"),
    ("accuracy_both_orders", "Acc. both orders", "each shown order scored on its own, averaged"),
    ("correct_both_orders", "Correct both", "right in both shown orders"),
    ("position_consistency", "Consistent", "same verdict when the order is swapped"),
    ("prefers_first", "Prefers first", "picks the response shown first (ideal 0.5)"),
    ("prefers_longer", "Prefers longer", "picks the longer response when lengths differ by > 30 characters"),
)
SCORE_COLUMNS = (
    ("score_accuracy", "Score acc.", "scores ordered as the reference (equal scores wrong)"),
    ("brier", "Brier", "Brier score of σ(s_a − s_b) against the reference"),
    ("ece", "ECE", "expected calibration error, 10 equal-mass bins"),
)


def cell(metric: dict[str, Any] | None, link: str = "", digits: int = 3) -> dict[str, Any]:
    """A metric as the page shows it: value, interval and n, or a dash with the reason."""
    if not metric or metric.get("value") is None:
        return {"text": "–", "reason": (metric or {}).get("reason") or "not computed", "undefined": True}
    interval = metric.get("interval")
    low_digits = max(0, digits - 1)
    return {
        "text": f"{metric['value']:.{digits}f}",
        "value": metric["value"],
        "interval": f"{interval[0]:.{low_digits}f}–{interval[1]:.{low_digits}f}" if interval else "",
        "n": metric.get("n"),
        "link": link,
        "undefined": False,
    }


def comparisons_link(project: Project, params: dict[str, Any], judge: str, other: str, **behind: str) -> str:
    """The comparisons behind a number: where `judge` and `other` disagree, or with `behind` (show=first, longer or
    generator, generator=..., baseline=...) the judge's verdicts behind a bias or leaderboard number."""
    query = {"judge": judge, "other": other}
    if params.get("category"):
        query["category"] = params["category"]
    query |= {key: value for key, value in behind.items() if value}
    return f"{reverse('annotation:judges_disagreements', args=[project.slug])}?{urlencode(query)}"


def shade(value: float | None) -> str:
    """A heatmap cell's background: red (0 or below) to green (1)."""
    return "" if value is None else f"hsl({round(120 * max(0.0, min(1.0, value)))}, 55%, 82%)"


def judge_table(
    project: Project, report: dict[str, Any], params: dict[str, Any], sort: str
) -> tuple[list[tuple[str, str, str]], list[dict[str, Any]], list[dict[str, Any]]]:
    rows = report.get("judges", [])
    has_scores = any((row.get("score_accuracy") or {}).get("value") is not None for row in rows)
    columns = list(COLUMNS) + (list(SCORE_COLUMNS) if has_scores else [])
    keys = [key for key, _, _ in columns]
    if sort.lstrip("-") in keys + ["name", "n"]:
        key, descending = sort.lstrip("-"), not sort.startswith("-") and sort not in ("name",)

        def sort_key(row: dict[str, Any]) -> Any:
            if key in ("name", "n"):
                return row[key]
            value = (row.get(key) or {}).get("value")
            return (value is None, -(value or 0) if descending else (value or 0))

        rows = sorted(rows, key=sort_key)
    reference = report.get("reference", "")

    def display(row: dict[str, Any], linked: bool) -> dict[str, Any]:
        link = comparisons_link(project, params, row["name"], reference) if linked else ""
        return {
            "name": row["name"],
            "kind": row["kind"],
            "n": row["n"],
            "link": link,
            "cells": [cell(row.get(key), link) for key in keys],
            "reference_longer": cell(row.get("reference_prefers_longer")),
        }

    judges = [display(row, True) for row in rows]
    extra = [display(row, False) for row in report.get("baselines", [])]
    if report.get("ceiling"):
        extra.insert(0, display(report["ceiling"], False))
    return columns, judges, extra


def matrix_section(project: Project, report: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    matrix = report.get("matrix") or {}
    names = matrix.get("judges", [])
    rows = []
    for i, name in enumerate(names):
        cells = []
        for j, other in enumerate(names):
            kappa = (matrix.get("cohen_kappa") or [[None]])[i][j] if i != j else None
            agreement = (matrix.get("agreement") or [[None]])[i][j] if i != j else None
            n = (matrix.get("n") or [[None]])[i][j] if i != j else None
            cells.append(
                {
                    "self": i == j,
                    "kappa": cell(kappa),
                    "agreement": cell(agreement),
                    "n": n,
                    "shade": shade((kappa or {}).get("value")),
                    "link": comparisons_link(project, params, name, other) if i != j else "",
                }
            )
        rows.append({"name": name, "cells": cells})
    return {"names": names, "rows": rows}


def lists_section(data: dict[str, Any]) -> dict[str, Any] | None:
    lists = data.get("lists")
    if not lists:
        return None
    names = lists["judges"]
    rows = []
    for i, name in enumerate(names):
        cells = []
        for j in range(len(names)):
            tau = lists["kendall_tau_b"][i][j]
            cells.append({"self": i == j, "tau": cell(tau), "shade": shade((tau or {}).get("value"))})
        rows.append({"name": name, "cells": cells})
    return {"names": names, "rows": rows, "lists": lists["lists"], "alpha": cell(lists["krippendorff_alpha"])}


def bias_charts(project: Project, report: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """Position and length bias per judge; each row links to the verdicts behind it."""
    rows = report.get("judges", [])
    reference = report.get("reference", "")

    def point(row: dict[str, Any], key: str, show: str, marker_key: str | None = None) -> IntervalPoint:
        metric = row.get(key) or {}
        interval = metric.get("interval") or [None, None]
        marker = (row.get(marker_key) or {}).get("value") if marker_key else None
        link = comparisons_link(project, params, row["name"], reference, show=show)
        return IntervalPoint(
            row["name"], metric.get("value"), interval[0], interval[1], metric.get("reason") or "", marker, link
        )

    first = [point(row, "prefers_first", "first") for row in rows]
    longer = [point(row, "prefers_longer", "longer", "reference_prefers_longer") for row in rows]
    return [
        interval_chart(first, title="Position bias: verdicts for the response shown first (ideal 0.5)"),
        interval_chart(longer, title="Length bias: verdicts for the longer response (tick: the reference)"),
    ]


def leaderboard_section(project: Project, data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any] | None:
    """Generators by judge: BT rating with rank and win rate against the baseline, each linked to the battles behind
    it; the first judge's ratings as a chart; each judge's leaderboard agreement with the reference."""
    generators = (data or {}).get("generators")
    if not generators:
        return None
    reference = (data.get("judges_report") or {}).get("reference") or generators.get("reference") or ""
    baseline = generators.get("baseline") or ""
    # By name, the pooled humans last: PostgreSQL's jsonb does not keep the stored key order.
    judges = sorted(generators.get("judges", {}), key=lambda judge: (judge == HUMAN_POOL, judge))

    def battles(judge: str, name: str, against: str = "") -> str:
        if judge == HUMAN_POOL:  # not one judge: its battles are every human's, listed under each human
            return ""
        return comparisons_link(project, params, judge, reference, show="generator", generator=name, baseline=against)

    rows = []
    for name, by_judge in generators.get("generators", {}).items():
        cells = []
        for judge in judges:
            entry = by_judge.get(judge) or {}
            cells.append(
                {
                    "rating": cell(entry.get("bt_rating") or {}, battles(judge, name), digits=0),
                    "rank": entry.get("rank"),
                    "rank_interval": entry.get("rank_interval"),
                    "win_rate": cell(entry.get("win_rate"), battles(judge, name, baseline), digits=1),
                }
            )
        rows.append({"name": name, "cells": cells})

    def rating_of(row: dict[str, Any]) -> float:
        value = row["cells"][0]["rating"] if row["cells"] else None
        return -float(value["value"]) if value and not value["undefined"] else float("inf")

    rows.sort(key=rating_of)
    agreement = []
    for judge in judges:
        found = generators["judges"][judge].get("agreement_with_reference")
        if found:
            agreement.append(
                {
                    "judge": judge,
                    "generators": found.get("generators"),
                    "warning": found.get("warning"),
                    "cells": [
                        cell({"value": found.get(key), "interval": found.get(f"{key}_interval")})
                        for key in ("spearman", "kendall", "same_order")
                    ],
                }
            )
    return {
        "judges": judges,
        "rows": rows,
        "baseline": baseline,
        "reference": generators.get("reference"),
        "chart": _ratings_chart(generators, judges[0], battles) if judges else "",
        "agreement": agreement,
    }


def _ratings_chart(generators: dict[str, Any], judge: str, battles: Any) -> str:
    points = []
    for name, by_judge in generators.get("generators", {}).items():
        rating = (by_judge.get(judge) or {}).get("bt_rating") or {}
        interval = rating.get("interval") or [None, None]
        reason = rating.get("reason") or ""
        link = battles(judge, name)
        points.append(IntervalPoint(name, rating.get("value"), interval[0], interval[1], reason, None, link))
    points.sort(key=lambda p: -(p.value or -1e9))
    values = [v for p in points for v in (p.low, p.high, p.value) if v is not None]
    if not values:
        return ""
    low, high = min(values), max(values)
    pad = max(10.0, (high - low) * 0.05)
    return interval_chart(
        points,
        title=f"Bradley–Terry ratings under {judge[:40]} (95% intervals)",
        x_range=(low - pad, high + pad),
        guide=1000.0 if low - pad < 1000 < high + pad else None,
        value_format="{:.0f}",
    )


def categories_section(project: Project, report: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Categories as rows, judges as columns: accuracy in each cell (agreement and κ on hover), linked to that
    category's disagreements with the reference; then each category's Fleiss' κ and Krippendorff's α over the judges,
    and a link to the page for that category alone (its judge-against-judge matrix)."""
    rows = report.get("judges", [])
    reference = report.get("reference", "")
    between = report.get("category_agreement") or {}
    names = sorted({category for row in rows for category in row.get("categories", {})} | set(between))
    table = []
    for category in names:
        cells = []
        for row in rows:
            part = row.get("categories", {}).get(category) or {}
            cells.append(
                {
                    "accuracy": cell(
                        part.get("accuracy"),
                        comparisons_link(project, {**params, "category": category}, row["name"], reference),
                    ),
                    "agreement": cell(part.get("agreement")),
                    "kappa": cell(part.get("cohen_kappa")),
                    "n": part.get("n", 0),
                }
            )
        agreement = between.get(category) or {}
        table.append(
            {
                "category": category,
                "cells": cells,
                "between": [cell(agreement.get("fleiss_kappa")), cell(agreement.get("krippendorff_alpha"))],
                "page": "?" + urlencode({**params, "category": category}),
            }
        )
    return {"judges": [row["name"] for row in rows], "rows": table}
