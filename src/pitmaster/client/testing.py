"""A fake pitmaster server for the tests of applications that use the client.

``FakePitmaster`` is an httpx transport that keeps executions in memory, so a
test can check what its code enqueued without a server, a database or Docker::

    fake = FakePitmaster()
    with fake.client() as client:
        signup(client, "a@example.com")          # the code under test enqueues
    assert fake.enqueued[0].message == {"to": "a@example.com"}

It answers enqueue (honouring ``Idempotency-Key``), reading an execution, waiting,
cancel and retry like the server does; ``finish`` ends an execution, and
``drop_connections`` makes the next requests fail as a network would. Other
endpoints answer 501 naming the request.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from pitmaster.client._async import AsyncClient
from pitmaster.client._sync import Client
from pitmaster.models import Status

FAKE_URL = "http://pitmaster.test"
FAKE_TOKEN = "fake-token"  # noqa: S105 -- the fake checks no token


@dataclass
class FakeExecution:
    """One execution the fake accepted."""

    id: int
    message_id: str
    application: str
    job: str
    queue: str
    message: Any
    idempotency_key: str | None
    status: Status = Status.PENDING
    stdout: str = ""
    stderr: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def answer(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "message_id": self.message_id,
            "application": self.application,
            "job": self.job,
            "job_queue": self.queue,
            "status": self.status.value,
            "message": self.message,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "output_pending": False,
            "created_at": self.created_at.isoformat(),
        }


class FakePitmaster(httpx.MockTransport):
    """An in-memory pitmaster API; pass it as a client's ``transport``."""

    def __init__(self) -> None:
        super().__init__(self._handle)
        self.enqueued: list[FakeExecution] = []
        self.requests: list[httpx.Request] = []
        self._connections_to_drop = 0

    def client(self, **options: Any) -> Client:
        return Client(FAKE_URL, token=FAKE_TOKEN, transport=self, **options)

    def async_client(self, **options: Any) -> AsyncClient:
        return AsyncClient(FAKE_URL, token=FAKE_TOKEN, transport=self, **options)

    def drop_connections(self, count: int) -> None:
        """The next ``count`` requests fail with a connection error, never reaching the fake."""
        self._connections_to_drop = count

    def finish(
        self,
        message_id: str,
        status: Status | str = Status.SUCCESS,
        stdout: str = "",
        stderr: str = "",
    ) -> None:
        execution = self._find(message_id)
        if execution is None:
            raise KeyError(message_id)
        execution.status, execution.stdout, execution.stderr = Status(status), stdout, stderr

    def _find(self, message_id: str) -> FakeExecution | None:
        return next((e for e in self.enqueued if e.message_id == message_id), None)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        if self._connections_to_drop:
            self._connections_to_drop -= 1
            raise httpx.ConnectError("connection refused (FakePitmaster.drop_connections)")
        self.requests.append(request)
        parts = request.url.path.strip("/").split("/")
        match request.method, parts:
            case "POST", ["v2", "job_executions"]:
                return self._enqueue(request)
            case "GET", ["v1", "job_executions", message_id]:
                return self._with(message_id, lambda e: e)
            case "POST", ["v1", "job_executions", message_id, "cancel"]:
                return self._with(message_id, self._cancel)
            case "POST", ["v1", "job_executions", message_id, "retries"]:
                return self._with(message_id, self._retry)
            case "GET", ["healthz"]:
                return httpx.Response(200, json={"status": "ok"})
        return _error(501, f"FakePitmaster does not answer {request.method} {request.url.path}")

    def _enqueue(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        key = request.headers.get("Idempotency-Key") or body.get("idempotency_key")
        known = next((e for e in self.enqueued if key and e.idempotency_key == key), None)
        if known is None:
            known = FakeExecution(
                id=len(self.enqueued) + 1,
                message_id=str(uuid.uuid4()),
                application=body["application"],
                job=body["job"],
                queue=body.get("queue") or "default",
                message=body["message"],
                idempotency_key=key,
            )
            self.enqueued.append(known)
        return httpx.Response(
            201, json={"message_id": known.message_id, "status": known.status.value, "id": known.id}
        )

    def _with(self, message_id: str, change: Any) -> httpx.Response:
        execution = self._find(message_id)
        if execution is None:
            return _error(404, f"no job execution {message_id}")
        result = change(execution)
        return (
            result
            if isinstance(result, httpx.Response)
            else httpx.Response(200, json=result.answer())
        )

    @staticmethod
    def _cancel(execution: FakeExecution) -> FakeExecution | httpx.Response:
        if execution.status.is_terminal:
            return _error(409, f"execution {execution.message_id} has ended: {execution.status}")
        execution.status = Status.CANCELLED
        return execution

    @staticmethod
    def _retry(execution: FakeExecution) -> FakeExecution | httpx.Response:
        if not execution.status.is_terminal:
            return _error(409, f"execution {execution.message_id} is {execution.status}")
        execution.status = Status.PENDING
        return execution


def _error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": message})
