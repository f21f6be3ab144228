"""Handing stages to Celery: messages carry ids, never data, and every message expires so a
backlog cannot replay forever."""

from __future__ import annotations

from core.settings import Settings
from workers.celery_app import create_celery
from workers.queues import EMBED_QUEUE, EMBED_TASK, PARSE_QUEUE, PARSE_TASK
from workers.runner import Stage, StageJob

_ROUTES = {Stage.PARSE: (PARSE_TASK, PARSE_QUEUE), Stage.EMBED: (EMBED_TASK, EMBED_QUEUE)}


class CeleryDispatcher:
    """A ``core.dispatch.Dispatcher`` for uploads and a ``workers.runner.Scheduler`` for
    follow-ups and retries."""

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

    def schedule(self, stage: Stage, job: StageJob, delay_s: float = 0.0) -> None:
        task, queue = _ROUTES[stage]
        self._app.send_task(
            task,
            args=(job.doc_id, job.version, job.attempt),
            queue=queue,
            expires=self._expires + delay_s,
            countdown=delay_s or None,
        )
