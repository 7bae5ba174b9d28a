"""engine ownership: engines, engine probes, worker health

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pitmaster.store.schema import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("healthy", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(sa.Column("unhealthy_reason", sa.Text(), nullable=True))
    op.create_table(
        "engines",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engines")),
    )
    op.create_table(
        "engine_probes",
        sa.Column("probe", sa.String(64), nullable=False),
        sa.Column("worker_id", sa.String(255), nullable=False),
        sa.Column("engine", sa.String(255), nullable=False),
        sa.Column("asked_by", sa.String(255), nullable=False),
        sa.Column("asked_at", UTCDateTime(), nullable=False),
        sa.Column("seen", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("probe", "worker_id", name=op.f("pk_engine_probes")),
    )
    with op.batch_alter_table("engine_probes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_engine_probes_worker_id_seen"), ["worker_id", "seen"], unique=False
        )


def downgrade() -> None:
    op.drop_table("engine_probes")
    op.drop_table("engines")
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.drop_column("unhealthy_reason")
        batch_op.drop_column("healthy")
