"""The request id: one per API request, on every log line it causes, in the API and in the
Celery tasks it queued.

The API takes the client's ``X-Request-ID`` when it is a plausible id (``clean``: bounded
length, a safe charset, so nothing a client sends can forge log lines or blow up a log
index) or makes one (``new_id``), and sets it for the request (``bound``); it travels into
tasks as a message header (``workers.task_context``). A context variable, so threads started
with the context (``anyio.to_thread``, Starlette's thread pool) carry it too.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

HEADER = "X-Request-ID"
# The Celery message header that carries it into a task.
TASK_HEADER = "zhiku_request_id"
MAX_CHARS = 128
_SAFE = re.compile(rf"[A-Za-z0-9._:@/+=-]{{1,{MAX_CHARS}}}")

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "zhiku_request_id", default=None
)


def clean(raw: str | bytes | None) -> str | None:
    """``raw`` when it is a usable id, else None (the caller makes a new one)."""
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("latin-1")
    raw = raw.strip()
    return raw if _SAFE.fullmatch(raw) else None


def new_id() -> str:
    return uuid.uuid4().hex


def current() -> str | None:
    return _current.get()


@contextmanager
def bound(request_id: str | None) -> Iterator[None]:
    """``request_id`` is the current one inside the block (None: none is)."""
    token = _current.set(request_id)
    try:
        yield
    finally:
        _current.reset(token)


def set_current(request_id: str | None) -> contextvars.Token[str | None]:
    """For hooks that start and end apart (a task's pre- and post-run signals)."""
    return _current.set(request_id)


def reset(token: contextvars.Token[str | None]) -> None:
    _current.reset(token)
