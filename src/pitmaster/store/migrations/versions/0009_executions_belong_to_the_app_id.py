"""executions belong to their app's id, not its name

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

Existing executions are given the id of the app that has their name now.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job_executions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("app_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_job_executions_app_id_id"), ["app_id", "id"])
    op.execute(
        "UPDATE job_executions SET app_id = "
        "(SELECT apps.id FROM apps WHERE apps.name = job_executions.application)"
    )


def downgrade() -> None:
    with op.batch_alter_table("job_executions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_executions_app_id_id"))
        batch_op.drop_column("app_id")
