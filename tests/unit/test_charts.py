"""The server-drawn charts: legends, colours and axis ticks that read right."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest

from pitmaster.models import HourlyBucket
from pitmaster.web import views
from pitmaster.web.charts import OTHERS_COLOUR, PALETTE, STATUS_COLOURS, Series, chart

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
SINCE = NOW - timedelta(hours=5)


def ticks(svg: str) -> list[str]:
    return re.findall(
        r'<text class="tick" x="\d+(?:\.\d+)?" y="[\d.]+" text-anchor="end">([^<]*)<', svg
    )


def status_badge_colours() -> set[str]:
    css = (resources.files("pitmaster.web") / "static" / "console.css").read_text()
    return {
        colour.lower()
        for colour in re.findall(r"\.status-\w+ \{ background: (#[0-9a-fA-F]{6})", css)
    }


def test_given_the_status_badges_then_no_series_colour_is_one_of_theirs() -> None:
    badges = status_badge_colours()
    assert len(badges) >= 7  # every status has its badge colour
    assert set(STATUS_COLOURS.values()) <= badges
    series_colours = {colour.lower() for colour in (*PALETTE, OTHERS_COLOUR)}
    assert len(series_colours) == len(PALETTE) + 1
    assert series_colours.isdisjoint(badges)


@pytest.mark.parametrize("jobs", [8, len(PALETTE), len(PALETTE) + 5])
def test_given_many_jobs_when_charted_then_every_one_has_a_legend_entry_of_its_own_colour(
    jobs: int,
) -> None:
    buckets = [
        HourlyBucket(
            SINCE + timedelta(hours=job % 5), f"app/job-with-a-long-name-{job}", job + 1, None
        )
        for job in range(jobs)
    ]
    html = str(views.jobs_chart(buckets, SINCE, NOW, "last 6 hours"))
    legend = re.search(r'<ul class="legend">(.*?)</ul>', html, re.S)
    assert legend is not None
    entries = re.findall(r'fill="(#[0-9a-f]{6})"/></svg>([^<]*)</li>', legend.group(1))
    colours = [colour for colour, _ in entries]
    assert len(colours) == len(set(colours))
    names = [name for _, name in entries]
    if jobs <= len(PALETTE):
        assert len(names) == jobs
    else:
        # the busiest keep their names; the quietest are summed under one entry
        assert len(names) == len(PALETTE)
        assert names[-1] == "6 other jobs"
        assert f"app/job-with-a-long-name-{jobs - 1}" in names
        assert "app/job-with-a-long-name-0" not in names
    # the legend is a list outside the SVG, where the page wraps it: nothing drawn past its edge
    assert "legend" not in html.split("</svg>")[0]


def test_given_jobs_under_a_second_then_durations_are_in_milliseconds_with_distinct_ticks() -> None:
    buckets = [HourlyBucket(SINCE + timedelta(hours=1), "success", 4, 0.042)]
    _, durations = views.job_charts(buckets, SINCE, NOW, "last 6 hours")
    labels = ticks(str(durations))
    assert labels == ["0", "20", "40", "60", "80"]
    assert ">ms</text>" in str(durations)


@pytest.mark.parametrize(
    ("seconds", "unit", "top"),
    [
        (0.0004, "ms", "0.4"),
        (3.2, "seconds", "4"),
        (600.0, "minutes", "20"),
        (3 * 3600.0, "hours", "4"),
    ],
)
def test_given_durations_then_the_unit_fits_them(seconds: float, unit: str, top: str) -> None:
    buckets = [HourlyBucket(SINCE, "failed", 1, seconds)]
    _, durations = views.job_charts(buckets, SINCE, NOW, "last 6 hours")
    labels = ticks(str(durations))
    assert labels[-1] == top
    assert len(set(labels)) == len(labels)
    assert f">{unit}</text>" in str(durations)


@pytest.mark.parametrize("peak", [1, 2, 3])
def test_given_few_executions_then_count_ticks_are_whole_numbers(peak: int) -> None:
    buckets = [HourlyBucket(SINCE, "success", peak, 1.0)]
    counts, _ = views.job_charts(buckets, SINCE, NOW, "last 6 hours")
    assert ticks(str(counts)) == ["0", "1", "2", "3", "4"]


def test_given_fractional_values_then_ticks_have_the_decimals_they_need() -> None:
    svg = str(chart("t", [SINCE], [Series("x", PALETTE[0], [0.09])], unit="u", stacked=False))
    assert ticks(svg) == ["0.00", "0.05", "0.10", "0.15", "0.20"]
