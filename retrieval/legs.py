"""Running a hybrid query's keyword leg beside the encoding of its question.

The dense leg cannot start before the question is encoded (5-12 ms of ONNX on a CPU), but the
keyword leg can: its vector is ready in well under a millisecond. On a restrictive reader at a
million chunks the keyword leg is the larger engine cost (its IDF is counted over the reader's
scope), so running it on a second thread takes the encoding and the dense leg off the critical
path (docs/benchmarks.md, "Hybrid legs side by side"). Both the ONNX runtime and the engine
release the GIL while they work.

A second thread only helps while a core is free. The threads are few and never queued for: when
every one is busy (a loaded server, every core already working), the query runs as one engine
call instead, which costs less CPU than two legs.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class LegRunner:
    """Starts a leg on a free thread, or leaves it to the caller when none is free."""

    def __init__(self, threads: int) -> None:
        self._free = threading.BoundedSemaphore(threads) if threads > 0 else None
        self._pool = (
            ThreadPoolExecutor(threads, thread_name_prefix="zhiku-leg") if threads > 0 else None
        )

    def start(self, leg: Callable[[], T]) -> Callable[[], T] | None:
        """``leg`` started now on a free thread (call what this returns for its result), or
        None when no thread is free."""
        if self._pool is None or self._free is None or not self._free.acquire(blocking=False):
            return None
        # The caller's context (request id, trace span) goes with the leg into the thread.
        context = contextvars.copy_context()

        def run() -> T:
            try:
                return context.run(leg)
            finally:
                assert self._free is not None
                self._free.release()

        try:
            future = self._pool.submit(run)
        except RuntimeError:  # shut down
            self._free.release()
            return None
        return future.result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
