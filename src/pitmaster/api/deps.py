"""What request handlers need, reached through the application's state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from pitmaster.settings import Settings
from pitmaster.store.store import Store


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: Store
    on_enqueue: Callable[[], None] | None


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services)]
