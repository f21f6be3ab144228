"""Which failures are worth retrying. Everything else fails the document with its reason."""

from __future__ import annotations

import socket

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


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, UpstreamUnavailable | ConnectionError | TimeoutError | socket.timeout):
        return True
    return any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__)


def retry_delay(attempt: int, cap_s: float) -> float:
    """Exponential backoff: 2, 4, 8 … seconds, at most ``cap_s``."""
    return min(cap_s, 2.0 ** (attempt + 1))


def describe(exc: BaseException) -> str:
    """A reason fit for a document's error field: the type and message, no traceback."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"internal error ({type(exc).__name__}): {message}"[:500]
