"""The acceptance tests share the integration tests' Docker set-up."""

from ..integration.conftest import docker_client

__all__ = ["docker_client"]
