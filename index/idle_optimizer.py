"""When the embedded store optimizes: once enough points wait, and only while nobody uses it.

The embedded engine's ``optimize`` holds the GIL for its whole run (measured: no other Python
thread moves; 6,000 points took 4.6 s on 2 shared cores, +20k on a large shard 15-20 s). The
serving store therefore optimizes in a child process (:mod:`index.shard_optimize`), which
costs CPU but no pause; it still takes the cores that ingestion and searches need, so
:class:`IdleOptimizer` runs it on a background thread once the store has seen no write or
search for ``idle_s``; only if writes never pause and ``FORCE_FACTOR`` times the threshold
piles up (brute force over that many unindexed points costs more) does it run while busy.
An optimize that fails is logged and tried again after a pause that doubles up to an hour.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

FORCE_FACTOR = 5
MAX_BACKOFF_S = 3600.0


class IdleOptimizer:
    """Counts points written since the last optimize. ``after`` None: never optimize by
    itself; ``idle_s`` None: optimize at once, on the writer's thread (tests, one-shot tools)."""

    def __init__(
        self, optimize: Callable[[], None], after: int | None, idle_s: float | None
    ) -> None:
        self._optimize = optimize
        self._after = after
        self._idle_s = idle_s
        self.pending = 0
        self.runs = 0  # optimizes done: for tests and the log
        self._last_activity = time.monotonic()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.failures = 0  # optimizes that failed in a row
        self._retry_at = 0.0

    def touch(self) -> None:
        """The store was used: postpone a waiting optimize."""
        self._last_activity = time.monotonic()

    def added(self, count: int) -> None:
        self.pending += count
        self.touch()
        if self._after is None or self.pending < self._after:
            return
        if self._idle_s is None:
            self._optimize()
            self.runs += 1
        elif self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="zhiku-store-optimize", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stopped = True

    def _run(self) -> None:
        assert self._after is not None and self._idle_s is not None
        while not self._stopped and self.pending >= self._after:
            now = time.monotonic()
            idle = now - self._last_activity >= self._idle_s
            if now >= self._retry_at and (idle or self.pending >= self._after * FORCE_FACTOR):
                started = time.perf_counter()
                log.info("vector store optimize started: %d points written since the last",
                         self.pending)  # fmt: skip
                try:
                    self._optimize()
                except RuntimeError:  # the store was closed meanwhile
                    return
                except Exception:
                    self.failures += 1
                    backoff = min(MAX_BACKOFF_S, max(self._idle_s, 1.0) * 2**self.failures)
                    self._retry_at = time.monotonic() + backoff
                    log.exception("vector store optimize failed; next try in %.0f s", backoff)
                    continue
                self.runs += 1
                self.failures = 0
                log.info("vector store optimized in %.1f s", time.perf_counter() - started)
            else:
                time.sleep(min(1.0, max(self._idle_s / 4, 0.01)))
