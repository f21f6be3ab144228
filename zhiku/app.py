"""The web application as ``zhiku serve`` runs it: the API over this process's container."""

from __future__ import annotations

from fastapi import FastAPI

from api.main import create_api
from core.settings import Settings, get_settings
from zhiku.container import Container
from zhiku.database import build_sessions


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    limits = settings.limits

    def build_runtime() -> Container:
        build_sessions(settings, migrate=True)
        return Container(settings, role="api")

    return create_api(
        build_runtime,
        public_docs=settings.environment != "production",
        # Every file at its limit, plus room for the multipart envelope and form fields.
        max_body_bytes=limits.max_upload_bytes * limits.max_files_per_upload + 1024 * 1024,
    )
