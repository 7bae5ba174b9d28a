"""Every query pitmaster makes. Nothing outside this module writes SQL.

State changes are compare-and-set updates (``WHERE id = :id AND state = :expected``):
the caller whose update changed a row is the one that goes on to the side
effects, so two workers racing on one execution produce one result.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import sqlalchemy as sa
from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig

from pitmaster.errors import Conflict, InvalidInput, NotFound, StoreError
from pitmaster.models import (
    DEFAULT_QUEUE,
    MAX_DELAY_SECONDS,
    MAX_PAGE_SIZE,
    App,
    AppSecret,
    Attempt,
    AttemptState,
    Claim,
    Execution,
    JobDefinition,
    JobQueue,
    MessageDelivery,
    Outcome,
    Output,
    RunningAttempt,
    Status,
    WorkerInfo,
)
from pitmaster.store import engines as engine_rows
from pitmaster.store import lifecycle, monitoring, wakeups
from pitmaster.store import secrets as secret_rows
from pitmaster.store.engine import WRITE_INTENT, create_engine
from pitmaster.store.engines import PeerWorker, Stranded
from pitmaster.store.lifecycle import MarkResult
from pitmaster.store.limits import (
    InFlight,
    Limits,
    blocked_apps,
    blocked_queues,
    count_in_flight,
    lock_and_recheck,
    read_limits,
)
from pitmaster.store.monitoring import Backlog
from pitmaster.store.schema import (
    apps,
    attempts,
    installation,
    job_definitions,
    job_executions,
    job_queues,
)
from pitmaster.store.secrets import SealedSecret
from pitmaster.store.tokens import TokenStore

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ExecutionFilter:
    application: str | None = None
    job: str | None = None
    queue: str | None = None
    status: Status | None = None
    # The app by identity (what an app token sees): a deleted app's executions have none.
    app_id: int | None = None


@dataclass(frozen=True)
class BulkRetry:
    """What one bulk retry did: ``matched`` the filter when it began, ``retried`` of them,
    ``remaining`` past this call's limit, to resume with ``after_id=next_after_id``."""

    matched: int
    retried: int
    remaining: int
    next_after_id: int | None


@dataclass(frozen=True)
class ExecutionPage:
    items: list[Execution]
    next_cursor: str | None


_MAX_ID = 2**63 - 1
# One bulk retry retries at most this many executions (the rest: call again), this many
# per write transaction (about a third of a second on SQLite).
BULK_RETRY_LIMIT = 5000
BULK_RETRY_BATCH = 500
_ACTIVE_STATUSES = (Status.PENDING.value, Status.RUNNING.value, Status.RETRIED.value)
# A claim skips a candidate over its limit (seen only under the locks) and tries
# the next one; after this many it gives up until the next round.
_CLAIM_TRIES = 8


class _OverLimit:
    """A claim's candidate turned out to be over a limit once counted under the locks."""


_OVER_LIMIT = _OverLimit()


# Enqueue is the hot path: its statements are built once, not on every call.
# One round trip checks the app, the job and the queue.
_ENQUEUE_TARGET = sa.select(
    sa.select(apps.c.id).where(apps.c.name == sa.bindparam("application")).scalar_subquery(),
    sa.select(job_definitions.c.id)
    .join(apps, apps.c.id == job_definitions.c.app_id)
    .where(apps.c.name == sa.bindparam("application"), job_definitions.c.job == sa.bindparam("job"))
    .scalar_subquery(),
    sa.select(job_queues.c.id).where(job_queues.c.name == sa.bindparam("queue")).scalar_subquery(),
)
_INSERT_EXECUTION = job_executions.insert().returning(job_executions)


class Store:
    """The database behind pitmaster: SQLite by default, PostgreSQL for many hosts."""

    def __init__(self, database_url: str, clock: Clock = utc_now) -> None:
        self._engine = create_engine(database_url)
        self._now = clock
        self._installation_id: str | None = None
        self.tokens = TokenStore(self.reading, self.writing, clock)

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def close(self) -> None:
        self._engine.dispose()

    # -- connections -------------------------------------------------------

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[sa.Connection]:
        try:
            with self._engine.connect() as connection:
                if write:
                    connection = connection.execution_options(**{WRITE_INTENT: True})
                with connection.begin():
                    yield connection
        except sa.exc.IntegrityError:
            raise
        except sa.exc.DataError as exc:
            # A value the database cannot hold (NUL in text on PostgreSQL, a number out
            # of range): the caller's input, not the database, is at fault.
            raise InvalidInput(
                f"the database cannot hold a value given: {exc.orig or exc}"
            ) from exc
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DatabaseError) as exc:
            raise StoreError(f"database unavailable: {exc.orig or exc}") from exc

    def _write(self) -> Any:
        return self._transaction(write=True)

    def _read(self) -> Any:
        return self._transaction(write=False)

    def reading(self) -> AbstractContextManager[sa.Connection]:
        """A read transaction for the query modules beside this one (``store/stats.py``)."""
        return self._transaction(write=False)

    def writing(self) -> AbstractContextManager[sa.Connection]:
        """A write transaction for the query modules beside this one (``store/tokens.py``)."""
        return self._transaction(write=True)

    def now(self) -> datetime:
        return self._now()

    def migrate(self) -> None:
        """Bring the schema up to date (idempotent; run on every start)."""
        config = AlembicConfig()
        config.set_main_option(
            "script_location", str(resources.files("pitmaster.store") / "migrations")
        )
        with self._write() as connection:
            config.attributes["connection"] = connection
            alembic_command.upgrade(config, "head")

    def installation_id(self) -> str:
        """This database's identity, part of every container name it hands out."""
        if self._installation_id is None:
            with self._read() as conn:
                self._installation_id = conn.execute(sa.select(installation.c.id)).scalar_one()
        return self._installation_id

    # -- apps --------------------------------------------------------------

    def create_app(
        self,
        name: str,
        docker_image: str,
        description: str = "",
        max_concurrent_executions: int | None = None,
    ) -> App:
        now = self._now()
        values = {
            "name": name,
            "docker_image": docker_image,
            "description": description,
            "max_concurrent_executions": max_concurrent_executions,
        }
        try:
            with self._write() as conn:
                conn.execute(apps.insert().values(**values, created_at=now, updated_at=now))
        except sa.exc.IntegrityError as exc:
            raise Conflict(f"app {name!r} already exists") from exc
        return self.get_app(name)

    def get_app(self, name: str) -> App:
        with self._read() as conn:
            row = conn.execute(sa.select(apps).where(apps.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"app {name!r} does not exist")
        return App.from_row(row)

    def list_apps(self, limit: int = MAX_PAGE_SIZE, after: str | None = None) -> list[App]:
        """Apps by name, at most ``limit``, from the one after ``after`` on."""
        query = sa.select(apps).order_by(apps.c.name).limit(_page_size(limit))
        if after is not None:
            query = query.where(apps.c.name > after)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [App.from_row(row) for row in rows]

    def update_app(self, name: str, changes: Mapping[str, Any]) -> App:
        self._update_by_name(apps, name, changes, f"app {name!r} does not exist")
        return self.get_app(name)

    def lock_revision(self, name: str, revision: str | None) -> App:
        """Pin the tag of an app's image (barbeque's revision lock); None unlocks it."""
        self._update_by_name(
            apps, name, {"revision_lock": revision}, f"app {name!r} does not exist"
        )
        return self.get_app(name)

    def delete_app(self, name: str) -> int:
        """Delete an app with its job definitions, secrets and tokens; how many it cancelled.

        Its waiting executions are cancelled and its running ones asked to stop
        (the poller stops their containers), in the same transaction. What stays
        is history for admins: the executions keep the app's name, but no longer
        its id (``app_id`` becomes NULL), so an app made again under the same
        name neither sees them nor runs them. Their idempotency keys are freed.
        """
        with self._write() as conn:
            app_id = conn.execute(
                sa.select(apps.c.id).where(apps.c.name == name).with_for_update()
            ).scalar()
            if app_id is None:
                raise NotFound(f"app {name!r} does not exist")
            cancelled = lifecycle.cancel_all_of_app(conn, self._now(), app_id)
            conn.execute(
                job_executions.update()
                .where(job_executions.c.app_id == app_id)
                .values(app_id=None, idempotency_key=None, request_hash=None)
            )
            conn.execute(apps.delete().where(apps.c.id == app_id))
        logger.info("deleted app %s; cancelled %d of its executions", name, cancelled)
        return cancelled

    def _update_by_name(
        self, table: sa.Table, name: str, changes: Mapping[str, Any], missing: str
    ) -> None:
        with self._write() as conn:
            updated = conn.execute(
                table.update().where(table.c.name == name).values(**changes, updated_at=self._now())
            ).rowcount
        if updated == 0:
            raise NotFound(missing)

    # -- secrets -------------------------------------------------------------

    def put_secret(self, app: str, name: str, ciphertext: str, max_per_app: int) -> bool:
        """Store an app's secret, sealed, replacing one of that name; True when it is new."""
        app_id = self.get_app(app).id
        for _ in range(2):
            try:
                with self._write() as conn:
                    created = secret_rows.put(conn, self._now(), app_id, name, ciphertext)
                    if created and secret_rows.count(conn, app_id) > max_per_app:
                        raise InvalidInput(
                            f"app {app!r} already has {max_per_app} secrets, the most it may have"
                        )
                return created
            except sa.exc.IntegrityError:
                continue  # set at the same moment by another request: replace that one
        raise Conflict(f"secret {name} of app {app!r} changed while being set; try again")

    def delete_secret(self, app: str, name: str) -> None:
        app_id = self.get_app(app).id
        with self._write() as conn:
            deleted = secret_rows.delete(conn, app_id, name)
        if not deleted:
            raise NotFound(f"app {app!r} has no secret {name}")

    def list_secrets(self, app: str) -> list[AppSecret]:
        """An app's secrets: names and times, never values."""
        self.get_app(app)
        with self._read() as conn:
            return secret_rows.names(conn, app)

    def sealed_secrets(self) -> list[SealedSecret]:
        """Every stored secret, sealed (for rotating the key)."""
        with self._read() as conn:
            return secret_rows.all_sealed(conn)

    def reseal_secret(self, secret: SealedSecret, ciphertext: str) -> bool:
        """Store ``secret`` sealed anew; False if it was changed or deleted meanwhile."""
        with self._write() as conn:
            return secret_rows.reseal(conn, secret, ciphertext)

    # -- job definitions ---------------------------------------------------

    def _job_definition_query(self) -> sa.Select[Any]:
        return sa.select(job_definitions, apps.c.name.label("app"), apps.c.docker_image).join(
            apps, apps.c.id == job_definitions.c.app_id
        )

    def create_job_definition(
        self,
        app: str,
        job: str,
        command: Sequence[str],
        description: str = "",
        **policy: Any,
    ) -> JobDefinition:
        """Define a job; ``policy`` sets retry_limit, timeout_seconds, memory and the like."""
        now = self._now()
        app_id = self.get_app(app).id
        try:
            with self._write() as conn:
                conn.execute(
                    job_definitions.insert().values(
                        app_id=app_id,
                        job=job,
                        command=list(command),
                        description=description,
                        **_json_ready(policy),
                        created_at=now,
                        updated_at=now,
                    )
                )
        except sa.exc.IntegrityError as exc:
            raise Conflict(f"job definition {app}/{job} already exists") from exc
        return self.get_job_definition(app, job)

    def get_job_definition(self, app: str, job: str) -> JobDefinition:
        query = self._job_definition_query().where(apps.c.name == app, job_definitions.c.job == job)
        with self._read() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            self.get_app(app)  # says which of the two is missing
            raise NotFound(f"job definition {app}/{job} does not exist")
        return JobDefinition.from_row(row)

    def list_job_definitions(
        self, app: str, limit: int = MAX_PAGE_SIZE, after: str | None = None
    ) -> list[JobDefinition]:
        """An app's job definitions by job name, at most ``limit``, after the job ``after``."""
        self.get_app(app)
        query = (
            self._job_definition_query()
            .where(apps.c.name == app)
            .order_by(job_definitions.c.job)
            .limit(_page_size(limit))
        )
        if after is not None:
            query = query.where(job_definitions.c.job > after)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [JobDefinition.from_row(row) for row in rows]

    def list_all_job_definitions(
        self, limit: int = MAX_PAGE_SIZE, after: tuple[str, str] | None = None
    ) -> list[JobDefinition]:
        """Every app's job definitions by (app, job), at most ``limit``, after ``after``."""
        query = (
            self._job_definition_query()
            .order_by(apps.c.name, job_definitions.c.job)
            .limit(_page_size(limit))
        )
        if after is not None:
            query = query.where(sa.tuple_(apps.c.name, job_definitions.c.job) > after)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [JobDefinition.from_row(row) for row in rows]

    def update_job_definition(
        self, app: str, job: str, changes: Mapping[str, Any]
    ) -> JobDefinition:
        definition = self.get_job_definition(app, job)
        values = _json_ready(changes)
        if "command" in values:
            values["command"] = list(values["command"])
        with self._write() as conn:
            conn.execute(
                job_definitions.update()
                .where(job_definitions.c.id == definition.id)
                .values(**values, updated_at=self._now())
            )
        return self.get_job_definition(app, job)

    def delete_job_definition(self, app: str, job: str) -> None:
        definition = self.get_job_definition(app, job)
        with self._write() as conn:
            conn.execute(job_definitions.delete().where(job_definitions.c.id == definition.id))

    # -- job queues --------------------------------------------------------

    def create_queue(
        self, name: str, description: str = "", max_concurrent_executions: int | None = None
    ) -> JobQueue:
        now = self._now()
        try:
            with self._write() as conn:
                conn.execute(
                    job_queues.insert().values(
                        name=name,
                        description=description,
                        max_concurrent_executions=max_concurrent_executions,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except sa.exc.IntegrityError as exc:
            raise Conflict(f"job queue {name!r} already exists") from exc
        return self.get_queue(name)

    def get_queue(self, name: str) -> JobQueue:
        with self._read() as conn:
            row = (
                conn.execute(sa.select(job_queues).where(job_queues.c.name == name))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"job queue {name!r} does not exist")
        return JobQueue.from_row(row)

    def list_queues(self, limit: int = MAX_PAGE_SIZE, after: str | None = None) -> list[JobQueue]:
        """Queues by name, at most ``limit``, from the one after ``after`` on."""
        query = sa.select(job_queues).order_by(job_queues.c.name).limit(_page_size(limit))
        if after is not None:
            query = query.where(job_queues.c.name > after)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [JobQueue.from_row(row) for row in rows]

    def update_queue(self, name: str, changes: Mapping[str, Any]) -> JobQueue:
        self._update_by_name(job_queues, name, changes, f"job queue {name!r} does not exist")
        return self.get_queue(name)

    def delete_queue(self, name: str) -> None:
        if name == DEFAULT_QUEUE:
            raise Conflict(f"the {DEFAULT_QUEUE!r} queue always exists and cannot be deleted")
        with self._write() as conn:
            active = conn.execute(
                sa.select(sa.func.count())
                .select_from(job_executions)
                .where(
                    job_executions.c.queue == name, job_executions.c.status.in_(_ACTIVE_STATUSES)
                )
            ).scalar_one()
            if active:
                raise Conflict(
                    f"job queue {name!r} has {active} pending or running executions; "
                    "delete it when they have ended"
                )
            deleted = conn.execute(job_queues.delete().where(job_queues.c.name == name)).rowcount
        if deleted == 0:
            raise NotFound(f"job queue {name!r} does not exist")

    # -- enqueue and read executions ---------------------------------------

    def enqueue(
        self,
        application: str,
        job: str,
        queue: str,
        message: Any,
        delay_seconds: float = 0,
        idempotency_key: str | None = None,
        run_at: datetime | None = None,
        app_id: int | None = None,
    ) -> Execution:
        """Store a new pending execution; it is durable once this returns.

        With an ``idempotency_key``, enqueueing the same request again returns
        the execution the first one made (a unique index decides, so even
        concurrent requests make one); the same key with another request is a
        Conflict. With ``app_id`` (an app token's app), the app of that name
        must be that very app, not one made again under its name.
        """
        if not 0 <= delay_seconds <= MAX_DELAY_SECONDS:  # also refuses NaN
            raise InvalidInput(
                f"delay_seconds must be between 0 and {MAX_DELAY_SECONDS}, not {delay_seconds}"
            )
        now = self._now()
        if run_at is not None:
            if delay_seconds:
                raise InvalidInput("give delay_seconds or run_at, not both")
            if run_at - now > timedelta(seconds=MAX_DELAY_SECONDS):
                raise InvalidInput(f"run_at is more than {MAX_DELAY_SECONDS // 86400} days away")
            run_after = max(now, run_at)
        else:
            run_after = now + timedelta(seconds=delay_seconds)
        # A repeat of the same request must match, so the hash takes run_at as asked
        # for, not the delay it makes now.
        when: float | str = run_at.isoformat() if run_at is not None else delay_seconds
        request_hash = _request_hash(application, job, queue, message, when)
        try:
            with self._write() as conn:
                found_app_id = self._check_enqueue_target(conn, application, job, queue, app_id)
                message_id = lifecycle.new_message_id()
                row = {
                    "message_id": message_id,
                    "application": application,
                    "app_id": found_app_id,
                    "job": job,
                    "queue": queue,
                    "message": message,
                    "status": Status.PENDING.value,
                    "run_after": run_after,
                    "idempotency_key": idempotency_key,
                    "request_hash": request_hash if idempotency_key is not None else None,
                    "created_at": now,
                    "updated_at": now,
                }
                inserted = conn.execute(_INSERT_EXECUTION, row).mappings().one()
                lifecycle.queue_attempt(conn, now, inserted["id"], message_id, run_after, number=0)
                wakeups.notify_work(conn)
        except sa.exc.IntegrityError as exc:
            if idempotency_key is None:
                raise StoreError(f"could not store the execution: {exc.orig}") from exc
            return self._replay(application, idempotency_key, request_hash, app_id)
        return Execution.from_row(inserted)

    def _replay(
        self, application: str, idempotency_key: str, request_hash: str, app_id: int | None
    ) -> Execution:
        with self._read() as conn:
            row = (
                conn.execute(
                    sa.select(job_executions).where(
                        job_executions.c.application == application,
                        job_executions.c.idempotency_key == idempotency_key,
                    )
                )
                .mappings()
                .one()
            )
        if app_id is not None and row["app_id"] != app_id:
            raise NotFound(f"application {application!r} does not exist")
        if row["request_hash"] != request_hash:
            raise Conflict(
                f"idempotency key {idempotency_key!r} was used for a different request "
                f"(execution {row['message_id']})"
            )
        return Execution.from_row(row)

    @staticmethod
    def _check_enqueue_target(
        conn: sa.Connection, application: str, job: str, queue: str, expected_app_id: int | None
    ) -> int:
        """The app's id, once the app, the job and the queue are known to exist."""
        found = conn.execute(
            _ENQUEUE_TARGET, {"application": application, "job": job, "queue": queue}
        ).one()
        app_id, job_id, queue_id = found
        if app_id is None or (expected_app_id is not None and app_id != expected_app_id):
            raise NotFound(f"application {application!r} does not exist")
        if job_id is None:
            raise NotFound(f"job {job!r} is not defined for application {application!r}")
        if queue_id is None:
            raise NotFound(f"job queue {queue!r} does not exist")
        return int(app_id)

    def get_execution(self, reference: str) -> Execution:
        """Find an execution by its message_id, or by its numeric id."""
        numeric = _is_number(reference)
        column = job_executions.c.id if numeric else job_executions.c.message_id
        key: int | str = int(reference) if numeric else reference
        if isinstance(key, int) and key > _MAX_ID:
            raise NotFound(f"job execution {reference!r} does not exist")
        query = sa.select(job_executions).where(column == key)
        if not numeric:  # a retry's own message_id finds its execution too
            by_attempt = sa.select(attempts.c.execution_id).where(attempts.c.message_id == key)
            query = sa.select(job_executions).where(
                sa.or_(column == key, job_executions.c.id.in_(by_attempt))
            )
        with self._read() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"job execution {reference!r} does not exist")
        return Execution.from_row(row)

    def list_executions(
        self, where: ExecutionFilter, cursor: str | None = None, limit: int = 50
    ) -> ExecutionPage:
        """Newest first, paged by id so that deep pages cost what the first one does."""
        query = (
            sa.select(job_executions)
            .order_by(job_executions.c.id.desc())
            .limit(_page_size(limit) + 1)
        )
        query = _filtered(query, where)
        if cursor is not None:
            if not _is_number(cursor) or int(cursor) > _MAX_ID:
                raise InvalidInput(f"cursor {cursor!r} is not one this API gave out")
            query = query.where(job_executions.c.id < int(cursor))
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        items = [Execution.from_row(row) for row in rows[:limit]]
        next_cursor = str(items[-1].id) if len(rows) > limit else None
        return ExecutionPage(items=items, next_cursor=next_cursor)

    def attempts_of(self, execution_id: int) -> list[Attempt]:
        with self._read() as conn:
            rows = (
                conn.execute(
                    sa.select(attempts)
                    .where(attempts.c.execution_id == execution_id)
                    .order_by(attempts.c.number)
                )
                .mappings()
                .all()
            )
        return [Attempt.from_row(row) for row in rows]

    # -- the runner's side ---------------------------------------------------

    def claim(
        self,
        worker_id: str,
        lease_seconds: float,
        *,
        queues: Collection[str] | None = None,
        global_limit: int | None = None,
        engine: str | None = None,
    ) -> Claim | None:
        """Take the oldest runnable pending execution under a lease, or None.

        Only work within every concurrency limit is taken; work over a limit
        stays pending and does not hold back other queues or apps. The claim
        records ``engine``, where the container will be made, before it exists.
        A claim whose lease ran out (its worker died before storing a container
        id) is taken over with the same attempt, hence the same container name,
        and only by a worker on the same engine, so a container the dead worker
        did create is adopted rather than doubled on another engine.
        """
        for _ in range(_CLAIM_TRIES):
            claim = self._claim_once(worker_id, lease_seconds, queues, global_limit, engine)
            if not isinstance(claim, _OverLimit):
                return claim
        return None

    def _claim_once(
        self,
        worker_id: str,
        lease_seconds: float,
        queues: Collection[str] | None,
        global_limit: int | None,
        engine: str | None,
    ) -> Claim | _OverLimit | None:
        # One candidate per transaction: a claimer that found its candidate over
        # a limit only under the locks lets go of them before trying another,
        # so locks are always taken in one order and claimers cannot deadlock.
        now = self._now()
        with self._write() as conn:
            limits = read_limits(conn, global_limit)
            candidate = self._claim_candidate(conn, now, limits, queues, engine)
            if candidate is None:
                return None
            # A taken-over claim already counts against its limits.
            taken_over = candidate["claimed_by"] is not None
            if not taken_over and lock_and_recheck(
                conn, limits, candidate["queue"], candidate["application"]
            ):
                return _OVER_LIMIT
            execution = Execution.from_row(candidate)
            attempt = lifecycle.take_current_attempt(
                conn, now, candidate["current_attempt_id"], worker_id, engine
            )
            if attempt is None:
                raise StoreError(f"execution {execution.message_id} has no attempt to start")
            conn.execute(
                job_executions.update()
                .where(job_executions.c.id == execution.id)
                .values(
                    claimed_by=worker_id,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    updated_at=now,
                )
            )
            found = lifecycle.definition_and_image(conn, execution.app_id, execution.job)
            sealed = secret_rows.sealed_of_app(conn, execution.app_id) if found else {}
        definition, image = found if found is not None else (None, None)
        return Claim(
            installation=self.installation_id(),
            attempt_id=attempt["id"],
            attempt_number=attempt["number"],
            attempt_message_id=attempt["message_id"],
            execution=execution,
            docker_image=image if definition else None,
            command=definition.command if definition else None,
            memory=definition.memory if definition else None,
            cpus=definition.cpus if definition else None,
            pids_limit=definition.pids_limit if definition else None,
            network=definition.network if definition else None,
            sealed_secrets=sealed,
            message_delivery=definition.message_delivery if definition else MessageDelivery.AUTO,
            attempt_queued_at=attempt["created_at"],
        )

    def _claim_candidate(
        self,
        conn: sa.Connection,
        now: datetime,
        limits: Limits,
        queues: Collection[str] | None,
        engine: str | None,
    ) -> Mapping[str, Any] | None:
        in_flight = count_in_flight(conn) if limits.any else InFlight(0, Counter(), Counter())
        global_full = limits.global_limit is not None and in_flight.total >= limits.global_limit
        e = job_executions.c
        # A claim taken over stays on the engine it was made for: its container may exist there.
        on_this_engine = (
            sa.select(attempts.c.id)
            .where(
                attempts.c.id == e.current_attempt_id,
                sa.or_(attempts.c.docker_host.is_(None), attempts.c.docker_host == engine)
                if engine is not None
                else attempts.c.docker_host.is_(None),
            )
            .exists()
        )
        query = (
            sa.select(job_executions)
            .where(
                e.runnable.is_(True),
                e.run_after <= now,
                sa.or_(e.lease_expires_at.is_(None), e.lease_expires_at < now),
                sa.or_(e.claimed_by.is_(None), on_this_engine),
                sa.or_(
                    e.claimed_by.is_not(None),  # taken over: it already counts
                    sa.and_(
                        sa.false() if global_full else sa.true(),
                        e.queue.not_in(blocked_queues(limits, in_flight)),
                        e.application.not_in(blocked_apps(limits, in_flight)),
                    ),
                ),
            )
            .order_by(e.run_after, e.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if queues is not None:
            query = query.where(e.queue.in_(list(queues)))
        row = conn.execute(query).mappings().first()
        return dict(row) if row is not None else None

    def release_claim(self, execution_id: int) -> None:
        """Give a claim back at once (the engine failed us), keeping its attempt for next time.

        ``claimed_by`` stays set: it marks the execution as holding a starting
        attempt, which already counts against the limits.
        """
        now = self._now()
        with self._write() as conn:
            conn.execute(
                job_executions.update()
                .where(job_executions.c.id == execution_id, job_executions.c.runnable.is_(True))
                .values(lease_expires_at=now, updated_at=now)
            )

    def mark_running(
        self, attempt_id: int, container_id: str, docker_host: str, started_at: datetime
    ) -> MarkResult:
        """Store the started container; says if another runner did, or the attempt ended."""
        with self._write() as conn:
            return lifecycle.mark_running(
                conn, self._now(), attempt_id, container_id, docker_host, started_at
            )

    # -- the poller's side ---------------------------------------------------

    def running_attempts(self, docker_host: str) -> list[RunningAttempt]:
        """The attempts whose containers live on this engine and have not been recorded."""
        return self._running_attempts(attempts.c.docker_host == docker_host)

    def running_attempt(self, container_id: str) -> RunningAttempt | None:
        """The running attempt of this container, if it is one and is not yet recorded."""
        found = self._running_attempts(attempts.c.container_id == container_id)
        return found[0] if found else None

    def _running_attempts(self, where: sa.ColumnElement[bool]) -> list[RunningAttempt]:
        query = (
            sa.select(
                attempts.c.id,
                attempts.c.execution_id,
                attempts.c.container_id,
                attempts.c.started_at,
                attempts.c.stop_reason,
                attempts.c.stop_signalled_at,
                job_executions.c.message_id,
                job_definitions.c.timeout_seconds,
                job_definitions.c.stop_grace_seconds,
            )
            .join(job_executions, job_executions.c.id == attempts.c.execution_id)
            .outerjoin(
                job_definitions,
                sa.and_(
                    job_definitions.c.app_id == job_executions.c.app_id,
                    job_definitions.c.job == job_executions.c.job,
                ),
            )
            .where(attempts.c.state == AttemptState.RUNNING.value, where)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [
            RunningAttempt(
                attempt_id=row.id,
                execution_id=row.execution_id,
                message_id=row.message_id,
                container_id=row.container_id,
                started_at=row.started_at,
                timeout_seconds=row.timeout_seconds,
                stop_grace_seconds=(
                    row.stop_grace_seconds if row.stop_grace_seconds is not None else 10.0
                ),
                stop_reason=row.stop_reason,
                stop_signalled_at=row.stop_signalled_at,
            )
            for row in rows
        ]

    def record_outcome(
        self, attempt_id: int, outcome: Outcome, *, output_pending: bool = False
    ) -> bool:
        """Record how an attempt ended, once: True only for the caller that recorded it.

        A retry the job's policy calls for is scheduled in the same transaction.
        With ``output_pending`` the output follows, through ``record_output``.
        """
        with self._write() as conn:
            recorded = lifecycle.record_outcome(
                conn, self._now(), attempt_id, outcome, output_pending
            )
            if recorded:
                wakeups.notify_work(conn)  # a slot is free, or a retry is queued
        return recorded

    def record_output(self, attempt_id: int, output: Output) -> bool:
        """Store the output (and Docker's times) of an attempt ended from its exit event, once."""
        with self._write() as conn:
            return lifecycle.record_output(conn, self._now(), attempt_id, output)

    def awaiting_output(self, docker_host: str, recorded_before: datetime) -> list[tuple[int, str]]:
        """(attempt id, container id) of ended attempts on this engine whose output is unread."""
        a = attempts.c
        query = sa.select(a.id, a.container_id).where(
            a.output_pending.is_(True),
            a.docker_host == docker_host,
            a.recorded_at < recorded_before,
        )
        with self._read() as conn:
            return [(row.id, row.container_id) for row in conn.execute(query)]

    def request_stop(self, attempt_id: int, reason: str) -> bool:
        with self._write() as conn:
            return lifecycle.request_stop(conn, self._now(), attempt_id, reason)

    def mark_stop_signalled(self, attempt_id: int) -> None:
        with self._write() as conn:
            lifecycle.mark_stop_signalled(conn, self._now(), attempt_id)

    # -- cancelling and retrying by hand ---------------------------------------------

    def cancel(self, reference: str) -> Execution:
        """Cancel an execution (see ``lifecycle.cancel``); returns it as it now is."""
        execution = self.get_execution(reference)
        with self._write() as conn:
            lifecycle.cancel(conn, self._now(), execution.id)
        return self.get_execution(execution.message_id)

    def retry(self, reference: str, delay_seconds: float = 0) -> str:
        """Retry an execution that ended failed, error or cancelled; the new message_id."""
        execution = self.get_execution(reference)
        with self._write() as conn:
            scheduled = lifecycle.retry_by_hand(conn, self._now(), execution.id, delay_seconds)
            wakeups.notify_work(conn)
        return scheduled.message_id

    def retry_all(
        self,
        where: ExecutionFilter,
        created_since: datetime | None = None,
        *,
        after_id: int | None = None,
        limit: int = BULK_RETRY_LIMIT,
        batch_size: int = BULK_RETRY_BATCH,
    ) -> BulkRetry:
        """Retry, once each, up to ``limit`` executions that match and ended failed, error or
        cancelled, oldest (lowest id) first and after ``after_id`` when given.

        Each ``batch_size`` of them is its own short write transaction, so a bulk retry of
        any size never holds the write lock (SQLite's is the whole database) for long.
        What the limit leaves is in ``remaining``; ``next_after_id`` resumes after it.
        """
        e = job_executions.c
        query = sa.select(e.id).where(e.status.in_(lifecycle.RETRYABLE_BY_HAND))
        query = _filtered(query, where)
        if created_since is not None:
            query = query.where(e.created_at >= created_since)
        if after_id is not None:
            query = query.where(e.id > after_id)
        with self._read() as conn:
            matched = conn.execute(
                sa.select(sa.func.count()).select_from(query.subquery())
            ).scalar_one()
            chosen = list(conn.execute(query.order_by(e.id).limit(limit)).scalars())
        retried = 0
        for start in range(0, len(chosen), batch_size):
            with self._write() as conn:
                now = self._now()
                done = 0
                for execution_id in chosen[start : start + batch_size]:
                    try:
                        lifecycle.retry_by_hand(conn, now, execution_id, 0)
                    except Conflict:
                        continue  # changed since it was selected: it is no longer retryable
                    done += 1
                if done:
                    wakeups.notify_work(conn)
            retried += done
        remaining = max(matched - len(chosen), 0) if len(chosen) == limit else 0
        return BulkRetry(
            matched=matched,
            retried=retried,
            remaining=remaining,
            next_after_id=chosen[-1] if remaining else None,
        )

    def backlog(self) -> Backlog:
        """What waits and what runs now, by queue and app (for metrics)."""
        with self._read() as conn:
            return monitoring.backlog(conn, self._now())

    # -- workers -------------------------------------------------------------------

    def heartbeat(
        self,
        worker_id: str,
        host: str,
        engine: str | None,
        queues: Sequence[str] | None,
        *,
        unhealthy_reason: str | None = None,
        engine_description: str | None = None,
    ) -> None:
        """Record that a worker is alive, and whether it is healthy; forget workers gone a day.

        ``engine_description`` set: the worker reached its engine just now.
        """
        now = self._now()
        for attempt in range(2):
            try:
                with self._write() as conn:
                    monitoring.heartbeat(
                        conn, now, worker_id, host, engine, queues, unhealthy_reason
                    )
                    if engine is not None and engine_description is not None:
                        engine_rows.engine_reached(conn, now, engine, engine_description)
                return
            except sa.exc.IntegrityError:
                # A new worker's first beats (its identity check's and its heartbeat
                # loop's) both found no row and both inserted: update the one that won.
                if attempt:
                    raise

    # -- engines -------------------------------------------------------------------

    def live_peers(self, engine: str, worker_id: str, alive_seconds: float) -> list[PeerWorker]:
        """The other live workers that report the same engine identity."""
        with self._read() as conn:
            return engine_rows.live_peers(conn, self._now(), engine, worker_id, alive_seconds)

    def ask_probe(self, probe: str, engine: str, asked_by: str, peers: Collection[str]) -> None:
        with self._write() as conn:
            engine_rows.ask_probe(conn, self._now(), probe, engine, asked_by, peers)

    def probe_answers(self, probe: str) -> dict[str, bool | None]:
        with self._read() as conn:
            return engine_rows.probe_answers(conn, probe)

    def probes_for(self, worker_id: str) -> list[str]:
        with self._read() as conn:
            return engine_rows.probes_for(conn, worker_id)

    def answer_probe(self, probe: str, worker_id: str, seen: bool) -> None:
        with self._write() as conn:
            engine_rows.answer_probe(conn, probe, worker_id, seen)

    def forget_probe(self, probe: str) -> None:
        with self._write() as conn:
            engine_rows.forget_probe(conn, probe)

    def end_stranded_attempts(self, silent_seconds: float) -> list[Stranded]:
        """End in error the attempts on engines no worker reached for ``silent_seconds``."""
        now = self._now()
        with self._read() as conn:
            candidates = engine_rows.stranded_attempts(conn, now, silent_seconds)
        ended = []
        for stranded in candidates:
            with self._write() as conn:
                if engine_rows.end_stranded(conn, now, stranded):
                    wakeups.notify_work(conn)
                    ended.append(stranded)
        return ended

    def left_behind(self, attempt_ids: Collection[int], settled_seconds: float = 60) -> set[int]:
        """Of these attempts, those whose containers nobody needs any more."""
        with self._read() as conn:
            return engine_rows.left_behind(conn, self._now(), attempt_ids, settled_seconds)

    def remove_worker(self, worker_id: str) -> None:
        with self._write() as conn:
            monitoring.remove_worker(conn, worker_id)

    def list_workers(
        self, limit: int = MAX_PAGE_SIZE, after: str | None = None
    ) -> list[WorkerInfo]:
        """Workers by id, at most ``limit``, from the one after ``after`` on."""
        with self._read() as conn:
            return monitoring.list_workers(conn, _page_size(limit), after)

    def pending_reason(
        self,
        execution: Execution,
        global_limit: int | None,
        worker_alive_seconds: float,
        name_workers: bool = True,
    ) -> str | None:
        """Why a pending execution has not started yet, in words; None if it is not pending."""
        with self._read() as conn:
            return monitoring.pending_reason(
                conn, self._now(), execution, global_limit, worker_alive_seconds, name_workers
            )

    # -- wake-ups --------------------------------------------------------------------

    def listen_for_work(self, wake: Callable[[], None], stopping: threading.Event) -> None:
        """Call ``wake`` whenever work may have become runnable, until ``stopping`` is set.

        PostgreSQL delivers this at once with LISTEN/NOTIFY. SQLite has no such
        channel: this returns at once and workers rely on their poll interval.
        """
        if self.dialect != "postgresql":
            return
        conninfo = self._engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        wakeups.listen(conninfo, wake, stopping)


def _json_ready(values: Mapping[str, Any]) -> dict[str, Any]:
    """Lists of enums (retry_on) stored as plain JSON strings."""
    return {
        key: [str(item) for item in value] if key == "retry_on" and value is not None else value
        for key, value in values.items()
    }


def _filtered(query: sa.Select[Any], where: ExecutionFilter) -> sa.Select[Any]:
    e = job_executions.c
    if where.application is not None:
        query = query.where(e.application == where.application)
    if where.app_id is not None:
        query = query.where(e.app_id == where.app_id)
    if where.job is not None:
        query = query.where(e.job == where.job)
    if where.queue is not None:
        query = query.where(e.queue == where.queue)
    if where.status is not None:
        query = query.where(e.status == where.status.value)
    return query


def _request_hash(application: str, job: str, queue: str, message: Any, when: float | str) -> str:
    """A fingerprint of an enqueue request, to tell a replay from a different request."""
    canonical = json.dumps([application, job, queue, message, when], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _page_size(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be from 1 to {MAX_PAGE_SIZE}, not {limit}")
    return limit


def _is_number(text: str) -> bool:
    """ASCII digits only: str.isdigit alone also accepts '²' and other scripts' digits."""
    return text.isascii() and text.isdigit()
