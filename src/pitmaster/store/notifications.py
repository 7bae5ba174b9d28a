"""Notification targets, rules, and the outbox of notifications to deliver.

A notification is inserted by ``add_for_ending`` inside the transaction that
records the ending (``lifecycle.record_outcome``, ``lifecycle.cancel``): a crash
after the commit leaves it in the outbox, a rollback takes it away with the
ending. The notifier claims rows under a lease (``claim``), so two workers do
not send one at once, and one that dies mid-delivery leaves it to the next
after the lease runs out.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from pitmaster.errors import Conflict, NotFound
from pitmaster.models import Status
from pitmaster.notifications import (
    DeliveryState,
    Event,
    Notification,
    NotificationRule,
    NotificationTarget,
    NotifyOn,
    TargetKind,
    duration_seconds,
    notify_on_of,
    rules_for_job,
)
from pitmaster.store.database import Database
from pitmaster.store.schema import (
    apps,
    job_definitions,
    job_executions,
    job_queues,
    notification_rules,
    notification_targets,
    notifications,
)

# What the receiver answered is kept this long at most, for the target's page.
ANSWER_KEEP_CHARS = 2000

t = notification_targets.c
r = notification_rules.c
n = notifications.c


@dataclass(frozen=True)
class SealedTarget:
    """A target as the notifier needs it: still sealed."""

    name: str
    kind: TargetKind
    sealed_url: str
    sealed_secret: str | None


@dataclass(frozen=True)
class Claimed:
    """A notification claimed for delivery, under a lease, with its target."""

    id: int
    delivery_id: str
    event: Event
    payload: dict[str, Any]
    tries: int
    created_at: datetime
    target: SealedTarget


@dataclass(frozen=True)
class TryResult:
    """How one try went: the receiver's status (None: no answer) and what it said."""

    status_code: int | None
    answer: str
    state: DeliveryState
    next_try_at: datetime | None = None


@dataclass(frozen=True)
class Ending:
    """What the outbox needs to know of an ending it tells about."""

    execution_id: int
    attempt: int
    status: Status
    reason: str | None
    exit_code: int | None
    started_at: datetime | None
    finished_at: datetime | None
    will_retry: bool


def _rule_of(row: Any) -> NotificationRule:
    return NotificationRule(
        target=row.target,
        endings=frozenset(NotifyOn(value) for value in row.endings),
        after_last_retry=bool(row.after_last_retry),
        extra_text=row.extra_text,
        pending_minutes=row.pending_minutes,
    )


_RULE_COLUMNS = (
    r.id,
    r.target_id,
    t.name.label("target"),
    r.endings,
    r.after_last_retry,
    r.extra_text,
    r.pending_minutes,
)


def _rules(
    conn: sa.Connection, where: sa.ColumnElement[bool]
) -> list[tuple[int, NotificationRule]]:
    rows = conn.execute(
        sa.select(*_RULE_COLUMNS)
        .join(notification_targets, t.id == r.target_id)
        .where(where)
        .order_by(r.id)
    ).all()
    return [(row.target_id, _rule_of(row)) for row in rows]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def add(  # noqa: PLR0913 -- the columns of one row
    conn: sa.Connection,
    now: datetime,
    target_id: int,
    execution_id: int | None,
    event: Event,
    payload: Mapping[str, Any],
    *,
    once_key: str | None = None,
) -> str:
    delivery_id = str(uuid.uuid4())
    conn.execute(
        notifications.insert().values(
            delivery_id=delivery_id,
            target_id=target_id,
            execution_id=execution_id,
            event=event.value,
            payload=dict(payload),
            once_key=once_key,
            state=DeliveryState.PENDING.value,
            tries=0,
            next_try_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    return delivery_id


def add_for_ending(conn: sa.Connection, now: datetime, ending: Ending) -> int:
    """Put in the outbox one notification per rule that wants this ending; how many."""
    kind = notify_on_of(ending.status, ending.reason)
    if kind is None:
        return 0
    e = job_executions.c
    execution = conn.execute(
        sa.select(e.id, e.message_id, e.application, e.app_id, e.job, e.queue, e.created_at).where(
            e.id == ending.execution_id
        )
    ).first()
    if execution is None or execution.app_id is None:
        return 0
    app_scope = sa.and_(r.app_id == execution.app_id, r.queue.is_(None))
    rules = rules_for_job(
        _rules(conn, sa.and_(app_scope, r.job == execution.job)),
        _rules(conn, sa.and_(app_scope, r.job.is_(None))),
    )
    added = 0
    for target_id, rule in rules:
        if not rule.wants(kind, ending.will_retry):
            continue
        payload = {
            "event": Event.ENDING.value,
            "app": execution.application,
            "job": execution.job,
            "queue": execution.queue,
            "message_id": execution.message_id,
            "status": ending.status.value,
            "ending": kind.value,
            "reason": ending.reason,
            "exit_code": ending.exit_code,
            "attempt": ending.attempt,
            "will_retry": ending.will_retry,
            "enqueued_at": _iso(execution.created_at),
            "started_at": _iso(ending.started_at),
            "finished_at": _iso(ending.finished_at),
            "duration_seconds": duration_seconds(ending.started_at, ending.finished_at),
            "extra_text": rule.extra_text,
            "target": rule.target,
        }
        add(conn, now, target_id, execution.id, Event.ENDING, payload)
        added += 1
    return added


def add_for_pending(conn: sa.Connection, now: datetime) -> int:
    """Notify once for each execution pending longer than its queue's rule allows."""
    rows = conn.execute(
        sa.select(
            r.id, r.target_id, r.queue, r.pending_minutes, r.extra_text, t.name.label("target")
        )
        .join(notification_targets, t.id == r.target_id)
        .where(r.queue.is_not(None), r.pending_minutes.is_not(None))
    ).all()
    e = job_executions.c
    added = 0
    for rule in rows:
        since = now - timedelta(minutes=float(rule.pending_minutes))
        waiting = conn.execute(
            sa.select(e.id, e.message_id, e.application, e.job, e.queue, e.run_after)
            .where(
                e.queue == rule.queue,
                e.status == Status.PENDING.value,
                e.runnable.is_(True),
                e.run_after < since,
            )
            .order_by(e.id)
            .limit(100)
        ).all()
        for execution in waiting:
            once_key = f"pending:{rule.id}:{execution.id}"
            exists = conn.execute(sa.select(n.id).where(n.once_key == once_key)).first()
            if exists is not None:
                continue
            payload = {
                "event": Event.PENDING.value,
                "app": execution.application,
                "job": execution.job,
                "queue": execution.queue,
                "message_id": execution.message_id,
                "status": Status.PENDING.value,
                "pending_since": _iso(execution.run_after),
                "pending_minutes": rule.pending_minutes,
                "extra_text": rule.extra_text,
                "target": rule.target,
            }
            try:
                with conn.begin_nested():  # another worker may be adding the same one now
                    add(
                        conn,
                        now,
                        rule.target_id,
                        execution.id,
                        Event.PENDING,
                        payload,
                        once_key=once_key,
                    )
            except sa.exc.IntegrityError:
                continue
            added += 1
    return added


_CLAIM_BATCH = 20


def claim(
    conn: sa.Connection, now: datetime, worker_id: str, lease_seconds: float, limit: int
) -> list[Claimed]:
    """Lease up to ``limit`` notifications that are due; a lease that ran out may be taken."""
    due = sa.and_(
        n.state == DeliveryState.PENDING.value,
        n.next_try_at <= now,
        sa.or_(n.lease_expires_at.is_(None), n.lease_expires_at < now),
    )
    candidates = [
        row.id
        for row in conn.execute(
            sa.select(n.id).where(due).order_by(n.next_try_at, n.id).limit(limit)
        )
    ]
    taken = []
    for notification_id in candidates:
        changed = conn.execute(
            notifications.update()
            .where(n.id == notification_id, due)
            .values(
                leased_by=worker_id,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                updated_at=now,
            )
        ).rowcount
        if changed:
            taken.append(notification_id)
    if not taken:
        return []
    rows = conn.execute(
        sa.select(
            n.id,
            n.delivery_id,
            n.event,
            n.payload,
            n.tries,
            n.created_at,
            t.name,
            t.kind,
            t.sealed_url,
            t.sealed_secret,
        )
        .join(notification_targets, t.id == n.target_id)
        .where(n.id.in_(taken))
        .order_by(n.id)
    ).all()
    return [
        Claimed(
            id=row.id,
            delivery_id=row.delivery_id,
            event=Event(row.event),
            payload=dict(row.payload),
            tries=row.tries,
            created_at=row.created_at,
            target=SealedTarget(row.name, TargetKind(row.kind), row.sealed_url, row.sealed_secret),
        )
        for row in rows
    ]


def record_try(
    conn: sa.Connection, now: datetime, notification_id: int, worker_id: str, result: TryResult
) -> bool:
    """Record one try of a notification this worker holds the lease of; False if it lost it."""
    values: dict[str, Any] = {
        "state": result.state.value,
        "tries": n.tries + 1,
        "last_status_code": result.status_code,
        "last_answer": result.answer[:ANSWER_KEEP_CHARS],
        "last_tried_at": now,
        "leased_by": None,
        "lease_expires_at": None,
        "updated_at": now,
    }
    if result.state is DeliveryState.DELIVERED:
        values["delivered_at"] = now
    if result.next_try_at is not None:
        values["next_try_at"] = result.next_try_at
    changed = conn.execute(
        notifications.update()
        .where(
            n.id == notification_id,
            n.leased_by == worker_id,
            n.state == DeliveryState.PENDING.value,
        )
        .values(**values)
    ).rowcount
    return bool(changed)


_NOTIFICATION_COLUMNS = (
    n.id,
    n.delivery_id,
    t.name.label("target"),
    n.event,
    n.payload,
    n.state,
    n.tries,
    n.next_try_at,
    n.last_status_code,
    n.last_answer,
    n.last_tried_at,
    n.delivered_at,
    n.created_at,
)


def _notifications(
    conn: sa.Connection, where: sa.ColumnElement[bool], limit: int
) -> list[Notification]:
    rows = conn.execute(
        sa.select(*_NOTIFICATION_COLUMNS)
        .join(notification_targets, t.id == n.target_id)
        .where(where)
        .order_by(n.id.desc())
        .limit(limit)
    ).mappings()
    return [Notification.from_row(row) for row in rows]


_TARGET_COLUMNS = (
    t.id,
    t.name,
    t.kind,
    t.description,
    t.url_hint,
    t.sealed_secret.is_not(None).label("has_secret"),
    t.created_at,
    t.updated_at,
)


class Notifications:
    """The queries about notification targets, rules and the outbox."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- targets --------------------------------------------------------------------

    def create_target(
        self,
        name: str,
        kind: TargetKind,
        description: str,
        sealed_url: str,
        url_hint: str,
        sealed_secret: str | None,
    ) -> NotificationTarget:
        now = self._db.now()
        try:
            with self._db.writing() as conn:
                conn.execute(
                    notification_targets.insert().values(
                        name=name,
                        kind=kind.value,
                        description=description,
                        sealed_url=sealed_url,
                        url_hint=url_hint,
                        sealed_secret=sealed_secret,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except sa.exc.IntegrityError as exc:
            raise Conflict(f"notification target {name!r} already exists") from exc
        return self.get_target(name)

    def update_target(self, name: str, **values: Any) -> NotificationTarget:
        """Change a target's description, URL or secret (sealed); None values stay as they are."""
        changes = {key: value for key, value in values.items() if value is not None}
        if "kind" in changes:
            changes["kind"] = TargetKind(changes["kind"]).value
        with self._db.writing() as conn:
            changed = conn.execute(
                notification_targets.update()
                .where(t.name == name)
                .values(**changes, updated_at=self._db.now())
            ).rowcount
        if not changed:
            raise NotFound(f"no notification target {name!r}")
        return self.get_target(name)

    def get_target(self, name: str) -> NotificationTarget:
        with self._db.reading() as conn:
            row = conn.execute(sa.select(*_TARGET_COLUMNS).where(t.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"no notification target {name!r}")
        return NotificationTarget.from_row(row)

    def list_targets(self) -> list[NotificationTarget]:
        with self._db.reading() as conn:
            rows = conn.execute(sa.select(*_TARGET_COLUMNS).order_by(t.name)).mappings()
            return [NotificationTarget.from_row(row) for row in rows]

    def delete_target(self, name: str) -> None:
        """Delete a target, its rules and its notifications (delivered or not)."""
        with self._db.writing() as conn:
            target_id = conn.execute(sa.select(t.id).where(t.name == name)).scalar()
            if target_id is None:
                raise NotFound(f"no notification target {name!r}")
            # Deleted here too, not only by the foreign keys: SQLite may run without them.
            conn.execute(notifications.delete().where(n.target_id == target_id))
            conn.execute(notification_rules.delete().where(r.target_id == target_id))
            conn.execute(notification_targets.delete().where(t.id == target_id))

    def sealed_target(self, name: str) -> SealedTarget:
        with self._db.reading() as conn:
            row = conn.execute(
                sa.select(t.name, t.kind, t.sealed_url, t.sealed_secret).where(t.name == name)
            ).first()
        if row is None:
            raise NotFound(f"no notification target {name!r}")
        return SealedTarget(row.name, TargetKind(row.kind), row.sealed_url, row.sealed_secret)

    def reseal_targets(self, reseal: Callable[[str], str]) -> int:
        """Seal every target's URL and secret anew with ``reseal`` (rotating the key)."""
        changed = 0
        with self._db.writing() as conn:
            rows = conn.execute(sa.select(t.id, t.sealed_url, t.sealed_secret)).all()
            for row in rows:
                secret = reseal(row.sealed_secret) if row.sealed_secret else None
                conn.execute(
                    notification_targets.update()
                    .where(t.id == row.id)
                    .values(sealed_url=reseal(row.sealed_url), sealed_secret=secret)
                )
                changed += 1
        return changed

    # -- rules ----------------------------------------------------------------------

    def job_rules(self, app: str, job: str | None) -> list[NotificationRule]:
        """The rules of a job (``job``), or of an app (``None``: the default for its jobs)."""
        with self._db.reading() as conn:
            app_id = _app_id(conn, app)
            scope = r.job == job if job is not None else r.job.is_(None)
            return [rule for _, rule in _rules(conn, sa.and_(r.app_id == app_id, scope))]

    def queue_rules(self, queue: str) -> list[NotificationRule]:
        with self._db.reading() as conn:
            _queue_exists(conn, queue)
            return [rule for _, rule in _rules(conn, r.queue == queue)]

    def replace_job_rules(
        self, app: str, job: str | None, rules: Iterable[NotificationRule]
    ) -> list[NotificationRule]:
        """Set the rules of a job (or, with ``job`` None, of an app), replacing all it had."""
        with self._db.writing() as conn:
            app_id = _app_id(conn, app)
            scope = r.job == job if job is not None else r.job.is_(None)
            conn.execute(
                notification_rules.delete().where(r.app_id == app_id, r.queue.is_(None), scope)
            )
            _insert_rules(conn, self._db.now(), rules, app_id=app_id, job=job)
        return self.job_rules(app, job)

    def replace_queue_rules(
        self, queue: str, rules: Iterable[NotificationRule]
    ) -> list[NotificationRule]:
        with self._db.writing() as conn:
            _queue_exists(conn, queue)
            conn.execute(notification_rules.delete().where(r.queue == queue))
            _insert_rules(conn, self._db.now(), rules, queue=queue)
        return self.queue_rules(queue)

    # -- the outbox -----------------------------------------------------------------

    def add_for_pending(self) -> int:
        with self._db.writing() as conn:
            return add_for_pending(conn, self._db.now())

    def add_test(self, target: str) -> str:
        """Put a test notification for ``target`` in the outbox; its delivery id."""
        with self._db.writing() as conn:
            target_id = conn.execute(sa.select(t.id).where(t.name == target)).scalar()
            if target_id is None:
                raise NotFound(f"no notification target {target!r}")
            now = self._db.now()
            payload = {"event": Event.TEST.value, "target": target, "sent_at": now.isoformat()}
            return add(conn, now, target_id, None, Event.TEST, payload)

    def claim_notifications(
        self, worker_id: str, lease_seconds: float, limit: int = _CLAIM_BATCH
    ) -> list[Claimed]:
        with self._db.writing() as conn:
            return claim(conn, self._db.now(), worker_id, lease_seconds, limit)

    def record_try(self, notification_id: int, worker_id: str, result: TryResult) -> bool:
        with self._db.writing() as conn:
            return record_try(conn, self._db.now(), notification_id, worker_id, result)

    def notifications_of(self, message_id: str) -> list[Notification]:
        """An execution's notifications, newest first."""
        e = job_executions.c
        execution_id = sa.select(e.id).where(e.message_id == message_id).scalar_subquery()
        with self._db.reading() as conn:
            return _notifications(conn, n.execution_id == execution_id, 100)

    def deliveries_of(self, target: str, limit: int = 50) -> list[Notification]:
        """A target's most recent notifications, newest first."""
        with self._db.reading() as conn:
            target_id = conn.execute(sa.select(t.id).where(t.name == target)).scalar()
            if target_id is None:
                raise NotFound(f"no notification target {target!r}")
            return _notifications(conn, n.target_id == target_id, limit)

    def count_by_state(self) -> dict[str, int]:
        """How many notifications are pending, delivered and expired (each state listed)."""
        counts = dict.fromkeys((state.value for state in DeliveryState), 0)
        with self._db.reading() as conn:
            for row in conn.execute(sa.select(n.state, sa.func.count()).group_by(n.state)):
                counts[row[0]] = int(row[1])
        return counts

    def next_notification_due(self) -> datetime | None:
        with self._db.reading() as conn:
            due: datetime | None = conn.execute(
                sa.select(sa.func.min(n.next_try_at)).where(n.state == DeliveryState.PENDING.value)
            ).scalar()
            return due


def delete_job_rules(conn: sa.Connection, job: str, definition: sa.ColumnElement[bool]) -> None:
    """Delete the rules of the job definition ``definition`` selects (it is being deleted)."""
    app_id = sa.select(job_definitions.c.app_id).where(definition).scalar_subquery()
    conn.execute(notification_rules.delete().where(r.app_id == app_id, r.job == job))


def delete_queue_rules(conn: sa.Connection, queue: str) -> None:
    conn.execute(notification_rules.delete().where(r.queue == queue))


def _app_id(conn: sa.Connection, app: str) -> int:
    app_id = conn.execute(sa.select(apps.c.id).where(apps.c.name == app)).scalar()
    if app_id is None:
        raise NotFound(f"no app {app!r}")
    return int(app_id)


def _queue_exists(conn: sa.Connection, queue: str) -> None:
    found = conn.execute(sa.select(job_queues.c.id).where(job_queues.c.name == queue)).first()
    if found is None:
        raise NotFound(f"no job queue {queue!r}")


def _insert_rules(
    conn: sa.Connection,
    now: datetime,
    rules: Iterable[NotificationRule],
    *,
    app_id: int | None = None,
    job: str | None = None,
    queue: str | None = None,
) -> None:
    for rule in rules:
        target_id = conn.execute(sa.select(t.id).where(t.name == rule.target)).scalar()
        if target_id is None:
            raise NotFound(f"no notification target {rule.target!r}")
        conn.execute(
            notification_rules.insert().values(
                target_id=target_id,
                app_id=app_id,
                job=job,
                queue=queue,
                endings=sorted(rule.endings),
                after_last_retry=rule.after_last_retry,
                extra_text=rule.extra_text,
                pending_minutes=rule.pending_minutes,
                created_at=now,
            )
        )
