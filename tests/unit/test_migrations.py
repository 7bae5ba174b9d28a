"""The migrations build exactly the tables ``store/schema.py`` describes, and can be undone."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command as alembic_command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext

from pitmaster.models import ExecutionFilter
from pitmaster.services import schedules
from pitmaster.services.inputs import ScheduleCreate
from pitmaster.store.engine import create_engine
from pitmaster.store.schema import metadata
from pitmaster.store.store import Store

from ..databases import BACKENDS, database


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database, not a copy of a migrated one: here the migrations themselves run."""
    with database(request.param, tmp_path, migrated=False) as url:
        yield url


def _differences(database_url: str) -> list[object]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def _migrate_to(database_url: str, revision: str, *, down: bool) -> None:
    config = AlembicConfig()
    config.set_main_option(
        "script_location", str(resources.files("pitmaster.store") / "migrations")
    )
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            if down:
                alembic_command.downgrade(config, revision)
            else:
                alembic_command.upgrade(config, revision)
    finally:
        engine.dispose()


def test_given_a_migrated_database_then_it_matches_the_schema_module(
    store: Store, database_url: str
) -> None:
    assert _differences(database_url) == []


def test_given_job_definitions_and_secrets_when_0005_is_undone_and_redone_then_definitions_stay(
    store: Store, database_url: str
) -> None:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"], cpus=0.5, pids_limit=64, network="none")
    store.put_secret("shop", "API_TOKEN", "sealed", 10)

    _migrate_to(database_url, "0004", down=True)
    engine = create_engine(database_url)
    try:
        assert "app_secrets" not in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
    _migrate_to(database_url, "head", down=False)

    definition = store.get_job_definition("shop", "mail")
    assert definition.command == ("m",)
    assert (definition.cpus, definition.pids_limit, definition.network) == (None, None, None)
    assert store.list_secrets("shop") == []
    assert _differences(database_url) == []


def test_given_a_claimed_attempt_when_0011_is_undone_and_redone_then_its_engine_stays(
    store: Store, database_url: str
) -> None:
    # Given an attempt claimed for an engine (stored in attempts.engine_id).
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"])
    store.enqueue("shop", "mail", "default", {})
    claim = store.claim("worker-1", 60, engine="engine-a")
    assert claim is not None

    # When the rename is undone, the column is docker_host again, with the same value.
    _migrate_to(database_url, "0010", down=True)
    engine = create_engine(database_url)
    try:
        columns = {column["name"] for column in sa.inspect(engine).get_columns("attempts")}
        with engine.connect() as conn:
            before = conn.execute(sa.text("SELECT docker_host FROM attempts")).scalar_one()
    finally:
        engine.dispose()
    assert "engine_id" not in columns and before == "engine-a"

    # And when it is redone, the store finds the attempt on its engine, and the schema matches.
    _migrate_to(database_url, "head", down=False)
    attempt = store.attempts_of(claim.execution.id)[0]
    assert attempt.engine_id == "engine-a"
    assert _differences(database_url) == []


def test_given_topics_when_0012_is_undone_and_redone_then_the_tables_go_and_come_back(
    store: Store, database_url: str
) -> None:
    # Given a topic with a publisher and a subscription.
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"])
    store.create_topic("orders", "", ["shop"])
    store.subscribe("orders", "shop", "mail", "default", {"kind": "paid"})

    # When 0012 is undone, its tables are gone and the rest stays.
    _migrate_to(database_url, "0011", down=True)
    engine = create_engine(database_url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
        # Read by hand: the store's queries expect the columns of later migrations.
        with engine.connect() as conn:
            app_names = conn.execute(sa.text("SELECT name FROM apps")).scalars().all()
    finally:
        engine.dispose()
    assert not tables & {"topics", "topic_publishers", "topic_subscriptions", "topic_messages"}
    assert app_names == ["shop"]

    # And when it is redone, topics can be made again, and the schema matches.
    _migrate_to(database_url, "head", down=False)
    assert store.list_topics(10) == []
    store.create_topic("orders", "", ["shop"])
    assert _differences(database_url) == []


def test_given_a_schedule_when_0014_is_undone_and_redone_then_its_table_and_columns_go_and_come_back(
    store: Store, database_url: str
) -> None:
    # Given a schedule, and an execution it made.
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"])
    schedules.create_schedule(
        store, ScheduleCreate(name="nightly", application="shop", job="mail", cron="@daily")
    )
    store.run_schedule_now("nightly")

    # When 0014 is undone, the table and the execution's columns are gone, the execution stays.
    _migrate_to(database_url, "0016", down=True)
    engine = create_engine(database_url)
    try:
        inspector = sa.inspect(engine)
        tables = set(inspector.get_table_names())
        columns = {column["name"] for column in inspector.get_columns("job_executions")}
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT count(*) FROM job_executions")).scalar_one()
            attempts_kept = conn.execute(sa.text("SELECT count(*) FROM attempts")).scalar_one()
    finally:
        engine.dispose()
    assert "schedules" not in tables
    assert not columns & {"schedule_id", "scheduled_at"}
    assert (kept, attempts_kept) == (1, 1)

    # And when it is redone, schedules can be made again, and the schema matches.
    _migrate_to(database_url, "head", down=False)
    assert store.list_schedules(10) == []
    assert store.list_executions(ExecutionFilter()).items[0].schedule_id is None
    assert _differences(database_url) == []


def test_given_priorities_and_pauses_when_0015_is_undone_and_redone_then_executions_stay(
    store: Store, database_url: str
) -> None:
    # Given an execution with a priority and a paused queue.
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"], priority=2)
    kept = store.enqueue("shop", "mail", "default", {}, priority=7)
    store.pause_queue("default", "backup")

    # When 0015 is undone, its columns and table are gone and the executions stay.
    _migrate_to(database_url, "0014", down=True)
    engine = create_engine(database_url)
    try:
        inspector = sa.inspect(engine)
        columns = {c["name"] for c in inspector.get_columns("job_executions")}
        queue_columns = {c["name"] for c in inspector.get_columns("job_queues")}
        tables = set(inspector.get_table_names())
        with engine.connect() as conn:
            ids = conn.execute(sa.text("SELECT message_id FROM job_executions")).scalars().all()
            attempts = conn.execute(sa.text("SELECT count(*) FROM attempts")).scalar()
    finally:
        engine.dispose()
    assert "priority" not in columns and "paused_at" not in queue_columns
    assert "queue_app_turns" not in tables
    assert (ids, attempts) == ([kept.message_id], 1)

    # And when it is redone, the old execution has priority 0 and nothing is paused.
    _migrate_to(database_url, "head", down=False)
    assert store.get_execution(kept.message_id).priority == 0
    assert store.get_queue("default").paused_at is None
    assert _differences(database_url) == []


def test_given_executions_when_0017_is_undone_and_redone_then_its_indexes_go_and_come_back(
    store: Store, database_url: str
) -> None:
    # Given an execution.
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "mail", ["m"])
    kept = store.enqueue("shop", "mail", "default", {})

    # When 0017 is undone, its indexes are gone and the execution stays.
    _migrate_to(database_url, "0015", down=True)
    engine = create_engine(database_url)
    try:
        indexes = {index["name"] for index in sa.inspect(engine).get_indexes("job_executions")}
        with engine.connect() as conn:
            ids = conn.execute(sa.text("SELECT message_id FROM job_executions")).scalars().all()
    finally:
        engine.dispose()
    assert "ix_job_executions_created_at" not in indexes
    assert "ix_job_executions_queue_status_run_after" not in indexes
    assert ids == [kept.message_id]

    # And when it is redone, the schema is whole again and the execution is found by prefix.
    _migrate_to(database_url, "head", down=False)
    assert _differences(database_url) == []
    found = store.list_executions(ExecutionFilter(message_id_prefix=kept.message_id[:5]))
    assert [e.message_id for e in found.items] == [kept.message_id]
