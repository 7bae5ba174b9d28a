"""What can run: apps, job definitions and job queues."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from pitmaster.errors import Conflict, NotFound
from pitmaster.models import (
    ACTIVE_STATUSES,
    DEFAULT_QUEUE,
    MAX_PAGE_SIZE,
    App,
    JobDefinition,
    JobQueue,
    status_values,
)
from pitmaster.store import lifecycle, notifications
from pitmaster.store.database import Database, page_size
from pitmaster.store.schema import (
    apps,
    job_definitions,
    job_executions,
    job_queues,
    topic_subscriptions,
)

logger = logging.getLogger(__name__)


class Catalog:
    """The queries about apps, job definitions and job queues."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- apps --------------------------------------------------------------

    def create_app(
        self,
        name: str,
        docker_image: str,
        description: str = "",
        max_concurrent_executions: int | None = None,
    ) -> App:
        now = self._db.now()
        values = {
            "name": name,
            "docker_image": docker_image,
            "description": description,
            "max_concurrent_executions": max_concurrent_executions,
        }
        try:
            with self._db.writing() as conn:
                conn.execute(apps.insert().values(**values, created_at=now, updated_at=now))
        except sa.exc.IntegrityError as exc:
            raise Conflict(f"app {name!r} already exists") from exc
        return self.get_app(name)

    def get_app(self, name: str) -> App:
        with self._db.reading() as conn:
            row = conn.execute(sa.select(apps).where(apps.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"app {name!r} does not exist")
        return App.from_row(row)

    def list_apps(self, limit: int = MAX_PAGE_SIZE, after: str | None = None) -> list[App]:
        """Apps by name, at most ``limit``, from the one after ``after`` on."""
        query = sa.select(apps).order_by(apps.c.name).limit(page_size(limit))
        if after is not None:
            query = query.where(apps.c.name > after)
        with self._db.reading() as conn:
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
        with self._db.writing() as conn:
            app_id = conn.execute(
                sa.select(apps.c.id).where(apps.c.name == name).with_for_update()
            ).scalar()
            if app_id is None:
                raise NotFound(f"app {name!r} does not exist")
            cancelled = lifecycle.cancel_all_of_app(conn, self._db.now(), app_id)
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
        with self._db.writing() as conn:
            updated = conn.execute(
                table.update()
                .where(table.c.name == name)
                .values(**changes, updated_at=self._db.now())
            ).rowcount
        if updated == 0:
            raise NotFound(missing)

    # -- job definitions ---------------------------------------------------

    @staticmethod
    def _job_definition_query() -> sa.Select[Any]:
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
        now = self._db.now()
        app_id = self.get_app(app).id
        try:
            with self._db.writing() as conn:
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
        with self._db.reading() as conn:
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
            .limit(page_size(limit))
        )
        if after is not None:
            query = query.where(job_definitions.c.job > after)
        with self._db.reading() as conn:
            rows = conn.execute(query).mappings().all()
        return [JobDefinition.from_row(row) for row in rows]

    def list_all_job_definitions(
        self, limit: int = MAX_PAGE_SIZE, after: tuple[str, str] | None = None
    ) -> list[JobDefinition]:
        """Every app's job definitions by (app, job), at most ``limit``, after ``after``."""
        query = (
            self._job_definition_query()
            .order_by(apps.c.name, job_definitions.c.job)
            .limit(page_size(limit))
        )
        if after is not None:
            query = query.where(sa.tuple_(apps.c.name, job_definitions.c.job) > after)
        with self._db.reading() as conn:
            rows = conn.execute(query).mappings().all()
        return [JobDefinition.from_row(row) for row in rows]

    def update_job_definition(
        self, app: str, job: str, changes: Mapping[str, Any]
    ) -> JobDefinition:
        definition = self.get_job_definition(app, job)
        values = _json_ready(changes)
        if "command" in values:
            values["command"] = list(values["command"])
        with self._db.writing() as conn:
            conn.execute(
                job_definitions.update()
                .where(job_definitions.c.id == definition.id)
                .values(**values, updated_at=self._db.now())
            )
        return self.get_job_definition(app, job)

    def delete_job_definition(self, app: str, job: str) -> None:
        """Delete a job definition with its notification rules and topic subscriptions."""
        definition = self.get_job_definition(app, job)
        s = topic_subscriptions.c
        with self._db.writing() as conn:
            unsubscribed = conn.execute(
                topic_subscriptions.delete().where(
                    s.app_id
                    == sa.select(job_definitions.c.app_id)
                    .where(job_definitions.c.id == definition.id)
                    .scalar_subquery(),
                    s.job == definition.job,
                )
            ).rowcount
            # Its rules go with it: a job made again under this name starts without them.
            notifications.delete_job_rules(
                conn, definition.job, job_definitions.c.id == definition.id
            )
            conn.execute(job_definitions.delete().where(job_definitions.c.id == definition.id))
        if unsubscribed:
            logger.info("deleted %s/%s and its %d topic subscriptions", app, job, unsubscribed)

    # -- job queues --------------------------------------------------------

    def create_queue(
        self, name: str, description: str = "", max_concurrent_executions: int | None = None
    ) -> JobQueue:
        now = self._db.now()
        try:
            with self._db.writing() as conn:
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
        with self._db.reading() as conn:
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
        query = sa.select(job_queues).order_by(job_queues.c.name).limit(page_size(limit))
        if after is not None:
            query = query.where(job_queues.c.name > after)
        with self._db.reading() as conn:
            rows = conn.execute(query).mappings().all()
        return [JobQueue.from_row(row) for row in rows]

    def update_queue(self, name: str, changes: Mapping[str, Any]) -> JobQueue:
        self._update_by_name(job_queues, name, changes, f"job queue {name!r} does not exist")
        return self.get_queue(name)

    def delete_queue(self, name: str) -> None:
        if name == DEFAULT_QUEUE:
            raise Conflict(f"the {DEFAULT_QUEUE!r} queue always exists and cannot be deleted")
        e = job_executions.c
        with self._db.writing() as conn:
            active = conn.execute(
                sa.select(sa.func.count())
                .select_from(job_executions)
                .where(e.queue == name, e.status.in_(status_values(ACTIVE_STATUSES)))
            ).scalar_one()
            if active:
                raise Conflict(
                    f"job queue {name!r} has {active} pending or running executions; "
                    "delete it when they have ended"
                )
            subscribed = conn.execute(
                sa.select(sa.func.count())
                .select_from(topic_subscriptions)
                .where(topic_subscriptions.c.queue == name)
            ).scalar_one()
            if subscribed:
                raise Conflict(
                    f"job queue {name!r} receives {subscribed} topic subscriptions; "
                    "delete them or move them to another queue first"
                )
            deleted = conn.execute(job_queues.delete().where(job_queues.c.name == name)).rowcount
            if deleted:
                notifications.delete_queue_rules(conn, name)
        if deleted == 0:
            raise NotFound(f"job queue {name!r} does not exist")


def _json_ready(values: Mapping[str, Any]) -> dict[str, Any]:
    """Lists of enums (retry_on) stored as plain JSON strings."""
    return {
        key: [str(item) for item in value] if key == "retry_on" and value is not None else value
        for key, value in values.items()
    }
