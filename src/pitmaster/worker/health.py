"""A worker's own HTTP port: ``/metrics`` for Prometheus, ``/healthz`` for orchestrators.

``/healthz`` answers 503 while one of the worker's loops keeps failing (or
once the worker has stopped), so a supervisor such as Kubernetes or Docker's
healthcheck can restart it; the body says which loop and why.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

if TYPE_CHECKING:
    from pitmaster.worker.worker import Worker

StartResponse = Callable[..., Any]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds are not news."""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def health_app(worker: Worker) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    metrics = make_wsgi_app(worker.metrics.registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/healthz":
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        reason = worker.supervisor.unhealthy_reason()
        if reason is None and worker.stopping.is_set():
            reason = "the worker has stopped"
        status = "200 OK" if reason is None else "503 Service Unavailable"
        body = json.dumps({"status": "ok"} if reason is None else {"error": reason}).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return app


def serve_health_and_metrics(port: int, worker: Worker, host: str = "0.0.0.0") -> WSGIServer:  # noqa: S104
    """Serve ``/metrics`` and ``/healthz`` on ``port`` from a daemon thread."""
    server = make_server(
        host, port, health_app(worker), server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="pitmaster-health", daemon=True).start()
    return server
