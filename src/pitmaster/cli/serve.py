"""Running pitmaster: the HTTP API, a worker, or both in one process."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from pitmaster import __version__
from pitmaster.cli.database import load_settings, open_store
from pitmaster.cli.exits import ExitCode
from pitmaster.cli.options import HostOption, PortOption

if TYPE_CHECKING:
    from pitmaster.executors.base import Executor
    from pitmaster.metrics import Metrics
    from pitmaster.settings import Settings
    from pitmaster.store.store import Store
    from pitmaster.worker.worker import Worker

logger = logging.getLogger("pitmaster")


def up(host: HostOption = None, port: PortOption = None) -> None:
    """Run the HTTP API and a worker in one process (SQLite by default)."""
    settings = load_settings(host=host, port=port)
    store = open_store(settings)
    with _running_worker(settings, store) as worker:
        _serve(
            settings,
            store,
            on_enqueue=worker.wake,
            on_shutdown=worker.stop,
            metrics=worker.metrics,
            log_reader=worker.executor,
        )
    store.close()


def server(host: HostOption = None, port: PortOption = None) -> None:
    """Run only the HTTP API, against the same database as the workers."""
    settings = load_settings(host=host, port=port)
    store = open_store(settings)
    _serve(settings, store)
    store.close()


def worker() -> None:
    """Run only a worker: start pending jobs in Docker and record how they end."""
    settings = load_settings()
    store = open_store(settings)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    with _running_worker(settings, store) as running:
        if settings.metrics_port is not None:
            from pitmaster.worker.health import serve_health_and_metrics

            running.metrics.watch_store(store)
            serve_health_and_metrics(settings.metrics_port, running)
            logger.info(
                "metrics and health on http://0.0.0.0:%s/metrics and /healthz",
                settings.metrics_port,
            )
        while not stopping.wait(0.5):
            if running.stopping.is_set():  # it stopped itself: it cannot run here
                break
    store.close()
    if running.refused is not None:
        typer.echo(f"pitmaster: this worker stopped: {running.refused}", err=True)
        raise typer.Exit(ExitCode.ENGINE_REFUSED)


def _serve(
    settings: Settings,
    store: Store,
    on_enqueue: Callable[[], None] | None = None,
    on_shutdown: Callable[[], None] | None = None,
    metrics: Metrics | None = None,
    log_reader: Executor | None = None,
) -> None:
    from pitmaster import http_server
    from pitmaster.server.app import create_app
    from pitmaster.services import tokens

    first_token = tokens.ensure_admin_tokens(settings, store)
    if first_token is not None:
        _show_first_token(first_token)

    api = create_app(settings, store, on_enqueue=on_enqueue, metrics=metrics, log_reader=log_reader)
    logger.info("pitmaster %s listening on http://%s:%s", __version__, settings.host, settings.port)
    http_server.serve(api, settings, on_shutdown)


def _show_first_token(token: str) -> None:
    typer.echo(
        "pitmaster: first start: this admin token was made, and is shown only this once.\n"
        "pitmaster: keep it safe; use it as PITMASTER_TOKEN for the CLI, as "
        "'Authorization: Bearer TOKEN' for the API, and to log in to the console:",
        err=True,
    )
    typer.echo(token, err=True)


@contextmanager
def _running_worker(settings: Settings, store: Store) -> Iterator[Worker]:
    from pitmaster.executors.docker import DockerExecutor
    from pitmaster.executors.swarm import SwarmExecutor
    from pitmaster.worker.worker import Worker, engine_pool_size

    executor: DockerExecutor | SwarmExecutor
    if settings.executor == "swarm":
        executor = SwarmExecutor(
            settings.docker_host,
            max_pool_size=engine_pool_size(settings.runner_threads),
            placement=settings.swarm_placement,
            unplaceable_seconds=settings.swarm_unplaceable_seconds,
        )
    else:
        executor = DockerExecutor(
            settings.docker_host,
            settings.pull_missing_images,
            max_pool_size=engine_pool_size(settings.runner_threads),
        )
    worker = Worker(settings, store, executor)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        executor.close()
