"""Readiness: each dependency up or down, and nothing else (probes carry no credentials)."""

from __future__ import annotations

from collections.abc import Callable

from core.db.session import SessionFactory, ping
from core.resources import Resource
from index.store import VectorStore
from llm.runtime import AnswerModels

# The states a check may be in and still count as ready.
# "degraded": the answer backend answered once and not now; search and the rest still serve.
READY_STATES = ("ok", "in-process", "not configured", "degraded")


class HealthService:
    def __init__(
        self,
        sessions: SessionFactory,
        broker_ping: Callable[[], None] | None,
        store: Resource[VectorStore] | None,
        models: AnswerModels | None,
    ) -> None:
        """``broker_ping``: None when ingestion runs in this process. ``store``: None when
        this process may not open the vector store (an embedded store held by a worker)."""
        self._sessions = sessions
        self._broker_ping = broker_ping
        self._store = store
        self._models = models

    def checks(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            ping(self._sessions)
            checks["database"] = "ok"
        except Exception:
            checks["database"] = "unavailable"
        if self._broker_ping is None:
            checks["ingestion"] = "in-process"
        else:
            try:
                self._broker_ping()
                checks["broker"] = "ok"
            except Exception:
                checks["broker"] = "unavailable"
        if self._store is not None:
            self._store.warm()  # opened in the background; "starting" until then
            checks["vector_store"] = self._store.status
        if self._models is not None:
            # "ok", "starting" (the embedded model loads for a few seconds after start-up),
            # "not configured" (answers switched off on purpose) or "unavailable: …" (also a
            # configured backend that does not answer yet: vLLM loading its model).
            checks["answer_model"] = self._models.readiness().split(":")[0]
        return checks

    @staticmethod
    def ready(checks: dict[str, str]) -> bool:
        return all(state in READY_STATES for state in checks.values())
