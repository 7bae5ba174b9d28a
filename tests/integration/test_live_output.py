"""A live read of a running job's output costs the same however much the job printed before."""

from __future__ import annotations

import re
import time

import docker

from pitmaster.executors.base import LIVE_TAIL_LINES
from pitmaster.executors.docker import DockerExecutor

from ..waiting import wait_for
from .conftest import DEMO_IMAGE

LINES = 200_000


def test_given_a_job_that_printed_much_then_a_live_read_returns_only_its_end(
    docker_client: docker.DockerClient,
) -> None:
    # Given a running container that printed 200,000 lines (about 1.3 MB) and waits.
    container = docker_client.containers.run(
        DEMO_IMAGE,
        ["sh", "-c", f"seq 1 {LINES}; sleep 60"],
        detach=True,
        labels={"pitmaster.test": "live-output"},
    )
    assert container.id is not None
    executor = DockerExecutor(None)
    try:
        wait_for(
            lambda: container.logs(stdout=True, stderr=False, tail=1) == f"{LINES}\n".encode(),
            timeout=60,
            what=f"the job to print its {LINES} lines",
        )

        # When the console reads its output live, at most 4 KiB.
        began = time.monotonic()
        live = executor.recent_logs(container.id, 4096)
        took = time.monotonic() - began
        began = time.monotonic()
        whole = executor.logs(container.id, 4096)
        took_whole = time.monotonic() - began

        # Then it gets the last lines, within the limit, and not the whole log.
        assert live.stdout.endswith(f"{LINES - 1}\n{LINES}\n")
        assert len(live.stdout.encode()) <= 4096 + 100  # the limit and the truncation mark
        assert live.stderr == ""
        # The engine sent only the last lines (the mark counts what it sent), not 1.3 MB.
        mark = re.search(r"of (\d+) bytes dropped", live.stdout)
        assert mark is not None
        sent = int(mark.group(1))
        assert sent <= LIVE_TAIL_LINES * len(f"{LINES}\n")
        assert whole.stdout.endswith(f"{LINES}\n")
        print(f"live read {took:.3f} s, whole log {took_whole:.3f} s, tail {LIVE_TAIL_LINES}")
    finally:
        container.remove(force=True)
