"""topics, their publishers and subscriptions, and idempotent publishes

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pitmaster.store.schema import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _foreign_key(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "topics",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topics")),
        sa.UniqueConstraint("name", name=op.f("uq_topics_name")),
    )
    op.create_table(
        "topic_publishers",
        sa.Column("topic_id", _ID, nullable=False),
        sa.Column("app_id", _ID, nullable=False),
        _foreign_key("topic_publishers", "topic_id", "topics"),
        _foreign_key("topic_publishers", "app_id", "apps"),
        sa.PrimaryKeyConstraint("topic_id", "app_id", name=op.f("pk_topic_publishers")),
    )
    op.create_table(
        "topic_subscriptions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("topic_id", _ID, nullable=False),
        sa.Column("app_id", _ID, nullable=False),
        sa.Column("job", sa.String(length=255), nullable=False),
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("filter", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _foreign_key("topic_subscriptions", "topic_id", "topics"),
        _foreign_key("topic_subscriptions", "app_id", "apps"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topic_subscriptions")),
        sa.UniqueConstraint(
            "topic_id",
            "app_id",
            "job",
            "queue",
            name=op.f("uq_topic_subscriptions_topic_id_app_id_job_queue"),
        ),
    )
    op.create_index(
        op.f("ix_topic_subscriptions_app_id"), "topic_subscriptions", ["app_id"], unique=False
    )
    op.create_table(
        "topic_messages",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("topic_id", _ID, nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("deliveries", sa.JSON(), nullable=False),
        sa.Column("subscriptions", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _foreign_key("topic_messages", "topic_id", "topics"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topic_messages")),
        sa.UniqueConstraint(
            "topic_id",
            "idempotency_key",
            name=op.f("uq_topic_messages_topic_id_idempotency_key"),
        ),
    )


def downgrade() -> None:
    op.drop_table("topic_messages")
    op.drop_index(op.f("ix_topic_subscriptions_app_id"), table_name="topic_subscriptions")
    op.drop_table("topic_subscriptions")
    op.drop_table("topic_publishers")
    op.drop_table("topics")
