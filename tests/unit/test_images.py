"""PITMASTER_ALLOWED_IMAGES: images and rules compared in the full form Docker reads them in."""

from __future__ import annotations

import pytest

from pitmaster.errors import InvalidInput
from pitmaster.images import (
    check_image_allowed,
    image_allowed,
    normalise,
    parse_rules,
    repository,
)


@pytest.mark.parametrize(
    ("image", "full"),
    [
        ("alpine", "docker.io/library/alpine"),
        ("alpine:3.20", "docker.io/library/alpine:3.20"),
        ("library/alpine", "docker.io/library/alpine"),
        ("docker.io/alpine", "docker.io/library/alpine"),
        ("index.docker.io/library/alpine:3", "docker.io/library/alpine:3"),
        ("team/app:1", "docker.io/team/app:1"),
        ("registry.example.com/team/app:1", "registry.example.com/team/app:1"),
        ("Registry.Example.com/app", "registry.example.com/app"),
        ("localhost/app", "localhost/app"),
        ("localhost:5000/app:dev", "localhost:5000/app:dev"),
        ("app@sha256:" + "a" * 64, "docker.io/library/app@sha256:" + "a" * 64),
        ("host:5000/app:1@sha256:" + "b" * 64, "host:5000/app:1@sha256:" + "b" * 64),
    ],
)
def test_given_an_image_when_normalised_then_it_reads_as_docker_reads_it(
    image: str, full: str
) -> None:
    assert normalise(image) == full


def test_given_an_image_with_a_tag_and_a_port_then_its_repository_keeps_the_port() -> None:
    assert repository("localhost:5000/app:dev") == "localhost:5000/app"


@pytest.mark.parametrize(
    ("rules", "image", "allowed"),
    [
        # No rules: any image.
        (None, "anything/at:all", True),
        # A registry, with or without its trailing slash.
        (("registry.example.com/",), "registry.example.com/team/app:1", True),
        (("registry.example.com",), "registry.example.com/app", True),
        (("registry.example.com/",), "registry.example.com.evil.net/app", False),
        (("registry.example.com/",), "evil.net/registry.example.com/app", False),
        (("registry.example.com/",), "alpine", False),
        (("localhost:5000",), "localhost:5000/app:1", True),
        (("localhost:5000",), "localhost:5001/app:1", False),
        # A path on a registry.
        (("registry.example.com/team/",), "registry.example.com/team/app", True),
        (("registry.example.com/team/",), "registry.example.com/teammate/app", False),
        # Docker Hub spelled any way.
        (("docker.io/library/",), "alpine:3", True),
        (("docker.io/",), "team/app", True),
        (("team/",), "docker.io/team/app:2", True),
        (("team/",), "teamx/app", False),
        # A repository: any tag or digest, and what lies below it, but not a longer name.
        (("pitmaster-demo",), "pitmaster-demo:latest", True),
        (("pitmaster-demo",), "docker.io/library/pitmaster-demo", True),
        (("pitmaster-demo",), "pitmaster-demo@sha256:" + "c" * 64, True),
        (("pitmaster-demo",), "pitmaster-demo-evil:latest", False),
        (("pitmaster-demo",), "evil.net/pitmaster-demo:latest", False),
        (("alpine",), "library/alpine:3", True),
        (("team/app",), "team/app/worker:1", True),
        (("team/app",), "team/app-other", False),
        (("registry.example.com/app",), "registry.example.com/app:9", True),
        # An exact image.
        (("alpine:3.20",), "alpine:3.20", True),
        (("alpine:3.20",), "docker.io/library/alpine:3.20", True),
        (("alpine:3.20",), "alpine:3.21", False),
        (("alpine:3.20",), "alpine", False),
        # Several rules: any one will do.
        (("registry.example.com/", "pitmaster-demo"), "pitmaster-demo:latest", True),
        (("registry.example.com/", "pitmaster-demo"), "busybox", False),
    ],
)
def test_given_rules_when_an_image_is_checked_then_only_what_they_name_is_allowed(
    rules: tuple[str, ...] | None, image: str, allowed: bool
) -> None:
    assert image_allowed(image, rules) is allowed


@pytest.mark.parametrize(
    ("text", "rules"),
    [
        (None, None),
        ("", None),
        (" , ", None),
        ("registry.example.com/, pitmaster-demo", ("registry.example.com/", "pitmaster-demo")),
    ],
)
def test_given_the_setting_when_parsed_then_blank_means_any_image(
    text: str | None, rules: tuple[str, ...] | None
) -> None:
    assert parse_rules(text) == rules


def test_given_a_refused_image_when_checked_then_invalid_input_names_the_image_and_the_rules() -> (
    None
):
    with pytest.raises(InvalidInput) as refused:
        check_image_allowed("busybox:1", ("registry.example.com/", "pitmaster-demo"))

    message = str(refused.value)
    assert "'busybox:1' is not allowed" in message
    assert "PITMASTER_ALLOWED_IMAGES" in message
    assert "registry.example.com/, pitmaster-demo" in message
    check_image_allowed("pitmaster-demo:latest", ("pitmaster-demo",))  # allowed: no error
