"""limits and worker heartbeats

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pitmaster.store.schema import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("engine", sa.String(length=255), nullable=True),
        sa.Column("queues", sa.JSON(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_concurrent_executions", sa.Integer(), nullable=True))

    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_attempts_worker_id_state"), ["worker_id", "state"], unique=False
        )

    with op.batch_alter_table("job_queues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_concurrent_executions", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_queues", schema=None) as batch_op:
        batch_op.drop_column("max_concurrent_executions")

    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attempts_worker_id_state"))

    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.drop_column("max_concurrent_executions")

    op.drop_table("workers")
