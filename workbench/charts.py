"""Small server-rendered SVG charts shared by the pages (no JavaScript chart library): values with intervals.
Django-free; every label is escaped, every number formatted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class IntervalPoint:
    label: str
    value: float | None
    low: float | None
    high: float | None
    note: str = ""  # shown instead of the dot when the value is undefined
    marker: float | None = None  # a second value on the same row (e.g. the reference's own), drawn as a tick
    link: str = ""  # the row links here (the comparisons behind the number)


def interval_chart(
    points: Sequence[IntervalPoint],
    *,
    title: str,
    x_range: tuple[float, float] = (0.0, 1.0),
    guide: float | None = 0.5,
    width: int = 560,
    row_height: int = 22,
    value_format: str = "{:.2f}",
) -> str:
    """One row per point: a dot at the value, a line over its interval, an optional tick for `marker`, and a dashed
    guide line (e.g. 0.5, no bias)."""
    pad_l, pad_r, pad_t, pad_b = 170, 60, 28, 24
    height = pad_t + pad_b + row_height * max(1, len(points))
    low, high = x_range

    def x(value: float) -> float:
        value = min(max(value, low), high)
        return pad_l + (value - low) * (width - pad_l - pad_r) / ((high - low) or 1.0)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" class="interval-chart">',
        f'<text x="8" y="16" class="chart-title">{escape(title)}</text>',
    ]
    axis_y = height - pad_b + 4
    for tick in (low, (low + high) / 2, high):
        parts.append(
            f'<text x="{x(tick):.1f}" y="{axis_y + 14}" text-anchor="middle" class="chart-axis">'
            f"{value_format.format(tick)}</text>"
        )
    if guide is not None:
        parts.append(
            f'<line x1="{x(guide):.1f}" x2="{x(guide):.1f}" y1="{pad_t - 6}" y2="{axis_y}" class="chart-guide"/>'
        )
    for index, point in enumerate(points):
        y = pad_t + row_height * index + row_height / 2
        if index:
            parts.append("</a>" if points[index - 1].link else "")
        if point.link:
            parts.append(
                f'<a href="{escape(point.link)}" class="chart-row"><title>{escape(point.label)}</title>'
                f'<rect x="0" y="{y - row_height / 2:.1f}" width="{width}" height="{row_height}" class="chart-hit" '
                'fill="transparent"/>'
            )
        parts.append(
            f'<text x="{pad_l - 8}" y="{y + 4:.1f}" text-anchor="end" class="chart-label">'
            f"{escape(point.label[:28])}</text>"
        )
        if point.value is None:
            parts.append(f'<text x="{pad_l + 4}" y="{y + 4:.1f}" class="chart-empty">– {escape(point.note)}</text>')
            continue
        if point.low is not None and point.high is not None:
            parts.append(
                f'<line x1="{x(point.low):.1f}" x2="{x(point.high):.1f}" y1="{y:.1f}" y2="{y:.1f}" class="chart-ci"/>'
            )
        if point.marker is not None:
            parts.append(
                f'<line x1="{x(point.marker):.1f}" x2="{x(point.marker):.1f}" y1="{y - 7:.1f}" y2="{y + 7:.1f}" '
                'class="chart-marker"/>'
            )
        parts.append(f'<circle cx="{x(point.value):.1f}" cy="{y:.1f}" r="4" class="chart-dot"/>')
        parts.append(
            f'<text x="{width - pad_r + 6}" y="{y + 4:.1f}" class="chart-value">'
            f"{escape(value_format.format(point.value))}</text>"
        )
    if points and points[-1].link:
        parts.append("</a>")
    parts.append("</svg>")
    return "".join(parts)
