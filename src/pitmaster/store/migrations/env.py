"""Alembic environment: runs pitmaster's migrations on the connection the store hands over."""

from __future__ import annotations

from alembic import context

from pitmaster.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("pitmaster migrations run through `pitmaster migrate` or Store.migrate()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
