"""Small server-rendered SVG charts (no JavaScript chart library): training curves and a reliability diagram.
Django-free; every label is escaped, every number formatted."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = ("#3355cc", "#1f7a4d", "#b54708", "#b42318")


def _scale(value: float, low: float, high: float, out_low: float, out_high: float) -> float:
    if high == low:
        return (out_low + out_high) / 2
    return out_low + (value - low) * (out_high - out_low) / (high - low)


def line_chart(
    series: dict[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    width: int = 520,
    height: int = 220,
    y_range: tuple[float, float] | None = None,
    smooth: int = 1,
) -> str:
    """One SVG with a line per series; `smooth` > 1 draws a moving average (noisy per-step values)."""
    pad_l, pad_r, pad_t, pad_b = 62, 12, 26, 28
    points = {name: list(values) for name, values in series.items() if values}
    label = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}">'
    )
    parts = [label, f'<text x="{pad_l}" y="16" class="chart-title">{escape(title)}</text>']
    if not points:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="chart-empty">no data yet</text>'
        )
        return "".join(parts) + "</svg>"
    xs = [x for values in points.values() for x, _ in values]
    ys = [y for values in points.values() for _, y in values]
    x0, x1 = min(xs), max(xs)
    y0, y1 = y_range if y_range else (min(ys), max(ys))
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    plot = (pad_l, width - pad_r, height - pad_b, pad_t)
    for fraction in (0, 0.5, 1):
        value = y0 + fraction * (y1 - y0)
        y = _scale(value, y0, y1, plot[2], plot[3])
        parts.append(f'<line x1="{plot[0]}" x2="{plot[1]}" y1="{y:.1f}" y2="{y:.1f}" class="chart-grid"/>')
        parts.append(
            f'<text x="{plot[0] - 6}" y="{y + 4:.1f}" text-anchor="end" class="chart-axis">'
            f"{_tick(value, y1 - y0)}</text>"
        )
    parts.append(f'<text x="{plot[0]}" y="{height - 8}" class="chart-axis">step {x0:g}</text>')
    parts.append(f'<text x="{plot[1]}" y="{height - 8}" text-anchor="end" class="chart-axis">{x1:g}</text>')
    for index, (name, values) in enumerate(points.items()):
        ys_series = _moving_average([y for _, y in values], smooth)
        coords = " ".join(
            f"{_scale(x, x0, x1, plot[0], plot[1]):.1f},{_scale(y, y0, y1, plot[2], plot[3]):.1f}"
            for (x, _), y in zip(values, ys_series, strict=True)
        )
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{coords}"/>')
        parts.append(
            f'<text x="{plot[1] - 4}" y="{pad_t + 12 + 14 * index}" text-anchor="end" fill="{colour}" '
            f'class="chart-legend">{escape(name)}</text>'
        )
    return "".join(parts) + "</svg>"


def _tick(value: float, span: float) -> str:
    """Enough decimals that ticks over a narrow range (a loss moving in its fourth digit) stay distinct."""
    decimals = max(0, min(5, 2 - math.floor(math.log10(span)))) if span > 0 else 2
    return f"{value:.{decimals}f}"


def _moving_average(values: list[float], window: int) -> list[float]:
    if window <= 1:
        return values
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def reliability_diagram(bins: Sequence[dict], *, width: int = 300, height: int = 300) -> str:
    """Predicted probability (σ(r_a - r_b)) against the observed frequency, one bar per bin; the diagonal is
    perfect calibration. `bins`: dicts with lower, upper, count, mean_confidence, observed."""
    pad = 36
    size_x, size_y = width - pad - 10, height - pad - 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Reliability diagram">',
        '<text x="36" y="14" class="chart-title">Reliability</text>',
        f'<line x1="{pad}" y1="{pad - 12 + size_y}" x2="{pad + size_x}" y2="{pad - 12}" class="chart-diagonal"/>',
    ]
    for b in bins:
        if not b.get("count") or b.get("observed") is None:
            continue
        x = pad + b["lower"] * size_x
        w = (b["upper"] - b["lower"]) * size_x - 2
        h = b["observed"] * size_y
        y = pad - 12 + size_y - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 1):.1f}" height="{h:.1f}" class="chart-bar">'
            f"<title>{b['lower']:.1f}-{b['upper']:.1f}: observed {b['observed']:.2f}, n={b['count']}</title></rect>"
        )
    parts.append(f'<text x="{pad}" y="{height - 4}" class="chart-axis">predicted 0</text>')
    parts.append(f'<text x="{pad + size_x}" y="{height - 4}" text-anchor="end" class="chart-axis">1</text>')
    parts.append(f'<text x="4" y="{pad}" class="chart-axis">1</text>')
    return "".join(parts) + "</svg>"
