"""Handing stages to Celery: messages carry ids, never data, and every message expires so a
backlog cannot replay forever.

Jobs queued together (an upload request's files, a parsed wave) travel as a few messages of up
to ``JOBS_PER_MESSAGE`` each rather than one per document: a message costs the producer, the
broker and the worker a few milliseconds, which a small document's whole ingestion does not
dwarf. Several messages, not one, so that several workers share a large upload.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

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
    PARSE_TASK,
)
from workers.runner import Stage, StageJob

_ROUTES = {Stage.PARSE: (PARSE_TASK, PARSE_QUEUE), Stage.EMBED: (EMBED_TASK, EMBED_QUEUE)}
_MANY_TASKS = {Stage.PARSE: PARSE_MANY_TASK, Stage.EMBED: EMBED_MANY_TASK}

JOBS_PER_MESSAGE = 16


def job_args(job: StageJob) -> list[object]:
    return [job.doc_id, job.version, job.attempt, job.tenant_id]


def job_from_args(args: Sequence[object]) -> StageJob:
    doc_id, version, attempt, tenant_id = args
    return StageJob(str(doc_id), int(version), int(attempt), str(tenant_id))  # type: ignore[call-overload]


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
        jobs = [StageJob(doc.doc_id, doc.version, 0, doc.tenant_id) for doc in documents]
        self.schedule_many(Stage.PARSE, jobs)

    def schedule(self, stage: Stage, job: StageJob, delay_s: float = 0.0) -> None:
        task, queue = _ROUTES[stage]
        # The message carries this span's trace (workers.task_context): the task joins it.
        with _broker(), tracing.span("celery.send", tracing.PRODUCER, queue=queue):
            self._app.send_task(
                task,
                args=(job.doc_id, job.version, job.attempt),
                queue=queue,
                expires=self._expires + delay_s,
                countdown=delay_s or None,
                ignore_result=True,
            )

    def schedule_many(self, stage: Stage, jobs: Sequence[StageJob]) -> None:
        _, queue = _ROUTES[stage]
        with _broker(), tracing.span("celery.send", tracing.PRODUCER, queue=queue, jobs=len(jobs)):
            for start in range(0, len(jobs), JOBS_PER_MESSAGE):
                batch = jobs[start : start + JOBS_PER_MESSAGE]
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
