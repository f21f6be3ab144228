"""What a Celery task inherits from whoever queued it: the request id and the trace.

Publishing (in the API, or in a worker queuing the next stage) writes both into the
message's headers; a worker about to run the task sets them for its body, so its log lines
carry the upload's request id and its span joins the upload's trace, and the follow-ups it
queues (parse → embed, retries) carry them on. Celery's signals, connected once per process
(``connect``), for every pool: prefork children, threads, solo.

A task runs a *group*: the documents its message names and others waiting for the same stage
(``workers.runner``); the group's lines carry the id of the message that woke the worker.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun

from core import request_context, tracing
from core.settings import get_settings

_connected = threading.Lock()
_done = False
# Per running task (threads pool: several at once): its span and its request id's token.
_running: dict[str, tuple[Any, Any]] = {}
_configured_pid: int | None = None


def _on_publish(headers: dict[str, Any] | None = None, **_: object) -> None:
    if headers is None:
        return
    request_id = request_context.current()
    if request_id is not None:
        headers.setdefault(request_context.TASK_HEADER, request_id)
    tracing.inject(headers)


def _tracing_once() -> None:
    # After the fork, in the process that runs tasks: an exporter's thread does not survive
    # a fork, so the parent's would be dead here.
    global _configured_pid
    if _configured_pid != os.getpid():
        _configured_pid = os.getpid()
        tracing.configure(get_settings().observability, role="worker")


def _on_prerun(task_id: str | None = None, task: Any = None, **_: object) -> None:
    if task_id is None or task is None:
        return
    _tracing_once()
    request = task.request
    id_token = request_context.set_current(
        request_context.clean(request.get(request_context.TASK_HEADER))
    )
    carried = {key: request.get(key) for key in ("traceparent", "tracestate") if request.get(key)}
    span_cm = tracing.span(
        f"celery.task {task.name}",
        tracing.CONSUMER,
        tracing.extract(carried) if carried else None,
        **{"celery.task_id": task_id, "celery.task": task.name},
    )
    span_cm.__enter__()
    _running[task_id] = (span_cm, id_token)


def _on_postrun(task_id: str | None = None, **_: object) -> None:
    entry = _running.pop(task_id or "", None)
    if entry is None:
        return
    span_cm, id_token = entry
    span_cm.__exit__(None, None, None)
    request_context.reset(id_token)


def connect() -> None:
    """Connect the handlers (idempotent: every Celery app this process makes calls it)."""
    global _done
    with _connected:
        if _done:
            return
        before_task_publish.connect(_on_publish, weak=False)
        task_prerun.connect(_on_prerun, weak=False)
        task_postrun.connect(_on_postrun, weak=False)
        _done = True
