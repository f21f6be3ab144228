"""One retry policy for every runner: ``decide(error, attempt)`` says retry after a delay, or
fail the document with a reason. The in-process runner and Celery both follow it.

The reason is shown to whoever uploaded the document, so it is plain words; the exception's
type and message (which may name hosts, paths or backend internals) go to the log only."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass

from core.errors import Component, UpstreamUnavailable

log = logging.getLogger(__name__)

_TRANSIENT_NAMES = {
    # by name, so this module needs neither SQLAlchemy nor redis-py imported
    "OperationalError",  # database connection lost / locked
    "InterfaceError",
    "ConnectionError",
    "TimeoutError",
    "BusyLoadingError",
    "ResponseHandlingException",  # qdrant-client transport errors
    "ResourceExhaustedResponse",
}


@dataclass(frozen=True)
class Retry:
    delay_s: float


@dataclass(frozen=True)
class Fail:
    reason: str


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    # Exponential backoff 2, 4, 8 … seconds, at most this: a database or store outage of a
    # minute or two is ridden out within the retries, a longer one fails the documents with a
    # reason (the sweeper and a re-upload pick them up again).
    cap_s: float = 60.0

    def decide(self, error: BaseException, attempt: int) -> Retry | Fail:
        """``attempt``: retries already made for this document in this stage (0 at first)."""
        transient = is_transient(error)
        if transient and attempt < self.max_retries:
            return Retry(min(self.cap_s, 2.0 ** (attempt + 1)))
        log.warning("document failed after %d retries: %s", attempt, internal_detail(error))
        if isinstance(error, UpstreamUnavailable) and error.component is not Component.SERVICE:
            # The component, in words, is all of an outage a document's reader may see.
            return Fail(f"{error.component.words} was unavailable, retried {attempt} times")
        if transient:
            return Fail(f"a temporary failure, retried {attempt} times")
        return Fail(describe(error))


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, UpstreamUnavailable | ConnectionError | TimeoutError | socket.timeout):
        return True
    return any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__)


def describe(exc: BaseException) -> str:
    """A reason fit for a document's error field: plain words, no exception type or message
    (``internal_detail`` has those, for the log)."""
    if type(exc).__name__ == "SoftTimeLimitExceeded":  # Celery's, by name (no import here)
        return "processing took longer than the worker's time limit"
    return "processing stopped on an unexpected error; the administrator's log has the details"


def internal_detail(exc: BaseException) -> str:
    """The exception's type and first line, for the log only."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}"[:500]
