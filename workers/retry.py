"""One retry policy for every runner: ``decide(error, attempt)`` says retry after a delay, or
fail the document with a reason. The in-process runner and Celery both follow it."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from core.errors import UpstreamUnavailable

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
        if is_transient(error) and attempt < self.max_retries:
            return Retry(min(self.cap_s, 2.0 ** (attempt + 1)))
        return Fail(describe(error))


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, UpstreamUnavailable | ConnectionError | TimeoutError | socket.timeout):
        return True
    return any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__)


def describe(exc: BaseException) -> str:
    """A reason fit for a document's error field: the type and message, no traceback."""
    if type(exc).__name__ == "SoftTimeLimitExceeded":  # Celery's, by name (no import here)
        return "processing took longer than the worker's time limit"
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"internal error ({type(exc).__name__}): {message}"[:500]
