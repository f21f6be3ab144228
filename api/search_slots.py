"""At most a few searches run at once in an API process; the others wait their turn on the
event loop.

Why: a search is CPU work on a worker thread (the query's embedding, then the engine's query,
which holds the GIL). Without a bound, anyio's 40 default threads all run searches at once
when many clients call: they take turns at the GIL and the cores, every search is slowed by
all the others, and throughput falls as clients grow (issue 14: 55 searches/s at 4 clients,
45 at 64). A few slots keep the cores busy, one embedding beside one engine call per core,
and a waiting search costs nothing but its place in a first-come, first-served queue
(anyio's ``CapacityLimiter``). The default thread pool stays free for authentication and
uploads.
"""

from __future__ import annotations

import os

import anyio
from starlette.requests import Request

_STATE = "search_slots"


def slot_count(configured: int) -> int:
    """``limits.concurrent_searches``, 0 meaning twice the cores this process may use."""
    return configured or 2 * len(os.sched_getaffinity(0))


def open_search_slots(app_state: object, configured: int) -> None:
    """Called in the app's lifespan, on its event loop (an anyio limiter belongs to one)."""
    setattr(app_state, _STATE, anyio.CapacityLimiter(slot_count(configured)))


def search_slots(request: Request) -> anyio.CapacityLimiter:
    return getattr(request.app.state, _STATE)
