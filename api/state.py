"""What the app holds for its lifetime, built once in the lifespan from settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.settings import Settings
from workers.dispatch import Dispatcher
from workers.local import LocalDispatcher
from workers.services import IngestionServices


@dataclass
class AppState:
    settings: Settings
    services: IngestionServices
    dispatcher: Dispatcher
    # Present in the embedded default, where this process also runs ingestion.
    local: LocalDispatcher | None = None
    closers: list = field(default_factory=list)
