"""Celery tasks: thin wrappers that run a stage, then queue the next one or record the failure."""

from __future__ import annotations

import logging
import os
import socket
from functools import cache

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready, worker_shutting_down

from core.settings import get_settings
from workers.celery_app import app
from workers.dispatch import CeleryDispatcher, follow_up
from workers.errors import describe, is_transient, retry_delay
from workers.ingestion import run_embed_stage, run_parse_stage
from workers.queues import EMBED_TASK, PARSE_TASK
from workers.runs import fail_document
from workers.services import IngestionServices, ParseFn
from workers.sweeper import Sweeper

log = logging.getLogger(__name__)


@cache
def _services() -> IngestionServices:
    # Built lazily in each worker process (after the prefork fork), never at import.
    from zhiku.assembly import build_ingestion_services

    return build_ingestion_services(
        get_settings(), worker_name=f"{socket.gethostname()}:{os.getpid()}"
    )


@cache
def _parse_fn() -> ParseFn:
    from zhiku.assembly import build_parse_fn

    return build_parse_fn(get_settings())


@cache
def _dispatcher() -> CeleryDispatcher:
    return CeleryDispatcher(get_settings())


def _run(task: Task, doc_id: str, version: int, stage: str) -> str:
    svc = _services()
    try:
        if stage == "parse":
            outcome = run_parse_stage(svc, doc_id, version, _parse_fn())
        else:
            outcome = run_embed_stage(svc, doc_id, version)
    except SoftTimeLimitExceeded:
        limit = svc.settings.worker.task_time_limit_s
        fail_document(svc, doc_id, f"{stage} took longer than the {limit} s limit")
        return "failed"
    except Exception as exc:
        retries = task.request.retries
        if is_transient(exc) and retries < svc.settings.worker.max_retries:
            log.warning(
                "document %s: transient %s, retry %d", doc_id, type(exc).__name__, retries + 1
            )
            raise task.retry(exc=exc, countdown=retry_delay(retries, 300)) from exc
        log.exception("document %s: %s stage failed", doc_id, stage)
        fail_document(svc, doc_id, describe(exc))
        return "failed"
    follow_up(_dispatcher(), outcome, doc_id, version)
    return outcome.value


@app.task(name=PARSE_TASK, bind=True, acks_late=True, max_retries=None)
def parse_document(self: Task, doc_id: str, version: int) -> str:
    return _run(self, doc_id, version, "parse")


@app.task(name=EMBED_TASK, bind=True, acks_late=True, max_retries=None)
def embed_document(self: Task, doc_id: str, version: int) -> str:
    return _run(self, doc_id, version, "embed")


_sweeper: Sweeper | None = None


@worker_ready.connect
def _start_sweeper(**_: object) -> None:
    """Each worker re-queues documents whose run went silent (a dead worker's, or a lost
    message), sooner than the broker's visibility timeout would. Claims make it safe for
    several workers to sweep at once."""
    global _sweeper
    from zhiku.database import build_sessions

    settings = get_settings()
    _sweeper = Sweeper(build_sessions(settings), _dispatcher(), settings.worker)
    _sweeper.start()


@worker_shutting_down.connect
def _stop_sweeper(**_: object) -> None:
    if _sweeper is not None:
        _sweeper.stop()
