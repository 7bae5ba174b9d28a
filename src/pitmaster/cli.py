"""The ``pitmaster`` command: run the server and worker, and talk to a running server."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer

from pitmaster import __version__
from pitmaster.client import DEFAULT_URL, Client
from pitmaster.errors import PitmasterError
from pitmaster.inert import clean_output

# The server-side modules are imported inside the commands that run them, so
# that client commands (enqueue, status, ...) start quickly.
if TYPE_CHECKING:
    from pitmaster.executors.base import Executor
    from pitmaster.metrics import Metrics
    from pitmaster.settings import Settings
    from pitmaster.store.store import Store
    from pitmaster.worker.worker import Worker

app = typer.Typer(
    help="pitmaster: a job queue that runs every job in its own Docker container.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
apps_cli = typer.Typer(help="Manage apps (a name and the Docker image its jobs run in).")
jobs_cli = typer.Typer(help="Manage job definitions (the command an app's job runs).")
queues_cli = typer.Typer(help="Manage job queues.")
token_cli = typer.Typer(
    help="Manage API tokens, directly in the database (PITMASTER_DATABASE_URL), as migrate does."
)
secrets_cli = typer.Typer(
    help="Manage apps' secrets: jobs read each from /run/secrets/NAME; values are never shown."
)
app.add_typer(apps_cli, name="apps")
app.add_typer(jobs_cli, name="jobs")
app.add_typer(queues_cli, name="queues")
app.add_typer(token_cli, name="token")
app.add_typer(secrets_cli, name="secrets")

logger = logging.getLogger("pitmaster")

UrlOption = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="PITMASTER_URL",
        help="URL of the pitmaster server; the API token is read from PITMASTER_TOKEN",
    ),
]
HostOption = Annotated[
    str | None, typer.Option("--host", help="address to listen on [env: PITMASTER_HOST]")
]
PortOption = Annotated[
    int | None, typer.Option("--port", help="port to listen on [env: PITMASTER_PORT]")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print the server's JSON answer")]
LimitOption = Annotated[
    int | None,
    typer.Option("--max-concurrent", min=1, help="most executions running at once"),
]
NoLimitOption = Annotated[bool, typer.Option("--no-limit", help="remove the concurrency limit")]
MemoryOption = Annotated[int | None, typer.Option(help="memory limit in bytes")]
CpusOption = Annotated[
    float | None, typer.Option("--cpus", help="most CPUs the job may use, e.g. 0.5")
]
PidsLimitOption = Annotated[
    int | None, typer.Option("--pids-limit", help="processes and threads the job may have")
]
NetworkOption = Annotated[
    str | None,
    typer.Option("--network", help="Docker network: bridge (the default), none, or a name"),
]
MessageDeliveryOption = Annotated[
    str | None,
    typer.Option(
        "--message-delivery",
        help="env (BARBEQUE_MESSAGE only, as barbeque), file, or auto (env when it fits)",
    ),
]


def main() -> None:
    try:
        app()
    except PitmasterError as exc:
        typer.echo(f"pitmaster: {exc}", err=True)
        sys.exit(1)


# -- running pitmaster ------------------------------------------------------------


def _settings(**overrides: Any) -> Settings:
    from pydantic import ValidationError

    from pitmaster.settings import Settings

    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        # Without the values given: one of them may be a token.
        problems = "; ".join(
            f"PITMASTER_{'.'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        typer.echo(f"pitmaster: invalid setting: {problems}", err=True)
        raise typer.Exit(2) from exc
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return settings


def _open_store(settings: Settings) -> Store:
    from pitmaster.store.store import Store

    store = Store(settings.database_url)
    store.migrate()
    return store


def _serve(
    settings: Settings,
    store: Store,
    on_enqueue: Callable[[], None] | None = None,
    on_shutdown: Callable[[], None] | None = None,
    metrics: Metrics | None = None,
    log_reader: Executor | None = None,
) -> None:
    from pitmaster import auth, http_server
    from pitmaster.api.app import create_app

    first_token = auth.ensure_admin_tokens(settings, store)
    if first_token is not None:
        _show_first_token(first_token)

    api = create_app(settings, store, on_enqueue=on_enqueue, metrics=metrics, log_reader=log_reader)
    logger.info("pitmaster %s listening on http://%s:%s", __version__, settings.host, settings.port)
    http_server.serve(api, settings, on_shutdown)


def _show_first_token(token: str) -> None:
    typer.echo(
        "pitmaster: first start: this admin token was made, and is shown only this once.\n"
        "pitmaster: keep it safe; use it as PITMASTER_TOKEN for the CLI, as "
        "'Authorization: Bearer TOKEN' for the API, and to log in to the console:",
        err=True,
    )
    typer.echo(token, err=True)


@contextmanager
def _running_worker(settings: Settings, store: Store) -> Iterator[Worker]:
    from pitmaster.executors.docker import DockerExecutor
    from pitmaster.worker.worker import Worker, engine_pool_size

    executor = DockerExecutor(
        settings.docker_host,
        settings.pull_missing_images,
        max_pool_size=engine_pool_size(settings.runner_threads),
    )
    worker = Worker(settings, store, executor)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        executor.close()


@app.command()
def up(host: HostOption = None, port: PortOption = None) -> None:
    """Run the HTTP API and a worker in one process (SQLite by default)."""
    settings = _settings(host=host, port=port)
    store = _open_store(settings)
    with _running_worker(settings, store) as worker:
        _serve(
            settings,
            store,
            on_enqueue=worker.wake,
            on_shutdown=worker.stop,
            metrics=worker.metrics,
            log_reader=worker.executor,
        )
    store.close()


@app.command()
def server(host: HostOption = None, port: PortOption = None) -> None:
    """Run only the HTTP API, against the same database as the workers."""
    settings = _settings(host=host, port=port)
    store = _open_store(settings)
    _serve(settings, store)
    store.close()


@app.command()
def worker() -> None:
    """Run only a worker: start pending jobs in Docker and record how they end."""
    settings = _settings()
    store = _open_store(settings)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    with _running_worker(settings, store) as running:
        if settings.metrics_port is not None:
            from pitmaster.worker.health import serve_health_and_metrics

            running.metrics.watch_store(store)
            serve_health_and_metrics(settings.metrics_port, running)
            logger.info(
                "metrics and health on http://0.0.0.0:%s/metrics and /healthz",
                settings.metrics_port,
            )
        while not stopping.wait(0.5):
            if running.stopping.is_set():  # it stopped itself: it cannot run here
                break
    store.close()
    if running.refused is not None:
        typer.echo(f"pitmaster: this worker stopped: {running.refused}", err=True)
        raise typer.Exit(3)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (also done on every start)."""
    settings = _settings()
    store = _open_store(settings)
    store.close()
    typer.echo(f"database is up to date ({store.dialect})")


@app.command()
def version() -> None:
    """Print pitmaster's version."""
    typer.echo(__version__)


# -- client commands ------------------------------------------------------------


def _client(url: str) -> Client:
    return Client(url, token=os.environ.get("PITMASTER_TOKEN") or None)


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


@app.command()
def apply(
    file: Annotated[Path, typer.Option("-f", "--file", help="YAML file to apply")],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Create or update the apps, job definitions and queues that FILE describes."""
    from pitmaster import apply as apply_file

    spec = apply_file.load(file)
    with _client(url) as client:
        apply_file.apply(client, spec, typer.echo)


@app.command()
def enqueue(
    application: Annotated[str, typer.Argument(help="app name")],
    job: Annotated[str, typer.Argument(help="job name")],
    queue: Annotated[str, typer.Option("--queue", "-q", help="job queue")] = "default",
    message: Annotated[
        str, typer.Option("--message", "-m", help="the message, as JSON (not null)")
    ] = "{}",
    delay: Annotated[float, typer.Option("--delay", help="seconds to wait before running")] = 0,
    run_at: Annotated[
        str | None, typer.Option("--run-at", help="RFC 3339 time to run at, instead of --delay")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="enqueueing again with it returns the same id"),
    ] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Enqueue a message for APPLICATION's JOB and print its message_id."""
    try:
        payload = json.loads(message)
    except json.JSONDecodeError as exc:
        typer.echo(f"pitmaster: --message is not valid JSON: {exc}", err=True)
        raise typer.Exit(2) from exc
    body: dict[str, Any] = {"application": application, "job": job, "queue": queue}
    body |= {"message": payload, "delay_seconds": delay}
    body |= _present(run_at=run_at, idempotency_key=idempotency_key)
    with _client(url) as client:
        result = client.request("POST", "/v2/job_executions", json=body)
    typer.echo(result["message_id"])


@app.command()
def cancel(
    reference: Annotated[str, typer.Argument(metavar="ID", help="message_id or numeric id")],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Cancel an execution: a waiting one at once, a running one by stopping it."""
    with _client(url) as client:
        execution = client.request("POST", f"/v1/job_executions/{reference}/cancel")
    typer.echo(f"{execution['message_id']} {execution['status']}")


@app.command()
def retry(
    reference: Annotated[str, typer.Argument(metavar="ID", help="message_id or numeric id")],
    delay: Annotated[float, typer.Option("--delay", help="seconds to wait before running")] = 0,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Retry a failed, error or cancelled execution; prints the retry's message_id."""
    with _client(url) as client:
        result = client.request(
            "POST", f"/v1/job_executions/{reference}/retries", json={"delay_seconds": delay}
        )
    typer.echo(result["message_id"])


@app.command("retry-all")
def retry_all(
    application: Annotated[str | None, typer.Option("--app")] = None,
    job: Annotated[str | None, typer.Option("--job")] = None,
    queue: Annotated[str | None, typer.Option("--queue")] = None,
    status: Annotated[str, typer.Option("--status", help="failed, error or cancelled")] = "failed",
    since: Annotated[
        str | None, typer.Option("--since", help="only those created since (RFC 3339)")
    ] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Retry, once each, every execution that matches (by default every failed one).

    The server retries a few thousand a call; this goes on until none remain.
    """
    body = _present(
        application=application, job=job, queue=queue, status=status, created_since=since
    )
    retried = 0
    with _client(url) as client:
        while True:  # the server retries at most a few thousand a call: go on after them
            result = client.request("POST", "/v1/job_executions/retries", json=body)
            retried += result["retried"]
            if result.get("next_after_id") is None:
                break
            body["after_id"] = result["next_after_id"]
    typer.echo(f"retried {retried}")


_FINAL_EXIT_CODES = {"success": 0, "failed": 1, "error": 2, "cancelled": 3}


def _show_status(execution: dict[str, Any]) -> None:
    lines = [
        ("message_id", execution["message_id"]),
        ("status", execution["status"]),
        ("job", f"{execution['application']}/{execution['job']}"),
        ("queue", execution["queue"]),
        ("created_at", execution["created_at"]),
        ("started_at", execution.get("started_at")),
        ("finished_at", execution.get("finished_at")),
        ("exit_code", execution.get("exit_code")),
        ("reason", execution.get("reason")),
    ]
    for label, value in lines:
        typer.echo(f"{label:<12} {'-' if value is None else value}")


@app.command()
def status(
    reference: Annotated[str, typer.Argument(metavar="ID", help="message_id or numeric id")],
    wait: Annotated[bool, typer.Option("--wait", help="block until the execution ends")] = False,
    timeout: Annotated[float | None, typer.Option(help="with --wait: give up after")] = None,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Show an execution's status. With --wait, the exit code tells how it ended."""
    with _client(url) as client:
        execution = client.wait(reference, timeout=timeout) if wait else client.execution(reference)
    if as_json:
        _print(execution)
    else:
        _show_status(execution)
    if wait:
        raise typer.Exit(_FINAL_EXIT_CODES.get(execution["status"], 0))


@app.command()
def logs(
    reference: Annotated[str, typer.Argument(metavar="ID", help="message_id or numeric id")],
    wait: Annotated[bool, typer.Option("--wait", help="block until the execution ends")] = False,
    timeout: Annotated[float | None, typer.Option(help="with --wait: give up after")] = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="the output as stored, escape sequences and all")
    ] = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Print an execution's stdout and stderr, each under its own label.

    On a terminal the output is made inert first (no escape sequences, carriage
    returns as line breaks, control characters shown as symbols); --raw prints it
    as stored. Into a pipe or a file it goes as stored.
    """
    fields = "__default__,stdout,stderr"
    with _client(url) as client:
        if wait:
            execution = client.wait(reference, fields=fields, timeout=timeout)
        else:
            execution = client.execution(reference, fields=fields)
    for stream in ("stdout", "stderr"):
        sys.stdout.write(f"--- {stream} ---\n")
        text = execution.get(stream) or ""
        if not raw and sys.stdout.isatty():
            text = clean_output(text)
        if text:
            # Not typer.echo: it strips some escape sequences, and only into a pipe.
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            sys.stdout.flush()


@app.command("list")
def list_executions(
    application: Annotated[str | None, typer.Option("--app")] = None,
    job: Annotated[str | None, typer.Option("--job")] = None,
    queue: Annotated[str | None, typer.Option("--queue")] = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 20,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """List executions, newest first."""
    with _client(url) as client:
        page = client.get(
            "/v1/job_executions",
            application=application,
            job=job,
            queue=queue,
            status=status,
            limit=limit,
        )
    for item in page["items"]:
        typer.echo(
            f"{item['message_id']}  {item['status']:<9} {item['application']}/{item['job']}"
            f"  {item['queue']}  {item['created_at']}"
        )


@app.command()
def workers(url: UrlOption = DEFAULT_URL) -> None:
    """List workers by their heartbeats."""
    _call(url, "GET", "/v1/workers")


# -- apps, jobs, queues ------------------------------------------------------------


def _call(url: str, method: str, path: str, body: Any = None) -> None:
    with _client(url) as client:
        result = client.request(method, path, json=body)
    if result is not None:
        _print(result)


def _present(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _limit(max_concurrent: int | None, no_limit: bool) -> dict[str, Any]:
    if no_limit and max_concurrent is not None:
        raise typer.BadParameter("give either --max-concurrent or --no-limit, not both")
    if no_limit:
        return {"max_concurrent_executions": None}
    return _present(max_concurrent_executions=max_concurrent)


@apps_cli.command("list")
def apps_list(url: UrlOption = DEFAULT_URL) -> None:
    """List apps."""
    _call(url, "GET", "/v1/apps")


@apps_cli.command("show")
def apps_show(name: str, url: UrlOption = DEFAULT_URL) -> None:
    """Show one app."""
    _call(url, "GET", f"/v1/apps/{name}")


@apps_cli.command("create")
def apps_create(
    name: str,
    image: Annotated[str, typer.Option("--image", help="Docker image, repo:tag")],
    description: Annotated[str, typer.Option("--description")] = "",
    max_concurrent: LimitOption = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Create an app."""
    body = {
        "name": name,
        "docker_image": image,
        "description": description,
        "max_concurrent_executions": max_concurrent,
    }
    _call(url, "POST", "/v1/apps", body)


@apps_cli.command("update")
def apps_update(
    name: str,
    image: Annotated[str | None, typer.Option("--image")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    max_concurrent: LimitOption = None,
    no_limit: NoLimitOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Change an app's image, description or concurrency limit."""
    body = _present(docker_image=image, description=description) | _limit(max_concurrent, no_limit)
    _call(url, "PATCH", f"/v1/apps/{name}", body)


@apps_cli.command("lock")
def apps_lock(name: str, revision: str, url: UrlOption = DEFAULT_URL) -> None:
    """Run NAME's jobs in the REVISION tag of its image until unlocked."""
    _call(url, "POST", f"/v1/apps/{name}/revision_lock", {"revision": revision})


@apps_cli.command("unlock")
def apps_unlock(name: str, url: UrlOption = DEFAULT_URL) -> None:
    """Run NAME's jobs in its docker_image as given again."""
    _call(url, "DELETE", f"/v1/apps/{name}/revision_lock")


@apps_cli.command("delete")
def apps_delete(name: str, url: UrlOption = DEFAULT_URL) -> None:
    """Delete an app and its job definitions (its executions stay)."""
    _call(url, "DELETE", f"/v1/apps/{name}")
    typer.echo(f"deleted app {name}")


@jobs_cli.command("list")
def jobs_list(
    app_name: Annotated[str, typer.Argument(metavar="APP")], url: UrlOption = DEFAULT_URL
) -> None:
    """List an app's job definitions."""
    _call(url, "GET", f"/v1/apps/{app_name}/job_definitions")


@jobs_cli.command("show")
def jobs_show(
    app_name: Annotated[str, typer.Argument(metavar="APP")], job: str, url: UrlOption = DEFAULT_URL
) -> None:
    """Show one job definition."""
    _call(url, "GET", f"/v1/apps/{app_name}/job_definitions/{quote(job, safe='')}")


@jobs_cli.command("create")
def jobs_create(
    app_name: Annotated[str, typer.Argument(metavar="APP")],
    job: str,
    command: Annotated[list[str], typer.Argument(help="the argv to run; put it after --")],
    description: Annotated[str, typer.Option("--description")] = "",
    retry_limit: Annotated[int | None, typer.Option(help="retries after the first run")] = None,
    base_delay: Annotated[float | None, typer.Option(help="seconds before the first retry")] = None,
    timeout: Annotated[
        float | None, typer.Option(help="stop the job after this many seconds")
    ] = None,
    memory: MemoryOption = None,
    cpus: CpusOption = None,
    pids_limit: PidsLimitOption = None,
    network: NetworkOption = None,
    message_delivery: MessageDeliveryOption = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Define JOB for APP: pitmaster jobs create APP JOB -- CMD [ARG...].

    The rest of the policy (max_delay, jitter, retry_on, retry_exit_codes,
    stop_grace_seconds) is set through the API or `pitmaster apply`.
    """
    body = {"job": job, "command": command, "description": description}
    body |= _present(
        retry_limit=retry_limit,
        base_delay=base_delay,
        timeout_seconds=timeout,
        memory=memory,
        cpus=cpus,
        pids_limit=pids_limit,
        network=network,
        message_delivery=message_delivery,
    )
    _call(url, "POST", f"/v1/apps/{app_name}/job_definitions", body)


@jobs_cli.command("update")
def jobs_update(
    app_name: Annotated[str, typer.Argument(metavar="APP")],
    job: str,
    command: Annotated[list[str] | None, typer.Argument(help="new argv; after --")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    retry_limit: Annotated[int | None, typer.Option(help="retries after the first run")] = None,
    base_delay: Annotated[float | None, typer.Option(help="seconds before the first retry")] = None,
    timeout: Annotated[
        float | None, typer.Option(help="stop the job after this many seconds")
    ] = None,
    memory: MemoryOption = None,
    cpus: CpusOption = None,
    pids_limit: PidsLimitOption = None,
    network: NetworkOption = None,
    message_delivery: MessageDeliveryOption = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Change a job definition's command, description or policy."""
    body = _present(
        command=command or None,
        description=description,
        retry_limit=retry_limit,
        base_delay=base_delay,
        timeout_seconds=timeout,
        memory=memory,
        cpus=cpus,
        pids_limit=pids_limit,
        network=network,
        message_delivery=message_delivery,
    )
    _call(url, "PATCH", f"/v1/apps/{app_name}/job_definitions/{quote(job, safe='')}", body)


@jobs_cli.command("delete")
def jobs_delete(
    app_name: Annotated[str, typer.Argument(metavar="APP")], job: str, url: UrlOption = DEFAULT_URL
) -> None:
    """Delete a job definition (its executions stay)."""
    _call(url, "DELETE", f"/v1/apps/{app_name}/job_definitions/{quote(job, safe='')}")
    typer.echo(f"deleted job definition {app_name}/{job}")


@queues_cli.command("list")
def queues_list(url: UrlOption = DEFAULT_URL) -> None:
    """List job queues."""
    _call(url, "GET", "/v1/job_queues")


@queues_cli.command("show")
def queues_show(name: str, url: UrlOption = DEFAULT_URL) -> None:
    """Show one job queue."""
    _call(url, "GET", f"/v1/job_queues/{name}")


@queues_cli.command("create")
def queues_create(
    name: str,
    description: Annotated[str, typer.Option("--description")] = "",
    max_concurrent: LimitOption = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Create a job queue."""
    body = {"name": name, "description": description, "max_concurrent_executions": max_concurrent}
    _call(url, "POST", "/v1/job_queues", body)


@queues_cli.command("update")
def queues_update(
    name: str,
    description: Annotated[str | None, typer.Option("--description")] = None,
    max_concurrent: LimitOption = None,
    no_limit: NoLimitOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Change a job queue's description or concurrency limit."""
    body = _present(description=description) | _limit(max_concurrent, no_limit)
    _call(url, "PATCH", f"/v1/job_queues/{name}", body)


@queues_cli.command("delete")
def queues_delete(name: str, url: UrlOption = DEFAULT_URL) -> None:
    """Delete a job queue with no pending or running work."""
    _call(url, "DELETE", f"/v1/job_queues/{name}")
    typer.echo(f"deleted job queue {name}")


# -- API tokens ---------------------------------------------------------------------


@token_cli.command("create")
def token_create(
    app_name: Annotated[
        str | None,
        typer.Option("--app", metavar="NAME", help="an app token for NAME (default: admin)"),
    ] = None,
    description: Annotated[str, typer.Option("--description", help="what it is for")] = "",
) -> None:
    """Make an API token and print it alone on stdout (what it is: stderr). Shown only once.

    An admin token may do everything; an app token (--app) may enqueue into its
    app and read, retry and cancel that app's executions, nothing else.
    """
    from pitmaster import auth

    settings = _settings()
    store = _open_store(settings)
    try:
        stored, token = auth.issue(store, app_name, description)
    finally:
        store.close()
    whose = f" for app {stored.app}" if stored.app else ""
    typer.echo(
        f"made {stored.kind.value} token {stored.id}{whose}; it is shown only this once:",
        err=True,
    )
    typer.echo(token)


@token_cli.command("list")
def token_list(as_json: JsonOption = False) -> None:
    """List API tokens (never their secrets), revoked ones too."""
    from pitmaster.api.schemas import TokenOut

    settings = _settings()
    store = _open_store(settings)
    try:
        tokens = store.tokens.all()
    finally:
        store.close()
    if as_json:
        _print([TokenOut.of(token).model_dump(mode="json") for token in tokens])
        return
    typer.echo(f"{'ID':<14} {'KIND':<6} {'APP':<16} {'LAST USED':<20} {'STATE':<8} DESCRIPTION")
    for token in tokens:
        last_used = token.last_used_at.strftime("%Y-%m-%d %H:%M") if token.last_used_at else "never"
        state = "revoked" if token.revoked_at else "active"
        typer.echo(
            f"{token.id:<14} {token.kind.value:<6} {token.app or '-':<16} {last_used:<20} "
            f"{state:<8} {token.description}"
        )


@token_cli.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(metavar="ID", help="the token's id (token list)")],
) -> None:
    """Revoke an API token at once, and end its console sessions."""
    settings = _settings()
    store = _open_store(settings)
    try:
        store.tokens.revoke(token_id)
    finally:
        store.close()
    typer.echo(f"revoked token {token_id}")


# -- secrets ------------------------------------------------------------------------


def _read_secret_value(name: str, value_file: Path | None) -> str:
    """The value from a file, else from stdin: never from argv, which shells and ps show."""
    try:
        if value_file is not None:
            return value_file.read_text(encoding="utf-8")
        if sys.stdin.isatty():
            import getpass

            return getpass.getpass(f"value of {name} (not shown): ")
        return sys.stdin.read()
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"pitmaster: cannot read the value of {name}: {exc}", err=True)
        raise typer.Exit(2) from exc


@secrets_cli.command("set")
def secrets_set(
    app_name: Annotated[str, typer.Argument(metavar="APP")],
    name: Annotated[str, typer.Argument(metavar="NAME", help="e.g. API_TOKEN")],
    value_file: Annotated[
        Path | None,
        typer.Option("--value-file", help="read the value from this file (default: stdin)"),
    ] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Set APP's secret NAME, read from stdin (or --value-file), exactly as given.

    printf '%s' "$TOKEN" | pitmaster secrets set blog API_TOKEN
    """
    value = _read_secret_value(name, value_file)
    if not value:
        # Most likely nothing was piped in: an empty secret would only fail later, in the job.
        typer.echo(
            f"pitmaster: the value of {name} is empty; pipe it in or give --value-file", err=True
        )
        raise typer.Exit(2)
    with _client(url) as client:
        result = client.request("PUT", f"/v1/apps/{app_name}/secrets/{name}", json={"value": value})
    typer.echo(f"set secret {result['name']} of app {app_name}")


@secrets_cli.command("list")
def secrets_list(
    app_name: Annotated[str, typer.Argument(metavar="APP")], url: UrlOption = DEFAULT_URL
) -> None:
    """List APP's secrets: names and when they were set, never values."""
    with _client(url) as client:
        secrets = client.get(f"/v1/apps/{app_name}/secrets")
    for secret in secrets:
        typer.echo(f"{secret['name']}  {secret['updated_at']}")


@secrets_cli.command("delete")
def secrets_delete(
    app_name: Annotated[str, typer.Argument(metavar="APP")],
    name: Annotated[str, typer.Argument(metavar="NAME")],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Delete APP's secret NAME."""
    _call(url, "DELETE", f"/v1/apps/{app_name}/secrets/{name}")
    typer.echo(f"deleted secret {name} of app {app_name}")


@secrets_cli.command("new-key")
def secrets_new_key() -> None:
    """Print a new random key for PITMASTER_SECRETS_KEY."""
    from pitmaster.app_secrets import new_key

    typer.echo(new_key())


@secrets_cli.command("rotate")
def secrets_rotate() -> None:
    """Re-seal every stored secret under the first key of PITMASTER_SECRETS_KEY.

    Runs against the database (PITMASTER_DATABASE_URL), like `migrate`. To
    rotate: put the new key first and keep the old one after it, comma-separated,
    on the server and the workers; run this; then drop the old key.
    """
    from pitmaster.app_secrets import require_box

    settings = _settings()
    box = require_box(settings.secrets_keys)
    store = _open_store(settings)
    try:
        resealed = skipped = 0
        for secret in store.sealed_secrets():
            if store.reseal_secret(secret, box.reseal(secret.ciphertext)):
                resealed += 1
            else:
                skipped += 1  # set or deleted meanwhile: sealed under the first key already
    finally:
        store.close()
    typer.echo(
        f"re-sealed {resealed} secrets" + (f" ({skipped} changed meanwhile)" if skipped else "")
    )
