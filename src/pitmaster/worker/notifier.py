"""The notifier: delivers the outbox's notifications, at least once, off every other loop's path.

It runs in a thread of its own, so a slow or dead receiver delays only other
notifications, never recording an ending or starting a job. Each notification
is claimed under a lease; a worker killed while delivering leaves it to be
delivered again once the lease runs out (receivers drop the duplicate by its
delivery id). A failed try is tried again later, with exponential backoff,
until the notification is older than ``notification_max_age``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from pitmaster.app_secrets import SecretBox, SecretUnreadable, secret_box
from pitmaster.metrics import Metrics
from pitmaster.notification_sender import Answer, Sender
from pitmaster.notifications import (
    DeliveryState,
    NextTry,
    OpenTarget,
    after_failure,
    delivered,
    open_target,
    refused_for_good,
    request_for,
)
from pitmaster.store.notifications import Claimed, TryResult
from pitmaster.store.store import Store

logger = logging.getLogger(__name__)

# Work pending too long is looked for this often (it is a query over the queue).
PENDING_CHECK_SECONDS = 30.0
# Notifications one step leases and sends, one after another: few, so that a
# burst is shared among the worker's notifier threads rather than held by one.
CLAIM_BATCH = 5


class Notifier:
    def __init__(  # noqa: PLR0913 -- its settings, spelled out
        self,
        store: Store,
        sender: Sender,
        worker_id: str,
        *,
        lease_seconds: float,
        max_age_seconds: float,
        public_url: str | None,
        secrets_keys: str | None,
        metrics: Metrics,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = store
        self._sender = sender
        self._worker_id = worker_id
        self._lease_seconds = lease_seconds
        self._max_age_seconds = max_age_seconds
        self._public_url = public_url
        self._box: SecretBox | None = secret_box(secrets_keys)
        self._metrics = metrics
        self._now = clock or store.now
        self._next_pending_check = 0.0
        self._pending_check = threading.Lock()

    def step(self) -> int:
        """Deliver what is due (one batch); how many were tried."""
        if time.monotonic() >= self._next_pending_check and self._pending_check.acquire(
            blocking=False
        ):
            try:  # by one of the worker's notifier threads at a time
                self._next_pending_check = time.monotonic() + PENDING_CHECK_SECONDS
                self._store.notifications.add_for_pending()
            finally:
                self._pending_check.release()
        claimed = self._store.notifications.claim_notifications(
            self._worker_id, self._lease_seconds, CLAIM_BATCH
        )
        for notification in claimed:
            self.deliver(notification)
        return len(claimed)

    def deliver(self, notification: Claimed) -> DeliveryState:
        answer = self._send(notification)
        now = self._now()
        if answer.status_code is not None and delivered(answer.status_code):
            result = TryResult(answer.status_code, answer.text, DeliveryState.DELIVERED)
            self._metrics.notification_latency.observe(
                max(0.0, (now - notification.created_at).total_seconds())
            )
        else:
            next_try = (
                NextTry(None)
                if refused_for_good(answer.status_code)
                else after_failure(
                    notification.tries + 1, notification.created_at, now, self._max_age_seconds
                )
            )
            if next_try.at is None:
                result = TryResult(answer.status_code, answer.text, DeliveryState.EXPIRED)
                logger.warning(
                    "notification %s to %s given up after %d tries: %s",
                    notification.delivery_id,
                    notification.target.name,
                    notification.tries + 1,
                    answer.text[:200],
                )
            else:
                result = TryResult(
                    answer.status_code, answer.text, DeliveryState.PENDING, next_try.at
                )
        kept = self._store.notifications.record_try(notification.id, self._worker_id, result)
        if not kept:
            logger.info("notification %s: lease lost while delivering", notification.delivery_id)
        outcome = "retrying" if result.state is DeliveryState.PENDING else result.state.value
        self._metrics.notification_deliveries.labels(outcome).inc()
        return result.state

    def _send(self, notification: Claimed) -> Answer:
        try:
            target = self._open(notification)
        except SecretUnreadable as exc:
            return Answer(None, str(exc))
        request = request_for(
            target,
            notification.delivery_id,
            notification.event.value,
            notification.payload,
            self._public_url,
            self._now(),
        )
        return self._sender.send(request)

    def _open(self, notification: Claimed) -> OpenTarget:
        if self._box is None:
            raise SecretUnreadable(
                "this worker has no PITMASTER_SECRETS_KEY to open notification targets with"
            )
        sealed = notification.target
        return open_target(
            self._box, sealed.name, sealed.kind, sealed.sealed_url, sealed.sealed_secret
        )
