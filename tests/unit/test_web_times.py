"""How the console writes times and durations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pitmaster.web.times import seconds_text, span, time_tag

MOMENT = datetime(2026, 12, 2, 3, 31, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-0.004, "< 1 ms"),
        (0.0, "< 1 ms"),
        (0.0004, "< 1 ms"),
        (0.34, "340 ms"),
        (2.54, "2.5 s"),
        (184, "3 min 4 s"),
        (7384, "2 h 3 min"),
        (None, "—"),
    ],
)
def test_given_a_duration_then_it_reads_at_a_glance(seconds: float | None, text: str) -> None:
    assert seconds_text(seconds) == text


def test_given_docker_reports_start_after_finish_then_the_span_is_kept_and_reads_below_1_ms() -> (
    None
):
    finished = MOMENT
    started = MOMENT + timedelta(milliseconds=3)
    assert span(started, finished) == pytest.approx(-0.003)
    assert seconds_text(span(started, finished)) == "< 1 ms"


def test_given_a_moment_then_its_tag_carries_iso_for_the_browser_and_utc_text() -> None:
    assert str(time_tag(MOMENT)) == (
        '<time datetime="2026-12-02T03:31:05+00:00" title="2026-12-02 03:31:05 UTC">'
        "2026-12-02 03:31:05 UTC</time>"
    )
    assert str(time_tag(None)) == "—"
