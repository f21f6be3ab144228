"""The embedded default: ingestion on threads inside the serving process.

An embedded Qdrant store can be opened by one process only, so with no broker configured the
API process runs ingestion itself:

- a parse thread per parser (``ParsingSettings.workers``, each an isolated child process,
  see ``workers.isolation``) takes its share of the documents waiting (up to
  ``PARSE_GROUP_DOCS``), claims them in one transaction and has them parsed, many small files
  per round trip; each wave is handed to embedding as soon as it is parsed;
- ``EMBED_LOOPS`` embed threads each take the documents waiting as one group, so small
  documents share full batches; while one group is claimed or finished (database work), the
  other keeps the model busy.

Ingestion stays asynchronous: uploads return at once and progress is visible in the database.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence

from core.db import documents as doc_queries
from core.db.models import DocumentStage
from core.db.session import transaction
from workers.dispatch import follow_up
from workers.errors import describe, is_transient, retry_delay
from workers.ingestion import run_embed_group, run_parse_group
from workers.runs import fail_document
from workers.services import IngestionServices, Outcome, ParseFn, ParseManyFn, parse_each
from workers.sweeper import Sweeper

log = logging.getLogger(__name__)

_Job = tuple[str, int, int]  # doc id, version, attempt
# Documents one embed group may take: enough that sorting their chunks by length leaves little
# padding, few enough that each finishes soon after it was parsed (~10 s of embedding here).
GROUP_DOCS = 128
GROUP_CHUNKS = 512
# Documents one parse group may take: one transaction claims them and small files share a
# round trip to the parse child (``IsolatedParser.parse_many``).
PARSE_GROUP_DOCS = 32
# Embed loops: while one group is claimed, loaded or finished (database work), the other
# keeps the model busy.
EMBED_LOOPS = 2


class LocalDispatcher:
    """Runs parse and embed stages on daemon threads of this process."""

    def __init__(self, svc: IngestionServices, parsers: Sequence[ParseFn]) -> None:
        """One parse thread per parser in ``parsers`` (each an isolated child process, say)."""
        self._svc = svc
        self._parsers = list(parsers)
        if not self._parsers:
            raise ValueError("at least one parser is needed")
        self._queues: dict[str, queue.Queue[_Job | None]] = {
            "parse": queue.Queue(),
            "embed": queue.Queue(),
        }
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
        self._sweeper: Sweeper | None = None

    def start(self, sweep: bool = True) -> None:
        for thread in self._threads:
            thread.start()
        if sweep:
            self._resume_unfinished()
            self._sweeper = Sweeper(self._svc.sessions, self, self._svc.settings.worker)
            self._sweeper.start()

    def _resume_unfinished(self) -> None:
        """Documents left unfinished by a previous process (a crash, a restart) continue at
        once, at the stage they had reached: this process is the only runner."""
        with transaction(self._svc.sessions) as session:
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
        for _ in self._parsers:
            self._queues["parse"].put(None)
        for _ in range(EMBED_LOOPS):
            self._queues["embed"].put(None)
        for thread in self._threads:
            thread.join(timeout)
        for parser in self._parsers:
            close = getattr(parser, "close", None)
            if close is not None:
                close()

    def parse(self, doc_id: str, version: int) -> None:
        self._queues["parse"].put((doc_id, version, 0))

    def embed(self, doc_id: str, version: int) -> None:
        self._queues["embed"].put((doc_id, version, 0))

    def _parse_loop(self, parser: ParseFn) -> None:
        # An isolated parser ships many files per round trip; a plain function parses here.
        parse_many: ParseManyFn = getattr(parser, "parse_many", None) or parse_each(parser)
        q = self._queues["parse"]
        while (first := q.get()) is not None:
            # A fair share of what is waiting, so that every parser gets some of a burst.
            share = -(-(q.qsize() + 1) // len(self._parsers))
            group, stop = self._take_group(q, first, min(PARSE_GROUP_DOCS, share))
            self._parse_group(group, parse_many)
            if stop:
                return

    def _parse_group(self, group: list[_Job], parse_many: ParseManyFn) -> None:
        jobs = {doc_id: (doc_id, version, attempt) for doc_id, version, attempt in group}
        done: set[str] = set()

        def report(outcomes: dict[str, Outcome], errors: dict[str, Exception]) -> None:
            # Each wave goes to embedding as soon as it is parsed.
            done.update(outcomes)
            self._follow_up([jobs[d] for d in outcomes], outcomes, errors, "parse")

        try:
            run_parse_group(self._svc, [(d, v) for d, v, _ in group], parse_many, report)
        except Exception as exc:
            for doc_id, job in jobs.items():
                if doc_id not in done:
                    self._on_error("parse", job, exc)

    def _embed_loop(self) -> None:
        q = self._queues["embed"]
        while (first := q.get()) is not None:
            group, stop = self._take_group(q, first, GROUP_DOCS)
            try:
                outcomes, errors = run_embed_group(
                    self._svc, [(d, v) for d, v, _ in group], max_chunks=GROUP_CHUNKS
                )
                self._follow_up(group, outcomes, errors, "embed")
            except Exception as exc:
                for job in group:
                    self._on_error("embed", job, exc)
            if stop:
                return

    def _follow_up(
        self,
        group: list[_Job],
        outcomes: dict[str, Outcome],
        errors: dict[str, Exception],
        stage: str,
    ) -> None:
        for doc_id, version, attempt in group:
            if doc_id in errors:
                self._on_error(stage, (doc_id, version, attempt), errors[doc_id])
            else:
                follow_up(self, outcomes.get(doc_id, Outcome.SKIPPED), doc_id, version)

    @staticmethod
    def _take_group(
        q: queue.Queue[_Job | None], first: _Job, limit: int
    ) -> tuple[list[_Job], bool]:
        """The first job and whatever else is already waiting, up to ``limit`` jobs."""
        group = [first]
        while len(group) < limit:
            try:
                job = q.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return group, True
            group.append(job)
        return group, False

    def _on_error(self, name: str, job: _Job, exc: Exception) -> None:
        doc_id, version, attempt = job
        if is_transient(exc) and attempt < self._svc.settings.worker.max_retries:
            delay = retry_delay(attempt, 60.0)
            log.warning("document %s: transient %s, retry in %.0f s", doc_id, exc, delay)
            timer = threading.Timer(
                delay, self._queues[name].put, ((doc_id, version, attempt + 1),)
            )
            timer.daemon = True
            timer.start()
            return
        log.error("document %s: %s stage failed: %s", doc_id, name, exc, exc_info=exc)
        fail_document(self._svc, doc_id, describe(exc))
