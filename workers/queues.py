"""Queue and task names: constants, so producers and consumers cannot drift apart."""

from __future__ import annotations

from collections.abc import Sequence

PARSE_QUEUE = "zhiku.parse"  # CPU: parsing, OCR, chunking (files over 64 KiB, or of unknown size)
# Small files (``workers.parse_stage.is_small_file``) have a queue of their own, so that a
# memo is never queued behind a 200-page PDF whose parse takes minutes: every parse worker
# serves it too, and a worker for it alone keeps a process free for it (``zhiku worker
# --queues parse-small``; compose.yaml's worker-parse-small).
PARSE_SMALL_QUEUE = "zhiku.parse-small"
EMBED_QUEUE = "zhiku.embed"  # GPU where there is one: embedding and upserts
MAINTENANCE_QUEUE = "zhiku.maintenance"

# One document (a retry, the sweeper's re-queue).
PARSE_TASK = "zhiku.ingest.parse"
EMBED_TASK = "zhiku.ingest.embed"
# Several documents in one message (an upload request, a parsed wave).
PARSE_MANY_TASK = "zhiku.ingest.parse_many"
EMBED_MANY_TASK = "zhiku.ingest.embed_many"
# The periodic clean-up (workers.maintenance), sent by Celery beat.
MAINTENANCE_TASK = "zhiku.maintenance.run"


# What ``zhiku worker --queues`` takes, and the Celery queues each name serves. A parse
# worker serves the small files' queue too (Celery's Redis transport takes from a worker's
# queues in turn): a free process never leaves a memo waiting. Not the other way round: a
# worker for small files alone is the slot large files cannot take.
WORKER_QUEUES: dict[str, tuple[str, ...]] = {
    "parse": (PARSE_SMALL_QUEUE, PARSE_QUEUE),
    "parse-small": (PARSE_SMALL_QUEUE,),
    "embed": (EMBED_QUEUE,),
}


def served_queues(asked: Sequence[str]) -> list[str]:
    """The Celery queues of a worker asked for ``asked`` (names of ``WORKER_QUEUES``). Every
    worker also takes the periodic clean-up that ``zhiku beat`` sends, except one for small
    files alone: its process stays free for them (an orphan sweep lists every file)."""
    queues = list(dict.fromkeys(queue for name in asked for queue in WORKER_QUEUES[name]))
    return queues if set(asked) == {"parse-small"} else [*queues, MAINTENANCE_QUEUE]
