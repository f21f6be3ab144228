"""Small writes from many request threads, committed together by one writer thread.

Every search writes its audit row. Written by each request in its own transaction, N
concurrent searches are N concurrent write transactions: on SQLite they take turns for the
one write lock, and a request that finds it taken sleeps in SQLite's busy handler (back-offs
of up to 100 ms), which is where the p99 of a loaded server went. Here a request hands its
write to ``GroupCommitter`` and waits; one thread commits whatever has queued up in one
transaction (a group commit), so there is one writer, and a busy server commits many rows per
transaction instead of fighting over the lock.

Nothing is lost: ``write`` returns only once its row is committed (the request answers after
that, as before), and its error, if any, is the caller's. A batch that fails is retried row
by row, so one bad row fails its own request alone. ``close`` commits everything queued
before it returns; a write after ``close`` (or with the writer not running) commits in the
caller's thread. A crash loses nothing acknowledged: an uncommitted row's request has not
been answered.

The queue is bounded: past ``max_queue`` waiting rows a request blocks until there is room
(backpressure rather than memory without end).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from core.db.session import SessionFactory, transaction

log = logging.getLogger(__name__)

Work = Callable[[Session], object]


@dataclass
class _Item:
    work: Work
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class GroupCommitter:
    def __init__(
        self,
        sessions: SessionFactory,
        *,
        max_batch: int = 256,
        max_queue: int = 4096,
        name: str = "zhiku-group-commit",
    ) -> None:
        self._sessions = sessions
        self._max_batch = max_batch
        self._queue: queue.Queue[_Item | None] = queue.Queue(max_queue)
        self._name = name
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.batches = 0  # transactions committed, for tests and the benchmark
        self.rows = 0

    def write(self, work: Work) -> None:
        """Run ``work`` (session) -> … in a transaction shared with other writers; returns
        once it is committed, raises what it raised (or the commit's error)."""
        item = _Item(work)
        with self._lock:
            running = not self._closed
            if running:
                self._start()
                # Under the lock, so close's sentinel cannot pass this item.
                self._queue.put(item)
        if not running:
            with transaction(self._sessions) as session:
                work(session)
            return
        item.done.wait()
        if item.error is not None:
            raise item.error

    def close(self) -> None:
        """Commit what is queued and stop the thread (later writes commit in place)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[_Item]) -> None:
        try:
            with transaction(self._sessions) as session:
                for item in batch:
                    item.work(session)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
            else:  # one row may be at fault: each alone, so it fails its own request only
                for item in batch:
                    self._commit([item])
                return
        else:
            self.batches += 1
            self.rows += len(batch)
        for item in batch:
            item.done.set()
