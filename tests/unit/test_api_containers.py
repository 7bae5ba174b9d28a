"""What decides a job's container, through the API and the console: allowed images, resources."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pitmaster.settings import Settings
from pitmaster.store.store import Store

from ..api_errors import error_text
from .conftest import form_token, log_in, serving

ALLOWED = "registry.example.com/,pitmaster-demo"


@pytest.fixture
def restricted(settings: Settings, store: Store) -> Iterator[TestClient]:
    """The API of a server that allows only registry.example.com and pitmaster-demo images."""
    with serving(settings.model_copy(update={"allowed_images": ALLOWED}), store) as client:
        log_in(client)  # a console session
        client.get("/")  # and the CSRF cookie that goes with it
        yield client


def _csrf(client: TestClient) -> str:
    return form_token(client, "/")


@pytest.mark.parametrize(
    "image", ["registry.example.com/team/shop:1", "pitmaster-demo:latest", "pitmaster-demo"]
)
def test_given_allowed_images_when_an_app_uses_one_then_created(
    restricted: TestClient, image: str
) -> None:
    response = restricted.post("/v1/apps", json={"name": "shop", "docker_image": image})

    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "image", ["alpine:3", "pitmaster-demo-evil:1", "evil.net/registry.example.com/x"]
)
def test_given_allowed_images_when_an_app_uses_another_then_422_naming_the_rules_and_nothing_made(
    restricted: TestClient, store: Store, image: str
) -> None:
    response = restricted.post("/v1/apps", json={"name": "shop", "docker_image": image})

    assert response.status_code == 422
    error = response.json()["error"]
    assert f"{image!r} is not allowed" in error
    assert "PITMASTER_ALLOWED_IMAGES" in error and "pitmaster-demo" in error
    assert store.list_apps() == []


@pytest.mark.parametrize(
    "image", ["sha256:" + "3f" * 32, "3f" * 32, "3f9a1c2b7d4e", "SHA256:3f9a", "abc"]
)
def test_given_allowed_images_when_an_app_names_an_image_id_then_422_and_nothing_made(
    settings: Settings, store: Store, image: str
) -> None:
    # Given Docker Hub's official images allowed (a bare hex name reads as one of them),
    allowed = settings.model_copy(update={"allowed_images": "docker.io/library/"})
    with serving(allowed, store) as client:
        # when an app is given an image ID, then 422 saying so, and no app.
        response = client.post("/v1/apps", json={"name": "shop", "docker_image": image})
        assert response.status_code == 422, response.text
        assert "image ID" in response.json()["error"]
        assert store.list_apps() == []
        # Without an allow-list an ID is any image, as Docker takes it.
    with serving(settings, store) as client:
        assert client.post("/v1/apps", json={"name": "shop", "docker_image": image}).is_success


def test_given_allowed_images_when_an_apps_image_is_changed_to_another_then_422_and_unchanged(
    restricted: TestClient, store: Store
) -> None:
    store.create_app("shop", "pitmaster-demo:1")

    refused = restricted.patch("/v1/apps/shop", json={"docker_image": "alpine:3"})
    allowed = restricted.patch("/v1/apps/shop", json={"description": "still fine"})

    assert refused.status_code == 422
    assert allowed.status_code == 200
    assert store.get_app("shop").docker_image == "pitmaster-demo:1"


def test_given_an_exact_image_rule_when_a_revision_lock_leaves_it_then_422_and_unlocked(
    settings: Settings, store: Store
) -> None:
    store.create_app("shop", "alpine:3.20")
    exact = settings.model_copy(update={"allowed_images": "alpine:3.20"})
    with serving(exact, store) as client:
        response = client.post("/v1/apps/shop/revision_lock", json={"revision": "edge"})

    error_text(response, 422, "image 'alpine:edge' is not allowed")
    assert store.get_app("shop").revision_lock is None


def test_given_allowed_images_when_the_console_makes_or_edits_an_app_then_it_refuses_others(
    restricted: TestClient, store: Store
) -> None:
    made = restricted.post(
        "/apps", data={"name": "shop", "docker_image": "alpine:3", "csrf_token": _csrf(restricted)}
    )
    store.create_app("blog", "pitmaster-demo:1")
    edited = restricted.post(
        "/apps/blog/edit", data={"docker_image": "alpine:3", "csrf_token": _csrf(restricted)}
    )

    assert made.status_code == 422 and "is not allowed" in made.text
    assert edited.status_code == 422 and "is not allowed" in edited.text
    assert [app.name for app in store.list_apps()] == ["blog"]
    assert store.get_app("blog").docker_image == "pitmaster-demo:1"


def test_given_the_console_form_when_resources_are_set_and_cleared_then_stored_and_shown(
    client: TestClient, store: Store
) -> None:
    store.create_app("shop", "shop:1")
    log_in(client)
    client.get("/")
    form = {
        "app": "shop",
        "job": "mail",
        "command": "m",
        "cpus": "0.5",
        "pids_limit": "64",
        "network": "none",
        "csrf_token": _csrf(client),
    }

    assert client.post("/job_definitions", data=form).status_code == 200
    definition = store.get_job_definition("shop", "mail")
    assert (definition.cpus, definition.pids_limit, definition.network) == (0.5, 64, "none")
    page = client.get("/job_definitions/shop/mail").text
    assert "PIDs limit</dt><dd>64" in page and "Network</dt><dd>none" in page
    assert 'value="0.5"' in client.get("/job_definitions/shop/mail/edit").text

    cleared = {
        "command": "m",
        "cpus": "",
        "pids_limit": "",
        "network": "",
        "csrf_token": _csrf(client),
    }
    assert client.post("/job_definitions/shop/mail/edit", data=cleared).status_code == 200
    definition = store.get_job_definition("shop", "mail")
    assert (definition.cpus, definition.pids_limit, definition.network) == (None, None, None)


def test_given_the_console_form_with_bad_resources_then_422_saying_why_and_nothing_stored(
    client: TestClient, store: Store
) -> None:
    store.create_app("shop", "shop:1")
    log_in(client)
    client.get("/")
    form = {
        "app": "shop",
        "job": "mail",
        "command": "m",
        "cpus": "lots",
        "pids_limit": "2",
        "network": "host",
        "csrf_token": _csrf(client),
    }

    response = client.post("/job_definitions", data=form)

    assert response.status_code == 422
    assert "cpus must be a number" in response.text
    form["cpus"] = "1"
    response = client.post("/job_definitions", data=form)
    assert response.status_code == 422
    assert "pids_limit" in response.text and "network" in response.text
    assert store.list_job_definitions("shop") == []
