"""attempts.docker_host renamed engine_id: it holds pitmaster's identity of an engine

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The indexes are named after their columns, so they are renamed with the column.
_INDEXED_WITH = ("state", "output_pending")


def _rename(old: str, new: str) -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        for first in _INDEXED_WITH:
            batch_op.drop_index(f"ix_attempts_{first}_{old}")
        batch_op.alter_column(old, new_column_name=new)
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        for first in _INDEXED_WITH:
            batch_op.create_index(f"ix_attempts_{first}_{new}", [first, new], unique=False)


def upgrade() -> None:
    _rename("docker_host", "engine_id")


def downgrade() -> None:
    _rename("engine_id", "docker_host")
