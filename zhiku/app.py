"""The web application as ``zhiku serve`` runs it: the API over this process's container."""

from __future__ import annotations

from fastapi import FastAPI

from api.main import create_api
from core import tracing
from core.settings import Settings, get_settings
from workers.queue_depth import read_depths
from zhiku.container import Container
from zhiku.database import build_sessions


def create_app(settings: Settings | None = None, *, own_process: bool = False) -> FastAPI:
    """``own_process``: the app is this process's only one (``zhiku serve``)."""
    settings = settings or get_settings()

    def build_runtime() -> Container:
        build_sessions(settings, migrate=True)
        return Container(settings, role="api")

    tracing.configure(settings.observability, role="api")
    return create_api(
        build_runtime,
        public_docs=settings.environment != "production",
        limits=settings.limits,
        observability=settings.observability,
        queue_depths=lambda runtime: read_depths(runtime.sessions, settings.redis_url),
        freeze_heap=own_process,
    )
