"""The FastAPI application: ``create_app(settings)`` composes it; ``zhiku serve`` runs it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors
from api.limits import BodySizeLimit
from api.llm_runtime import AnswerModels
from api.routes import audit, chat, conversations, documents, health, openai_compat, search
from api.state import AppState
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)


def build_state(settings: Settings) -> AppState:
    from zhiku.assembly import build_dispatcher, build_ingestion_services, build_retriever
    from zhiku.database import build_sessions

    build_sessions(settings, migrate=True)
    services = build_ingestion_services(settings, worker_name="api")
    dispatcher, local = build_dispatcher(settings, services)
    return AppState(
        settings=settings,
        services=services,
        dispatcher=dispatcher,
        local=local,
        retriever_factory=lambda: build_retriever(settings, services),
        models=AnswerModels(settings),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = build_state(settings)
        app.state.zhiku = state
        assert state.models is not None
        state.models.start()
        if state.local is not None:
            state.local.start()
            log.info("embedded mode: ingestion runs in this process")
            state.warm_up()
        try:
            yield
        finally:
            if state.local is not None:
                state.local.stop()
            state.services.close()
            await state.models.aclose()

    app = FastAPI(
        title="Zhiku",
        version="0.1.0",
        description="Self-hosted knowledge base: permission-aware search and answers.",
        lifespan=lifespan,
        # The schema reveals no data, but production serves nothing without a key.
        docs_url=None if settings.environment == "production" else "/docs",
        redoc_url=None,
        openapi_url=None if settings.environment == "production" else "/openapi.json",
    )
    errors.install(app)
    limits = settings.limits
    # Every file at its limit, plus room for the multipart envelope and form fields.
    app.add_middleware(
        BodySizeLimit,
        max_bytes=limits.max_upload_bytes * limits.max_files_per_upload + 1024 * 1024,
    )
    app.include_router(health.router)
    app.include_router(documents.router)
    app.include_router(search.router)
    app.include_router(chat.router)
    app.include_router(conversations.router)
    app.include_router(openai_compat.router)
    app.include_router(audit.router)
    return app
