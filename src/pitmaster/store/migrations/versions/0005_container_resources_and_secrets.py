"""container resources and secrets

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pitmaster.store.schema import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job_definitions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cpus", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("pids_limit", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("network", sa.String(length=255), nullable=True))

    op.create_table(
        "app_secrets",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("app_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_app_secrets_app_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_secrets")),
        sa.UniqueConstraint("app_id", "name", name=op.f("uq_app_secrets_app_id_name")),
    )


def downgrade() -> None:
    op.drop_table("app_secrets")

    with op.batch_alter_table("job_definitions", schema=None) as batch_op:
        batch_op.drop_column("network")
        batch_op.drop_column("pids_limit")
        batch_op.drop_column("cpus")
