"""The embedded default's small-file lane: small files are not held up by a large file's parse.

The embedded default parses with one child per four cores (one on two cores), and a large PDF
or office file may take minutes: the small files uploaded meanwhile waited for it. The lane is
one more thread with its own parser (an isolated child): it takes small files
(``SMALL_FILE_BYTES`` or less, size known from the upload) from the parse queue, and only
while every parse thread is on a large file. A parse thread with room takes small files
itself, as before.

A parse child costs 0.6-0.9 GB and seconds of CPU to start (imports, spaCy), so the lane's
child runs only while it can help: it is started once every parse thread has been on a large
file for ``GRACE_S`` (a large file that parses in a second does not start one), the lane
takes files only once it has started (a memo is not made to wait for a child when the parse
thread is about to be free), and it is stopped after ``IDLE_S`` without work once no large
file holds the parse threads.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence

from workers.context import ParseFn, ParseManyFn, ParseResult, parse_each
from workers.fair_queue import FairQueue
from workers.parse_stage import is_small_file
from workers.runner import PARSE_GROUP_DOCS, StageJob

log = logging.getLogger(__name__)

GRACE_S = 5.0
IDLE_S = 30.0


def parse_many_of(parser: ParseFn) -> ParseManyFn:
    # An isolated parser ships many files per round trip; a plain function parses here.
    return getattr(parser, "parse_many", None) or parse_each(parser)


def is_small(job: StageJob) -> bool:
    return job.small


class SmallFileLane:
    def __init__(
        self,
        parser: ParseFn,
        parse_queue: FairQueue[StageJob],
        parse_threads: int,
        run_group: Callable[[list[StageJob], ParseManyFn], None],
    ) -> None:
        """``run_group(jobs, parse_many)`` parses a group (the runner, guarded by the
        dispatcher); ``parse_threads``: the parse threads that report their large files
        through ``watching``."""
        self._parser = parser
        self._queue = parse_queue
        self._threads = parse_threads
        self._run_group = run_group
        self._lock = threading.Lock()
        self._large = 0  # parse threads on a large file now
        self._held_since = 0  # counts the times all of them became held: a timer's epoch
        self._open = False  # the lane takes files (all held, and its child is up)

    def watching(self, parse_many: ParseManyFn) -> ParseManyFn:
        """``parse_many`` for a parse thread, reporting each large file it parses (a wave
        holds one large file alone, ``workers.parse_stage.parse_waves``)."""

        def parse(items: Sequence[tuple[bytes, str]]) -> list[ParseResult | Exception]:
            if all(is_small_file(len(data)) for data, _ in items):
                return parse_many(items)
            self._large_changed(+1)
            try:
                return parse_many(items)
            finally:
                self._large_changed(-1)

        return parse

    def _large_changed(self, change: int) -> None:
        with self._lock:
            self._large += change
            held = self._large >= self._threads
            if not held:
                self._open = False
            elif change > 0:
                self._held_since += 1
                epoch = self._held_since
                if self._child_up():
                    self._open = True
                else:
                    timer = threading.Timer(GRACE_S, self._start_child, (epoch,))
                    timer.daemon = True
                    timer.start()
        self._queue.wake()

    def _held(self, epoch: int) -> bool:
        return self._held_since == epoch and self._large >= self._threads

    def _child_up(self) -> bool:
        running = getattr(self._parser, "child_running", None)
        return running is None or running()

    def _start_child(self, epoch: int) -> None:
        """After ``GRACE_S`` of all threads held: start the lane's child (seconds), then
        open the lane if they still are."""
        with self._lock:
            if not self._held(epoch):
                return
        start = getattr(self._parser, "start_child", None)
        try:
            if start is not None:
                start()
        except Exception:
            log.warning("the small-file lane's parser did not start", exc_info=True)
            return
        with self._lock:
            if self._held(epoch):
                self._open = True
        self._queue.wake()

    def _is_open(self) -> bool:
        return self._open

    def run(self) -> None:
        """The lane's thread: small files while it is open; its child stopped when idle."""
        parse_many = parse_many_of(self._parser)
        q = self._queue
        while True:
            try:
                first = q.get_where(is_small, IDLE_S, self._is_open)
            except queue.Empty:
                with self._lock:
                    idle = not self._open
                stop_child = getattr(self._parser, "stop_child", None)
                if idle and stop_child is not None:
                    stop_child()
                continue
            if first is None:
                return
            group = [first]
            while len(group) < PARSE_GROUP_DOCS and (job := q.get_where_nowait(is_small)):
                group.append(job)
            self._run_group(group, parse_many)
            if q.stopping:
                return
