"""The answering models of this process: the configured backends, or the embedded llama.cpp
server, started in the background so the API is up (and ingesting) while the model loads."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from core.errors import Component, Outage, UpstreamUnavailable
from core.settings import Settings
from llm.local_server import LlamaCppServer
from llm.routing import LlmRouter

log = logging.getLogger(__name__)


def local_server_pid_file(settings: Settings) -> Path:
    """Where this data folder's llama.cpp child is recorded: a restart after a crash finds it
    there and ends it, instead of starting a second multi-GB model beside it."""
    return settings.data_dir / "run" / "llama-server.pid"


class AnswerModels:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._router: LlmRouter | None = None
        self._local: LlamaCppServer | None = None
        self._status = "starting"
        self._thread: threading.Thread | None = None
        if settings.llm.backends:
            self._router = LlmRouter.from_settings(settings.llm)
            self._status = "ok"
        elif not settings.llm.local.enabled:
            self._status = "not configured"

    @property
    def status(self) -> str:
        """ "ok", "starting", "not configured" or "unavailable: <why>"."""
        return self._status

    def start(self) -> None:
        """Start the embedded server if this process needs one (no backend configured)."""
        if self._router is not None or self._status != "starting" or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._start_local, name="zhiku-llm", daemon=True)
        self._thread.start()

    def _start_local(self) -> None:
        local = self._settings.llm.local
        try:
            server = LlamaCppServer.from_settings(
                local,
                self._settings.model_cache_path,
                pid_file=local_server_pid_file(self._settings),
            )
            self._local = server.start()
            backend = server.backend_settings(name="local", read_timeout_s=local.read_timeout_s)
            self._router = LlmRouter.from_settings(self._settings.llm, [backend])
            self._status = "ok"
            log.info("answer model %s ready at %s", server.model, server.base_url)
        except Exception as exc:
            log.exception("the embedded answer model could not be started")
            self._status = f"unavailable: {exc}"[:300]

    def router(self) -> LlmRouter:
        if self._router is not None:
            return self._router
        if self._status == "starting":
            raise UpstreamUnavailable(
                "the answer model is still starting",
                component=Component.ANSWER_MODEL,
                outage=Outage.STARTING,
            )
        if self._status == "not configured":
            raise UpstreamUnavailable(
                "no answer model is configured: set ZHIKU_LLM__BACKENDS or enable the local one",
                component=Component.ANSWER_MODEL,
                outage=Outage.NOT_CONFIGURED,
            )
        raise UpstreamUnavailable(
            f"the answer model is {self._status}", component=Component.ANSWER_MODEL
        )

    async def aclose(self) -> None:
        router, self._router = self._router, None
        if router is not None:
            await router.aclose()
        if self._local is not None:
            self._local.stop()
            self._local = None
