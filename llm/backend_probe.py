"""Whether a configured answer backend answers right now, for readiness.

A configured backend was reported "ok" from the first second, so an API beside a vLLM server
still loading its weights (minutes) said it was ready and every question failed meanwhile.
The probe asks each backend of the ``answer`` route for its model list (``GET /models``: vLLM
answers it only once the model is loaded, llama.cpp's server and hosted APIs too), and the
answer model is ready when one of them answers: the router fails over to it.

Once a backend has answered, a later failure is "degraded", not "unavailable": the API stays
in its load balancer's rotation, since search, documents and the portal work without a model
and a question meanwhile gets a clear 503; taking every replica out for an LLM outage would
turn a partial outage into a whole one. Before the first answer (loading) it is not ready.

Readiness probes come every few seconds from each orchestrator and load balancer: a result is
kept ``ttl_s`` seconds, and one probe runs at a time (others meanwhile get the last result).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import httpx

from core.settings_llm import LlmBackendSettings, LlmSettings

# How long a probe's result stands: readiness follows a backend going down within this.
PROBE_TTL_S = 5.0
# The longest one backend's probe may take (its connect timeout may be shorter).
PROBE_TIMEOUT_S = 2.0


def answer_backends(settings: LlmSettings) -> list[LlmBackendSettings]:
    """The backends that answer questions: the ``answer`` route's, else all configured."""
    named = settings.routes.get("answer") or []
    chosen = [b for b in settings.backends if b.name in named]
    return chosen or list(settings.backends)


class BackendProbe:
    def __init__(
        self,
        backends: Sequence[LlmBackendSettings],
        ttl_s: float = PROBE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backends = list(backends)
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state = "starting"  # until the first probe has answered
        self._answered = False  # a backend has answered a probe since start
        self._checked_at: float | None = None

    def state(self) -> str:
        """ "ok" when a backend answered its last probe; else "unavailable: <why>" until one
        has answered once (loading), "degraded: <why>" after."""
        now = self._clock()
        if self._checked_at is not None and now - self._checked_at < self._ttl_s:
            return self._state
        if not self._lock.acquire(blocking=False):
            return self._state  # a probe is running: its predecessor's result meanwhile
        try:
            state = self._probe()
            self._answered = self._answered or state == "ok"
            if self._answered and state != "ok":
                state = "degraded" + state.removeprefix("unavailable")
            self._state = state
            self._checked_at = self._clock()
        finally:
            self._lock.release()
        return self._state

    def _probe(self) -> str:
        failures: list[str] = []
        for backend in self._backends:
            timeout = httpx.Timeout(
                PROBE_TIMEOUT_S, connect=min(PROBE_TIMEOUT_S, backend.connect_timeout_s)
            )
            headers = {"Authorization": f"Bearer {backend.api_key}"} if backend.api_key else {}
            try:
                response = httpx.get(
                    backend.base_url.rstrip("/") + "/models", headers=headers, timeout=timeout
                )
            except httpx.HTTPError as exc:
                failures.append(f"{backend.name}: {type(exc).__name__}")
                continue
            if response.status_code == 200:
                return "ok"
            failures.append(f"{backend.name}: HTTP {response.status_code}")
        return "unavailable: " + "; ".join(failures or ["no backend"])
