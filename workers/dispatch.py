"""How a stage is handed to whoever runs it: Celery queues, or threads in this process."""

from __future__ import annotations

from typing import Protocol

from core.settings import Settings
from workers.queues import EMBED_QUEUE, EMBED_TASK, PARSE_QUEUE, PARSE_TASK
from workers.services import Outcome


class Dispatcher(Protocol):
    def parse(self, doc_id: str, version: int) -> None: ...

    def embed(self, doc_id: str, version: int) -> None: ...


def follow_up(dispatcher: Dispatcher, outcome: Outcome, doc_id: str, version: int) -> None:
    """Queue whatever stage an outcome calls for next."""
    if outcome is Outcome.EMBED_NEXT:
        dispatcher.embed(doc_id, version)
    elif outcome is Outcome.PARSE_NEXT:
        dispatcher.parse(doc_id, version)


class CeleryDispatcher:
    """Messages carry ids, never data; every message expires so a backlog cannot replay forever."""

    def __init__(self, settings: Settings) -> None:
        from workers.celery_app import create_celery

        # Built from the settings given, not the environment's: the producer and the
        # readiness probe must talk to the broker this process was configured with.
        self._app = create_celery(settings)
        self._expires = settings.worker.enqueue_expires_s

    def ping(self, timeout_s: float = 2.0) -> None:
        """Raise when the broker does not answer."""
        with self._app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout_s)

    def parse(self, doc_id: str, version: int) -> None:
        self._app.send_task(
            PARSE_TASK, args=(doc_id, version), queue=PARSE_QUEUE, expires=self._expires
        )

    def embed(self, doc_id: str, version: int) -> None:
        self._app.send_task(
            EMBED_TASK, args=(doc_id, version), queue=EMBED_QUEUE, expires=self._expires
        )
