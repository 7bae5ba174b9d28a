"""indexes for the console's pages at millions of executions

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each index by its name and columns, as store/schema.py declares it.
_INDEXES = {
    "ix_job_executions_application_id": ["application", "id"],
    "ix_job_executions_created_at": ["created_at"],
    "ix_job_executions_queue_status_run_after": ["queue", "status", "run_after"],
    "ix_job_executions_status_finished_at_app_id": ["status", "finished_at", "app_id"],
}


def upgrade() -> None:
    for name, columns in _INDEXES.items():
        op.create_index(name, "job_executions", columns)


def downgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, table_name="job_executions")
