"""message delivery per job definition

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing definitions keep what they had: the environment when it fits, else a file.
    with op.batch_alter_table("job_definitions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("message_delivery", sa.String(8), nullable=False, server_default="auto")
        )


def downgrade() -> None:
    with op.batch_alter_table("job_definitions", schema=None) as batch_op:
        batch_op.drop_column("message_delivery")
