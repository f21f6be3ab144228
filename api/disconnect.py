"""Stop work nobody waits for: a non-streaming answer whose client went away.

A streamed response notices a gone client on its next write; a non-streaming one writes only
at the end, so without this the model would go on generating (holding its only slot, for up
to minutes on a CPU) for no one. The work runs as a task while the request is polled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import Request

T = TypeVar("T")

# How often a waiting request checks that its client is still there.
POLL_S = 0.5


async def unless_disconnected(request: Request, work: Awaitable[T]) -> tuple[bool, T | None]:
    """``(True, result)`` once ``work`` is done, or ``(False, None)`` as soon as the client
    has disconnected, ``work`` then being cancelled. Errors of ``work`` propagate."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=POLL_S)
            if done:
                return True, task.result()
            if await request.is_disconnected():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                return False, None
    finally:
        if not task.done():  # this request itself was cancelled
            task.cancel()
