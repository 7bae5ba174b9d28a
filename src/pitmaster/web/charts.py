"""Charts as inline SVG, drawn on the server: no JavaScript and nothing fetched to see them."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from markupsafe import Markup

WIDTH = 760
HEIGHT = 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 30, 34

STATUS_COLOURS = {
    "success": "#2e7d32",
    "failed": "#c62828",
    "error": "#ef6c00",
    "cancelled": "#757575",
}
# Maps a value to its y coordinate in the plot.
Scale = Callable[[float], float]

# Hour axes longer than this label days, one label a day.
_HOURS_LABELLED_BY_DAY = 48

# Colours for series that are not statuses (jobs, queues): none is a status badge's colour
# (console.css), so a job is never read as "failed" or "running".
PALETTE = (
    "#00acc1",  # cyan
    "#fbc02d",  # gold
    "#ec407a",  # pink
    "#3949ab",  # indigo
    "#00695c",  # dark teal
    "#b39ddb",  # lavender
    "#827717",  # olive
    "#4fc3f7",  # sky
    "#37474f",  # slate
    "#c0ca33",  # lime
)
# What series beyond the palette are summed into, so no two series share a colour.
OTHERS_COLOUR = "#cfd8dc"


def palette(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


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


def _decimals(step: float) -> int:
    """Decimals that tell apart ticks ``step`` apart (a 1, 2 or 5 times a power of ten)."""
    return max(0, -math.floor(math.log10(step) + 1e-9))


def _number(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def _value(value: float) -> str:
    """A bar's exact value: whole numbers without decimals."""
    return f"{value:.0f}" if value == int(value) else f"{value:.3g}"


# Durations are drawn in the largest unit their peak fills: (unit, seconds in it, from).
_DURATION_UNITS = (("hours", 3600.0, 7200.0), ("minutes", 60.0, 120.0), ("seconds", 1.0, 1.0))


def duration_unit(seconds: Sequence[float | None]) -> tuple[str, float]:
    """The unit to draw these durations in, and how many seconds make one of it:
    milliseconds for jobs under a second, minutes or hours for long ones."""
    peak = max((value for value in seconds if value is not None), default=0.0)
    for unit, size, start in _DURATION_UNITS:
        if peak >= start:
            return unit, size
    return "ms", 0.001


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
    whole: bool = False,
) -> Markup:
    """Bars per hour (stacked by series) or, with ``stacked=False``, one line per series,
    and the series' legend as a list under the chart, where every name has room.

    Values of None are gaps: an hour with nothing to average draws no point.
    ``whole`` values (counts) get whole-number ticks only.
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
    step = _nice_ceiling(peak / 4)
    if whole:
        step = max(step, 1.0)
    top = 4 * step
    decimals = _decimals(step)

    def y(value: float) -> float:
        return _TOP + plot_height - value / top * plot_height

    parts = [
        '<figure class="chart">',
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
            f'text-anchor="end">{_number(value, decimals)}</text>'
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
    if peak == 0:
        parts.append(
            f'<text class="empty" x="{_LEFT + plot_width / 2:.0f}" '
            f'y="{_TOP + plot_height / 2:.0f}" text-anchor="middle">no executions</text>'
        )
    parts.append("</svg>")
    parts.extend(_legend(series))
    parts.append("</figure>")
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
                f"{_value(value)}</title></rect>"
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
    """One item per series; the list wraps, so no entry is cut off however many there are."""
    if not series:
        return []
    parts = ['<ul class="legend">']
    for item in series:
        parts.append(
            '<li><svg class="swatch" width="12" height="12" aria-hidden="true">'
            f'<rect width="12" height="12" fill="{item.colour}"/></svg>{escape(item.name)}</li>'
        )
    parts.append("</ul>")
    return parts
