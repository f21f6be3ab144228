"""The embedded default: ingestion on threads inside the serving process.

An embedded Qdrant store can be opened by one process only, so with no broker configured the
API process runs ingestion itself, through the same ``IngestionRunner`` Celery uses:

- a parse thread per parser (``ParsingSettings.workers``, each an isolated child process,
  see ``workers.isolation``) takes its share of the documents waiting (up to
  ``PARSE_GROUP_DOCS``) as one group; each wave is handed to embedding as soon as it is
  parsed, a group's small files first;
- a small-file lane (``ParsingSettings.small_file_lane``, ``workers.small_file_lane``): while
  every parse thread is on a large file (one parse may take minutes), small files uploaded
  meanwhile are parsed by one more thread and child instead of waiting for it; the child
  runs only then;
- ``EMBED_LOOPS`` embed threads each take the documents waiting as one group, so small
  documents share full batches; while one group is claimed or finished (database work), the
  other keeps the model busy.

The queues take turns between tenants (``workers.fair_queue``): one tenant's thousands of
files do not hold back another tenant's one. A large document comes back to the embed queue
after each slice (``workers.embed_stage``), behind what waits, so it holds a loop for one
slice at a time, not for all its chunks.

Ingestion stays asynchronous: uploads return at once and progress is visible in the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from core.db import documents as doc_queries
from core.db.models import DocumentStage
from core.db.session import transaction
from core.dispatch import QueuedDocument
from workers.context import ParseFn, StageContext
from workers.fair_queue import FairQueue
from workers.retry import RetryPolicy
from workers.runner import (
    EMBED_GROUP_CHUNKS,
    EMBED_GROUP_DOCS,
    PARSE_GROUP_DOCS,
    IngestionRunner,
    Stage,
    StageJob,
)
from workers.small_file_lane import SmallFileLane, parse_many_of
from workers.sweeper import Sweeper

log = logging.getLogger(__name__)

# Embed loops: while one group is claimed, loaded or finished (database work), the other
# keeps the model busy.
EMBED_LOOPS = 2


class LocalDispatcher:
    """Runs parse and embed stages on daemon threads of this process."""

    def __init__(
        self,
        context: StageContext,
        parsers: Sequence[ParseFn],
        policy: RetryPolicy,
        small_file_parser: ParseFn | None = None,
    ) -> None:
        """One parse thread per parser in ``parsers`` (each an isolated child process, say);
        ``small_file_parser``: the small-file lane's (none: no such lane)."""
        self._context = context
        self._parsers = list(parsers)
        if not self._parsers:
            raise ValueError("at least one parser is needed")
        self._small_file_parser = small_file_parser
        self.runner = IngestionRunner(context, self, policy)
        self._queues: dict[Stage, FairQueue[StageJob]] = {
            Stage.PARSE: FairQueue(),
            Stage.EMBED: FairQueue(),
        }
        self._lane = (
            SmallFileLane(
                small_file_parser,
                self._queues[Stage.PARSE],
                len(self._parsers),
                lambda group, parse_many: _survive(self.runner.parse, group, parse_many),
            )
            if small_file_parser is not None
            else None
        )
        self._threads = [
            *(
                threading.Thread(
                    target=self._parse_loop, args=(parser,), name=f"zhiku-parse-{n}", daemon=True
                )
                for n, parser in enumerate(self._parsers)
            ),
            *(
                threading.Thread(target=self._embed_loop, name=f"zhiku-embed-{n}", daemon=True)
                for n in range(EMBED_LOOPS)
            ),
        ]
        if self._lane is not None:
            self._threads.append(
                threading.Thread(target=self._lane.run, name="zhiku-small-file-lane", daemon=True)
            )
        self._sweeper: Sweeper | None = None
        self._started = False

    def start(
        self,
        sweep: bool = True,
        cleanup: Callable[[], object] | None = None,
        cleanup_every_s: float = 3600.0,
    ) -> None:
        """``cleanup``: the periodic orphan clean-up, run by the sweeper (no beat here)."""
        if self._started:
            return
        self._started = True
        for thread in self._threads:
            thread.start()
        if sweep:
            self._resume_unfinished()
            context = self._context
            self._sweeper = Sweeper(
                context.sessions,
                self,
                context.worker,
                lambda: context.store.set_document_access,
                cleanup,
                cleanup_every_s,
            )
            self._sweeper.start()

    def _resume_unfinished(self) -> None:
        """Documents left unfinished by a previous process (a crash, a restart) continue at
        once, at the stage they had reached: this process is the only runner."""
        with transaction(self._context.sessions) as session:
            unfinished = doc_queries.take_over_unfinished(session)
        for doc_id, version, stage in unfinished:
            if stage == DocumentStage.EMBEDDING:
                self.embed(doc_id, version)
            else:
                self.parse(doc_id, version)
        if unfinished:
            log.info("resuming %d unfinished documents", len(unfinished))

    def stop(self, timeout: float = 30.0) -> None:
        if self._sweeper is not None:
            self._sweeper.stop()
        parsers = [*self._parsers, *([self._small_file_parser] if self._small_file_parser else [])]
        if self._started:
            for _ in parsers:
                self._queues[Stage.PARSE].put(None)
            for _ in range(EMBED_LOOPS):
                self._queues[Stage.EMBED].put(None)
        # Before the joins: a parse in progress (up to ParsingSettings.timeout_s) is cut short
        # and its document left for the next start, so that stopping takes seconds.
        for parser in parsers:
            close = getattr(parser, "close", None)
            if close is not None:
                close()
        if self._started:
            # One deadline for all the loops, not ``timeout`` each: an embed group in progress
            # is left unfinished (its document resumes at the next start, as after a crash).
            deadline = time.monotonic() + timeout
            for thread in self._threads:
                thread.join(max(0.0, deadline - time.monotonic()))

    # --- Dispatcher (uploads) and Scheduler (follow-ups, retries)

    def parse(self, doc_id: str, version: int) -> None:
        self.schedule(Stage.PARSE, StageJob(doc_id, version))

    def embed(self, doc_id: str, version: int) -> None:
        self.schedule(Stage.EMBED, StageJob(doc_id, version))

    def parse_many(self, documents: Sequence[QueuedDocument]) -> None:
        for doc in documents:
            job = StageJob(doc.doc_id, doc.version, 0, doc.tenant_id, doc.size_bytes)
            self.schedule(Stage.PARSE, job)

    def schedule_many(self, stage: Stage, jobs: Sequence[StageJob]) -> None:
        for job in jobs:
            self.schedule(stage, job)

    def schedule(self, stage: Stage, job: StageJob, delay_s: float = 0.0) -> None:
        if delay_s <= 0:
            self._queues[stage].put(job)
            return
        timer = threading.Timer(delay_s, self._queues[stage].put, (job,))
        timer.daemon = True
        timer.start()

    # --- the loops

    def _parse_loop(self, parser: ParseFn) -> None:
        parse_many = parse_many_of(parser)
        if self._lane is not None:
            parse_many = self._lane.watching(parse_many)  # it opens while all are on large
        q = self._queues[Stage.PARSE]
        while (first := q.get()) is not None:
            # A fair share of what is waiting, so that every parser gets some of a burst.
            share = -(-(q.qsize() + 1) // len(self._parsers))
            group, stop = _take_group(q, first, min(PARSE_GROUP_DOCS, share))
            _survive(self.runner.parse, group, parse_many)
            if stop:
                return

    def _embed_loop(self) -> None:
        q = self._queues[Stage.EMBED]
        while (first := q.get()) is not None:
            group, stop = _take_group(q, first, EMBED_GROUP_DOCS)
            _survive(self.runner.embed, group, max_chunks=EMBED_GROUP_CHUNKS)
            if stop:
                return


def _survive(run: Callable[..., None], *args: object, **kwargs: object) -> None:
    """Run one group; an error that escapes the runner (the database gone while it settled
    the group: even marking a document failed needs it) must not end this loop, or the
    process ingests nothing more until restarted. The group's documents, left unfinished,
    go stale and the sweeper queues them again once the database is back."""
    try:
        run(*args, **kwargs)
    except Exception:
        log.warning("an ingestion group ended on an error; the sweeper retries it", exc_info=True)


def _take_group(q: FairQueue[StageJob], first: StageJob, limit: int) -> tuple[list[StageJob], bool]:
    """The first job and whatever else is already waiting, up to ``limit`` jobs; and whether
    the loop should stop after this group."""
    group = [first]
    while len(group) < limit and (job := q.get_nowait()) is not None:
        group.append(job)
    return group, q.stopping
