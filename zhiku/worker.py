"""The Celery worker's entry module: its app, its tasks, and its container.

Tasks are thin: a message names one document and wakes the worker; the worker takes that
document *and* the others waiting for the same stage (``IngestionRunner.companions``) and runs
them as one group, so embedding fills whole batches across documents, as the embedded default
does. Claims in the database make every document run exactly once, whichever message or
worker reaches it first; the messages of documents already done find nothing to do.

Parse messages reach a worker from two queues, by the files' size (``workers.dispatch``): the
tasks are the same, the queue decides which workers may take them (``zhiku worker --queues``).

Start it with ``zhiku worker`` (or ``celery -A zhiku.worker worker``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import cache

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import setup_logging, worker_ready, worker_shutting_down

from core import logs
from core.db.access import StoreAccessWriter
from core.errors import Component, UnprocessableDocument
from core.resources import Resource
from core.settings import Settings, get_settings
from workers.celery_app import create_celery
from workers.context import ParseResult, parse_each
from workers.dispatch import CeleryDispatcher, job_from_args
from workers.queues import (
    EMBED_MANY_TASK,
    EMBED_TASK,
    MAINTENANCE_TASK,
    PARSE_MANY_TASK,
    PARSE_TASK,
)
from workers.runner import IngestionRunner, Stage, StageJob
from workers.sweeper import Sweeper, reconcile_access
from zhiku.components import build_store, retry_policy
from zhiku.container import Container
from zhiku.parsing import build_parse_fn

log = logging.getLogger(__name__)

app = create_celery(get_settings(), include=["zhiku.worker"])


_building = threading.Lock()


@cache
def _container() -> Container:
    # Built lazily in each worker process (after the prefork fork), never at import.
    return Container(get_settings(), role="worker")


def _runner() -> IngestionRunner:
    # Task threads (an embed-only worker runs two) share one runner, one model and one store.
    with _building:
        return _build_runner()


@cache
def _build_runner() -> IngestionRunner:
    container = _container()
    assert container.celery is not None, "a Celery worker needs ZHIKU_REDIS_URL"
    parse = build_parse_fn(container.settings)
    limit = container.settings.worker.task_time_limit_s

    def parse_within_limit(data: bytes, filename: str) -> ParseResult:
        try:
            return parse(data, filename)
        except SoftTimeLimitExceeded:
            raise UnprocessableDocument(f"parsing took longer than the {limit} s limit") from None

    return IngestionRunner(
        container.stage_context,
        container.celery,
        retry_policy(container.settings),
        parse_each(parse_within_limit),
    )


@cache
def _reconcile_embedded_store() -> None:
    """With the embedded engine (it opens in one process: this worker child's) the main
    process cannot write access lists, so the child does, once, before its first embed."""
    container = _container()
    if container.settings.qdrant.url:
        return  # the main process's sweeper writes a Qdrant server
    try:
        reconcile_access(container.sessions, lambda: container.store.set_document_access)
    except Exception:
        log.warning("access lists could not be brought in line", exc_info=True)


@setup_logging.connect
def _logging(loglevel: int | str = "INFO", **_: object) -> None:
    """Our format (text or JSON, with the request id) instead of Celery's: a receiver of this
    signal makes Celery leave logging alone."""
    level = loglevel if isinstance(loglevel, str) else logging.getLevelName(loglevel)
    logs.configure(level, get_settings().observability.log_format)


def run_stage(stage: Stage, jobs: list[StageJob]) -> str:
    runner = _runner()
    if stage is Stage.EMBED:
        with _building:
            _reconcile_embedded_store()
    group = runner.gather(stage, jobs)
    if not group:
        return f"{stage}: nothing to do"
    # The documents a task took, under the id of the request that queued it.
    log.info("%s stage: %d documents: %s", stage, len(group), " ".join(j.doc_id for j in group))
    if stage is Stage.PARSE:
        runner.parse(group)
    else:
        runner.embed(group)
    return f"{stage}: {len(group)} documents"


# ``size_bytes``: the original's, so that a retry is routed to the queue the first try was
# (``workers.dispatch``); messages sent before sizes travelled have none.
@app.task(name=PARSE_TASK, bind=True, acks_late=True)
def parse_document(
    self: Task, doc_id: str, version: int, attempt: int = 0, size_bytes: int | None = None
) -> str:
    return run_stage(Stage.PARSE, [StageJob(doc_id, version, attempt, "", size_bytes)])


@app.task(name=EMBED_TASK, bind=True, acks_late=True)
def embed_document(
    self: Task, doc_id: str, version: int, attempt: int = 0, size_bytes: int | None = None
) -> str:
    return run_stage(Stage.EMBED, [StageJob(doc_id, version, attempt, "", size_bytes)])


@app.task(name=PARSE_MANY_TASK, bind=True, acks_late=True)
def parse_documents(self: Task, jobs: list[list[object]]) -> str:
    return run_stage(Stage.PARSE, [job_from_args(args) for args in jobs])


@app.task(name=EMBED_MANY_TASK, bind=True, acks_late=True)
def embed_documents(self: Task, jobs: list[list[object]]) -> str:
    return run_stage(Stage.EMBED, [job_from_args(args) for args in jobs])


@app.task(name=MAINTENANCE_TASK, acks_late=True)
def maintenance() -> dict[str, int]:
    """Celery beat's periodic clean-up (``workers.maintenance``). Vectors are cleaned where a
    Qdrant server holds them; an embedded index is the embed worker's alone (files only)."""
    from dataclasses import asdict

    from workers.maintenance import run_maintenance

    container = _container()
    settings = container.settings
    store = (lambda: container.store) if settings.qdrant.url else None
    done = run_maintenance(
        container.sessions,
        container.dispatcher,
        settings.worker,
        settings.maintenance,
        container.blobs,
        store,
    )
    log.info("maintenance: %s", done)
    return asdict(done)


_sweeper: Sweeper | None = None


@worker_ready.connect
def _start_sweeper(**_: object) -> None:
    """Each worker re-queues documents whose run went silent (a dead worker's, or a lost
    message), sooner than the broker's visibility timeout would. Claims make it safe for
    several workers to sweep at once."""
    global _sweeper
    settings = get_settings()
    dispatcher = CeleryDispatcher(settings)
    from zhiku.database import build_sessions

    _sweeper = Sweeper(
        build_sessions(settings), dispatcher, settings.worker, _server_store_access(settings)
    )
    _sweeper.start()


def _server_store_access(settings: Settings) -> Callable[[], StoreAccessWriter] | None:
    """The sweeper (first run at start-up) writes access lists that are behind to a Qdrant
    server; the embedded engine is the worker child's (``_reconcile_embedded_store``)."""
    if not settings.qdrant.url:
        return None
    store = Resource("vector store", lambda: build_store(settings), Component.VECTOR_STORE)
    return lambda: store.get().set_document_access


@worker_shutting_down.connect
def _stop_sweeper(**_: object) -> None:
    if _sweeper is not None:
        _sweeper.stop()
