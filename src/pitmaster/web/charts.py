"""Charts as inline SVG, drawn on the server: no JavaScript and nothing fetched to see them."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from markupsafe import Markup

WIDTH = 760
HEIGHT = 256
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 50, 34

STATUS_COLOURS = {
    "success": "#2e7d32",
    "failed": "#c62828",
    "error": "#ef6c00",
    "cancelled": "#757575",
}
# Maps a value to its y coordinate in the plot.
Scale = Callable[[float], float]

# Ticks this large are shown without decimals.
_WHOLE_FROM = 100
# Hour axes longer than this label days, one label a day.
_HOURS_LABELLED_BY_DAY = 48

_PALETTE = ("#1565c0", "#2e7d32", "#c62828", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037", "#ad1457")


def palette(index: int) -> str:
    return _PALETTE[index % len(_PALETTE)]


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    values: Sequence[float | None]


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is at least ``value``."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def _number(value: float) -> str:
    if value >= _WHOLE_FROM or value == int(value):
        return f"{value:.0f}"
    return f"{value:.1f}"


def _hour_label(hour: datetime, span_hours: int) -> str:
    if span_hours > _HOURS_LABELLED_BY_DAY:
        return hour.strftime("%b %d")
    return hour.strftime("%H:00")


def chart(
    title: str,
    hours: Sequence[datetime],
    series: Sequence[Series],
    *,
    unit: str,
    stacked: bool = True,
) -> Markup:
    """Bars per hour (stacked by series) or, with ``stacked=False``, one line per series.

    Values of None are gaps: an hour with nothing to average draws no point.
    """
    plot_width = WIDTH - _LEFT - _RIGHT
    plot_height = HEIGHT - _TOP - _BOTTOM
    count = max(len(hours), 1)
    slot = plot_width / count
    if stacked:
        totals = [sum(s.values[i] or 0 for s in series) for i in range(len(hours))]
        peak = max(totals, default=0)
    else:
        peak = max((v for s in series for v in s.values if v is not None), default=0)
    # Four grid steps of 1, 2 or 5 times a power of ten: ticks stay round numbers.
    top = 4 * _nice_ceiling(peak / 4)

    def y(value: float) -> float:
        return _TOP + plot_height - value / top * plot_height

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text class="chart-title" x="{_LEFT}" y="16">{escape(title)}</text>',
    ]
    for step in range(5):
        value = top * step / 4
        line_y = y(value)
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" '
            f'y1="{line_y:.1f}" y2="{line_y:.1f}"/>'
            f'<text class="tick" x="{_LEFT - 6}" y="{line_y + 4:.1f}" '
            f'text-anchor="end">{_number(value)}</text>'
        )
    parts.append(
        f'<text class="axis-label" x="12" y="{_TOP + plot_height / 2:.0f}" '
        f'transform="rotate(-90 12 {_TOP + plot_height / 2:.0f})" '
        f'text-anchor="middle">{escape(unit)}</text>'
    )
    label_every = max(1, math.ceil(count / 12))
    if count > _HOURS_LABELLED_BY_DAY:
        label_every = 24
    for index, hour in enumerate(hours):
        if index % label_every == 0:
            x = _LEFT + slot * index + slot / 2
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{HEIGHT - _BOTTOM + 16}" '
                f'text-anchor="middle">{escape(_hour_label(hour, count))}</text>'
            )
    parts.append(
        f'<line class="axis" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" '
        f'y1="{_TOP + plot_height}" y2="{_TOP + plot_height}"/>'
        f'<line class="axis" x1="{_LEFT}" x2="{_LEFT}" y1="{_TOP}" y2="{_TOP + plot_height}"/>'
    )
    if stacked:
        parts.extend(_bars(hours, series, slot, y))
    else:
        parts.extend(_lines(series, slot, y))
    parts.extend(_legend(series))
    if peak == 0:
        parts.append(
            f'<text class="empty" x="{_LEFT + plot_width / 2:.0f}" '
            f'y="{_TOP + plot_height / 2:.0f}" text-anchor="middle">no executions</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 -- every text in it went through escape()


def _bars(hours: Sequence[datetime], series: Sequence[Series], slot: float, y: Scale) -> list[str]:
    parts = []
    bar_width = max(slot * 0.7, 1.0)
    for index, hour in enumerate(hours):
        base = 0.0
        x = _LEFT + slot * index + (slot - bar_width) / 2
        for item in series:
            value = item.values[index] or 0
            if value <= 0:
                continue
            top_y, bottom_y = y(base + value), y(base)
            parts.append(
                f'<rect x="{x:.1f}" y="{top_y:.1f}" width="{bar_width:.1f}" '
                f'height="{bottom_y - top_y:.1f}" fill="{item.colour}">'
                f"<title>{escape(item.name)} {hour:%Y-%m-%d %H}:00 UTC: "
                f"{_number(value)}</title></rect>"
            )
            base += value
    return parts


def _lines(series: Sequence[Series], slot: float, y: Scale) -> list[str]:
    parts = []
    for item in series:
        points = [
            (_LEFT + slot * index + slot / 2, y(value))
            for index, value in enumerate(item.values)
            if value is not None
        ]
        if not points:
            continue
        path = " ".join(f"{x:.1f},{py:.1f}" for x, py in points)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{item.colour}" stroke-width="2"/>'
        )
        parts.extend(
            f'<circle cx="{x:.1f}" cy="{py:.1f}" r="2.5" fill="{item.colour}"/>' for x, py in points
        )
    return parts


def _legend(series: Sequence[Series]) -> list[str]:
    parts = []
    x = float(_LEFT)
    for item in series:
        parts.append(
            f'<rect x="{x:.0f}" y="26" width="12" height="12" fill="{item.colour}"/>'
            f'<text class="legend" x="{x + 16:.0f}" y="36">{escape(item.name)}</text>'
        )
        x += 28 + 7 * len(item.name)
    return parts
