"""an index to find ended executions by age, for the retention setting

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job_executions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_job_executions_status_updated_at"), ["status", "updated_at"]
        )


def downgrade() -> None:
    with op.batch_alter_table("job_executions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_executions_status_updated_at"))
