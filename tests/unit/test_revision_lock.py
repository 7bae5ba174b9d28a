"""barbeque's revision lock: pin the tag an app's jobs run in, and unpin it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pitmaster.models import DEFAULT_QUEUE, image_at_revision
from pitmaster.store.store import Store

from ..api_errors import error_text


@pytest.mark.parametrize(
    ("image", "revision", "expected"),
    [
        ("blog", "v2", "blog:v2"),
        ("blog:latest", "v2", "blog:v2"),
        (
            "registry.example.com:5000/team/blog:1.0",
            "abc123",
            "registry.example.com:5000/team/blog:abc123",
        ),
        (
            "registry.example.com:5000/team/blog",
            "abc123",
            "registry.example.com:5000/team/blog:abc123",
        ),
        ("blog@sha256:" + "0" * 64, "v3", "blog:v3"),
        ("blog:latest", None, "blog:latest"),
    ],
)
def test_given_an_image_and_a_revision_then_only_the_tag_changes(
    image: str, revision: str | None, expected: str
) -> None:
    assert image_at_revision(image, revision) == expected


def test_given_a_locked_app_when_its_job_is_claimed_then_it_runs_the_locked_tag(
    client: TestClient, store: Store
) -> None:
    assert (
        client.post("/v1/apps", json={"name": "blog", "docker_image": "blog:latest"}).status_code
        == 201
    )
    store.create_job_definition("blog", "notify", ["notify"])

    locked = client.post("/v1/apps/blog/revision_lock", json={"revision": "2024-06-01"})
    assert locked.status_code == 201
    assert locked.json() == {"revision": "2024-06-01"}
    assert client.get("/v1/apps/blog").json()["docker_image"] == "blog:latest"
    store.enqueue("blog", "notify", DEFAULT_QUEUE, None)
    claim = store.claim("w", 60)
    assert claim is not None and claim.docker_image == "blog:2024-06-01"

    # When unlocked, the next job runs the image as given again.
    unlocked = client.delete("/v1/apps/blog/revision_lock")
    assert unlocked.status_code == 204 and unlocked.content == b""
    assert store.get_app("blog").revision_lock is None
    store.enqueue("blog", "notify", DEFAULT_QUEUE, None)
    claim = store.claim("w", 60)
    assert claim is not None and claim.docker_image == "blog:latest"


@pytest.mark.parametrize("revision", ["", "has space", "a/b", "x" * 129, ":tag"])
def test_given_a_bad_revision_when_locked_then_422_and_nothing_changes(
    client: TestClient, store: Store, revision: str
) -> None:
    client.post("/v1/apps", json={"name": "blog", "docker_image": "blog:latest"})

    response = client.post("/v1/apps/blog/revision_lock", json={"revision": revision})

    error_text(response, 422, "revision")
    assert store.get_app("blog").revision_lock is None


def test_given_no_such_app_when_locked_then_404(client: TestClient) -> None:
    response = client.post("/v1/apps/ghost/revision_lock", json={"revision": "v1"})

    assert error_text(response, 404) == "app 'ghost' does not exist"
