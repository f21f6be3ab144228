"""What an LLM call reports (``core.metrics``, ``core.tracing``): tokens by kind, time to first
token, duration and errors, by the backend's configured name (a bounded label: the operator's
list of backends, never the model a caller asked for)."""

from __future__ import annotations

import time
from typing import Any

from core import metrics, tracing

PROMPT, COMPLETION = "prompt", "completion"
UNAVAILABLE, REJECTED, INTERRUPTED = "unavailable", "rejected", "interrupted"
RETRIED, OTHER = "retried", "other"
ERROR_KINDS = (UNAVAILABLE, REJECTED, INTERRUPTED, RETRIED, OTHER)


def registered(backend: str) -> None:
    """A backend's error counters from 0 as soon as it is configured: a series that appears
    only with its first error reads as "no data", not as no errors, and ``rate()`` misses
    that first error (it needs two samples). Token counters are left to their first count:
    a backend that never reports prompt tokens (llama-cpp-python, streaming) must not read
    as prompts of 0 tokens."""
    for kind in ERROR_KINDS:
        metrics.LLM_ERRORS.labels(backend, kind)


class CallWatch:
    """One call (``complete`` or ``stream``) against one backend, from its first attempt."""

    def __init__(self, backend: str, call: str, model: str) -> None:
        self.backend = backend
        self.call = call
        self.started = time.perf_counter()
        self.span: Any = tracing.start_span(
            f"llm.{call}", tracing.CLIENT, **{"llm.backend": backend, "llm.model": model}
        )

    def first_token(self) -> None:
        waited = time.perf_counter() - self.started
        metrics.LLM_TIME_TO_FIRST_TOKEN.labels(self.backend).observe(waited)
        tracing.set_attributes(self.span, **{"llm.time_to_first_token_s": round(waited, 4)})

    def finished(self, prompt_tokens: int | None, completion_tokens: int | None) -> None:
        metrics.LLM_REQUEST_SECONDS.labels(self.backend, self.call).observe(
            time.perf_counter() - self.started
        )
        for kind, count in ((PROMPT, prompt_tokens), (COMPLETION, completion_tokens)):
            if count:
                metrics.LLM_TOKENS.labels(self.backend, kind).inc(count)
        tracing.set_attributes(
            self.span,
            **{
                "llm.prompt_tokens": prompt_tokens or 0,
                "llm.completion_tokens": completion_tokens or 0,
            },
        )
        tracing.end_span(self.span)

    def abandoned(self) -> None:
        """The caller stopped reading (a client gone): not the backend's failure."""
        tracing.set_attributes(self.span, **{"llm.abandoned": True})
        tracing.end_span(self.span)

    def failed(self, kind: str, error: BaseException) -> None:
        metrics.LLM_ERRORS.labels(self.backend, kind).inc()
        tracing.end_span(self.span, error)


def retried(backend: str) -> None:
    metrics.LLM_ERRORS.labels(backend, RETRIED).inc()
