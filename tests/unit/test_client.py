"""The Python client against the real API in-process, and its fake server for applications' tests."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
import pytest
from fastapi.testclient import TestClient

from pitmaster.client import (
    AsyncClient,
    Client,
    ConnectionFailed,
    InvalidRequest,
    NotFound,
    WaitTimedOut,
)
from pitmaster.client.testing import FakePitmaster
from pitmaster.server.app import create_app
from pitmaster.services import tokens
from pitmaster.settings import Settings
from pitmaster.store.store import Store

from ..credentials import ADMIN_TOKEN


class LosesAnswers(httpx.BaseTransport):
    """Delivers every request, but loses the answers to the first ``count``: a network
    that drops the connection after the server has committed."""

    def __init__(self, inner: httpx.BaseTransport, count: int) -> None:
        self.inner, self.count, self.sent = inner, count, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.sent += 1
        if self.sent <= self.count:
            raise httpx.ReadError("connection reset by peer")
        return response


@pytest.fixture
def server(settings: Settings, store: Store) -> Iterator[TestClient]:
    tokens.ensure_admin_tokens(settings, store)
    with TestClient(create_app(settings, store), raise_server_exceptions=True) as http:
        yield http


def client_of(server: TestClient, count_lost: int = 0) -> Client:
    transport = LosesAnswers(server._transport, count_lost)
    return Client(str(server.base_url), token=ADMIN_TOKEN, transport=transport)


@pytest.fixture
def client(server: TestClient) -> Iterator[Client]:
    with client_of(server) as client:
        client.create_app("mailer", "pitmaster-demo:latest")
        client.create_job_definition("mailer", "send-mail", ["true"])
        yield client


def test_given_answers_lost_after_commit_when_enqueueing_then_it_retries_and_enqueues_once(
    server: TestClient, client: Client
):
    with client_of(server, count_lost=2) as flaky:
        sent = flaky.enqueue("mailer", "send-mail", {"to": "a@example.com"})

    page = client.executions(application="mailer")
    assert [e["message_id"] for e in page["items"]] == [sent["message_id"]]
    assert sent["status"] == "pending"


def test_given_an_explicit_idempotency_key_when_enqueued_twice_then_one_execution(client: Client):
    first = client.enqueue("mailer", "send-mail", {}, idempotency_key="order-42")
    second = client.enqueue("mailer", "send-mail", {}, idempotency_key="order-42")

    assert first["message_id"] == second["message_id"]


def test_given_a_server_that_never_answers_when_enqueueing_then_it_gives_up_with_connection_failed(
    server: TestClient,
):
    with (
        client_of(server, count_lost=10) as flaky,
        pytest.raises(ConnectionFailed, match="cannot reach pitmaster"),
    ):
        flaky.enqueue("mailer", "send-mail", {})


def test_given_errors_when_calling_then_exceptions_carry_the_server_message(client: Client):
    with pytest.raises(NotFound) as missing:
        client.execution("00000000-0000-0000-0000-000000000000")
    with pytest.raises(InvalidRequest) as invalid:
        client.enqueue("mailer", "send-mail", {}, delay_seconds=-1)

    assert missing.value.status_code == 404
    assert "00000000-0000-0000-0000-000000000000" in missing.value.server_message
    assert "delay_seconds" in invalid.value.server_message


def test_given_a_pending_execution_when_waiting_briefly_then_it_times_out(client: Client):
    sent = client.enqueue("mailer", "send-mail", {})

    with pytest.raises(WaitTimedOut, match="still pending"):
        client.wait(sent["message_id"], timeout=0.1)


def test_given_the_admin_operations_when_called_then_each_answers_what_it_changed(client: Client):
    client.create_queue("bulk", max_concurrent_executions=2)
    client.update_app("mailer", description="sends mail")
    token = client.create_token(app="mailer", description="for the shop")
    sent = client.enqueue("mailer", "send-mail", {}, queue="bulk")
    cancelled = client.cancel(sent["message_id"])

    assert [q["name"] for q in client.queues()] == ["bulk", "default"]
    assert client.app("mailer")["description"] == "sends mail"
    assert [d["job"] for d in client.job_definitions("mailer")] == ["send-mail"]
    assert token["id"] in [t["id"] for t in client.tokens()]
    assert cancelled["status"] == "cancelled"
    assert client.retry(sent["message_id"])["status"] == "pending"
    assert client.healthy()
    client.revoke_token(token["id"])
    client.delete_job_definition("mailer", "send-mail")
    assert client.job_definitions("mailer") == []


def test_given_the_fake_when_an_app_enqueues_then_the_test_sees_the_message_and_ends_it():
    fake = FakePitmaster()
    fake.drop_connections(1)

    with fake.client() as client:
        sent = client.enqueue("mailer", "send-mail", {"to": "a@example.com"})
        fake.finish(sent["message_id"], "success", stdout="sent\n")
        ended = client.wait(sent["message_id"], timeout=1)

    assert [(e.job, e.message) for e in fake.enqueued] == [("send-mail", {"to": "a@example.com"})]
    assert ended["status"] == "success"
    assert ended["stdout"] == "sent\n"


T = TypeVar("T")


def _run(scenario: Coroutine[Any, Any, T]) -> T:
    """Run ``scenario`` in an event loop of its own, on a thread of its own: a test run
    earlier in this process (a browser test, say) may have left this thread's loop running."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, scenario).result()


def test_given_the_async_client_when_enqueueing_through_the_fake_then_it_behaves_as_the_sync_one():
    fake = FakePitmaster()
    fake.drop_connections(2)

    async def scenario() -> tuple[str, str]:
        async with fake.async_client() as client:
            sent = await client.enqueue("mailer", "send-mail", {"n": 1})
            fake.finish(sent["message_id"], "failed")
            ended = await client.wait(sent["message_id"], timeout=1)
            return sent["message_id"], ended["status"]

    message_id, status = _run(scenario())

    assert [e.message_id for e in fake.enqueued] == [message_id]
    assert status == "failed"


def test_given_the_async_client_on_the_real_api_when_enqueueing_then_the_execution_is_stored(
    settings: Settings, store: Store
):
    tokens.ensure_admin_tokens(settings, store)
    transport = httpx.ASGITransport(app=create_app(settings, store))

    async def scenario() -> dict[str, object]:
        async with AsyncClient("http://server", token=ADMIN_TOKEN, transport=transport) as client:
            await client.create_app("mailer", "pitmaster-demo:latest")
            await client.create_job_definition("mailer", "send-mail", ["true"])
            sent = await client.enqueue("mailer", "send-mail", {"to": "b@example.com"})
            return await client.execution(sent["message_id"], fields="__default__,message")

    execution = _run(scenario())

    assert execution["status"] == "pending"
    assert execution["message"] == {"to": "b@example.com"}
