"""One run of one stage on one document: claim, heartbeat, progress, and how it ends.

A run first claims the document (``core.db.documents.claim``); every later write checks the
claim is still its own, and a run that lost it (the document was deleted, or a sweeper gave it
to another worker after this one went silent) stops writing.

While a run works, a heartbeat thread refreshes its claim every ``beat_interval_s``, however
long its model or parser calls take: a claim kept fresh only between two calls went stale
whenever one call outlasted ``stale_after_s`` (a loaded machine, or two runs on one document
sharing the cores), the sweeper gave the document to a second run, and the two kept taking it
from each other without end. A beat that finds the claim gone marks the run ``lost``: it
embeds nothing more, and its next fenced write ends it.

Chunks are written with the access list (and its version) read at the claim; after each upsert
``settle_access`` re-reads the version and re-applies the newest list if it moved, so an access
change that raced with the upsert always wins (the invariant and its proof: ``core.db.access``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from core.blobs import document_prefix
from core.db import access as access_queries
from core.db import claims
from core.db import documents as doc_queries
from core.db import jobs as job_queries
from core.db.claims import ClaimedDocument
from core.db.models import Document, DocumentStage, utcnow
from core.db.session import transaction
from core.errors import NotFound, UnprocessableDocument
from ingest.types import Chunk
from workers.context import Outcome, StageContext

log = logging.getLogger(__name__)


class ClaimLost(Exception):
    """Another run took this document over (or it was deleted): stop without writing."""


@dataclass(eq=False)
class Run:
    doc_id: str
    version: int
    token: str
    tenant_id: str
    filename: str
    title: str
    mime_type: str
    # The tokens chunks are written with (``core.db.access.store_tokens``), and their version.
    access: list[str]
    access_version: int
    tags: list[str]
    created_at: float
    content_hash: str
    attempts: int
    job_id: str
    stage: DocumentStage
    # Embedding: the document's chunk count, and the position this run starts at (where the
    # previous slice's run stopped, ``Document.chunks_indexed``); ``chunks`` is this run's
    # slice of them.
    total: int = 0
    start: int = 0
    # The store's copy of the access list is behind the committed one (an access change whose
    # store write failed): chunks written by an earlier slice's run may carry the old list.
    store_behind: bool = False
    chunks: list[Chunk] = field(default_factory=list)
    active: bool = True
    finished: bool = False  # marked ready, or its slice handed back (``more``)
    more: bool = False  # its slice is written and handed back; the rest waits for a next run
    # Set by the heartbeat thread when the claim was found gone (another run holds it, or the
    # document was deleted): do no more work for it; the stage's next fenced write ends it.
    lost: bool = False
    next_beat: float = 0.0

    @property
    def holds_claim(self) -> bool:
        """Holds its claim as far as this process knows: not stopped, not found lost."""
        return self.active and not self.lost

    @property
    def last_slice(self) -> bool:
        """This run's slice ends the document: writing it makes the document ready."""
        return self.start + len(self.chunks) >= self.total

    @property
    def working(self) -> bool:
        """Still to be worked on: holds its claim, not done."""
        return self.holds_claim and not self.finished

    def may_have_stale_chunks(self) -> bool:
        """False only for the first embedding of a first version after a single parse (two
        claims in all): no chunk of this document can exist yet, so there is none to drop."""
        return not (self.version == 1 and self.attempts <= 2)


def open_run(svc: StageContext, doc_id: str, version: int, stage: DocumentStage) -> Run | Outcome:
    """Claim the document for ``stage``, or say what to do instead."""
    return open_runs(svc, [(doc_id, version)], stage)[0]


def open_runs(
    svc: StageContext, items: Sequence[tuple[str, int]], stage: DocumentStage
) -> list[Run | Outcome]:
    """``open_run`` for several documents in one transaction: one commit, not one each."""
    stale_after = timedelta(seconds=svc.worker.stale_after_s)
    opened: dict[str, Run | Outcome] = {}
    with transaction(svc.sessions) as session:
        token, docs = claims.claim_documents(session, items, stale_after)
        starting: list[ClaimedDocument] = []
        for doc_id in dict.fromkeys(doc_id for doc_id, _ in items):
            doc = docs.get(doc_id)
            if doc is None:
                opened[doc_id] = Outcome.SKIPPED
                continue
            parsed = doc.stage in (DocumentStage.EMBEDDING, DocumentStage.DONE)
            if parsed != (stage == DocumentStage.EMBEDDING):
                # A stage message that arrived out of turn (re-delivered, or re-queued by
                # the sweeper): hand the document back and let the right stage run.
                doc_queries.release(session, doc_id, token)
                opened[doc_id] = Outcome.EMBED_NEXT if parsed else Outcome.PARSE_NEXT
                continue
            starting.append(doc)
        claims.enter_stage(session, [doc.id for doc in starting], stage)
        jobs = job_queries.start_jobs(session, starting, stage, svc.worker_name)
        for doc, job_id in zip(starting, jobs, strict=True):
            opened[doc.id] = _run_from(doc, token, job_id, stage)
    # A document listed twice (queued twice) is claimed once: the repeat has nothing to do.
    result: list[Run | Outcome] = []
    for doc_id, _ in items:
        result.append(opened.pop(doc_id, Outcome.SKIPPED))
    return result


def close_run(
    svc: StageContext, run: Run, exc: BaseException | None = None, reraise: bool = True
) -> Outcome:
    """End a run: done, failed with a reason, superseded, or released for a retry."""
    if exc is None:
        with transaction(svc.sessions) as session:
            job_queries.end_job(session, run.job_id, "done")
        return Outcome.DONE
    if isinstance(exc, ClaimLost):
        _after_claim_lost(svc, run)
        return Outcome.SKIPPED
    if isinstance(exc, UnprocessableDocument | NotFound):
        # The caller reads the reason; blob keys and the like stay in the log.
        reason = (
            f"the file could not be parsed: {exc}"
            if isinstance(exc, UnprocessableDocument)
            else "the stored file is missing; upload it again"
        )
        log.info("document %s failed: %s (%s: %s)", run.doc_id, reason, type(exc).__name__, exc)
        with transaction(svc.sessions) as session:
            doc_queries.fail(session, run.doc_id, reason, token=run.token)
            job_queries.end_job(session, run.job_id, "failed", reason)
        return Outcome.FAILED
    # Anything else goes back to the caller, which retries transient errors; the claim is
    # released so the retry (or another worker) can take the document at once.
    with transaction(svc.sessions) as session:
        doc_queries.release(session, run.doc_id, run.token)
        job_queries.end_job(session, run.job_id, "error", f"{type(exc).__name__}: {exc}"[:2000])
    if reraise:
        raise exc
    return Outcome.RETRY


def fail_document(svc: StageContext, doc_id: str, reason: str) -> None:
    """Mark a document failed when this job's retries ran out: the last word, unless another
    run holds a live claim on it (a copy of the job that did get through), which goes on."""
    stale_after = timedelta(seconds=svc.worker.stale_after_s)
    with transaction(svc.sessions) as session:
        doc_queries.fail(session, doc_id, reason, unclaimed_since=utcnow() - stale_after)


def _after_claim_lost(svc: StageContext, run: Run) -> None:
    run.active = False
    with svc.sessions() as session:
        doc = session.get(Document, run.doc_id)
        current = None if doc is None else doc.version
    if current is None:
        # Deleted while we were writing: remove what our in-flight writes may have added. A
        # write that finished before this check is removed here; one after it is impossible,
        # since every write comes before the claim check that found the claim lost (the
        # parse stage's chunk list is written before ``release_many``).
        if run.stage == DocumentStage.EMBEDDING:
            svc.store.delete_document(run.tenant_id, run.doc_id)
        svc.blobs.delete_prefix(document_prefix(run.tenant_id, run.doc_id))
        log.info("document %s was deleted during ingestion", run.doc_id)
        return
    if run.stage == DocumentStage.EMBEDDING and current > run.version:
        # A newer version took the document over. Its finish drops older chunks, but a slice
        # of ours may land after it did (the new version parsed, embedded and made ready
        # while our upsert was in flight): left there, those would answer beside the new
        # version for good. No run writes this version any more (a claim names the current
        # one), and it was never the one served (a ready version is never claimed again).
        svc.store.delete_version(run.tenant_id, run.doc_id, run.version)
        log.info("document %s: version %d superseded during ingestion", run.doc_id, run.version)
    log.info("document %s: claim lost, another run continues it", run.doc_id)
    with transaction(svc.sessions) as session:
        job_queries.end_job(session, run.job_id, "superseded")


def _run_from(doc: ClaimedDocument, token: str, job_id: str, stage: DocumentStage) -> Run:
    return Run(
        doc_id=doc.id,
        version=doc.version,
        token=token,
        tenant_id=doc.tenant_id,
        filename=doc.filename,
        title=doc.title,
        mime_type=doc.mime_type,
        access=access_queries.store_tokens(doc.access, doc.owner_id),
        access_version=doc.access_version or 1,
        tags=list(doc.tags or []),
        created_at=doc.created_at.timestamp(),
        content_hash=doc.content_hash,
        attempts=doc.attempts,
        job_id=job_id,
        stage=stage,
        total=doc.chunks_total or 0,
        start=(doc.chunks_indexed or 0) if stage == DocumentStage.EMBEDDING else 0,
        store_behind=(doc.store_access_version or 0) < (doc.access_version or 1),
    )


def record_progress(svc: StageContext, updates: dict[Run, dict[str, object]]) -> None:
    """Write progress for several runs in one transaction; runs that lost their claim are
    marked inactive."""
    if not updates:
        return
    with transaction(svc.sessions) as session:
        held = doc_queries.record_progress_many(
            session, [(run.doc_id, run.token, values) for run, values in updates.items()]
        )
    for run in updates:
        if run.doc_id not in held:
            _after_claim_lost(svc, run)


def settle_access(svc: StageContext, runs: Sequence[Run]) -> None:
    """Call after every upsert of these runs' chunks, once it returned: when an access change
    committed since a run read its list, apply the newest list to the store (rule 3 of
    ``core.db.access``), and write the run's next chunks with it."""
    runs = list(dict.fromkeys(runs))
    with svc.sessions() as session:
        versions = access_queries.access_versions(session, [run.doc_id for run in runs])
    moved = [
        run for run in runs if run.doc_id in versions and versions[run.doc_id] != run.access_version
    ]
    if not moved:
        return
    applied = access_queries.apply_latest(
        svc.sessions, [run.doc_id for run in moved], svc.store.set_document_access
    )
    for run in moved:
        if run.doc_id in applied:
            state = applied[run.doc_id]
            run.access, run.access_version = state.tokens, state.version


def finish(svc: StageContext, run: Run, count: int) -> None:
    """Mark one document ready (see :func:`finish_all`); raises ClaimLost if it was lost."""
    failures = finish_all(svc, [(run, count)])
    if run in failures:
        raise failures[run]


def finish_all(svc: StageContext, done: list[tuple[Run, int]]) -> dict[Run, Exception]:
    """Drop stale chunks (for runs that still hold their claim) and mark documents ready in
    one transaction. Returns the runs that could not be finished (claim lost: already
    handled) with their exception.

    The same transaction records that the store carries each finished document's access
    list: every chunk was written with ``run.access``, re-applied after each upsert when the
    version moved (``settle_access``), so the store is in line where that version is still
    the committed one (``core.db.access``, rule 4)."""
    failures: dict[Run, Exception]
    stale = [(run, count) for run, count in done if run.may_have_stale_chunks()]
    if stale:
        # Only a run that still holds its claim deletes: one that lost its document to a new
        # version would take that version's chunks (to it, "other versions"). The check is a
        # fenced write just before; a new version's chunks come only after its parse. (Not
        # in the transaction below: its row locks would be held across a store call.)
        with transaction(svc.sessions) as session:
            holding = doc_queries.record_progress_many(
                session, [(run.doc_id, run.token, {}) for run, _ in stale]
            )
        for run, count in stale:
            if run.doc_id in holding:
                svc.store.delete_stale_chunks(run.tenant_id, run.doc_id, run.version, count)
    with transaction(svc.sessions) as session:
        held = doc_queries.release_many(
            session,
            [(run.doc_id, run.token, doc_queries.finished_values(count)) for run, count in done],
        )
        job_queries.end_jobs(session, [run.job_id for run, _ in done if run.doc_id in held], "done")
        failures = {run: ClaimLost(run.doc_id) for run, _ in done if run.doc_id not in held}
        access_queries.record_store_versions(
            session, {run.doc_id: run.access_version for run, _ in done if run.doc_id in held}
        )
    for run in failures:
        _after_claim_lost(svc, run)
    for run, _ in done:
        if run.doc_id not in held:
            continue  # not ours to clean up any more
        for older in range(1, run.version):
            # Originals and chunk lists of replaced versions are no longer needed.
            svc.blobs.delete_prefix(f"{run.tenant_id}/{run.doc_id}/v{older}")
    return failures


def hand_back(svc: StageContext, runs: Sequence[Run]) -> None:
    """Each run's slice is written but the document has more chunks: record where the next
    run starts, give the claim back and end the job, in one transaction. The caller queues the
    document again (``Outcome.EMBED_NEXT``), behind what was waiting meanwhile. The document
    stays ``processing``: it is marked ready only by the run that writes its last slice."""
    if not runs:
        return
    with transaction(svc.sessions) as session:
        held = doc_queries.release_many(
            session,
            [
                (run.doc_id, run.token, {"chunks_done": end, "chunks_indexed": end})
                for run in runs
                for end in [run.start + len(run.chunks)]
            ],
        )
        # "continued", not "done": a version has one finished embedding job, the last slice's.
        job_queries.end_jobs(
            session, [run.job_id for run in runs if run.doc_id in held], "continued"
        )
    for run in runs:
        if run.doc_id in held:
            run.finished = run.more = True
        else:
            _after_claim_lost(svc, run)


class Results:
    """Each document's outcome, and the exceptions of those released for a retry."""

    def __init__(self, svc: StageContext) -> None:
        self.svc = svc
        self.outcomes: dict[str, Outcome] = {}
        self.errors: dict[str, Exception] = {}

    def end(self, run: Run, exc: Exception) -> None:
        """Record how a run ended on ``exc`` (failed, superseded, or released to retry)."""
        self.outcomes[run.doc_id] = close_run(self.svc, run, exc, reraise=False)
        if self.outcomes[run.doc_id] is Outcome.RETRY:
            self.errors[run.doc_id] = exc

    def claim(
        self, items: Sequence[tuple[str, int]], stage: DocumentStage, prepare: Callable[[Run], None]
    ) -> None:
        """Claim ``items`` in one transaction and ``prepare`` each claimed run; a run whose
        preparation fails ends there, the others go on."""
        claims = open_runs(self.svc, items, stage)
        for (doc_id, _), opened in zip(items, claims, strict=True):
            if isinstance(opened, Outcome):
                self.outcomes[doc_id] = opened
                continue
            try:
                prepare(opened)
            except Exception as exc:
                self.end(opened, exc)


def once_each(items: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """A document queued twice is handled once (its first entry)."""
    first: dict[str, tuple[str, int]] = {}
    for doc_id, version in items:
        first.setdefault(doc_id, (doc_id, version))
    return list(first.values())
