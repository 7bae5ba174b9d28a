"""notification targets, rules, and the notifications outbox

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pitmaster.store.schema import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _foreign_key(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "notification_targets",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("sealed_url", sa.Text(), nullable=False),
        sa.Column("url_hint", sa.String(length=255), nullable=False),
        sa.Column("sealed_secret", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_targets")),
        sa.UniqueConstraint("name", name=op.f("uq_notification_targets_name")),
    )
    op.create_table(
        "notification_rules",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("target_id", _ID, nullable=False),
        sa.Column("app_id", _ID, nullable=True),
        sa.Column("job", sa.String(length=255), nullable=True),
        sa.Column("queue", sa.String(length=255), nullable=True),
        sa.Column("endings", sa.JSON(), nullable=False),
        sa.Column("after_last_retry", sa.Boolean(), nullable=False),
        sa.Column("extra_text", sa.Text(), nullable=False),
        sa.Column("pending_minutes", sa.Float(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _foreign_key("notification_rules", "target_id", "notification_targets"),
        _foreign_key("notification_rules", "app_id", "apps"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_rules")),
    )
    op.create_index(
        op.f("ix_notification_rules_app_id_job"),
        "notification_rules",
        ["app_id", "job"],
        unique=False,
    )
    op.create_index(
        op.f("ix_notification_rules_queue"), "notification_rules", ["queue"], unique=False
    )
    op.create_table(
        "notifications",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column("target_id", _ID, nullable=False),
        sa.Column("execution_id", _ID, nullable=True),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("once_key", sa.String(length=255), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("tries", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_try_at", UTCDateTime(), nullable=False),
        sa.Column("leased_by", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_answer", sa.Text(), nullable=True),
        sa.Column("last_tried_at", UTCDateTime(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _foreign_key("notifications", "target_id", "notification_targets"),
        _foreign_key("notifications", "execution_id", "job_executions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("delivery_id", name=op.f("uq_notifications_delivery_id")),
        sa.UniqueConstraint("once_key", name=op.f("uq_notifications_once_key")),
    )
    op.create_index(
        op.f("ix_notifications_state_next_try_at"),
        "notifications",
        ["state", "next_try_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_notifications_execution_id"), "notifications", ["execution_id"], unique=False
    )
    op.create_index(
        op.f("ix_notifications_target_id_id"), "notifications", ["target_id", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_index(op.f("ix_notification_rules_queue"), table_name="notification_rules")
    op.drop_index(op.f("ix_notification_rules_app_id_job"), table_name="notification_rules")
    op.drop_table("notification_rules")
    op.drop_table("notification_targets")
