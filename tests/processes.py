"""pitmaster processes for tests: the real ``pitmaster`` command, started and stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from .credentials import ADMIN, ADMIN_TOKEN
from .waiting import wait_for

PITMASTER = [sys.executable, "-m", "pitmaster"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Deployment:
    """pitmaster processes sharing one SQLite file, and the CLI pointed at them.

    The server runs with ``ADMIN_TOKEN`` as its admin token and the CLI sends it
    (``PITMASTER_ADMIN_TOKEN``, ``PITMASTER_TOKEN``); ``api`` is an HTTP client as admin.
    """

    def __init__(self, directory: Path, database_url: str | None = None) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PITMASTER_DATABASE_URL": database_url or f"sqlite:///{directory}/pitmaster.db",
            "PITMASTER_URL": self.url,
            "PITMASTER_POLL_INTERVAL": "0.2",
            "PITMASTER_ADMIN_TOKEN": ADMIN_TOKEN,
            "PITMASTER_TOKEN": ADMIN_TOKEN,
        }
        self.processes: list[subprocess.Popen[str]] = []
        self.log_files: dict[int, Path] = {}

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start ``pitmaster ARGS`` in the background, its output in a log file of its own."""
        path = self.directory / f"{args[0]}-{len(self.processes)}.log"
        log = path.open("w")
        process = subprocess.Popen(
            [*PITMASTER, *args],
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.processes.append(process)
        self.log_files[process.pid] = path
        return process

    def log(self, process: subprocess.Popen[str]) -> str:
        """What ``process`` has written so far (stdout and stderr)."""
        return self.log_files[process.pid].read_text()

    def wait_healthy(self, process: subprocess.Popen[str]) -> None:
        def healthy() -> bool:
            assert process.poll() is None, "pitmaster exited while starting"
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        # Starting takes a second or two; far longer on a machine busy with other tests.
        wait_for(healthy, timeout=60, interval=0.1, what=f"pitmaster to answer {self.url}/healthz")

    def api(self) -> httpx.Client:
        """An HTTP client of this deployment's API, sending the admin token."""
        return httpx.Client(base_url=self.url, headers=ADMIN, timeout=60)

    def cli(
        self,
        *args: str,
        check: bool = True,
        env: dict[str, str] | None = None,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*PITMASTER, *args],
            env={**self.env, **(env or {})},
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check:
            assert result.returncode == 0, result.stderr
        return result

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
