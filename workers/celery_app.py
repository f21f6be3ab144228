"""How Zhiku configures Celery for ingestion. The worker's entry module, with its tasks, is
``zhiku.worker`` (``zhiku worker``); producers only send messages by task name.

Run the parse queues on CPU machines and the embed queue where the GPU is; both may share a
machine. Parse tasks go to one of two queues by the file's size (``workers.dispatch``): the
task is the same, the queue says who may take it.
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from core.settings import Settings
from workers import task_context
from workers.beat_health import BEAT_TICK_S
from workers.queues import (
    EMBED_MANY_TASK,
    EMBED_QUEUE,
    EMBED_TASK,
    MAINTENANCE_QUEUE,
    MAINTENANCE_TASK,
    PARSE_MANY_TASK,
    PARSE_QUEUE,
    PARSE_SMALL_QUEUE,
    PARSE_TASK,
)

# Celery's default is three retries, up to 1 s apart: with a timeout per try, four of them.
PUBLISH_RETRY_POLICY: dict[str, float] = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}


def enqueue_bound_s(settings: Settings) -> float:
    """The longest a producer (an upload) waits on a broker that is away or stalled: the send,
    then per retry a reconnect and the send again, each within ``broker_timeout_s``, and the
    retries' pauses (measured: 3.0 s at a 1 s timeout against a stopped Redis)."""
    retries = PUBLISH_RETRY_POLICY["max_retries"]
    timeouts = 1 + 2 * retries
    return (
        timeouts * settings.worker.broker_timeout_s + retries * PUBLISH_RETRY_POLICY["interval_max"]
    )


def create_celery(settings: Settings, include: list[str] | None = None) -> Celery:
    """``include``: the task modules, for the worker only; producers send tasks by name."""
    # Request ids and traces travel in every message this process sends or runs.
    task_context.connect()
    app = Celery(
        "zhiku", broker=settings.redis_url, backend=settings.redis_url, include=include or []
    )
    worker = settings.worker
    timeouts = {
        "socket_timeout": worker.broker_timeout_s,
        "socket_connect_timeout": worker.broker_timeout_s,
    }
    app.conf.update(
        task_queues=[
            Queue(PARSE_QUEUE),
            Queue(PARSE_SMALL_QUEUE),
            Queue(EMBED_QUEUE),
            Queue(MAINTENANCE_QUEUE),
        ],
        # The default for a parse task; the dispatcher names the small-file queue itself.
        task_routes={
            PARSE_TASK: {"queue": PARSE_QUEUE},
            PARSE_MANY_TASK: {"queue": PARSE_QUEUE},
            EMBED_TASK: {"queue": EMBED_QUEUE},
            EMBED_MANY_TASK: {"queue": EMBED_QUEUE},
        },
        task_default_queue=MAINTENANCE_QUEUE,
        # ``zhiku beat`` (one per deployment) sends the clean-up; a message no worker took
        # before the next one is due expires, so a long outage does not pile them up.
        beat_schedule={
            "zhiku-maintenance": {
                "task": MAINTENANCE_TASK,
                "schedule": float(settings.maintenance.interval_s),
                "options": {"queue": MAINTENANCE_QUEUE, "expires": settings.maintenance.interval_s},
            }
        },
        # Beat touches a heartbeat on every tick and wakes at least every BEAT_TICK_S, so its
        # health check sees a stopped loop, not just a live process (workers.beat_health).
        beat_scheduler="workers.beat_health:HeartbeatScheduler",
        beat_max_loop_interval=BEAT_TICK_S,
        # A task is acknowledged only after it ran, so a worker that dies loses nothing...
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # ...and takes one message a process, so a dead worker holds back at most that. With
        # late acknowledgement a running task's message still counts: a worker whose
        # processes are all on large files reserves nothing more, so it cannot take a small
        # file's message and hold it behind them (the small-file worker gets it).
        worker_prefetch_multiplier=1,
        # Redis hands an unacknowledged message back only after this; the sweeper
        # (workers.sweeper) re-queues sooner from the database's view. Retries are new
        # messages with a countdown (workers.runner), not Celery's own retry.
        broker_transport_options={"visibility_timeout": worker.visibility_timeout_s, **timeouts},
        result_backend_transport_options={"visibility_timeout": worker.visibility_timeout_s},
        # Without these a stalled Redis (connection open, no reply) holds a send, and so the
        # upload that makes it, forever; the consumer's own long polls are event-driven and
        # kombu's health checks watch them.
        broker_connection_timeout=worker.broker_timeout_s,
        redis_socket_timeout=worker.broker_timeout_s,
        redis_socket_connect_timeout=worker.broker_timeout_s,
        # One retry (a reconnect after a broker restart), so a send is bounded by
        # ``enqueue_bound_s``; the sweeper re-queues whatever could not be sent.
        task_publish_retry_policy=PUBLISH_RETRY_POLICY,
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
