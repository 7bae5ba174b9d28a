"""The tables, as SQLAlchemy Core metadata. Migrations create them; the store queries them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from pitmaster.models import BASE_DELAY_SECONDS, STOP_GRACE_SECONDS

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database keeps."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


# One row: this database's identity. Container names carry it, so that two
# pitmaster databases sharing one Docker engine never adopt each other's containers.
installation = sa.Table(
    "installation",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

apps = sa.Table(
    "apps",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("docker_image", sa.String(1024), nullable=False),
    sa.Column("description", sa.Text(), nullable=False, default=""),
    sa.Column("max_concurrent_executions", sa.Integer(), nullable=True),
    # barbeque's revision lock: run this tag of the image instead of docker_image's own.
    sa.Column("revision_lock", sa.String(255), nullable=True),
    *_timestamps(),
    # Paused: none of its work starts (running work goes on) until it is resumed.
    sa.Column("paused_at", UTCDateTime(), nullable=True),
    sa.Column("pause_reason", sa.Text(), nullable=True),
)

job_definitions = sa.Table(
    "job_definitions",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("app_id", Id, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    sa.Column("job", sa.String(255), nullable=False),
    sa.Column("command", sa.JSON(), nullable=False),
    sa.Column("description", sa.Text(), nullable=False, default=""),
    sa.Column("retry_limit", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("base_delay", sa.Float(), nullable=False, server_default=f"{BASE_DELAY_SECONDS:g}"),
    sa.Column("max_delay", sa.Float(), nullable=True),
    sa.Column("jitter", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("retry_on", sa.JSON(), nullable=True),
    sa.Column("retry_exit_codes", sa.JSON(), nullable=True),
    sa.Column("timeout_seconds", sa.Float(), nullable=True),
    sa.Column(
        "stop_grace_seconds", sa.Float(), nullable=False, server_default=f"{STOP_GRACE_SECONDS:g}"
    ),
    sa.Column("memory", sa.BigInteger(), nullable=True),
    sa.Column("cpus", sa.Float(), nullable=True),
    sa.Column("pids_limit", sa.Integer(), nullable=True),
    sa.Column("network", sa.String(255), nullable=True),
    # How the message reaches the job: env, file or auto (models.MessageDelivery).
    sa.Column("message_delivery", sa.String(8), nullable=False, server_default="auto"),
    *_timestamps(),
    # The priority of its executions when an enqueue names none (None: 0).
    sa.Column("priority", sa.Integer(), nullable=True),
    sa.UniqueConstraint("app_id", "job"),
)

# An app's secrets, each sealed (app_secrets.SecretBox): the value is never stored in clear.
app_secrets = sa.Table(
    "app_secrets",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("app_id", Id, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("ciphertext", sa.Text(), nullable=False),
    *_timestamps(),
    sa.UniqueConstraint("app_id", "name"),
)

job_queues = sa.Table(
    "job_queues",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("description", sa.Text(), nullable=False, default=""),
    sa.Column("max_concurrent_executions", sa.Integer(), nullable=True),
    *_timestamps(),
    sa.Column("paused_at", UTCDateTime(), nullable=True),
    sa.Column("pause_reason", sa.Text(), nullable=True),
)

# Each live worker's heartbeat: what it serves and when it was last seen.
workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("engine", sa.String(255), nullable=True),
    sa.Column("queues", sa.JSON(), nullable=True),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    # False while one of its loops keeps failing; the reason names the loop and the error.
    sa.Column("healthy", sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column("unhealthy_reason", sa.Text(), nullable=True),
)

# Each engine pitmaster has run work on, by the identity pitmaster keeps on the
# engine itself (not Docker's ID, which cloned hosts share), and when a worker
# last reached it. An attempt claimed or running there waits for a worker of
# that engine; after a long silence it ends in error.
engines = sa.Table(
    "engines",
    metadata,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("description", sa.Text(), nullable=False, default=""),
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
)

# A starting worker's question to the live workers that report the same engine
# identity: "do you see this probe on your engine?" A clone of a host carries
# the identity, but not a probe made after the clone.
engine_probes = sa.Table(
    "engine_probes",
    metadata,
    sa.Column("probe", sa.String(64), primary_key=True),
    sa.Column("worker_id", sa.String(255), primary_key=True),  # the worker asked
    sa.Column("engine", sa.String(255), nullable=False),
    sa.Column("asked_by", sa.String(255), nullable=False),
    sa.Column("asked_at", UTCDateTime(), nullable=False),
    sa.Column("seen", sa.Boolean(), nullable=True),  # None until answered
    sa.Index(None, "worker_id", "seen"),
)

# Executions keep the app, job and queue by name, so that history outlives a
# deleted definition; the runner looks the definition up when it claims. They
# belong to their app by its id (``app_id``), never by its name: deleting the
# app sets it to NULL (``Store.delete_app``, in the transaction that deletes it),
# so an app made again under the same name owns none of them. There is no
# foreign key: SQLite can add one only by rebuilding the table, which would
# delete every attempt (their key cascades); PostgreSQL never reuses an id.
job_executions = sa.Table(
    "job_executions",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(36), nullable=False, unique=True),
    sa.Column("application", sa.String(255), nullable=False),
    sa.Column("app_id", Id, nullable=True),
    sa.Column("job", sa.String(255), nullable=False),
    sa.Column("queue", sa.String(255), nullable=False),
    sa.Column("message", sa.JSON(none_as_null=False), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    # True while waiting to be claimed: pending, or a retry waiting to start.
    sa.Column("runnable", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("exit_code", sa.Integer(), nullable=True),
    sa.Column("output_pending", sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column("run_after", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("current_attempt_id", Id, nullable=True),
    sa.Column("claimed_by", sa.String(255), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("request_hash", sa.String(64), nullable=True),
    *_timestamps(),
    # Set when a schedule made it: which one (kept after the schedule is deleted), and
    # the tick it ran for (PITMASTER_SCHEDULED_AT).
    sa.Column("schedule_id", Id, nullable=True),
    sa.Column("scheduled_at", UTCDateTime(), nullable=True),
    # Higher first; a claim takes the highest priority, then the oldest (store/claims.py).
    sa.Column("priority", sa.Integer(), nullable=False, server_default="0"),
    sa.Index(None, "runnable", "run_after", "id"),
    sa.Index(None, "status", "id"),
    sa.UniqueConstraint("application", "idempotency_key"),
    sa.Index(None, "application", "job", "id"),
    sa.Index(None, "queue", "id"),
    sa.Index(None, "app_id", "id"),
    # Ended executions by age, for the retention setting (``store/retention.py``).
    sa.Index(None, "status", "updated_at"),
    sa.Index(None, "schedule_id", "id"),
    # The console's pages at millions of rows (docs/performance.md): the list by app in
    # id order, the time range and the hourly chart, each queue's waiting and running
    # counts from the index alone, and the home page's running and failed per app.
    sa.Index(None, "application", "id"),
    sa.Index(None, "created_at"),
    sa.Index(None, "queue", "status", "run_after"),
    sa.Index(None, "status", "finished_at", "app_id"),
)

# The claim's order: highest priority first, then the oldest (named by hand: it sorts descending).
sa.Index(
    "ix_job_executions_runnable_priority_run_after_id",
    job_executions.c.runnable,
    job_executions.c.priority.desc(),
    job_executions.c.run_after,
    job_executions.c.id,
)

# Fair share: when each app last had work claimed from each queue. A claim with
# fair share on takes, among work of equal priority, the app whose turn is oldest.
queue_app_turns = sa.Table(
    "queue_app_turns",
    metadata,
    sa.Column("queue", sa.String(255), primary_key=True),
    sa.Column("application", sa.String(255), primary_key=True),
    sa.Column("last_claimed_at", UTCDateTime(), nullable=False),
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column(
        "execution_id",
        Id,
        sa.ForeignKey("job_executions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("number", sa.Integer(), nullable=False),
    sa.Column("message_id", sa.String(36), nullable=False, unique=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("run_after", UTCDateTime(), nullable=True),
    sa.Column("worker_id", sa.String(255), nullable=True),
    sa.Column("engine_id", sa.String(255), nullable=True),
    sa.Column("container_id", sa.String(128), nullable=True),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("recorded_at", UTCDateTime(), nullable=True),
    sa.Column("exit_code", sa.Integer(), nullable=True),
    sa.Column("status", sa.String(16), nullable=True),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("stdout", sa.Text(), nullable=True),
    sa.Column("stderr", sa.Text(), nullable=True),
    # Ended from its exit event, its output not yet read (a sweep finishes the job).
    sa.Column("output_pending", sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column("output_recorded_at", UTCDateTime(), nullable=True),
    # A stop asked for (reason "timeout" or "cancelled"), and when SIGTERM went out.
    sa.Column("stop_reason", sa.String(16), nullable=True),
    sa.Column("stop_requested_at", UTCDateTime(), nullable=True),
    sa.Column("stop_signalled_at", UTCDateTime(), nullable=True),
    *_timestamps(),
    sa.UniqueConstraint("execution_id", "number"),
    sa.Index(None, "state", "engine_id"),
    sa.Index(None, "worker_id", "state"),
    sa.Index(None, "output_pending", "engine_id"),
)

# API tokens. The token itself is never stored, only the SHA-256 of it: tokens
# are random and long, so a fast hash is enough. ``id`` is the public part of
# the token, safe to log. Deleting an app deletes its tokens.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("app_id", Id, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=True),
    sa.Column("description", sa.Text(), nullable=False, default=""),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Index(None, "app_id"),
)

# Console logins. The cookie holds a random secret; the row is keyed by its
# SHA-256, so reading the table does not hand out live sessions. A session ends
# at expires_at, at logout, or when its token is revoked or deleted.
console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "token_id",
        sa.String(32),
        sa.ForeignKey("api_tokens.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Index(None, "token_id"),
    sa.Index(None, "expires_at"),
)

# Topics: a message published to one enqueues an execution for each matching
# subscription, in one transaction. Publishers and subscriptions name apps by id,
# so deleting an app deletes them, and a new app of the same name inherits none.
topics = sa.Table(
    "topics",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("description", sa.Text(), nullable=False, default=""),
    *_timestamps(),
)

# The apps whose tokens may publish to a topic (an admin token always may).
topic_publishers = sa.Table(
    "topic_publishers",
    metadata,
    sa.Column("topic_id", Id, sa.ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("app_id", Id, sa.ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True),
)

# A subscription names the job by its name within the app, as an enqueue does: a
# job definition deleted later makes a publish that matches it fail, whole.
topic_subscriptions = sa.Table(
    "topic_subscriptions",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("topic_id", Id, sa.ForeignKey("topics.id", ondelete="CASCADE"), nullable=False),
    sa.Column("app_id", Id, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    sa.Column("job", sa.String(255), nullable=False),
    sa.Column("queue", sa.String(255), nullable=False),
    sa.Column("filter", sa.JSON(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("topic_id", "app_id", "job", "queue"),
    sa.Index(None, "app_id"),
)

# Publishes made with an idempotency key, and what each enqueued: the same key
# publishes once. The unique key decides between concurrent publishes.
topic_messages = sa.Table(
    "topic_messages",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("topic_id", Id, sa.ForeignKey("topics.id", ondelete="CASCADE"), nullable=False),
    sa.Column("idempotency_key", sa.String(255), nullable=False),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("deliveries", sa.JSON(), nullable=False),
    sa.Column("subscriptions", sa.Integer(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("topic_id", "idempotency_key"),
)

# Notification targets: where notifications go. The URL (a secret for Slack, whose
# webhook URL is its credential) and the signing secret are stored sealed
# (app_secrets.SecretBox); ``url_hint`` is what may be shown back.
notification_targets = sa.Table(
    "notification_targets",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("description", sa.Text(), nullable=False, default=""),
    sa.Column("sealed_url", sa.Text(), nullable=False),
    sa.Column("url_hint", sa.String(255), nullable=False),
    sa.Column("sealed_secret", sa.Text(), nullable=True),
    *_timestamps(),
)

# Rules: which endings of which jobs notify which target. A rule names an app
# (every job of it, unless the job has rules of its own), a job of an app, or
# a queue (work pending there longer than ``pending_minutes``).
notification_rules = sa.Table(
    "notification_rules",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column(
        "target_id",
        Id,
        sa.ForeignKey("notification_targets.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("app_id", Id, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=True),
    sa.Column("job", sa.String(255), nullable=True),
    sa.Column("queue", sa.String(255), nullable=True),
    sa.Column("endings", sa.JSON(), nullable=False),
    sa.Column("after_last_retry", sa.Boolean(), nullable=False),
    sa.Column("extra_text", sa.Text(), nullable=False),
    sa.Column("pending_minutes", sa.Float(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index(None, "app_id", "job"),
    sa.Index(None, "queue"),
)

# The outbox: one row per notification to deliver, written in the transaction
# that records what it tells of. ``delivery_id`` goes out with every try, so a
# receiver can drop the duplicates at-least-once delivery may bring.
notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.String(36), nullable=False, unique=True),
    sa.Column(
        "target_id",
        Id,
        sa.ForeignKey("notification_targets.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "execution_id", Id, sa.ForeignKey("job_executions.id", ondelete="CASCADE"), nullable=True
    ),
    sa.Column("event", sa.String(16), nullable=False),
    sa.Column("payload", sa.JSON(), nullable=False),
    # Set for notifications that must be made once only (work pending too long).
    sa.Column("once_key", sa.String(255), nullable=True, unique=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("tries", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("next_try_at", UTCDateTime(), nullable=False),
    sa.Column("leased_by", sa.String(255), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
    sa.Column("last_status_code", sa.Integer(), nullable=True),
    sa.Column("last_answer", sa.Text(), nullable=True),
    sa.Column("last_tried_at", UTCDateTime(), nullable=True),
    sa.Column("delivered_at", UTCDateTime(), nullable=True),
    *_timestamps(),
    sa.Index(None, "state", "next_try_at"),
    sa.Index(None, "execution_id"),
    sa.Index(None, "target_id", "id"),
)

# Cron schedules. Ticking one moves next_tick on by compare-and-set, in the transaction
# that inserts the tick's execution: one execution per tick across all workers.
schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("app_id", Id, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    sa.Column("job", sa.String(255), nullable=False),
    sa.Column("queue", sa.String(255), nullable=False),
    sa.Column("message", sa.JSON(none_as_null=False), nullable=True),
    sa.Column("cron", sa.String(255), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("missed_ticks", sa.String(8), nullable=False),
    sa.Column("catch_up_limit", sa.Integer(), nullable=False),
    sa.Column("paused", sa.Boolean(), nullable=False),
    sa.Column("next_tick", UTCDateTime(), nullable=False),
    sa.Column("last_tick", UTCDateTime(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    *_timestamps(),
    sa.Index(None, "paused", "next_tick"),
    sa.Index(None, "app_id"),
)
