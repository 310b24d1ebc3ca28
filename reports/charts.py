"""The reports' charts, drawn on the server as SVG: no chart library, nothing for the Content-Security-Policy to
refuse (presentation attributes, no style), and the same markup goes into the monthly email.

Two charts: hours over time as stacked bars (one colour per entry of the report's first grouping) and the share
of each client as a ring. Both are images to assistive technology (role="img" with a title and a description
that reads out the figures); the page's table is their text alternative.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Tableau 10: distinct to most colour-blind readers and readable on white; grey is kept for "Other".
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
OTHER_COLOUR = "#bab0ac"
OTHER = ("__other__",)  # the key groups beyond the palette fold into
TEXT = "#333333"
GRID = "#dddddd"

WIDTH = 720
PLOT_TOP, PLOT_HEIGHT = 16, 220
PLOT_LEFT, PLOT_RIGHT = 64, 12
LEGEND_COLUMNS, LEGEND_ROW = 3, 22
SHARE_WIDTH = 480


@dataclass(frozen=True)
class Part:
    """One coloured thing: a group's key, its label and its minutes."""

    key: Hashable
    label: str
    minutes: int


def hours(minutes: int) -> str:
    """Minutes as hours with at most one decimal ("7.5", "12"), as every chart label and table cell shows them."""
    return f"{minutes / 60:.1f}".removesuffix(".0")


def colours(keys: Sequence[Hashable]) -> dict[Hashable, str]:
    """The first keys (largest first) get the palette in order; the rest share the "Other" grey."""
    return {key: PALETTE[i] if i < len(PALETTE) else OTHER_COLOUR for i, key in enumerate(keys)}


def fold(parts: Sequence[Part], *, keep: int = len(PALETTE)) -> list[Part]:
    """The largest `keep` parts, and the rest summed as one "Other" part, so a chart never runs out of colours."""
    ordered = sorted(parts, key=lambda p: -p.minutes)
    if len(ordered) <= keep + 1:
        return ordered
    rest = sum(p.minutes for p in ordered[keep:])
    return [*ordered[:keep], Part(OTHER, f"Other ({len(ordered) - keep})", rest)]


def nice_step(top_hours: float, ticks: int = 5) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) that divides the axis into about `ticks` parts."""
    if top_hours <= 0:
        return 1.0
    raw = top_hours / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def bucket_label(day: date, period: str) -> str:
    if period == "month":
        return day.strftime("%b %Y")
    if period == "week":
        return f"w/c {day.day} {day:%b}"
    return f"{day.day} {day:%b}"


def stacked_bars(
    *,
    chart_id: str,
    buckets: Sequence[date],
    series: Sequence[tuple[date, Hashable, int]],
    labels: Mapping[Hashable, str],
    period: str,
    grouping: str,
) -> SafeString:
    """Hours per period, one bar per bucket, stacked by the first grouping (largest group at the bottom).

    `series` holds (period start, key, minutes); `labels` names each key; keys past the palette fold into
    "Other". Buckets without time still get their place on the axis, so gaps show as gaps."""
    totals: dict[Hashable, int] = {}
    for _, key, minutes in series:
        totals[key] = totals.get(key, 0) + minutes
    kept = fold([Part(k, labels.get(k, str(k)), m) for k, m in totals.items()])
    kept_keys = {p.key for p in kept}
    palette = colours([p.key for p in kept])
    cells: dict[tuple[date, Hashable], int] = {}
    for day, key, minutes in series:
        slot = (day, key if key in kept_keys else OTHER)
        cells[slot] = cells.get(slot, 0) + minutes
    return _bars_svg(chart_id, _Stacks(list(buckets), kept, cells, palette, period), grouping)


@dataclass(frozen=True)
class _Stacks:
    """What the bars are drawn from: each bucket's minutes per kept part, and each part's colour."""

    buckets: list[date]
    parts: list[Part]
    cells: dict[tuple[date, Hashable], int]
    palette: dict[Hashable, str]
    period: str


def _bars_svg(chart_id: str, stacks: _Stacks, grouping: str) -> SafeString:
    parts, period = stacks.parts, stacks.period
    peak = max((sum(stacks.cells.get((b, p.key), 0) for p in parts) for b in stacks.buckets), default=0)
    step = nice_step(peak / 60)
    top = step * max(1, math.ceil(peak / 60 / step))
    legend_rows = math.ceil(len(parts) / LEGEND_COLUMNS)
    height = PLOT_TOP + PLOT_HEIGHT + 48 + legend_rows * LEGEND_ROW
    body = [*_axis(top, step), *_columns(stacks, top)]
    body += _legend(parts, stacks.palette, PLOT_TOP + PLOT_HEIGHT + 44)
    if not parts:
        body.append(_text(WIDTH / 2, PLOT_TOP + PLOT_HEIGHT / 2, "No time counted in this range", anchor="middle"))
    title = f"Hours per {period} by {grouping}"
    return _svg(chart_id, height, title, _bars_description(parts, stacks.buckets, period), body)


def _axis(top: float, step: float) -> list[str]:
    """Horizontal grid lines with their hour labels, and the axis title."""
    out = []
    steps = round(top / step)
    for i in range(steps + 1):
        value = step * i
        y = _y(value, top)
        out.append(f'<line x1="{PLOT_LEFT}" x2="{WIDTH - PLOT_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        out.append(_text(PLOT_LEFT - 6, y + 4, f"{value:g} h", anchor="end"))
    middle = PLOT_TOP + PLOT_HEIGHT / 2
    out.append(
        f'<text x="14" y="{middle:.1f}" transform="rotate(-90 14 {middle:.1f})" text-anchor="middle" '
        f'font-size="12" fill="{TEXT}" font-family="sans-serif">Hours</text>'
    )
    return out


def _columns(stacks: _Stacks, top: float) -> list[str]:
    buckets, parts, cells, palette, period = stacks.buckets, stacks.parts, stacks.cells, stacks.palette, stacks.period
    out: list[str] = []
    if not buckets:
        return out
    slot = (WIDTH - PLOT_LEFT - PLOT_RIGHT) / len(buckets)
    bar = max(2.0, slot * 0.7)
    every = math.ceil(len(buckets) / 12)  # at most about 12 labels under the axis, so they never overlap
    for i, bucket in enumerate(buckets):
        x = PLOT_LEFT + slot * i + (slot - bar) / 2
        below = 0
        for part in parts:
            minutes = cells.get((bucket, part.key), 0)
            if minutes:
                out.append(_segment(x, bar, below, minutes, top, palette[part.key], part.label, bucket, period))
                below += minutes
        if i % every == 0:
            label_y = PLOT_TOP + PLOT_HEIGHT + 16
            out.append(_text(x + bar / 2, label_y, bucket_label(bucket, period), anchor="middle"))
    return out


def _segment(
    x: float, bar: float, below: int, minutes: int, top: float, colour: str, label: str, bucket: date, period: str
) -> str:
    y_top = _y((below + minutes) / 60, top)
    h = _y(below / 60, top) - y_top
    tip = f"{label}, {bucket_label(bucket, period)}: {hours(minutes)} h"
    return (
        f'<rect x="{x:.1f}" y="{y_top:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}" '
        f'data-minutes="{minutes}"><title>{escape(tip)}</title></rect>'
    )


def _y(value_hours: float, top: float) -> float:
    return PLOT_TOP + PLOT_HEIGHT - (value_hours / top) * PLOT_HEIGHT


def _legend(parts: list[Part], palette: dict[Hashable, str], y0: float) -> list[str]:
    out = []
    column = (WIDTH - PLOT_LEFT) / LEGEND_COLUMNS
    for i, part in enumerate(parts):
        x = PLOT_LEFT + column * (i % LEGEND_COLUMNS)
        y = y0 + LEGEND_ROW * (i // LEGEND_COLUMNS)
        out.append(f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="12" height="12" fill="{palette[part.key]}"/>')
        out.append(_text(x + 18, y, f"{_short(part.label)} ({hours(part.minutes)} h)"))
    return out


def _bars_description(parts: list[Part], buckets: list[date], period: str) -> str:
    if not parts:
        return "No time was counted in this range."
    span = f"{bucket_label(buckets[0], period)} to {bucket_label(buckets[-1], period)}" if buckets else ""
    figures = "; ".join(f"{p.label}: {hours(p.minutes)} h" for p in parts)
    return f"{len(buckets)} bars, {span}. Totals: {figures}."


def share(*, chart_id: str, parts: Sequence[Part], title: str = "Share of hours by client") -> SafeString:
    """Each part's share of the whole as a ring, with a legend giving hours and percentages."""
    kept = fold([p for p in parts if p.minutes > 0])
    total = sum(p.minutes for p in kept)
    palette = colours([p.key for p in kept])
    cx, cy, radius, ring = 100, 110, 80, 36
    circumference = 2 * math.pi * radius
    body = [f'<circle cx="{cx}" cy="{cy}" r="{radius}" fill="none" stroke="{GRID}" stroke-width="{ring}"/>']
    offset = 0.0
    for part in kept:
        length = circumference * part.minutes / total
        # A dashed circle draws an arc: the dash is the part's length, started where the previous part ended
        # (rotated so the first part starts at twelve o'clock).
        body.append(
            f'<circle cx="{cx}" cy="{cy}" r="{radius}" fill="none" stroke="{palette[part.key]}" '
            f'stroke-width="{ring}" stroke-dasharray="{length:.2f} {circumference - length:.2f}" '
            f'stroke-dashoffset="{-offset:.2f}" transform="rotate(-90 {cx} {cy})" data-minutes="{part.minutes}">'
            f"<title>{escape(_share_text(part, total))}</title></circle>"
        )
        offset += length
    body.append(_text(cx, cy + 5, f"{hours(total)} h" if total else "No time", anchor="middle", size=16))
    for i, part in enumerate(kept):
        y = 30 + i * LEGEND_ROW
        body.append(f'<rect x="210" y="{y - 10}" width="12" height="12" fill="{palette[part.key]}"/>')
        body.append(_text(228, y, _share_text(part, total)))
    height = max(230, 30 + len(kept) * LEGEND_ROW)
    description = "; ".join(_share_text(p, total) for p in kept) or "No time was counted in this range."
    return _svg(chart_id, height, title, description, body, width=SHARE_WIDTH)


def _share_text(part: Part, total: int) -> str:
    return f"{_short(part.label, 22)}: {hours(part.minutes)} h ({part.minutes * 100 / total:.0f}%)"


def _short(label: str, limit: int = 28) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = 12) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{TEXT}" '
        f'font-family="sans-serif">{escape(text)}</text>'
    )


def _svg(chart_id: str, height: float, title: str, description: str, body: list[str], width: int = WIDTH) -> SafeString:
    cid = escape(chart_id)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height:.0f}" width="100%" role="img" '
        f'aria-labelledby="{cid}-title {cid}-desc" id="{cid}" class="chart">'
        f'<title id="{cid}-title">{escape(title)}</title><desc id="{cid}-desc">{escape(description)}</desc>'
    )
    return mark_safe(head + "".join(body) + "</svg>")  # noqa: S308 - every text above went through escape()
