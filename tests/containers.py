"""Finding and removing the containers a test's database made, without racing their removal.

``containers.list()`` inspects every container it lists, one request each, and
fails with ``NotFound`` when a worker removes one in between. A sparse listing
is the one list call alone; removing tolerates a container already gone.
"""

from __future__ import annotations

import docker
from docker.models.containers import Container


def labelled(client: docker.DockerClient, label: str) -> list[Container]:
    """Every container (running or not) carrying ``label``, from one list call."""
    containers: list[Container] = client.containers.list(
        all=True, filters={"label": label}, sparse=True
    )
    return containers


def remove_labelled(client: docker.DockerClient, label: str) -> None:
    """Remove every container carrying ``label``; those removed meanwhile are fine."""
    for container in labelled(client, label):
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # removal already in progress
                raise
