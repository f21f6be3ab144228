"""The ingestion runner: runs a stage over a group of documents, then settles each one —
queues the next stage, schedules a retry, or fails it — by one retry policy.

Both ways of running ingestion drive it: threads of the serving process (``workers.local``)
and Celery tasks (``zhiku.worker``). They differ only in how a job reaches the runner and how
a follow-up is scheduled (a ``Scheduler``: an in-process queue and timer, or a Celery message
with a countdown).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from typing import Protocol

from core import metrics
from core.db import documents as doc_queries
from core.db import stage_queue
from core.db.models import DocumentStage
from core.db.session import transaction
from workers.context import Outcome, ParseManyFn, StageContext
from workers.embed_stage import run_embed_group, slice_size
from workers.parse_stage import SMALL_FILE_BYTES, is_small_file, run_parse_group
from workers.retry import Fail, RetryPolicy
from workers.runs import fail_document

log = logging.getLogger(__name__)


class Stage(StrEnum):
    PARSE = "parse"
    EMBED = "embed"


@dataclass(frozen=True)
class StageJob:
    """One document version for one stage; ``attempt`` counts the retries already made;
    ``tenant_id`` (when known) lets the queues take turns between tenants, and the original's
    size (when known) lets a small file be parsed beside a large one: by the embedded
    default's lane (``workers.small_file_lane``), on Celery's small-file queue
    (``workers.dispatch``). It travels with the job through both stages and its retries."""

    doc_id: str
    version: int
    attempt: int = 0
    tenant_id: str = ""
    size_bytes: int | None = None

    @property
    def small(self) -> bool:
        return is_small_file(self.size_bytes)


@dataclass
class StageReport:
    """How each document of a group came out of its stage: an ``Outcome``, and for those
    released for a retry, the exception (``Outcome.RETRY``)."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    errors: dict[str, Exception] = field(default_factory=dict)


class Scheduler(Protocol):
    def schedule(self, stage: Stage, job: StageJob, delay_s: float = 0.0) -> None: ...

    def schedule_many(self, stage: Stage, jobs: Sequence[StageJob]) -> None:
        """Queue several jobs now (with a broker: a few messages for the lot)."""
        ...


# Documents one embed group may take: enough that sorting their chunks by length leaves little
# padding and fills the model's batches. What bounds a group's time in the model (so how long a
# file queued behind it waits) is EMBED_GROUP_CHUNKS, as before: 512 short files reach the
# same bound as four slices of large ones. With at most 128 documents, xquad-r-zh's one-chunk
# files left many batches of one to four texts (a band of similar lengths held few), which cost
# the model up to 1.3 times a full batch's CPU a text (docs/benchmarks.md, issue 12, session 20,
# round two).
EMBED_GROUP_DOCS = 512
EMBED_GROUP_CHUNKS = 512
# Documents one parse group may take: one transaction claims them and small files share a
# round trip to the parser.
PARSE_GROUP_DOCS = 32


# The document stages at which each stage's work is waiting.
_WAITING = {
    Stage.PARSE: (DocumentStage.STORED, DocumentStage.PARSING),
    Stage.EMBED: (DocumentStage.EMBEDDING,),
}


class IngestionRunner:
    def __init__(
        self,
        context: StageContext,
        scheduler: Scheduler,
        policy: RetryPolicy,
        parse_many: ParseManyFn | None = None,
    ) -> None:
        """``parse_many`` may be None for a runner that only embeds."""
        self.context = context
        self._scheduler = scheduler
        self._policy = policy
        self._parse_many = parse_many

    # --- running a stage

    def parse(self, jobs: Sequence[StageJob], parse_many: ParseManyFn | None = None) -> None:
        """Parse a group; each wave is settled (handed to embedding) as soon as it is parsed."""
        parse_many = parse_many or self._parse_many
        if parse_many is None:
            raise RuntimeError("this runner has no parser")
        by_id = {job.doc_id: job for job in jobs}
        settled: set[str] = set()

        def report(outcomes: dict[str, Outcome], errors: dict[str, Exception]) -> None:
            settled.update(outcomes)
            self.settle(
                Stage.PARSE, [by_id[d] for d in outcomes], StageReport(dict(outcomes), errors)
            )

        items = [(job.doc_id, job.version) for job in jobs]
        try:
            run_parse_group(self.context, items, parse_many, report)
        except Exception as exc:  # the group itself failed (database down at the claim…)
            self.fail_group(Stage.PARSE, [j for j in jobs if j.doc_id not in settled], exc)

    def embed(self, jobs: Sequence[StageJob], max_chunks: int | None = None) -> None:
        """Embed a group together; documents past ``max_chunks`` are queued again."""
        try:
            outcomes, errors = run_embed_group(
                self.context, [(job.doc_id, job.version) for job in jobs], max_chunks
            )
        except Exception as exc:
            self.fail_group(Stage.EMBED, jobs, exc)
            return
        self.settle(Stage.EMBED, jobs, StageReport(outcomes, errors))

    # --- settling

    def settle(self, stage: Stage, jobs: Sequence[StageJob], report: StageReport) -> None:
        following: dict[Stage, list[StageJob]] = {Stage.PARSE: [], Stage.EMBED: []}
        for job in jobs:
            error = report.errors.get(job.doc_id)
            if error is not None:
                self._decide(stage, job, error)
                continue
            outcome = report.outcomes.get(job.doc_id, Outcome.SKIPPED)
            metrics.INGEST_DOCUMENTS.labels(str(stage), outcome.value).inc()
            if outcome is Outcome.EMBED_NEXT:
                following[Stage.EMBED].append(replace(job, attempt=0))
            elif outcome is Outcome.PARSE_NEXT:
                following[Stage.PARSE].append(replace(job, attempt=0))
        for next_stage, next_jobs in following.items():
            if next_jobs:
                self._scheduler.schedule_many(next_stage, next_jobs)

    def fail_group(self, stage: Stage, jobs: Sequence[StageJob], error: Exception) -> None:
        for job in jobs:
            self._decide(stage, job, error)

    def _decide(self, stage: Stage, job: StageJob, error: BaseException) -> None:
        decision = self._policy.decide(error, job.attempt)
        failed = isinstance(decision, Fail)
        metrics.INGEST_DOCUMENTS.labels(str(stage), "failed" if failed else "retry").inc()
        if isinstance(decision, Fail):
            log.error("document %s: %s stage failed: %s", job.doc_id, stage, decision.reason)
            fail_document(self.context, job.doc_id, decision.reason)
            return
        log.warning(
            "document %s: transient %s in %s, retry %d in %.0f s",
            job.doc_id,
            type(error).__name__,
            stage,
            job.attempt + 1,
            decision.delay_s,
        )
        self._scheduler.schedule(stage, replace(job, attempt=job.attempt + 1), decision.delay_s)

    # --- the database as the queue (Celery): what else is waiting for a stage

    def gather(self, stage: Stage, jobs: Sequence[StageJob]) -> list[StageJob]:
        """The group a message naming ``jobs`` should run: those that still need a run for
        this stage (not past it, done, deleted, or held by a live run — once groups form,
        most messages find nothing), then their companions. (A document whose message went
        missing is re-queued by the sweeper.)"""
        stale_after = timedelta(seconds=self.context.worker.stale_after_s)
        with self.context.sessions() as session:
            needed = stage_queue.needing_run(
                session, [(j.doc_id, j.version) for j in jobs], _WAITING[stage], stale_after
            )
        own = [job for job in jobs if job.doc_id in needed]
        return [*own, *self.companions(stage, own)] if own else []

    def companions(self, stage: Stage, own: Sequence[StageJob]) -> list[StageJob]:
        """Documents waiting for ``stage`` that nobody holds, to run beside ``own`` as one
        group: a message wakes a worker, the database says what is waiting, taking turns
        between tenants. Their own messages then find them done (claims make a second run a
        no-op). Embedding takes as many as fit one group's chunk budget; parsing takes only
        small files, which share a call to the parser and are parsed before any large file
        of the group (``workers.parse_stage.parse_waves``): a large file's task that finds
        memos waiting parses them first, then its file."""
        embed = stage is Stage.EMBED
        room = (EMBED_GROUP_DOCS if embed else PARSE_GROUP_DOCS) - len(own)
        if room <= 0:
            return []
        own_ids = [job.doc_id for job in own]
        with transaction(self.context.sessions) as session:
            waiting = stage_queue.waiting_fairly(
                session,
                [DocumentStage.EMBEDDING]
                if embed
                else [DocumentStage.STORED, DocumentStage.PARSING],
                exclude=own_ids,
                limit=room,
                # First tries only: parse claims once, embedding once after it.
                max_attempts=1 if embed else 0,
                max_bytes=None if embed else SMALL_FILE_BYTES,
            )
            left = doc_queries.chunks_to_embed(session, own_ids) if embed else {}
        taken: list[StageJob] = []
        # What each document's run embeds: a large one only its next slice.
        budget = EMBED_GROUP_CHUNKS - sum(slice_size(self.context, n) for n in left.values())
        for doc in waiting:
            if embed:
                size = slice_size(self.context, doc.chunks)
                if size > budget:
                    continue  # too large for what is left; a smaller one may fit
                budget -= size
            taken.append(StageJob(doc.doc_id, doc.version, 0, doc.tenant_id, doc.size_bytes))
        return taken
