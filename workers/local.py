"""The embedded default: ingestion on threads inside the serving process.

An embedded Qdrant store can be opened by one process only, so with no broker configured the
API process runs ingestion itself: one thread parses (in an isolated child process, see
``workers.isolation``) while another embeds, so parsing document N+1 overlaps embedding N.
Ingestion stays asynchronous: uploads return at once and progress is visible in the database.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from core.db import documents as doc_queries
from core.db.session import transaction
from workers.dispatch import follow_up
from workers.errors import describe, is_transient
from workers.ingestion import (
    IngestionServices,
    Outcome,
    ParseFn,
    run_embed_stage,
    run_parse_stage,
)
from workers.sweeper import Sweeper

log = logging.getLogger(__name__)

_Job = tuple[str, int, int]  # doc id, version, attempt


class LocalDispatcher:
    """Runs parse and embed stages on two daemon threads of this process."""

    def __init__(self, svc: IngestionServices, parse: ParseFn) -> None:
        self._svc = svc
        self._parse = parse
        self._queues: dict[str, queue.Queue[_Job | None]] = {
            "parse": queue.Queue(),
            "embed": queue.Queue(),
        }
        self._threads = [
            threading.Thread(target=self._loop, args=(name,), name=f"zhiku-{name}", daemon=True)
            for name in self._queues
        ]
        self._busy = {name: False for name in self._queues}
        self._sweeper: Sweeper | None = None

    def start(self, sweep: bool = True) -> None:
        for thread in self._threads:
            thread.start()
        if sweep:
            self._sweeper = Sweeper(self._svc.sessions, self, self._svc.settings.worker)
            self._sweeper.start()

    def stop(self, timeout: float = 30.0) -> None:
        if self._sweeper is not None:
            self._sweeper.stop()
        for q in self._queues.values():
            q.put(None)
        for thread in self._threads:
            thread.join(timeout)

    def parse(self, doc_id: str, version: int) -> None:
        self._queues["parse"].put((doc_id, version, 0))

    def embed(self, doc_id: str, version: int) -> None:
        self._queues["embed"].put((doc_id, version, 0))

    def idle(self) -> bool:
        return all(q.empty() for q in self._queues.values()) and not any(self._busy.values())

    def _loop(self, name: str) -> None:
        stage: Callable[[str, int], Outcome] = (
            (lambda d, v: run_parse_stage(self._svc, d, v, self._parse))
            if name == "parse"
            else (lambda d, v: run_embed_stage(self._svc, d, v))
        )
        q = self._queues[name]
        while (job := q.get()) is not None:
            doc_id, version, _ = job
            self._busy[name] = True
            try:
                follow_up(self, stage(doc_id, version), doc_id, version)
            except Exception as exc:
                self._on_error(name, job, exc)
            finally:
                self._busy[name] = False

    def _on_error(self, name: str, job: _Job, exc: Exception) -> None:
        doc_id, version, attempt = job
        if is_transient(exc) and attempt < self._svc.settings.worker.max_retries:
            delay = min(60.0, 2.0 ** (attempt + 1))
            log.warning("document %s: transient %s, retry in %.0f s", doc_id, exc, delay)
            timer = threading.Timer(
                delay, self._queues[name].put, ((doc_id, version, attempt + 1),)
            )
            timer.daemon = True
            timer.start()
            return
        log.exception("document %s: %s stage failed", doc_id, name)
        with transaction(self._svc.sessions) as session:
            doc_queries.fail(session, doc_id, describe(exc))

    def drain(self, timeout_s: float = 600.0) -> bool:
        """Wait until both queues are empty and nothing runs (CLI and tests)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.idle():
                return True
            time.sleep(0.1)
        return False
