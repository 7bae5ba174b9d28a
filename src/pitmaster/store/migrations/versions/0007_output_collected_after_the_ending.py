"""output collected after the ending

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pitmaster.store.schema import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job_executions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("output_pending", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("output_pending", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("output_recorded_at", UTCDateTime(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_attempts_output_pending_docker_host"),
            ["output_pending", "docker_host"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attempts_output_pending_docker_host"))
        batch_op.drop_column("output_recorded_at")
        batch_op.drop_column("output_pending")
    with op.batch_alter_table("job_executions", schema=None) as batch_op:
        batch_op.drop_column("output_pending")
