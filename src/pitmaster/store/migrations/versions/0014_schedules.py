"""cron schedules, and the schedule and tick an execution was made for

Revision ID: 0014
Revises: 0016
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pitmaster.store.schema import UTCDateTime

revision: str = "0014"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("app_id", _ID, nullable=False),
        sa.Column("job", sa.String(length=255), nullable=False),
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("message", sa.JSON(none_as_null=False), nullable=True),
        sa.Column("cron", sa.String(length=255), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("missed_ticks", sa.String(length=8), nullable=False),
        sa.Column("catch_up_limit", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("next_tick", UTCDateTime(), nullable=False),
        sa.Column("last_tick", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_schedules_app_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
        sa.UniqueConstraint("name", name=op.f("uq_schedules_name")),
    )
    op.create_index(
        op.f("ix_schedules_paused_next_tick"), "schedules", ["paused", "next_tick"], unique=False
    )
    op.create_index(op.f("ix_schedules_app_id"), "schedules", ["app_id"], unique=False)
    # Plain ALTERs, not a batch: SQLite's batch copies job_executions and drops the
    # old table, and with foreign keys on that drop would delete every attempt.
    op.add_column("job_executions", sa.Column("schedule_id", _ID, nullable=True))
    op.add_column("job_executions", sa.Column("scheduled_at", UTCDateTime(), nullable=True))
    op.create_index(
        op.f("ix_job_executions_schedule_id_id"),
        "job_executions",
        ["schedule_id", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_job_executions_schedule_id_id"), table_name="job_executions")
    op.drop_column("job_executions", "scheduled_at")  # SQLite 3.35+ drops a column in place
    op.drop_column("job_executions", "schedule_id")
    op.drop_index(op.f("ix_schedules_app_id"), table_name="schedules")
    op.drop_index(op.f("ix_schedules_paused_next_tick"), table_name="schedules")
    op.drop_table("schedules")
