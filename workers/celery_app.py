"""The Celery app for ingestion workers (one app module per worker type).

Start it with ``zhiku worker`` (or ``celery -A workers.celery_app worker``). Run the parse
queue on CPU machines and the embed queue where the GPU is; both may share a machine.
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from core.settings import Settings, get_settings
from workers.queues import EMBED_QUEUE, EMBED_TASK, MAINTENANCE_QUEUE, PARSE_QUEUE, PARSE_TASK


def create_celery(settings: Settings) -> Celery:
    # Tasks are imported by the worker only (``include``); producers send them by name.
    app = Celery(
        "zhiku", broker=settings.redis_url, backend=settings.redis_url, include=["workers.tasks"]
    )
    worker = settings.worker
    app.conf.update(
        task_queues=[Queue(PARSE_QUEUE), Queue(EMBED_QUEUE), Queue(MAINTENANCE_QUEUE)],
        task_routes={PARSE_TASK: {"queue": PARSE_QUEUE}, EMBED_TASK: {"queue": EMBED_QUEUE}},
        task_default_queue=MAINTENANCE_QUEUE,
        # A task is acknowledged only after it ran, so a worker that dies loses nothing...
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # ...and takes one message at a time, so a dead worker holds back at most one.
        worker_prefetch_multiplier=1,
        # Redis hands an unacknowledged message back only after this; the sweeper
        # (workers.sweeper) re-queues sooner from the database's view.
        broker_transport_options={"visibility_timeout": worker.visibility_timeout_s},
        result_backend_transport_options={"visibility_timeout": worker.visibility_timeout_s},
        task_time_limit=worker.task_time_limit_s + 30,
        task_soft_time_limit=worker.task_time_limit_s,
        task_track_started=True,
        result_expires=24 * 3600,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
    )
    return app


app = create_celery(get_settings())
