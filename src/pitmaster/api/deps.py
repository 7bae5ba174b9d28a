"""What request handlers need, reached through the application's state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from pitmaster.executors.base import Executor
from pitmaster.settings import Settings
from pitmaster.store.store import Store


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: Store
    on_enqueue: Callable[[], None] | None
    # An engine this process can read running jobs' output from (``up``); None: none.
    log_reader: Executor | None = None


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services)]
