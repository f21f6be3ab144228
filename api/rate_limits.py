"""Which requests count against a rate (``services.rate_limits``), and the check itself, as
``api.limits.RequestGuard`` runs it: after authentication, before the body is read, and
never blocking the event loop on Redis."""

from __future__ import annotations

import re

import anyio
import anyio.to_thread
from starlette.types import Scope

from core.access import Principal
from core.errors import TooManyRequests
from services.rate_limits import Family, RateLimiter

_VERSION_UPLOAD = re.compile(r"/v1/documents/[^/]+/versions")
# Rate checks waiting on Redis at once; more wait their turn (on the loop, costing nothing).
# A check takes a millisecond, or ``timeout_s`` once when Redis stops answering.
CHECK_THREADS = 16
_THREADS_STATE = "rate_limit_threads"


def family_of(scope: Scope) -> Family | None:
    """The rate family of a request: a search, a question (/v1/chat, the OpenAI-compatible
    /v1/chat/completions), an upload (a new document or version); None: not counted."""
    if scope["method"] != "POST":
        return None
    path = scope["path"].rstrip("/")
    if path == "/v1/search":
        return "search"
    if path == "/v1/chat" or path.startswith("/v1/chat/"):
        return "chat"
    if path == "/v1/documents" or _VERSION_UPLOAD.fullmatch(path):
        return "upload"
    return None


async def over_rate(scope: Scope, principal: Principal) -> TooManyRequests | None:
    """The refusal (429) when this request is over its caller's or tenant's rate; None: go
    on. This process's buckets are checked on the loop (a dict lookup); Redis's on a worker
    thread, so a Redis slow to answer holds this request alone, never the loop."""
    family = family_of(scope)
    limiter: RateLimiter | None = getattr(scope["app"].state.runtime.services, "rate_limits", None)
    if family is None or limiter is None or not limiter.enabled:
        return None
    try:
        if limiter.blocking:
            await anyio.to_thread.run_sync(
                limiter.check, principal, family, limiter=_check_threads(scope)
            )
        else:
            limiter.check(principal, family)
    except TooManyRequests as exc:
        return exc
    return None


def _check_threads(scope: Scope) -> anyio.CapacityLimiter:
    """The app's own threads for Redis checks, apart from anyio's default ones: a Redis that
    stops answering holds these, never those that authentication (the database) needs.
    Made on first use, on the app's event loop (an anyio limiter belongs to one)."""
    state = scope["app"].state
    threads: anyio.CapacityLimiter | None = getattr(state, _THREADS_STATE, None)
    if threads is None:
        threads = anyio.CapacityLimiter(CHECK_THREADS)
        setattr(state, _THREADS_STATE, threads)
    return threads
