"""Re-queue documents whose processing went silent; bring the store's access lists in line.

A worker that dies (SIGKILL, OOM, lost machine) leaves its document ``processing`` with a
heartbeat that stops moving. With Redis the message comes back only after the visibility
timeout (an hour by default), so the database, not the broker, decides: a document silent for
``stale_after_s`` is queued again at the stage it reached. Stages are idempotent, so a message
the broker also redelivers later finds nothing to do.

Where the process can write the vector store, each sweep (the first at start-up) also writes
the committed access list of every document whose store copy is behind: an access change
whose process died after its commit, or whose store write failed (``core.db.access``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from core.db import documents as doc_queries
from core.db import jobs as job_queries
from core.db.access import StoreAccessWriter, behind_in_store, reconcile_store_access
from core.db.models import DocumentStage, utcnow
from core.db.session import SessionFactory, transaction
from core.dispatch import Dispatcher, QueuedDocument
from core.settings import WorkerSettings

log = logging.getLogger(__name__)


def sweep_once(sessions: SessionFactory, dispatcher: Dispatcher, settings: WorkerSettings) -> int:
    stale_after = timedelta(seconds=settings.stale_after_s)
    requeued = 0
    with transaction(sessions) as session:
        candidates = [
            (QueuedDocument(d.id, d.version, d.tenant_id, d.size_bytes), d.stage)
            for d in doc_queries.stale_documents(session, stale_after)
        ]
    for document, stage in candidates:
        doc_id, version = document.doc_id, document.version
        with transaction(sessions) as session:
            # Dead runs, not claims: a database restart makes every document retry a few
            # times (each retry a claim), and must not read as a worker that kept dying.
            deaths = job_queries.silent_runs(session, doc_id, version)
            if deaths >= settings.max_retries + 1:
                doc_queries.fail(
                    session,
                    doc_id,
                    f"gave up after {deaths} attempts (worker kept dying)",
                    # Still silent: a run that claimed it since the candidates were read goes on.
                    unclaimed_since=utcnow() - stale_after,
                )
                continue
            if not doc_queries.touch(session, doc_id, utcnow() - stale_after):
                continue  # another sweeper won
        if stage == DocumentStage.EMBEDDING:
            dispatcher.embed(doc_id, version)
        else:
            # With its size and tenant: a small file goes back to the small-file queue
            # (``workers.dispatch``), or lane, not behind the large files.
            dispatcher.parse_many([document])
        requeued += 1
        log.info("re-queued silent document %s at stage %s", doc_id, stage)
    return requeued


def reconcile_access(
    sessions: SessionFactory, store_access: Callable[[], StoreAccessWriter]
) -> int:
    """Write the committed list of every document whose store copy is behind; logged. The
    store is opened only when one is behind (a start-up need not wait for it otherwise)."""
    with sessions() as session:
        if not behind_in_store(session, 1):
            return 0
    written = reconcile_store_access(sessions, store_access())
    if written:
        log.info("wrote the committed access list of %d documents to the store", written)
    return written


class Sweeper:
    """``store_access``: how to reach the store's access writer (opened on first use), where
    this process may write the store; None: it may not, another process reconciles.
    ``cleanup``: where no Celery beat runs (the embedded default), the orphan clean-up
    (``workers.maintenance``), run every ``cleanup_every_s`` after the first."""

    def __init__(
        self,
        sessions: SessionFactory,
        dispatcher: Dispatcher,
        settings: WorkerSettings,
        store_access: Callable[[], StoreAccessWriter] | None = None,
        cleanup: Callable[[], object] | None = None,
        cleanup_every_s: float = 3600.0,
    ) -> None:
        self._sessions = sessions
        self._dispatcher = dispatcher
        self._settings = settings
        self._store_access = store_access
        self._cleanup = cleanup
        self._cleanup_every_s = cleanup_every_s
        self._next_cleanup = time.monotonic() + cleanup_every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="zhiku-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while True:
            try:
                sweep_once(self._sessions, self._dispatcher, self._settings)
            except Exception:  # the sweeper must outlive a database hiccup
                log.warning("sweep failed", exc_info=True)
            if self._store_access is not None:
                try:
                    reconcile_access(self._sessions, self._store_access)
                except Exception:  # a store that is down: the next sweep tries again
                    log.warning("access lists could not be brought in line", exc_info=True)
            if self._cleanup is not None and time.monotonic() >= self._next_cleanup:
                self._next_cleanup = time.monotonic() + self._cleanup_every_s
                try:
                    self._cleanup()
                except Exception:  # a store that is down: the next round tries again
                    log.warning("orphan clean-up failed", exc_info=True)
            if self._stop.wait(self._settings.sweep_interval_s):
                return
