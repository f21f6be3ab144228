"""The heartbeat that keeps the claims of running stages fresh (see :mod:`workers.runs`): one
thread per process beats for every run at work, however long its model or parser calls take,
and marks a run ``lost`` when a beat finds its claim gone."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from core.db import documents as doc_queries
from core.db.session import transaction
from workers.context import StageContext
from workers.runs import Run

log = logging.getLogger(__name__)


class _Heartbeats:
    """One daemon thread per process that refreshes the claims of every run at work (a
    thread per document cost more than parsing a small one). Each beat is a fenced write: one
    that finds the claim gone marks the run ``lost``, so it stops within a beat instead of
    working on beside the run that took the document over."""

    def __init__(self) -> None:
        self._runs: dict[Run, StageContext] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def add(self, svc: StageContext, runs: Sequence[Run]) -> None:
        with self._lock:
            for run in runs:
                run.next_beat = time.monotonic() + svc.beat_interval_s
                self._runs[run] = svc
            if self._thread is None or self._pid != os.getpid():  # a fork has no thread
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._loop, name="zhiku-heartbeat", daemon=True
                )
                self._thread.start()

    def remove(self, runs: Sequence[Run]) -> None:
        with self._lock:
            for run in runs:
                self._runs.pop(run, None)

    def _loop(self) -> None:
        while True:
            time.sleep(1.0)
            now = time.monotonic()
            with self._lock:
                due = [(r, svc) for r, svc in self._runs.items() if now >= r.next_beat]
            for run, svc in due:
                if not run.working:
                    continue  # done, ended or lost: its own stage thread closes it
                run.next_beat = now + svc.beat_interval_s
                try:
                    with transaction(svc.sessions) as session:
                        held = doc_queries.record_progress(session, run.doc_id, run.token)
                except Exception:  # a missed beat is harmless; the next round tries again
                    log.warning("heartbeat for %s failed", run.doc_id, exc_info=True)
                    break  # the database is likely away: one warning a round, not one a run
                if not held:
                    run.lost = True
                    log.info("document %s: claim lost, stopping this run", run.doc_id)


_HEARTBEATS = _Heartbeats()


@contextmanager
def heartbeat(svc: StageContext, run: Run) -> Iterator[None]:
    """Keep the claim fresh while a long single call (parsing, OCR) runs."""
    with heartbeats(svc, [run]):
        yield


@contextmanager
def heartbeats(svc: StageContext, runs: Sequence[Run]) -> Iterator[None]:
    """Keep these runs' claims fresh for as long as the block runs, and mark a run ``lost``
    when a beat finds its claim gone. The beats end with the block, whatever ends it: a group
    that died on an error must leave its claims to go stale, for the sweeper to re-queue."""
    runs = list(runs)
    _HEARTBEATS.add(svc, runs)
    try:
        yield
    finally:
        _HEARTBEATS.remove(runs)
