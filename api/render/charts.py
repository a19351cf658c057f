"""Inline SVG charts (no JavaScript, no chart library): they render in any browser and in print.

Each function returns ``Markup`` (already escaped where it holds text) to drop into a template.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

from api.timefmt import zone_label

# Characters XML 1.0 forbids (C0 controls but tab/newline/CR, and the two non-characters): a
# label from a supplier's metadata must not make the inline SVG ill-formed.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: object) -> Markup:
    return escape(_NOT_XML.sub("", str(value)))


PALETTE = ("#16a34a", "#2563eb", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#64748b")


def _time(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def temperature_plot(
    readings: Sequence[dict[str, Any]],
    min_c: float | None = None,
    max_c: float | None = None,
    *,
    width: int = 320,
    height: int = 140,
    label: str = "°C",
) -> Markup:
    """Temperature line over time, the allowed band shaded, readings outside it in red. Times
    are the wall clock of the readings' own offset (naive: UTC), the zone named once."""
    if not readings:
        return Markup("")
    points = sorted(((_time(r["time"]), float(r["value"])) for r in readings), key=lambda p: p[0])
    values = [v for _, v in points] + [b for b in (min_c, max_c) if b is not None]
    low, high = math.floor(min(values) - 1), math.ceil(max(values) + 1)
    t0, t1 = points[0][0].timestamp(), points[-1][0].timestamp()
    left, right, top, bottom = 34, 8, 8, 22
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(t: datetime) -> float:
        return left + (plot_w * (t.timestamp() - t0) / (t1 - t0) if t1 > t0 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (high - v) / (high - low)

    parts = [
        (
            f'<svg class="chart temperature" role="img" viewBox="0 0 {width} {height}" '
            f'xmlns="http://www.w3.org/2000/svg" aria-label="{_text(label)}">'
        )
    ]
    if min_c is not None and max_c is not None:
        parts.append(
            f'<rect class="band" x="{left}" y="{y(max_c):.1f}" width="{plot_w}" '
            f'height="{y(min_c) - y(max_c):.1f}" fill="#dcfce7"/>'
        )
    for bound in (b for b in (min_c, max_c) if b is not None):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(bound):.1f}" y2="{y(bound):.1f}" '
            f'stroke="#16a34a" stroke-dasharray="4 3"/>'
            f'<text x="{left - 4}" y="{y(bound) + 4:.1f}" font-size="10" text-anchor="end">'
            f"{bound:g}</text>"
        )
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{x(t):.1f},{y(v):.1f}" for i, (t, v) in enumerate(points)
    )
    parts.append(f'<path d="{path}" fill="none" stroke="#2563eb" stroke-width="2"/>')
    for t, v in points:
        breach = (min_c is not None and v < min_c) or (max_c is not None and v > max_c)
        parts.append(
            f'<circle class="{"reading breach" if breach else "reading"}" cx="{x(t):.1f}" '
            f'cy="{y(v):.1f}" r="{4 if breach else 2.5}" fill="{"#dc2626" if breach else "#2563eb"}">'
            f"<title>{t:%m-%d %H:%M} {v:g} °C</title></circle>"
        )
    parts.append(
        f'<text x="{left}" y="{height - 6}" font-size="10">{points[0][0]:%m-%d %H:%M}</text>'
        f'<text x="{width - right}" y="{height - 6}" font-size="10" text-anchor="end">'
        f"{points[-1][0]:%m-%d %H:%M} {zone_label(points[-1][0])}</text>"
        f'<text x="4" y="{top + 8}" font-size="10">{_text(label)}</text></svg>'
    )
    return Markup("".join(parts))


def _number(value: float) -> str:
    """A count as a count (the dashboard's orders a day read "10.00", like money), else to cents."""
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def bar_chart(
    items: Sequence[tuple[str, float]], *, width: int = 320, unit: str = "", bar_height: int = 18
) -> Markup:
    """Horizontal bars, one per ``(label, value)``: the label on a line of its own above its bar
    (a leader's or a reason's whole name: beside the bar, on a phone, a long one was cut off or
    ran under the next bar's value), the value written at the bar's end."""
    if not items:
        return Markup("")
    peak = max((v for _, v in items), default=0) or 1
    label_h, gap, value_w = 15, 8, 100
    row = label_h + bar_height + gap
    height = len(items) * row - gap
    parts = [
        (
            f'<svg class="chart bars" role="img" viewBox="0 0 {width} {height}" '
            f'xmlns="http://www.w3.org/2000/svg">'
        )
    ]
    for i, (label, value) in enumerate(items):
        top = i * row
        bar_top = top + label_h
        length = (width - value_w) * value / peak
        parts.append(
            f'<text class="label" x="0" y="{top + 11}" font-size="12">{_text(label)}</text>'
            f'<rect x="0" y="{bar_top}" width="{max(length, 1):.1f}" height="{bar_height}" '
            f'rx="3" fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text class="value" x="{max(length, 1) + 4:.1f}" '
            f'y="{bar_top + bar_height * 0.72:.1f}" font-size="11">{_number(value)}{_text(unit)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def donut_chart(items: Sequence[tuple[str, float]], *, size: int = 160) -> Markup:
    """A donut of shares with a legend (deals by state)."""
    total = sum(v for _, v in items)
    if total <= 0:
        return Markup("")
    radius, stroke = size / 2 - 14, 22
    circumference = 2 * math.pi * radius
    parts = [
        (
            f'<svg class="chart donut" role="img" viewBox="0 0 {size + 210} {size}" '
            f'xmlns="http://www.w3.org/2000/svg">'
        )
    ]
    offset = 0.0
    for i, (label, value) in enumerate(items):
        share = circumference * value / total
        colour = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<circle cx="{size / 2}" cy="{size / 2}" r="{radius:.1f}" fill="none" '
            f'stroke="{colour}" stroke-width="{stroke}" '
            f'stroke-dasharray="{share:.2f} {circumference - share:.2f}" '
            f'stroke-dashoffset="{-offset:.2f}" transform="rotate(-90 {size / 2} {size / 2})"/>'
            f'<rect x="{size + 10}" y="{12 + i * 20}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{size + 28}" y="{22 + i * 20}" font-size="12">'
            f"{_text(label)} ({value:g})</text>"
        )
        offset += share
    parts.append(
        f'<text x="{size / 2}" y="{size / 2 + 6}" font-size="18" text-anchor="middle">'
        f"{total:g}</text></svg>"
    )
    return Markup("".join(parts))
