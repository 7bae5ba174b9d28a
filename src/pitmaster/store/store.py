"""The store: every query pitmaster makes, behind one object. Nothing outside ``store/`` writes SQL.

Each concern is a small class of its own, reachable as an attribute of the ``Store``:

============== ==============================================================
``db``         the database: transactions, migrations, wake-ups (``database.py``)
``catalog``    apps, job definitions, job queues (``catalog.py``)
``executions`` enqueue, reading executions and attempts, cancel, retry (``executions.py``)
``claims``     claiming work under a lease, storing its container (``claims.py``)
``endings``    running attempts, their endings, output and stops (``endings.py``)
``monitoring`` backlog, workers' heartbeats, why work waits (``monitoring.py``)
``stats``      the console's summaries (``stats.py``)
``tokens``     API tokens and console sessions (``tokens.py``)
``secrets``    apps' sealed secrets (``secrets.py``)
``engines``    engines, probes, stranded attempts (``engines.py``)
``topics``     topics, their subscriptions, publishing (``topics.py``)
``notifications`` notification targets, rules, the outbox (``notifications.py``)
``retention``  deleting executions ended long ago, in batches (``retention.py``)
``schedules``  cron schedules and their ticks (``schedules.py``)
``pausing``    pausing and resuming queues and apps (``pausing.py``)
============== ==============================================================

The ``Store`` also answers each of their methods itself (``store.enqueue(...)`` is
``store.executions.enqueue(...)``), so callers need not know which class holds a query.

State changes are compare-and-set updates (``WHERE id = :id AND state = :expected``):
the caller whose update changed a row is the one that goes on to the side
effects, so two workers racing on one execution produce one result.
"""

from __future__ import annotations

from pitmaster.models import BULK_RETRY_BATCH as BULK_RETRY_BATCH
from pitmaster.models import BULK_RETRY_LIMIT as BULK_RETRY_LIMIT
from pitmaster.models import BulkRetry as BulkRetry
from pitmaster.models import ExecutionFilter as ExecutionFilter
from pitmaster.models import ExecutionPage as ExecutionPage
from pitmaster.store.catalog import Catalog
from pitmaster.store.claims import Claims
from pitmaster.store.database import Clock, Database, utc_now
from pitmaster.store.endings import Endings
from pitmaster.store.engines import Engines
from pitmaster.store.executions import Executions
from pitmaster.store.monitoring import Monitoring
from pitmaster.store.notifications import Notifications
from pitmaster.store.pausing import Pausing
from pitmaster.store.retention import Retention
from pitmaster.store.schedules import Schedules
from pitmaster.store.secrets import Secrets
from pitmaster.store.stats import Stats
from pitmaster.store.tokens import TokenStore
from pitmaster.store.topics import Topics


class Store:
    """The database behind pitmaster: SQLite by default, PostgreSQL for many hosts."""

    def __init__(self, database_url: str, clock: Clock = utc_now) -> None:  # noqa: PLR0915 -- one line per delegated query
        self.db = db = Database(database_url, clock)
        self.catalog = Catalog(db)
        self.executions = Executions(db)
        self.retention = Retention(db)
        self.claims = Claims(db)
        self.endings = Endings(db)
        self.monitoring = Monitoring(db)
        self.stats = Stats(db, self.catalog)
        self.tokens = TokenStore(db)
        self.secrets = Secrets(db, self.catalog)
        self.engines = Engines(db)
        self.topics = Topics(db)
        self.notifications = Notifications(db)
        self.schedules = Schedules(db)
        self.pausing = Pausing(db)

        # The queries by name, as the rest of pitmaster calls them.
        self.close = db.close
        self.reading = db.reading
        self.writing = db.writing
        self.now = db.now
        self.migrate = db.migrate
        self.has_schema = db.has_schema
        self.installation_id = db.installation_id
        self.listen_for_work = db.listen_for_work

        self.create_app = self.catalog.create_app
        self.get_app = self.catalog.get_app
        self.list_apps = self.catalog.list_apps
        self.update_app = self.catalog.update_app
        self.lock_revision = self.catalog.lock_revision
        self.delete_app = self.catalog.delete_app
        self.create_job_definition = self.catalog.create_job_definition
        self.get_job_definition = self.catalog.get_job_definition
        self.list_job_definitions = self.catalog.list_job_definitions
        self.list_all_job_definitions = self.catalog.list_all_job_definitions
        self.update_job_definition = self.catalog.update_job_definition
        self.delete_job_definition = self.catalog.delete_job_definition
        self.create_queue = self.catalog.create_queue
        self.get_queue = self.catalog.get_queue
        self.list_queues = self.catalog.list_queues
        self.update_queue = self.catalog.update_queue
        self.delete_queue = self.catalog.delete_queue

        self.put_secret = self.secrets.put_secret
        self.delete_secret = self.secrets.delete_secret
        self.list_secrets = self.secrets.list_secrets
        self.sealed_secrets = self.secrets.sealed_secrets
        self.reseal_secret = self.secrets.reseal_secret

        self.enqueue = self.executions.enqueue
        self.enqueue_batch = self.executions.enqueue_batch
        self.get_execution = self.executions.get_execution
        self.list_executions = self.executions.list_executions
        self.attempts_of = self.executions.attempts_of
        self.attempt_counts = self.executions.attempt_counts
        self.status_counts = self.executions.status_counts
        self.attempt_of = self.executions.attempt_of
        self.cancel = self.executions.cancel
        self.retry = self.executions.retry
        self.retry_all = self.executions.retry_all
        self.retry_all_preview = self.executions.retry_all_preview

        self.claim = self.claims.claim
        self.release_claim = self.claims.release_claim
        self.mark_running = self.claims.mark_running

        self.running_attempts = self.endings.running_attempts
        self.running_attempt = self.endings.running_attempt
        self.record_outcome = self.endings.record_outcome
        self.record_output = self.endings.record_output
        self.awaiting_output = self.endings.awaiting_output
        self.request_stop = self.endings.request_stop
        self.mark_stop_signalled = self.endings.mark_stop_signalled

        self.backlog = self.monitoring.backlog
        self.heartbeat = self.monitoring.heartbeat
        self.remove_worker = self.monitoring.remove_worker
        self.list_workers = self.monitoring.list_workers
        self.pending_reason = self.monitoring.pending_reason

        self.live_peers = self.engines.live_peers
        self.ask_probe = self.engines.ask_probe
        self.probe_answers = self.engines.probe_answers
        self.probes_for = self.engines.probes_for
        self.answer_probe = self.engines.answer_probe
        self.forget_probe = self.engines.forget_probe
        self.end_stranded_attempts = self.engines.end_stranded_attempts
        self.left_behind = self.engines.left_behind

        self.create_topic = self.topics.create_topic
        self.update_topic = self.topics.update_topic
        self.get_topic = self.topics.get_topic
        self.list_topics = self.topics.list_topics
        self.delete_topic = self.topics.delete_topic
        self.subscribe = self.topics.subscribe
        self.get_subscription = self.topics.get_subscription
        self.list_subscriptions = self.topics.list_subscriptions
        self.unsubscribe = self.topics.unsubscribe
        self.publish = self.topics.publish

        self.create_schedule = self.schedules.create_schedule
        self.update_schedule = self.schedules.update_schedule
        self.get_schedule = self.schedules.get_schedule
        self.list_schedules = self.schedules.list_schedules
        self.delete_schedule = self.schedules.delete_schedule
        self.set_schedule_paused = self.schedules.set_paused
        self.due_schedules = self.schedules.due_schedules
        self.next_schedule_due = self.schedules.next_due
        self.tick_schedule = self.schedules.tick
        self.notify_work = self.schedules.notify_work
        self.run_schedule_now = self.schedules.run_now
        self.pause_queue = self.pausing.pause_queue
        self.resume_queue = self.pausing.resume_queue
        self.pause_app = self.pausing.pause_app
        self.resume_app = self.pausing.resume_app

    @property
    def dialect(self) -> str:
        return self.db.dialect
