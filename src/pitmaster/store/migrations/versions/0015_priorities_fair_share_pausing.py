"""execution priorities, fair share between apps in a queue, pausing queues and apps

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pitmaster.store.schema import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PAUSABLE = ("apps", "job_queues")
# Plain ALTER TABLE, never a batch copy: on SQLite a batch drops and remakes the
# table, and dropping apps or job_executions would cascade to their children.
_BY_PRIORITY = "ix_job_executions_runnable_priority_run_after_id"


def upgrade() -> None:
    with op.batch_alter_table("job_executions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), server_default="0", nullable=False))
    op.create_index(
        _BY_PRIORITY,
        "job_executions",
        ["runnable", sa.text("priority DESC"), "run_after", "id"],
        unique=False,
    )
    op.add_column("job_definitions", sa.Column("priority", sa.Integer(), nullable=True))
    for table in _PAUSABLE:
        op.add_column(table, sa.Column("paused_at", UTCDateTime(), nullable=True))
        op.add_column(table, sa.Column("pause_reason", sa.Text(), nullable=True))
    op.create_table(
        "queue_app_turns",
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("application", sa.String(length=255), nullable=False),
        sa.Column("last_claimed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("queue", "application", name=op.f("pk_queue_app_turns")),
    )


def downgrade() -> None:
    op.drop_table("queue_app_turns")
    for table in _PAUSABLE:
        op.drop_column(table, "pause_reason")
        op.drop_column(table, "paused_at")
    op.drop_column("job_definitions", "priority")
    op.drop_index(_BY_PRIORITY, table_name="job_executions")
    op.drop_column("job_executions", "priority")
