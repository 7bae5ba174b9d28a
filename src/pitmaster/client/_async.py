"""The asynchronous client of the pitmaster API (``pitmaster.client.AsyncClient``).

The same operations as ``Client``, each a coroutine; kept method for method alike.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from http import HTTPStatus
from typing import Any, cast

import httpx

from pitmaster.client._core import (
    DEFAULT_ENQUEUE_ATTEMPTS,
    DEFAULT_TIMEOUT,
    DEFAULT_URL,
    WAIT_INTERVAL,
    Call,
    Enqueued,
    JSONObject,
    answer,
    auth_headers,
    enqueue_call,
    has_ended,
    new_idempotency_key,
    present,
    publish_call,
    retry_delay,
    unreachable,
    worth_retrying,
)
from pitmaster.client.errors import ClientError, NotFound, WaitTimedOut


class AsyncClient:
    """A pitmaster server's API; sends ``token`` as ``Authorization: Bearer`` on every request.

    ``timeout`` bounds each request (seconds, or an ``httpx.Timeout``); ``transport``
    replaces the network (``pitmaster.client.testing.FakePitmaster`` gives one).
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        token: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        enqueue_attempts: int = DEFAULT_ENQUEUE_ATTEMPTS,
    ) -> None:
        self._url = url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self._url, timeout=timeout, headers=auth_headers(token), transport=transport
        )
        self._has_token = bool(token)
        self._enqueue_attempts = max(1, enqueue_attempts)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # -- requests -------------------------------------------------------------------

    async def request(self, method: str, path: str, json: Any = None, **params: Any) -> Any:
        """Any API request; answers the decoded JSON body (None for 204), raises ClientError."""
        return await self._send(Call(method, path, json, params))

    async def get(self, path: str, **params: Any) -> Any:
        return await self.request("GET", path, **params)

    async def find(self, path: str) -> Any | None:
        """GET that answers None for 404 instead of raising."""
        try:
            return await self.get(path)
        except NotFound:
            return None

    async def _send(self, call: Call) -> Any:
        try:
            response = await self._http.request(
                call.method, call.path, json=call.json, params=call.query(), headers=call.headers
            )
        except httpx.HTTPError as exc:
            raise unreachable(self._url, exc) from exc
        return answer(response, self._has_token)

    async def _send_idempotent(self, call: Call) -> Any:
        for attempt in range(self._enqueue_attempts):
            try:
                return await self._send(call)
            except ClientError as exc:
                if attempt + 1 >= self._enqueue_attempts or not worth_retrying(exc):
                    raise
            await asyncio.sleep(retry_delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    # -- executions -----------------------------------------------------------------

    async def enqueue(  # noqa: PLR0913 -- one parameter per field of the request
        self,
        application: str,
        job: str,
        message: Any,
        *,
        queue: str | None = None,
        delay_seconds: float | None = None,
        run_at: datetime | None = None,
        idempotency_key: str | None = None,
        priority: int | None = None,
    ) -> Enqueued:
        """Enqueue a job. Sent again on a connection error or a 503 with one Idempotency-Key,
        so a retry never enqueues twice (a key of its own is made when none is given).
        ``priority``: higher runs first (none: the job definition's)."""
        call = enqueue_call(
            application,
            job,
            message,
            queue=queue,
            delay_seconds=delay_seconds,
            run_at=run_at,
            idempotency_key=idempotency_key or new_idempotency_key(),
            priority=priority,
        )
        return cast(Enqueued, await self._send_idempotent(call))

    async def enqueue_batch(self, items: list[JSONObject]) -> list[JSONObject]:
        """Enqueue up to 1,000 messages (each as ``POST /v2/job_executions`` takes one) in one
        transaction; their ``{message_id, status, id}``, in order. A bad item fails them all."""
        answer = await self.request("POST", "/v2/job_executions/batch", json={"items": items})
        return cast(list[JSONObject], answer["items"])

    async def execution(self, reference: str, fields: str | None = None) -> JSONObject:
        """An execution by message_id (or an attempt's); ``fields`` as in ``?fields=``."""
        return cast(JSONObject, await self.get(f"/v1/job_executions/{reference}", fields=fields))

    async def attempt(self, reference: str, number: int) -> JSONObject:
        """One attempt of an execution (0 the first run), with its stored stdout and stderr."""
        return cast(JSONObject, await self.get(f"/v1/job_executions/{reference}/attempts/{number}"))

    async def logs(self, reference: str, attempt: int | None = None) -> JSONObject:
        """stdout and stderr of the last ended attempt, or of attempt ``attempt``."""
        if attempt is not None:
            return await self.attempt(reference, attempt)
        return await self.execution(reference, fields="__default__,stdout,stderr")

    async def wait(
        self, reference: str, fields: str | None = None, timeout: float | None = None
    ) -> JSONObject:
        """Poll an execution until it has ended, output included (or ``timeout`` seconds pass)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            execution = await self.execution(reference, fields)
            if has_ended(execution):
                return execution
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimedOut(
                    f"execution {reference} is still {execution['status']} after {timeout} s"
                )
            await asyncio.sleep(WAIT_INTERVAL)

    async def executions(
        self,
        *,
        application: str | None = None,
        job: str | None = None,
        queue: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> JSONObject:
        """One page of executions, newest first: ``{"items": [...], "next_cursor": ...}``."""
        params = present(
            application=application, job=job, queue=queue, status=status, cursor=cursor
        )
        return cast(JSONObject, await self.get("/v1/job_executions", limit=limit, **params))

    async def retry(self, reference: str, delay_seconds: float | None = None) -> JSONObject:
        body = present(delay_seconds=delay_seconds) or None
        path = f"/v1/job_executions/{reference}/retries"
        return cast(JSONObject, await self.request("POST", path, json=body))

    async def retry_all(self, **filters: Any) -> JSONObject:
        """Retry every execution the filters select (``status`` defaults to failed)."""
        return cast(
            JSONObject, await self.request("POST", "/v1/job_executions/retries", present(**filters))
        )

    async def cancel(self, reference: str) -> JSONObject:
        return cast(
            JSONObject, await self.request("POST", f"/v1/job_executions/{reference}/cancel")
        )

    # -- apps, job definitions, queues ---------------------------------------------

    async def apps(self, limit: int | None = None, after: str | None = None) -> list[JSONObject]:
        return cast(list[JSONObject], await self.get("/v1/apps", limit=limit, after=after))

    async def app(self, name: str) -> JSONObject:
        return cast(JSONObject, await self.get(f"/v1/apps/{name}"))

    async def create_app(self, name: str, docker_image: str, **fields: Any) -> JSONObject:
        body = {"name": name, "docker_image": docker_image, **fields}
        return cast(JSONObject, await self.request("POST", "/v1/apps", body))

    async def update_app(self, name: str, **fields: Any) -> JSONObject:
        return cast(JSONObject, await self.request("PATCH", f"/v1/apps/{name}", fields))

    async def delete_app(self, name: str) -> None:
        await self.request("DELETE", f"/v1/apps/{name}")

    async def lock_revision(self, app: str, revision: str) -> JSONObject:
        body = {"revision": revision}
        return cast(JSONObject, await self.request("POST", f"/v1/apps/{app}/revision_lock", body))

    async def unlock_revision(self, app: str) -> None:
        await self.request("DELETE", f"/v1/apps/{app}/revision_lock")

    async def job_definitions(
        self, app: str, limit: int | None = None, after: str | None = None
    ) -> list[JSONObject]:
        path = f"/v1/apps/{app}/job_definitions"
        return cast(list[JSONObject], await self.get(path, limit=limit, after=after))

    async def job_definition(self, app: str, job: str) -> JSONObject:
        return cast(JSONObject, await self.get(f"/v1/apps/{app}/job_definitions/{job}"))

    async def create_job_definition(
        self, app: str, job: str, command: list[str], **fields: Any
    ) -> JSONObject:
        body = {"job": job, "command": command, **fields}
        return cast(JSONObject, await self.request("POST", f"/v1/apps/{app}/job_definitions", body))

    async def update_job_definition(self, app: str, job: str, **fields: Any) -> JSONObject:
        path = f"/v1/apps/{app}/job_definitions/{job}"
        return cast(JSONObject, await self.request("PATCH", path, fields))

    async def delete_job_definition(self, app: str, job: str) -> None:
        await self.request("DELETE", f"/v1/apps/{app}/job_definitions/{job}")

    async def queues(self, limit: int | None = None, after: str | None = None) -> list[JSONObject]:
        return cast(list[JSONObject], await self.get("/v1/job_queues", limit=limit, after=after))

    async def queue(self, name: str) -> JSONObject:
        return cast(JSONObject, await self.get(f"/v1/job_queues/{name}"))

    async def create_queue(self, name: str, **fields: Any) -> JSONObject:
        return cast(
            JSONObject, await self.request("POST", "/v1/job_queues", {"name": name, **fields})
        )

    async def update_queue(self, name: str, **fields: Any) -> JSONObject:
        return cast(JSONObject, await self.request("PATCH", f"/v1/job_queues/{name}", fields))

    async def delete_queue(self, name: str) -> None:
        await self.request("DELETE", f"/v1/job_queues/{name}")

    # -- secrets, tokens, workers ---------------------------------------------------

    async def secrets(self, app: str) -> list[JSONObject]:
        return cast(list[JSONObject], await self.get(f"/v1/apps/{app}/secrets"))

    async def put_secret(self, app: str, name: str, value: str) -> JSONObject:
        path = f"/v1/apps/{app}/secrets/{name}"
        return cast(JSONObject, await self.request("PUT", path, {"value": value}))

    async def delete_secret(self, app: str, name: str) -> None:
        await self.request("DELETE", f"/v1/apps/{app}/secrets/{name}")

    async def tokens(self) -> list[JSONObject]:
        return cast(list[JSONObject], await self.get("/v1/tokens"))

    async def create_token(self, app: str | None = None, description: str = "") -> JSONObject:
        """An admin token, or one for ``app`` only; the answer's ``token`` is shown once."""
        body = {"app": app, "description": description}
        return cast(JSONObject, await self.request("POST", "/v1/tokens", body))

    async def revoke_token(self, token_id: str) -> None:
        await self.request("DELETE", f"/v1/tokens/{token_id}")

    async def workers(self, limit: int | None = None, after: str | None = None) -> list[JSONObject]:
        return cast(list[JSONObject], await self.get("/v1/workers", limit=limit, after=after))

    async def healthy(self) -> bool:
        """Whether the server answers /healthz with 200 (its database reachable)."""
        try:
            return (await self._http.get("/healthz")).status_code == HTTPStatus.OK
        except httpx.HTTPError:
            return False

    # -- topics ---------------------------------------------------------------------

    async def topics(self, limit: int | None = None, after: str | None = None) -> list[JSONObject]:
        return cast(list[JSONObject], await self.get("/v1/topics", limit=limit, after=after))

    async def topic(self, name: str) -> JSONObject:
        return cast(JSONObject, await self.get(f"/v1/topics/{name}"))

    async def create_topic(self, name: str, **fields: Any) -> JSONObject:
        return cast(JSONObject, await self.request("POST", "/v1/topics", {"name": name, **fields}))

    async def update_topic(self, name: str, **fields: Any) -> JSONObject:
        return cast(JSONObject, await self.request("PATCH", f"/v1/topics/{name}", fields))

    async def delete_topic(self, name: str) -> None:
        await self.request("DELETE", f"/v1/topics/{name}")

    async def subscriptions(self, topic: str) -> list[JSONObject]:
        return cast(list[JSONObject], await self.get(f"/v1/topics/{topic}/subscriptions"))

    async def subscribe(self, topic: str, application: str, job: str, **fields: Any) -> JSONObject:
        body = {"application": application, "job": job, **fields}
        path = f"/v1/topics/{topic}/subscriptions"
        return cast(JSONObject, await self.request("POST", path, body))

    async def unsubscribe(self, topic: str, subscription_id: int) -> None:
        await self.request("DELETE", f"/v1/topics/{topic}/subscriptions/{subscription_id}")

    async def publish(
        self,
        topic: str,
        message: Any,
        *,
        delay_seconds: float | None = None,
        idempotency_key: str | None = None,
    ) -> JSONObject:
        """Publish to every subscription; retried like ``enqueue``, one key for all tries."""
        call = publish_call(
            topic,
            message,
            delay_seconds=delay_seconds,
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        return cast(JSONObject, await self._send_idempotent(call))
