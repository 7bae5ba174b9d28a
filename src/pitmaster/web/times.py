"""How the console writes times and durations: one format everywhere.

Pages are rendered in UTC (``2026-12-02 03:31:00 UTC``) inside ``<time datetime=...>``;
``console.js`` rewrites each into a relative time ("3 min ago") with the exact time,
in the browser's own time zone and named, on hover. Without JavaScript the UTC text stays.
"""

from __future__ import annotations

from datetime import datetime

from markupsafe import Markup, escape

_SIXTY = 60  # seconds in a minute, minutes in an hour
_MILLISECOND = 0.001
_SECOND = 1.0


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else "—"


def iso(moment: datetime | None) -> str:
    """The moment for ``<time datetime>`` and for console.js (empty for none)."""
    return moment.isoformat() if moment is not None else ""


def time_tag(moment: datetime | None) -> Markup:
    """A moment as pages show it: UTC text, made relative and local by console.js."""
    if moment is None:
        return Markup("—")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        iso(moment), when(moment), escape(when(moment))
    )


def seconds_text(seconds: float | None) -> str:
    """A duration a person reads at a glance: ``< 1 ms``, ``340 ms``, ``2.5 s``, ``3 min 4 s``.

    Docker can report a fast job's ``started_at`` a little after its ``finished_at``: a
    negative duration is written ``< 1 ms``, the truth as far as anyone can tell.
    """
    if seconds is None:
        return "—"
    if seconds < _MILLISECOND:
        return "< 1 ms"
    if seconds < _SECOND:
        return f"{seconds * 1000:.0f} ms"
    if seconds < _SIXTY:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), _SIXTY)
    if minutes < _SIXTY:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, _SIXTY)
    return f"{hours} h {minutes} min"


def span(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from ``start`` to ``end`` as the engine reported them (may be negative)."""
    if start is None or end is None:
        return None
    return (end - start).total_seconds()
