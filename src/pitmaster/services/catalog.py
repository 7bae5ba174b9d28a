"""Apps, job definitions and queues: what can run, and the checks every change of it passes."""

from __future__ import annotations

import logging
from typing import Any

from pitmaster.app_secrets import SECRETS_PER_APP_MAX, SecretBox, require_box
from pitmaster.images import check_image_allowed
from pitmaster.models import App, AppSecret, JobDefinition, JobQueue, image_at_revision
from pitmaster.services.inputs import (
    AppCreate,
    JobDefinitionCreate,
    JobPolicy,
)
from pitmaster.settings import Settings
from pitmaster.store.store import Store

logger = logging.getLogger(__name__)


def create_app(store: Store, settings: Settings, body: AppCreate) -> App:
    """A new app, if settings allow its image."""
    check_image_allowed(body.docker_image, settings.allowed_image_rules)
    return store.create_app(
        body.name, body.docker_image, body.description, body.max_concurrent_executions
    )


def update_app(store: Store, settings: Settings, name: str, changes: dict[str, Any]) -> App:
    """Change an app; a new image must be one the settings allow."""
    if "docker_image" in changes:
        check_image_allowed(changes["docker_image"], settings.allowed_image_rules)
    return store.update_app(name, changes)


def delete_app(store: Store, name: str) -> None:
    """Delete an app with its job definitions, secrets and tokens; its executions stay."""
    store.delete_app(name)
    logger.info("app %s deleted", name)


def lock_revision(store: Store, settings: Settings, name: str, revision: str) -> None:
    """Run the app's jobs in this tag of its image, if settings allow that image."""
    locked = image_at_revision(store.get_app(name).docker_image, revision)
    check_image_allowed(locked, settings.allowed_image_rules)
    store.lock_revision(name, revision)


def unlock_revision(store: Store, name: str) -> None:
    store.lock_revision(name, None)


def create_job_definition(store: Store, app: str, body: JobDefinitionCreate) -> JobDefinition:
    policy = body.model_dump(include=set(JobPolicy.model_fields))
    return store.create_job_definition(app, body.job, body.command, body.description, **policy)


def update_job_definition(
    store: Store, app: str, job: str, changes: dict[str, Any]
) -> JobDefinition:
    return store.update_job_definition(app, job, changes)


def delete_job_definition(store: Store, app: str, job: str) -> None:
    store.delete_job_definition(app, job)


def new_job_definition_values() -> dict[str, Any]:
    """What a new job definition's form starts with: the policy's own defaults."""
    defaults = JobPolicy()
    return {
        "retry_limit": defaults.retry_limit,
        "base_delay": defaults.base_delay,
        "stop_grace_seconds": defaults.stop_grace_seconds,
    }


def create_queue(
    store: Store, name: str, description: str, max_concurrent_executions: int | None
) -> JobQueue:
    return store.create_queue(name, description, max_concurrent_executions)


def update_queue(store: Store, name: str, changes: dict[str, Any]) -> JobQueue:
    return store.update_queue(name, changes)


def delete_queue(store: Store, name: str) -> None:
    """Delete a queue that holds no pending or running work; ``default`` always stays."""
    store.delete_queue(name)


def put_secret(
    store: Store, settings: Settings, app: str, name: str, value: str
) -> tuple[AppSecret, bool]:
    """Seal and store a secret of the app's jobs; the secret and whether it is new."""
    box = require_box(settings.secrets_keys)
    created = store.put_secret(app, name, box.seal(app, name, value), SECRETS_PER_APP_MAX)
    logger.info("secret %s of app %s %s", name, app, "created" if created else "replaced")
    secret = next(s for s in store.list_secrets(app) if s.name == name)
    return secret, created


def delete_secret(store: Store, app: str, name: str) -> None:
    store.delete_secret(app, name)
    logger.info("secret %s of app %s deleted", name, app)


def reseal_secrets(store: Store, box: SecretBox) -> tuple[int, int]:
    """Re-seal every stored secret under the box's first key: how many were, and how many
    changed meanwhile (set or deleted since: sealed under the first key already)."""
    resealed = skipped = 0
    for secret in store.sealed_secrets():
        if store.reseal_secret(secret, box.reseal(secret.ciphertext)):
            resealed += 1
        else:
            skipped += 1
    return resealed, skipped
