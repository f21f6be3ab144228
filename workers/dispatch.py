"""Handing stages to Celery: messages carry ids, never data, and every message expires so a
backlog cannot replay forever.

Jobs queued together (an upload request's files, a parsed wave) travel as a few messages of up
to ``JOBS_PER_MESSAGE`` each rather than one per document: a message costs the producer, the
broker and the worker a few milliseconds, which a small document's whole ingestion does not
dwarf. Several messages, not one, so that several workers share a large upload.

Parsing is routed by the original's size (``parse_queue``): small files to the small-file
queue, large ones (and those of unknown size) to the parse queue, one file a message. A
group that mixes sizes is split, so a memo never rides in a message behind a 200-page PDF,
and the large files of one upload go to as many processes as are free (a large file's parse
dwarfs its message). Every message carries each document's size, so its retries and the
embed stage's hand-back to parsing are routed the same way; the sweeper sends the size it
reads from the database.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from kombu.exceptions import OperationalError as BrokerError

from core import tracing
from core.dispatch import QueuedDocument
from core.errors import Component, UpstreamUnavailable
from core.settings import Settings
from workers.celery_app import create_celery
from workers.queues import (
    EMBED_MANY_TASK,
    EMBED_QUEUE,
    EMBED_TASK,
    PARSE_MANY_TASK,
    PARSE_QUEUE,
    PARSE_SMALL_QUEUE,
    PARSE_TASK,
)
from workers.runner import Stage, StageJob

_TASKS = {Stage.PARSE: PARSE_TASK, Stage.EMBED: EMBED_TASK}
_MANY_TASKS = {Stage.PARSE: PARSE_MANY_TASK, Stage.EMBED: EMBED_MANY_TASK}

JOBS_PER_MESSAGE = 16


def parse_queue(job: StageJob) -> str:
    """The queue a document's parse goes to: the small-file queue only when its size is known
    to be small (``workers.parse_stage.is_small_file``); a file of unknown size might hold the
    small-file worker for minutes."""
    return PARSE_SMALL_QUEUE if job.small else PARSE_QUEUE


def queue_for(stage: Stage, job: StageJob) -> str:
    return parse_queue(job) if stage is Stage.PARSE else EMBED_QUEUE


def job_args(job: StageJob) -> list[object]:
    return [job.doc_id, job.version, job.attempt, job.tenant_id, job.size_bytes]


def job_from_args(args: Sequence[Any]) -> StageJob:
    """A job from a message's arguments (JSON); a message sent before sizes travelled has
    four."""
    doc_id, version, attempt, tenant_id, *rest = args
    size = rest[0] if rest else None
    return StageJob(
        str(doc_id), int(version), int(attempt), str(tenant_id), None if size is None else int(size)
    )


def messages(stage: Stage, jobs: Sequence[StageJob]) -> list[tuple[str, list[StageJob]]]:
    """``jobs`` cut into messages, each with its queue: embedding and small files up to
    ``JOBS_PER_MESSAGE`` a message, a large file (or one of unknown size) alone."""
    if stage is Stage.EMBED:
        return [(EMBED_QUEUE, batch) for batch in _batches(list(jobs))]
    small = [job for job in jobs if job.small]
    large = [job for job in jobs if not job.small]
    return [(PARSE_SMALL_QUEUE, batch) for batch in _batches(small)] + [
        (PARSE_QUEUE, [job]) for job in large
    ]


def _batches(jobs: list[StageJob]) -> list[list[StageJob]]:
    return [jobs[i : i + JOBS_PER_MESSAGE] for i in range(0, len(jobs), JOBS_PER_MESSAGE)]


class CeleryDispatcher:
    """A ``core.dispatch.Dispatcher`` for uploads and a ``workers.runner.Scheduler`` for
    follow-ups and retries.

    Messages are sent with ``ignore_result``: nobody waits on a stage's result (the database
    holds the progress), and otherwise every send subscribes this process to the result's
    channel on Redis, which with Redis down fails as a ``RuntimeError`` that leaves Celery's
    result consumer asking for a restart, instead of the broker's error."""

    def __init__(self, settings: Settings) -> None:
        # Built from the settings given, not the environment's: the producer and the
        # readiness probe must talk to the broker this process was configured with.
        self._app = create_celery(settings)
        self._expires = settings.worker.enqueue_expires_s

    def ping(self, timeout_s: float = 2.0) -> None:
        """Raise when the broker does not answer."""
        with self._app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout_s)

    def parse(self, doc_id: str, version: int) -> None:
        self.schedule(Stage.PARSE, StageJob(doc_id, version))

    def embed(self, doc_id: str, version: int) -> None:
        self.schedule(Stage.EMBED, StageJob(doc_id, version))

    def parse_many(self, documents: Sequence[QueuedDocument]) -> None:
        jobs = [
            StageJob(doc.doc_id, doc.version, 0, doc.tenant_id, doc.size_bytes) for doc in documents
        ]
        self.schedule_many(Stage.PARSE, jobs)

    def schedule(self, stage: Stage, job: StageJob, delay_s: float = 0.0) -> None:
        """One job (a retry, with its countdown; ``parse`` and ``embed``): its size goes
        along, so its own retry and its next stage are routed as it was."""
        queue = queue_for(stage, job)
        # The message carries this span's trace (workers.task_context): the task joins it.
        with _broker(), tracing.span("celery.send", tracing.PRODUCER, queue=queue):
            self._app.send_task(
                _TASKS[stage],
                args=(job.doc_id, job.version, job.attempt, job.size_bytes),
                queue=queue,
                expires=self._expires + delay_s,
                countdown=delay_s or None,
                ignore_result=True,
            )

    def schedule_many(self, stage: Stage, jobs: Sequence[StageJob]) -> None:
        cut = messages(stage, jobs)
        queues = ",".join(sorted({queue for queue, _ in cut}))
        with _broker(), tracing.span("celery.send", tracing.PRODUCER, queue=queues, jobs=len(jobs)):
            for queue, batch in cut:
                self._app.send_task(
                    _MANY_TASKS[stage],
                    args=([job_args(job) for job in batch],),
                    queue=queue,
                    expires=self._expires,
                    ignore_result=True,
                )


@contextmanager
def _broker() -> Iterator[None]:
    """A broker that cannot take the message is the job queue being unavailable. Callers
    hand work over only after committing it, and the sweeper re-queues documents left
    queued, so nothing is lost: the caller is told so (``api.errors``)."""
    try:
        yield
    except (BrokerError, OSError) as exc:
        raise UpstreamUnavailable(
            f"the Celery broker did not take the message: {type(exc).__name__}: {exc}",
            component=Component.JOB_QUEUE,
        ) from exc
