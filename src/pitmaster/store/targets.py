"""Checking, inside a transaction, that what a new row names exists: an app, its job, a queue."""

from __future__ import annotations

import sqlalchemy as sa

from pitmaster.errors import NotFound
from pitmaster.store.schema import apps, job_definitions, job_queues


def app_id(conn: sa.Connection, name: str) -> int:
    """The id of the app named ``name``, or NotFound."""
    found = conn.execute(sa.select(apps.c.id).where(apps.c.name == name)).scalar()
    if found is None:
        raise NotFound(f"application {name!r} does not exist")
    return int(found)


def require_job_and_queue(
    conn: sa.Connection, app_id: int, application: str, job: str, queue: str
) -> None:
    """NotFound unless the app (``app_id``, named ``application``) defines ``job`` and
    ``queue`` exists."""
    defined = conn.execute(
        sa.select(job_definitions.c.id).where(
            job_definitions.c.app_id == app_id, job_definitions.c.job == job
        )
    ).first()
    if defined is None:
        raise NotFound(f"job {job!r} is not defined for application {application!r}")
    if conn.execute(sa.select(job_queues.c.id).where(job_queues.c.name == queue)).first() is None:
        raise NotFound(f"job queue {queue!r} does not exist")
