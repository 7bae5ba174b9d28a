"""What the runner puts in a job's container: resources, network, secrets, allowed images."""

from __future__ import annotations

import logging

import pytest

from pitmaster.app_secrets import SECRETS_PER_APP_MAX, SecretBox, new_key
from pitmaster.executors.base import RunSpec
from pitmaster.models import Status
from pitmaster.store.store import Store
from pitmaster.testing import FakeExecutor
from pitmaster.worker.runner import ContainerDefaults, Runner

IMAGE = "registry.example.com/shop:1.2"
VALUE = "tok-3f9a-secret-value"
DEFAULTS = ContainerDefaults(
    memory=2 * 1024**3, pids_limit=1024, cpu_shares=1024, cpus=None, log_max_bytes=1024**2
)


@pytest.fixture
def executor() -> FakeExecutor:
    return FakeExecutor(engine="engine-a")


def _runner(store: Store, executor: FakeExecutor, **options: object) -> Runner:
    return Runner(store, executor, "worker-a", 30.0, container_defaults=DEFAULTS, **options)  # type: ignore[arg-type]


def _run(store: Store, executor: FakeExecutor, **options: object) -> tuple[str, RunSpec | None]:
    """Enqueue shop/mail, run it once; the execution's message_id and its container's spec."""
    execution = store.enqueue("shop", "mail", "default", {"n": 1})
    assert _runner(store, executor, **options).run_once() is True
    specs = [c.spec for c in executor.containers.values()]
    return execution.message_id, specs[0] if specs else None


def test_given_a_definition_with_resources_when_run_then_they_override_the_defaults(
    store: Store, executor: FakeExecutor
) -> None:
    store.create_app("shop", IMAGE)
    store.create_job_definition(
        "shop", "mail", ["m"], memory=64 * 1024**2, cpus=0.5, pids_limit=64, network="none"
    )

    _, spec = _run(store, executor)

    assert spec is not None
    assert (spec.memory, spec.cpus, spec.pids_limit, spec.network) == (
        64 * 1024**2,
        0.5,
        64,
        "none",
    )
    assert spec.cpu_shares == 1024 and spec.log_max_bytes == 1024**2


def test_given_a_definition_without_resources_when_run_then_the_settings_decide(
    store: Store, executor: FakeExecutor
) -> None:
    store.create_app("shop", IMAGE)
    store.create_job_definition("shop", "mail", ["m"])

    _, spec = _run(store, executor)

    assert spec is not None
    assert (spec.memory, spec.cpus, spec.pids_limit, spec.network) == (
        2 * 1024**3,
        None,
        1024,
        None,
    )


def test_given_a_message_naming_resources_when_run_then_the_container_ignores_it(
    store: Store, executor: FakeExecutor
) -> None:
    store.create_app("shop", IMAGE)
    store.create_job_definition("shop", "mail", ["m"], network="none")
    execution = store.enqueue(
        "shop", "mail", "default", {"network": "host", "privileged": True, "pids_limit": -1}
    )

    _runner(store, executor).run_once()

    (container,) = executor.containers.values()
    assert container.spec.network == "none"
    assert container.spec.pids_limit == 1024
    assert store.get_execution(execution.message_id).status is Status.RUNNING


def test_given_an_app_with_secrets_when_run_then_each_is_a_file_and_in_no_variable(
    store: Store, executor: FakeExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    key = new_key()
    box = SecretBox(key)
    store.create_app("shop", IMAGE)
    store.create_job_definition("shop", "mail", ["m"])
    store.put_secret("shop", "API_TOKEN", box.seal("shop", "API_TOKEN", VALUE), SECRETS_PER_APP_MAX)
    store.put_secret("shop", "_other", box.seal("shop", "_other", "two"), SECRETS_PER_APP_MAX)
    caplog.set_level(logging.DEBUG)

    _, spec = _run(store, executor, secrets_keys=key)

    assert spec is not None
    assert spec.files["/run/secrets/API_TOKEN"] == VALUE.encode()
    assert spec.files["/run/secrets/_other"] == b"two"
    assert spec.file_modes["/run/secrets/API_TOKEN"] == 0o444
    assert all(VALUE not in value for value in spec.environment.values())
    assert all(VALUE not in value for value in spec.labels.values())
    assert VALUE not in repr(spec)
    assert VALUE not in caplog.text


def test_given_an_app_with_secrets_and_a_worker_without_the_key_when_run_then_error_saying_so(
    store: Store, executor: FakeExecutor
) -> None:
    box = SecretBox(new_key())
    store.create_app("shop", IMAGE)
    store.create_job_definition("shop", "mail", ["m"])
    store.put_secret("shop", "API_TOKEN", box.seal("shop", "API_TOKEN", VALUE), SECRETS_PER_APP_MAX)

    message_id, spec = _run(store, executor)

    assert spec is None  # no container was made
    ended = store.get_execution(message_id)
    assert ended.status is Status.ERROR
    assert ended.reason is not None
    assert "has secrets but this worker cannot open them" in ended.reason
    assert "PITMASTER_SECRETS_KEY" in ended.reason


def test_given_secrets_sealed_under_another_key_when_run_then_error_and_no_container(
    store: Store, executor: FakeExecutor
) -> None:
    store.create_app("shop", IMAGE)
    store.create_job_definition("shop", "mail", ["m"])
    sealed = SecretBox(new_key()).seal("shop", "API_TOKEN", VALUE)
    store.put_secret("shop", "API_TOKEN", sealed, SECRETS_PER_APP_MAX)

    message_id, spec = _run(store, executor, secrets_keys=new_key())

    assert spec is None
    ended = store.get_execution(message_id)
    assert ended.status is Status.ERROR
    assert ended.reason is not None and "does not open" in ended.reason
    assert VALUE not in ended.reason


def test_given_an_app_without_secrets_when_run_without_a_key_then_it_runs(
    store: Store, executor: FakeExecutor
) -> None:
    store.create_app("shop", IMAGE)
    store.create_job_definition("shop", "mail", ["m"])

    message_id, spec = _run(store, executor)

    assert spec is not None
    assert not [path for path in spec.files if path.startswith("/run/secrets")]
    assert store.get_execution(message_id).status is Status.RUNNING


def test_given_an_image_no_longer_allowed_when_run_then_error_with_the_reason_and_no_container(
    store: Store, executor: FakeExecutor
) -> None:
    store.create_app("shop", IMAGE)
    store.create_job_definition("shop", "mail", ["m"])

    message_id, spec = _run(store, executor, allowed_images=("pitmaster-demo",))

    assert spec is None
    ended = store.get_execution(message_id)
    assert ended.status is Status.ERROR
    assert ended.reason is not None
    assert f"{IMAGE!r} is not allowed" in ended.reason and "pitmaster-demo" in ended.reason


def test_given_an_allowed_image_at_a_locked_revision_when_run_then_it_runs(
    store: Store, executor: FakeExecutor
) -> None:
    store.create_app("shop", IMAGE)
    store.lock_revision("shop", "2.0")
    store.create_job_definition("shop", "mail", ["m"])

    _, spec = _run(store, executor, allowed_images=("registry.example.com/",))

    assert spec is not None and spec.image == "registry.example.com/shop:2.0"


def test_given_a_taken_over_claim_whose_image_is_now_refused_then_its_container_is_removed(
    store: Store, executor: FakeExecutor
) -> None:
    store.create_app("shop", IMAGE)
    store.create_job_definition("shop", "mail", ["m"])
    execution = store.enqueue("shop", "mail", "default", None)
    claim = store.claim("dead-worker", lease_seconds=0.0)
    assert claim is not None
    executor.start(RunSpec(claim.container_name, IMAGE, ("m",), {}, {}))  # then it died

    assert _runner(store, executor, allowed_images=("pitmaster-demo",)).run_once() is True

    assert store.get_execution(execution.message_id).status is Status.ERROR
    assert executor.containers == {}
