"""What the app holds for its lifetime, built once in the lifespan from settings."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from api.llm_runtime import AnswerModels
from core.errors import UpstreamUnavailable
from core.settings import Settings
from llm.routing import LlmRouter
from retrieval.search import Retriever
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
    # Builds the query path from the services (composition root), on first use.
    retriever_factory: Callable[[], Retriever] | None = None
    models: AnswerModels | None = None
    # "starting" until the vector store and models are open, then "ok" or "unavailable".
    store_status: str = "starting"
    _warm: threading.Thread | None = field(default=None, repr=False)
    _retriever: Retriever | None = field(default=None, repr=False)
    _retriever_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def owns_store(self) -> bool:
        """Whether this process may open the vector store: always with a Qdrant server; with
        the embedded engine only when it also runs ingestion (one process per folder)."""
        return bool(self.settings.qdrant.url) or self.local is not None

    def retriever(self) -> Retriever:
        if not self.owns_store():
            raise UpstreamUnavailable(
                "search needs the vector store, which the ingestion worker holds in this set-up"
                " (an embedded store opens in one process): configure a Qdrant server"
                " (ZHIKU_QDRANT__URL) or run the embedded default"
            )
        if self.retriever_factory is None:
            raise UpstreamUnavailable("search is not configured in this process")
        with self._retriever_lock:
            if self._retriever is None:
                self._retriever = self.retriever_factory()
            return self._retriever

    def answer_model(self) -> LlmRouter:
        if self.models is None:
            raise UpstreamUnavailable("answering is not configured in this process")
        return self.models.router()

    def warm_up(self) -> None:
        """Open the store and load the models in the background, so the first upload and the
        readiness probe do not wait for them."""
        if self._warm is not None:
            return

        def run() -> None:
            try:
                _ = self.services.store
                self.store_status = "ok"
            except Exception:
                logging.getLogger(__name__).exception("vector store could not be opened")
                self.store_status = "unavailable"

        self._warm = threading.Thread(target=run, name="zhiku-warm-up", daemon=True)
        self._warm.start()
