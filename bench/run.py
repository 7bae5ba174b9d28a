"""Run every benchmark and write docs/benchmarks.md.

    .venv/bin/python -m bench.run            # the full set (about 15 minutes)
    .venv/bin/python -m bench.run --quick    # fewer jobs, for a first look
    .venv/bin/python -m bench.run --only enqueue,queue   # some sections, printed only

Each figure stands beside its baseline, measured in the same run on the same
machine, image and network mode; compare the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import psycopg

from bench import (
    docker_paths,
    http_enqueue,
    notifications,
    post_exit,
    preflight,
    queue_only,
    scale,
    schedule_ticks,
    swarm,
)
from bench.common import ROOT, ms, prepare, say
from bench.docker_paths import Latencies, summary
from pitmaster import __version__


def _versions(admin_url: str) -> list[str]:
    client = docker.from_env()
    engine = client.version()["Version"]
    client.close()
    with psycopg.connect(admin_url) as conn:
        postgres = conn.execute("SHOW server_version").fetchone()
    cpus = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return [
        f"- machine: {platform.machine()}, {cpus} cores, {platform.platform()}",
        f"- Python {platform.python_version()}, pitmaster {__version__}",
        f"- Docker engine {engine}, PostgreSQL {postgres[0] if postgres else '?'}",
        f"- run at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
    ]


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _throughput(results: dict[Any, Any]) -> list[str]:
    lines = [
        "| database | concurrency | pitmaster jobs/s | bare docker-py jobs/s | ratio | target 0.9× |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for (kind, concurrency), (ours, bare) in results.items():
        ratio = ours / bare
        lines.append(
            f"| {kind} | {concurrency} | {ours:.2f} | {bare:.2f} | {ratio:.2f}× | {_verdict(ratio >= 0.9)} |"
        )
    return lines


def _latency(results: dict[str, tuple[Latencies, Latencies]]) -> list[str]:
    lines = [
        "| database | measure | pitmaster p50 / p99 | bare p50 / p99 | difference p50 / p99 | target |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for kind, (ours, bare) in results.items():
        d50, d99 = summary(ours.dispatch)
        b50, b99 = summary(bare.dispatch)
        target = _verdict(d50 - b50 <= 0.025) if kind == "postgresql" else "(PostgreSQL only)"
        lines.append(
            f"| {kind} | enqueue → started | {ms(d50)} / {ms(d99)} | {ms(b50)} / {ms(b99)} "
            f"| {ms(d50 - b50)} / {ms(d99 - b99)} | p50 within 25 ms: {target} |"
        )
        l50, l99 = summary(ours.detection)
        e50, e99 = summary(bare.detection)
        lines.append(
            f"| {kind} | detection lag | {ms(l50)} / {ms(l99)} | {ms(e50)} / {ms(e99)} "
            f"| {ms(l50 - e50)} / {ms(l99 - e99)} | p99 within 50 ms: {_verdict(l99 - e99 <= 0.05)} |"
        )
    return lines


def _scale(results: dict[str, dict[str, float]]) -> list[str]:
    small, large = results["small"], results["large"]
    lines = [
        "| running containers | Docker API calls per sweep | worker CPU (share of one core) | worker RSS |",
        "| --- | --- | --- | --- |",
    ]
    for row in (small, large):
        lines.append(
            f"| {row['running']:.0f} | {row['calls_per_sweep']:.2f} | {row['cpu_share'] * 100:.1f} % "
            f"| {row['rss_mb']:.0f} MB |"
        )
    flat = large["calls_per_sweep"] <= small["calls_per_sweep"] + 0.5
    lines += [
        "",
        f"- calls per sweep do not grow with the count: {_verdict(flat)}",
        f"- under 5 % of one core: {_verdict(large['cpu_share'] < 0.05)}",
        f"- under 150 MB: {_verdict(large['rss_mb'] < 150)}",
    ]
    return lines


def _post_exit(results: dict[str, tuple[float, float]]) -> list[str]:
    lines = [
        "| network mode | first inspect after `die`, p50 / p99 |",
        "| --- | --- |",
    ]
    for mode, (p50, p99) in results.items():
        lines.append(f"| {mode} | {ms(p50)} / {ms(p99)} |")
    return lines


def _queue(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| database | measure | pitmaster /s | peer | peer /s | ratio | target 1.0× |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind, row in results.items():
        peer, peer_enqueue, peer_claims = row["peer"]
        for label, ours, theirs in (
            ("enqueue, HTTP API", row["http_enqueue"], peer_enqueue),
            ("enqueue, library call", row["store_enqueue"], peer_enqueue),
            ("claims (start with a no-op executor)", row["claims"], peer_claims),
        ):
            ratio = ours / theirs
            lines.append(
                f"| {kind} | {label} | {ours:.0f} | {peer} | {theirs:.0f} | {ratio:.2f}× "
                f"| {_verdict(ratio >= 1.0)} |"
            )
    return lines


def _enqueue(results: dict[str, dict[str, float]]) -> list[str]:
    lines = [
        "| database | measure | pitmaster | baseline | ratio | target |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for kind, row in results.items():
        ratio = row["enqueue"] / row["bare"]
        lines.append(
            f"| {kind} | HTTP enqueue ÷ bare FastAPI one-row insert | {row['enqueue']:.0f}/s "
            f"| {row['bare']:.0f}/s | {ratio:.2f}× | ≥ 1.0×: {_verdict(ratio >= 1.0)} |"
        )
        if row["batch"]:
            lines.append(
                f"| {kind} | batch enqueue ({http_enqueue.BATCH_SIZE} a request), messages/s "
                f"| {row['batch']:.0f}/s | single enqueue {row['enqueue']:.0f}/s "
                f"| {row['batch'] / row['enqueue']:.1f}× | ≥ 20,000/s: {_verdict(row['batch'] >= 20_000)} |"
            )
        ratio = row["history"] / row["enqueue"]
        lines.append(
            f"| {kind} | HTTP enqueue with {row['ended']:,.0f} ended executions ÷ empty "
            f"| {row['history']:.0f}/s | {row['enqueue']:.0f}/s | {ratio:.2f}× "
            f"| ≥ 0.9×: {_verdict(ratio >= 0.9)} |"
        )
        lines.append(
            f"| {kind} | server peak RSS under the enqueue load | {row['rss_mb']:.0f} MB | – | – "
            f"| < 200 MB: {_verdict(row['rss_mb'] < 200)} |"
        )
    return lines


def _ticks(results: dict[str, dict[str, float]]) -> list[str]:
    lines = [
        "| database | ticks | execution created after its tick: earliest, p50 / p99 | bare timer woke after the boundary, p50 / p99 |",
        "| --- | --- | --- | --- |",
    ]
    for kind, row in results.items():
        lines.append(
            f"| {kind} | {row['ticks']:.0f} | {ms(row['earliest'])}, {ms(row['p50'])} / {ms(row['p99'])} "
            f"| {ms(row['timer_p50'])} / {ms(row['timer_p99'])} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description="Run pitmaster's benchmarks.")
    parser.add_argument("--quick", action="store_true", help="fewer jobs and shorter windows")
    parser.add_argument(
        "--only",
        type=lambda text: [part for part in text.split(",") if part],
        default=list(SECTIONS),
        help=f"comma-separated sections to run, of {','.join(SECTIONS)}; "
        "the tables are printed, and written only with --output",
    )
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    unknown = sorted(set(args.only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {', '.join(unknown)}; there are {', '.join(SECTIONS)}")
    preflight.check()
    output = args.output
    if output is None and set(args.only) == set(SECTIONS):
        output = ROOT / "docs" / "benchmarks.md"
    say("starting Docker and PostgreSQL, building the image")
    admin_url = prepare()
    sections = [part for part in SECTIONS if part in args.only]
    parts: list[str] = []
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        for number, section in enumerate(sections, 1):
            say(f"section {number} of {len(sections)}: {section}")
            parts += _SECTIONS[section](admin_url, directory, args.quick)
    text = "\n".join(
        [
            "# Benchmarks",
            "",
            "pitmaster beside plain Docker and beside two Python job queues, each pair measured",
            "in the same run, on the same image (`pitmaster-demo:latest`, a static busybox) and",
            "the default bridge network. The machine is shared and noisy: read the ratios.",
            "Where the time goes, and how to profile it: [performance.md](performance.md).",
            "",
            *_versions(admin_url),
            "",
            f"Rerun: `.venv/bin/python -m bench.run{' --quick' if args.quick else ''}` "
            "(it starts Docker and PostgreSQL and builds the image if need be).",
            "",
            *parts,
        ]
    )
    if output is not None:
        output.write_text(text)
    print(text)


def _paths_section(admin_url: str, directory: Path, quick: bool) -> list[str]:
    paths = docker_paths.run(admin_url, directory, quick)
    return [
        "## Throughput (trivial jobs, enqueue until the ending is recorded with its logs)",
        "",
        "Baseline: a docker-py thread loop (create, start, wait, logs, remove) at the same concurrency.",
        "",
        *_throughput(paths["throughput"]),  # type: ignore[arg-type]
        "",
        "## Dispatch overhead and detection lag",
        "",
        "Dispatch: from enqueue (pitmaster) or the create call (bare) to Docker's `StartedAt`.",
        "Detection lag: from Docker's `FinishedAt` to the ending recorded (pitmaster) or the",
        "`die` event received by a bare listener.",
        "",
        *_latency(paths["latency"]),  # type: ignore[arg-type]
        "",
    ]


def _post_exit_section(_admin_url: str, _directory: Path, quick: bool) -> list[str]:
    return [
        "## What Docker makes a recorder wait",
        "",
        "After sending `die` the engine tears down the container's network before it answers",
        "any call about that container (`bench/post_exit.py`, plain docker-py). pitmaster",
        "needs one such call, an inspect for the exit code and Docker's times, before it can",
        "record the ending:",
        "",
        *_post_exit(post_exit.run(quick)),
        "",
    ]


def _scale_section(admin_url: str, directory: Path, quick: bool) -> list[str]:
    return [
        "## Scale: sleeping containers under one worker (PostgreSQL)",
        "",
        "Calls are counted by a relay in front of the Docker socket over a window of sweeps",
        "(one per second); CPU and RSS are the worker process's own.",
        "",
        *_scale(scale.run(admin_url, directory, quick)),  # type: ignore[arg-type]
        "",
    ]


def _queue_section(admin_url: str, directory: Path, quick: bool) -> list[str]:
    return [
        "## The queue alone (no Docker)",
        "",
        f"{queue_only.CLIENTS} HTTP clients for the API; {queue_only.RUNNERS} claiming threads "
        "or worker slots for every queue.",
        "",
        *_queue(queue_only.run(admin_url, directory, quick)),  # type: ignore[arg-type]
        "",
    ]


def _enqueue_section(admin_url: str, directory: Path, quick: bool) -> list[str]:
    return [
        "## HTTP enqueue beside its own stack (no Docker)",
        "",
        f"{http_enqueue.CLIENTS} keep-alive clients against one `pitmaster server`, and against a",
        "bare FastAPI endpoint inserting one row through SQLAlchemy on the same database and",
        "uvicorn (`bench/bare_enqueue.py`): what is left is pitmaster's own work per request.",
        "",
        *_enqueue(http_enqueue.run(admin_url, directory, quick)),
        "",
    ]


def _swarm_section(admin_url: str, directory: Path, quick: bool) -> list[str]:
    return [
        "## The Swarm executor beside the Docker executor (PostgreSQL)",
        "",
        "Both on the second engine, a single-node swarm (`scripts/ensure-swarm.sh`); the",
        "same no-op job, without a network. Dispatch: enqueue to the container's `StartedAt`.",
        "",
        *swarm.report(swarm.run(admin_url, directory, quick)),
        "",
    ]


def _notifications_section(admin_url: str, directory: Path, quick: bool) -> list[str]:
    return [
        "## Notifications (a webhook receiver on 127.0.0.1)",
        "",
        "From the notification's row, written with the ending, to the receiver having it; and",
        "the next job's start while every delivery waits on a slow receiver.",
        "",
        *notifications.report(notifications.run(admin_url, directory, quick)),
        "",
    ]


def _schedules_section(admin_url: str, directory: Path, quick: bool) -> list[str]:
    return [
        "## Schedule tick accuracy",
        "",
        f"{schedule_ticks.WORKERS} workers tick {schedule_ticks.SCHEDULES} every-minute "
        "schedules; each tick made exactly one execution.",
        "",
        *_ticks(schedule_ticks.run(admin_url, directory, quick)),
        "",
    ]


_SECTIONS = {
    "paths": _paths_section,
    "post_exit": _post_exit_section,
    "scale": _scale_section,
    "queue": _queue_section,
    "enqueue": _enqueue_section,
    "swarm": _swarm_section,
    "notifications": _notifications_section,
    "schedules": _schedules_section,
}
# The order they run and print in.
SECTIONS = tuple(_SECTIONS)


if __name__ == "__main__":
    main()
