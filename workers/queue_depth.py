"""How much ingestion work is waiting, for ``zhiku_ingest_queue_depth``: messages in the
Celery queues on Redis, and documents waiting at each stage in the database.

Both, because they differ on purpose: a message only wakes a worker, which then takes every
document waiting for its stage (``workers.runner``), so a short broker queue can stand for
a long backlog, and the embedded default has no broker at all. The database's count is the
backlog; the broker's says whether workers are keeping up with their wake-ups.
"""

from __future__ import annotations

import contextlib

import redis

from core.db import stage_queue
from core.db.session import SessionFactory
from workers.queues import EMBED_QUEUE, MAINTENANCE_QUEUE, PARSE_QUEUE, PARSE_SMALL_QUEUE

BROKER, DATABASE = "broker", "database"
# Each queue on its own: a small-file queue that grows while the parse queue does not says
# the small-file worker is short of processes (or busy on slow small files).
QUEUES = (PARSE_QUEUE, PARSE_SMALL_QUEUE, EMBED_QUEUE, MAINTENANCE_QUEUE)
# Kombu's Redis transport keeps a queue's messages of priority p > 0 in "<queue>\x06\x16<p>"
# (its default priority steps): each is a list of its own.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
_TIMEOUT_S = 1.0


def broker_depths(redis_url: str) -> dict[tuple[str, str], int]:
    client = redis.Redis.from_url(
        redis_url, socket_timeout=_TIMEOUT_S, socket_connect_timeout=_TIMEOUT_S
    )
    try:
        pipe = client.pipeline(transaction=False)
        for queue in QUEUES:
            for suffix in _PRIORITY_SUFFIXES:
                pipe.llen(queue + suffix)
        lengths = iter(pipe.execute())
        return {(queue, BROKER): sum(next(lengths) for _ in _PRIORITY_SUFFIXES) for queue in QUEUES}
    finally:
        client.close()


def database_depths(sessions: SessionFactory) -> dict[tuple[str, str], int]:
    with sessions() as session:
        counts = stage_queue.waiting_counts(session)
    return {(stage, DATABASE): counts.get(stage, 0) for stage in ("stored", "parsing", "embedding")}


def read_depths(sessions: SessionFactory, redis_url: str) -> dict[tuple[str, str], int]:
    """Each source read on its own: a broker that is down still leaves the database's view."""
    depths: dict[tuple[str, str], int] = {}
    # A source that fails leaves a gap in its graph; the API's own 503s say why.
    with contextlib.suppress(Exception):
        depths.update(database_depths(sessions))
    if redis_url:
        with contextlib.suppress(redis.RedisError, OSError):
            depths.update(broker_depths(redis_url))
    return depths
