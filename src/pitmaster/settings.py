"""Every setting of pitmaster, read from ``PITMASTER_*`` environment variables.

A ``Settings`` object is built once at start and passed to whatever needs it;
nothing reads the environment after that.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pitmaster.app_secrets import parse_keys
from pitmaster.images import parse_rules
from pitmaster.models import MAX_MESSAGE_BYTES

MIN_ADMIN_TOKEN_LENGTH = 32
# A message enqueue accepts, sent with every non-ASCII character escaped (\uXXXX, up to
# three times its UTF-8 size), still fits, with room for the rest of the body.
MIN_BODY_BYTES = 4 * MAX_MESSAGE_BYTES


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Settings(BaseSettings):
    """pitmaster's configuration; each field is also ``PITMASTER_<FIELD>``."""

    # Inputs stay out of error messages: a mistyped key or database password is still secret.
    model_config = SettingsConfigDict(
        env_prefix="PITMASTER_", frozen=True, hide_input_in_errors=True
    )

    database_url: str = Field(
        default="sqlite:///pitmaster.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql://user:pass@host/db",
    )
    host: str = Field(default="127.0.0.1", description="address the HTTP server listens on")
    port: int = Field(default=8000, ge=0, le=65535, description="port the HTTP server listens on")
    public_url: str | None = Field(
        default=None,
        description="base URL users reach the server at, for html_url (default: the request's)",
    )
    poll_interval: float = Field(
        default=1.0, gt=0, description="seconds between two sweeps of running executions"
    )
    runner_threads: int = Field(
        default=2,
        ge=1,
        le=64,
        description="threads that claim and start executions (and as many that read output)",
    )
    lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="how long a claim stays with a worker before another may take it over",
    )
    log_limit_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="bytes of stdout and of stderr kept per attempt"
    )
    live_output_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        description="bytes of stdout and of stderr one console refresh shows of a running job",
    )
    live_output_readers: int = Field(
        default=4,
        ge=1,
        description="console refreshes of running jobs' output read at once, per server process",
    )
    docker_host: str | None = Field(
        default=None, description="Docker engine to run jobs on (default: DOCKER_HOST or local)"
    )
    executor: Literal["docker", "swarm"] = Field(
        default="docker",
        description="what runs jobs: containers on one Docker engine (docker), or services of "
        "a Docker Swarm whose manager is docker_host (swarm)",
    )
    swarm_placement: dict[str, list[str]] = Field(
        default_factory=dict,
        description='Swarm placement constraints by "*", "queue:NAME" or "app:NAME", as JSON, '
        'e.g. {"app:reports": ["node.labels.pool==batch"]}',
    )
    swarm_unplaceable_seconds: float = Field(
        default=300.0,
        gt=0,
        allow_inf_nan=False,
        description="seconds a Swarm task may wait for a node before its attempt ends in error",
    )
    pull_missing_images: bool = Field(
        default=True, description="pull an image that is not present locally before giving up"
    )
    worker_id: str = Field(
        default_factory=_default_worker_id, description="name this worker records its claims under"
    )
    shutdown_grace: float = Field(
        default=2.0, gt=0, description="seconds a stopping worker waits for in-flight starts"
    )
    max_concurrent_executions: int | None = Field(
        default=None,
        ge=1,
        description="most executions running at once across all workers (default: no limit)",
    )
    queues: str | None = Field(
        default=None, description="comma-separated queues this worker serves (default: all)"
    )
    fair_share: bool = Field(
        default=True,
        description="among work of equal priority in a queue, take turns between apps",
    )
    priority_aging_seconds: float | None = Field(
        default=3600.0,
        gt=0,
        description="work waiting this long goes before any priority, oldest first (unset: never)",
    )
    container_memory: int | None = Field(
        default=2 * 1024**3,
        ge=6 * 1024 * 1024,
        description="memory limit in bytes of a job container whose definition sets none",
    )
    container_pids_limit: int | None = Field(
        default=1024, ge=16, description="processes and threads a job container may have"
    )
    container_cpu_shares: int | None = Field(
        default=1024, ge=2, description="relative CPU weight of a job container"
    )
    container_cpus: float | None = Field(
        default=None,
        gt=0,
        le=1024,
        allow_inf_nan=False,
        description="CPUs a job container may use at most, e.g. 0.5, unless its definition "
        "says (default: no cap beyond its CPU weight)",
    )
    container_log_max_bytes: int | None = Field(
        default=32 * 1024 * 1024,
        ge=1024 * 1024,
        description="bytes of each output stream the engine keeps for a job container",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="port a `pitmaster worker` serves /metrics and /healthz on (default: none)",
    )
    heartbeat_interval: float = Field(
        default=5.0, gt=0, description="seconds between two heartbeats of a worker"
    )
    engine_silent_after: float = Field(
        default=600.0,
        ge=1,
        description="seconds with no worker reaching an engine after which the attempts "
        "claimed or running there end in error (their container, if it turns up, is removed)",
    )
    unhealthy_after_failures: int = Field(
        default=5,
        ge=1,
        description="failures in a row after which a worker loop marks the worker unhealthy",
    )
    auth: Literal["token", "none"] = Field(
        default="token",
        description="token: every API call and console page needs a token; "
        "none: no authentication at all, for a trusted network only",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="an admin API token to accept, stored hashed at start (32 characters or more)",
    )

    @field_validator("admin_token", mode="before")
    @classmethod
    def _empty_is_none(cls, token: object) -> object:
        return None if token == "" else token

    @field_validator("admin_token")
    @classmethod
    def _long_enough(cls, token: SecretStr | None) -> SecretStr | None:
        # Tokens are stored as a fast hash, which is only safe for long random ones.
        if token is not None and len(token.get_secret_value()) < MIN_ADMIN_TOKEN_LENGTH:
            raise ValueError(
                f"must be at least {MIN_ADMIN_TOKEN_LENGTH} random characters, e.g. the output "
                "of `openssl rand -hex 32`"
            )
        return token

    allowed_images: str | None = Field(
        default=None,
        description="comma-separated registries (ending in /) or repositories job images "
        "must come from, e.g. registry.example.com/,pitmaster-demo (default: any image)",
    )
    secrets_key: SecretStr | None = Field(
        default=None,
        description="Fernet key sealing apps' secrets; several, comma-separated, while "
        "rotating (the first seals). Without it no secret can be set",
    )
    notification_max_age: float = Field(
        default=86400.0,
        gt=0,
        description="seconds a notification is retried for (a receiver down that long misses it)",
    )
    notification_timeout: float = Field(
        default=10.0, gt=0, description="seconds one notification delivery may take"
    )
    notification_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="seconds a worker holds a notification it is delivering; then another may",
    )
    notification_interval: float = Field(
        default=1.0, gt=0, description="seconds between looks for notifications to deliver"
    )
    log_level: str = Field(default="INFO", description="logging level: DEBUG, INFO, WARNING")
    max_body_bytes: int = Field(
        default=MIN_BODY_BYTES,
        ge=MIN_BODY_BYTES,
        description="largest request body the HTTP server reads; larger ones get 413",
    )
    rate_limit: float = Field(
        default=50.0,
        ge=0,
        allow_inf_nan=False,
        description="requests per second per API token (or per address without one); 0: no limit",
    )
    rate_limit_burst: int = Field(
        default=100,
        ge=1,
        description="requests a caller may make at once before rate_limit applies",
    )
    retention_days: float = Field(
        default=0,
        ge=0,
        allow_inf_nan=False,
        description="delete executions (with their attempts and output) that ended and have "
        "not changed for this many days; workers do it in batches; 0: keep them for ever",
    )
    token_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        allow_inf_nan=False,
        description="seconds a server process trusts a token it verified without asking the "
        "database again: a revoked token is refused by every process within this; 0: ask "
        "on every request",
    )

    http_header_timeout: float = Field(
        default=10.0,
        gt=0,
        allow_inf_nan=False,
        description="seconds a client has to send a request's headers, from the connection "
        "opening or its first byte after an idle keep-alive; then 408 and the connection closes",
    )
    http_body_timeout: float = Field(
        default=30.0,
        gt=0,
        allow_inf_nan=False,
        description="seconds a client has to send a request's whole body, from the end of its "
        "headers; then 408 and the connection closes",
    )
    http_keep_alive_timeout: int = Field(
        default=5,
        ge=1,
        description="seconds an idle keep-alive connection stays open between requests",
    )
    http_max_connections: int = Field(
        default=1000,
        ge=1,
        description="open connections per server process; a request beyond them gets 503",
    )

    @field_validator("secrets_key")
    @classmethod
    def _keys_are_fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip():
            parse_keys(value.get_secret_value())
        return value

    @property
    def allowed_image_rules(self) -> tuple[str, ...] | None:
        """What ``allowed_images`` allows; None for any image."""
        return parse_rules(self.allowed_images)

    @property
    def secrets_keys(self) -> str | None:
        """The secrets key(s) as given; None when unset or blank."""
        if self.secrets_key is None or not self.secrets_key.get_secret_value().strip():
            return None
        return self.secrets_key.get_secret_value()

    @property
    def served_queues(self) -> tuple[str, ...] | None:
        """The queues this worker claims from; None for all of them."""
        if self.queues is None or not self.queues.strip():
            return None
        return tuple(name.strip() for name in self.queues.split(",") if name.strip())

    @property
    def worker_alive_seconds(self) -> float:
        """A worker unseen for longer than this is taken for dead."""
        return 3 * self.heartbeat_interval
