"""Stopping the embedded default's stage loops takes seconds, whatever they are busy with: the
parsers are closed first (a parse in progress is cut short, ``tests/workers/test_isolation``),
and the loops get one deadline together, not ``timeout`` each."""

from __future__ import annotations

import threading
import time

from workers.fair_queue import FairQueue
from workers.local import LocalDispatcher
from workers.runner import Stage


class _Parser:
    def __init__(self) -> None:
        self.closed_at: float | None = None

    def __call__(self, data: bytes, filename: str) -> None:  # pragma: no cover - never called
        raise AssertionError

    def close(self) -> None:
        self.closed_at = time.monotonic()


def test_stop_closes_the_parsers_first_and_waits_once_for_busy_loops() -> None:
    release = threading.Event()
    parser, small_files = _Parser(), _Parser()
    # The dispatcher as start() leaves it, with three loops stuck in long work.
    dispatcher = LocalDispatcher.__new__(LocalDispatcher)
    dispatcher._parsers = [parser]
    dispatcher._small_file_parser = small_files
    dispatcher._queues = {Stage.PARSE: FairQueue(), Stage.EMBED: FairQueue()}
    dispatcher._sweeper = None
    dispatcher._started = True
    dispatcher._threads = [threading.Thread(target=release.wait, daemon=True) for _ in range(3)]
    for thread in dispatcher._threads:
        thread.start()
    started = time.monotonic()
    try:
        dispatcher.stop(timeout=1.0)
        took = time.monotonic() - started
    finally:
        release.set()
    for closed in (parser, small_files):
        assert closed.closed_at is not None and closed.closed_at - started < 0.5
    assert took < 2.0  # three loops at 1 s each took 3 s
