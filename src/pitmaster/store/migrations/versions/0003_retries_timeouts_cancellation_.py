"""retries timeouts cancellation idempotency

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from pitmaster.store.schema import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("run_after", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("stop_reason", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("stop_requested_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("stop_signalled_at", UTCDateTime(), nullable=True))

    with op.batch_alter_table("job_definitions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("retry_limit", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("base_delay", sa.Float(), server_default="15", nullable=False)
        )
        batch_op.add_column(sa.Column("max_delay", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("jitter", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("retry_on", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("retry_exit_codes", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("timeout_seconds", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("stop_grace_seconds", sa.Float(), server_default="10", nullable=False)
        )
        batch_op.add_column(sa.Column("memory", sa.BigInteger(), nullable=True))

    with op.batch_alter_table("job_executions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("runnable", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("request_hash", sa.String(length=64), nullable=True))
        batch_op.drop_index(batch_op.f("ix_job_executions_status_run_after_id"))
        batch_op.create_index(
            batch_op.f("ix_job_executions_runnable_run_after_id"),
            ["runnable", "run_after", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_job_executions_status_id"), ["status", "id"], unique=False
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_job_executions_application_idempotency_key"),
            ["application", "idempotency_key"],
        )

    _give_every_attempt_a_message_id_and_every_pending_execution_an_attempt()
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.alter_column("message_id", existing_type=sa.String(length=36), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_attempts_message_id"), ["message_id"])


def _give_every_attempt_a_message_id_and_every_pending_execution_an_attempt() -> None:
    """The first attempt shares its execution's message_id; each retry has its own."""
    bind = op.get_bind()
    executions = sa.table(
        "job_executions",
        sa.column("id", sa.Integer),
        sa.column("message_id", sa.String),
        sa.column("status", sa.String),
        sa.column("runnable", sa.Boolean),
        sa.column("run_after", UTCDateTime()),
        sa.column("current_attempt_id", sa.Integer),
    )
    attempts = sa.table(
        "attempts",
        sa.column("id", sa.Integer),
        sa.column("execution_id", sa.Integer),
        sa.column("number", sa.Integer),
        sa.column("message_id", sa.String),
        sa.column("state", sa.String),
        sa.column("created_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
    )
    rows = bind.execute(
        sa.select(attempts.c.id, attempts.c.number, executions.c.message_id).join(
            executions, executions.c.id == attempts.c.execution_id
        )
    ).all()
    for row in rows:
        message_id = row.message_id if row.number == 0 else str(uuid.uuid4())
        bind.execute(attempts.update().where(attempts.c.id == row.id).values(message_id=message_id))
    pending = bind.execute(
        sa.select(executions.c.id, executions.c.message_id).where(
            executions.c.status == "pending", executions.c.current_attempt_id.is_(None)
        )
    ).all()
    now = datetime.now(UTC)
    for waiting in pending:
        attempt_id = bind.execute(
            attempts.insert()
            .values(
                execution_id=waiting.id,
                number=0,
                message_id=waiting.message_id,
                state="queued",
                created_at=now,
                updated_at=now,
            )
            .returning(attempts.c.id)
        ).scalar_one()
        bind.execute(
            executions.update()
            .where(executions.c.id == waiting.id)
            .values(current_attempt_id=attempt_id)
        )
    bind.execute(executions.update().where(executions.c.status == "pending").values(runnable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_executions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_job_executions_application_idempotency_key"), type_="unique"
        )
        batch_op.drop_index(batch_op.f("ix_job_executions_status_id"))
        batch_op.drop_index(batch_op.f("ix_job_executions_runnable_run_after_id"))
        batch_op.create_index(
            batch_op.f("ix_job_executions_status_run_after_id"),
            ["status", "run_after", "id"],
            unique=False,
        )
        batch_op.drop_column("request_hash")
        batch_op.drop_column("idempotency_key")
        batch_op.drop_column("runnable")

    with op.batch_alter_table("job_definitions", schema=None) as batch_op:
        batch_op.drop_column("memory")
        batch_op.drop_column("stop_grace_seconds")
        batch_op.drop_column("timeout_seconds")
        batch_op.drop_column("retry_exit_codes")
        batch_op.drop_column("retry_on")
        batch_op.drop_column("jitter")
        batch_op.drop_column("max_delay")
        batch_op.drop_column("base_delay")
        batch_op.drop_column("retry_limit")

    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_attempts_message_id"), type_="unique")
        batch_op.drop_column("stop_signalled_at")
        batch_op.drop_column("stop_requested_at")
        batch_op.drop_column("stop_reason")
        batch_op.drop_column("run_after")
        batch_op.drop_column("message_id")
