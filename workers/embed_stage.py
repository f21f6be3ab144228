"""The embed stage: chunks → dense + sparse vectors → upserts → ready.

It takes a *group* of documents: their chunks are embedded together, shortest first, in full
batches, so many small documents cost what one large one does; upserts of one batch overlap
the embedding of the next. Point ids are derived from (tenant, document, version, position)
and every write is fenced by the run's claim (``workers.runs``), so a re-delivered or re-run
stage leaves exactly one copy of each chunk.

A run embeds at most ``worker.embed_slice_chunks`` chunks of one document, in position order
from where the previous run stopped (``Document.chunks_indexed``). A larger document is handed
back after each slice and queued again (``Outcome.EMBED_NEXT``), behind the documents that
arrived meanwhile: one large upload no longer holds an embed worker, and the small files
queued after it, for as long as all its chunks take. It is marked ready only by the run that
writes its last slice.
"""

from __future__ import annotations

import contextvars
import logging
from collections import Counter, deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from core import metrics, tracing
from core.chunk_pages import read_chunks
from core.db import access as access_queries
from core.db import documents as doc_queries
from core.db.models import DocumentStage
from index.embedding import Embedder
from index.generations import GenerationSwitched, VectorSource, identity_of
from index.script_parts import embed_with_parts
from index.types import ChunkPoint, chunk_id
from ingest.types import Chunk
from workers.context import Outcome, StageContext
from workers.heartbeats import heartbeats
from workers.runs import (
    Results,
    Run,
    finish_all,
    hand_back,
    once_each,
    record_progress,
    settle_access,
)
from workers.twins import chunk_payload, indexed_twins, reuse_twin

log = logging.getLogger(__name__)


def run_embed_group(
    svc: StageContext, items: Sequence[tuple[str, int]], max_chunks: int | None = None
) -> tuple[dict[str, Outcome], dict[str, Exception]]:
    """Embed several documents together (a slice of each, see the module's docstring).
    Returns each one's outcome, and the exceptions of those released for a retry (transient
    failures) so the caller can schedule them.

    Once ``max_chunks`` are gathered the remaining documents are not claimed: their outcome
    is ``EMBED_NEXT``, to be queued again, so a group of large documents cannot hold every
    one of them back until all are embedded."""
    results = Results(svc)
    items = once_each(items)
    claiming = list(items)
    if max_chunks is not None and items:
        # Claim only as many documents as their slices say fit (at least one).
        gathered = 0
        with svc.sessions() as session:
            left = doc_queries.chunks_to_embed(session, [doc_id for doc_id, _ in items])
        for cut in range(1, len(items) + 1):
            gathered += slice_size(svc, left.get(items[cut - 1][0], 0))
            if gathered >= max_chunks:
                break
        claiming = list(items[:cut])
        results.outcomes.update((doc_id, Outcome.EMBED_NEXT) for doc_id, _ in items[cut:])

    claimed: list[Run] = []
    results.claim(claiming, DocumentStage.EMBEDDING, claimed.append)
    # Claims stay fresh however long a slice takes in the model, and a run whose claim was
    # taken over stops at the next beat (``workers.runs``).
    with heartbeats(svc, claimed):
        _embed_claimed(svc, results, claimed)
    return results.outcomes, results.errors


def slice_size(svc: StageContext, chunks_left: int) -> int:
    """Chunks a run embeds of a document that has ``chunks_left`` still to embed."""
    return min(chunks_left, svc.worker.embed_slice_chunks)


def _embed_claimed(svc: StageContext, results: Results, claimed: list[Run]) -> None:
    outcomes, end = results.outcomes, results.end
    runs: list[Run] = []
    twins: dict[str, tuple[str, dict]] = {}
    try:
        # Identical bytes already indexed: one query for the whole group.
        twins = indexed_twins(svc, claimed)
    except Exception as exc:
        for run in claimed:
            end(run, exc)
        claimed = []
    for run in claimed:
        try:
            twin = twins.get(run.doc_id)
            if twin is not None and reuse_twin(svc, run, *twin):
                outcomes[run.doc_id] = Outcome.DONE
                continue
            _load_slice(svc, run)
            runs.append(run)
        except Exception as exc:
            end(run, exc)
    if runs:
        try:
            # Each document is marked ready as soon as its last chunk is written.
            _embed_and_upsert(svc, runs)
            # A run found lost by a beat with no write of its own since: a fenced write ends
            # it (superseded, or its chunks removed if the document was deleted).
            record_progress(svc, {run: {} for run in runs if run.active and run.lost})
            rest = [(run, run.total) for run in runs if run.working]
            finish_all(svc, rest)  # none, unless a document had no chunk to write
            for run, _ in rest:
                run.finished = True
        except Exception as exc:
            # The model or the store failed: the documents not yet finished share the fate.
            for run in runs:
                if run.active and not run.finished:
                    end(run, exc)
    for run in runs:
        if run.doc_id not in outcomes:
            if run.more:
                outcomes[run.doc_id] = Outcome.EMBED_NEXT
            else:
                outcomes[run.doc_id] = Outcome.DONE if run.active else Outcome.SKIPPED


def _load_slice(svc: StageContext, run: Run) -> None:
    """Give ``run`` its slice of the document's chunks, reading only the pages the slice is
    on (``core.chunk_pages``): each slice of a large document costs the same.
    A run resuming a document whose store copy of the access list fell behind first rewrites
    the list on the chunks earlier slices wrote: their runs are gone, so no re-check of
    theirs will (``core.db.access``)."""
    # ``run.total`` is the count the parse stage committed with the pages (chunks_total).
    if run.total <= 0:
        raise ValueError(f"document {run.doc_id} v{run.version} has no chunk count")
    if run.start >= run.total:
        run.start = 0  # a position that does not match this chunk list: embed it all again
    if run.start and run.store_behind:
        applied = access_queries.apply_latest(
            svc.sessions, [run.doc_id], svc.store.set_document_access
        )
        if run.doc_id in applied:
            run.access, run.access_version = applied[run.doc_id].tokens, applied[run.doc_id].version
    end = run.start + slice_size(svc, run.total - run.start)
    raw = read_chunks(svc.blobs, run.tenant_id, run.doc_id, run.version, run.start, end)
    if len(raw) != end - run.start:
        raise ValueError(
            f"document {run.doc_id} v{run.version}: {len(raw)} chunks kept at"
            f" {run.start}-{end}, of {run.total}"
        )
    run.chunks = [Chunk(**{**c, "section_path": tuple(c["section_path"])}) for c in raw]


def _embed_and_upsert(svc: StageContext, runs: list[Run]) -> None:
    """Keeps the model busy: two slices are in the model at any time (so its workers never
    wait for the caller between calls), and a writer thread turns finished slices into
    sparse vectors, payloads, upserts and progress while the model embeds the next ones."""
    # Shortest first: a batch of similar lengths wastes little on padding.
    work = sorted(
        ((run, chunk) for run in runs for chunk in run.chunks), key=lambda rc: len(rc[1].text)
    )
    done: Counter[Run] = Counter()
    embedder = svc.embedder
    # Enough texts per call for every batch the embedder runs at once.
    step = max(1, embedder.batch_size) * max(1, embedder.concurrency)
    in_model: deque[tuple[list[tuple[Run, Chunk]], Future[Embedded]]] = deque()
    writing: deque[Future[None]] = deque()
    with (
        ThreadPoolExecutor(max_workers=2, thread_name_prefix="zhiku-feed") as feeder,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="zhiku-writer") as writer,
    ):

        def hand_over() -> None:
            batch, vectors = in_model.popleft()
            embedded = vectors.result()
            # At most two slices wait for the writer: a slow store holds the model back
            # instead of piling vectors up in memory.
            while len(writing) >= 2:
                writing.popleft().result()
            write = contextvars.copy_context().run
            writing.append(writer.submit(write, _write_slice, svc, runs, batch, embedded, done))

        for start in range(0, len(work), step):
            # Not for a run that lost its claim: the cores go to the run that holds it.
            batch = [(r, c) for r, c in work[start : start + step] if r.holds_claim]
            if not batch:
                continue
            texts = [chunk.text for _, chunk in batch]
            # The model of the generation live now, each slice: after a re-index's switch
            # the next slices are embedded by the new model, not refused one by one.
            model = live_model(svc)
            # In the caller's context: its request id and trace follow into the threads.
            embed = contextvars.copy_context().run
            in_model.append((batch, feeder.submit(embed, _embed, model, texts)))
            if len(in_model) >= 2:
                hand_over()
        while in_model:
            hand_over()
        for future in writing:
            future.result()


# The model that embeds for the live generation, and what its vectors are (an upsert names
# it: the store refuses them once another generation is live).
LiveModel = tuple[Embedder, VectorSource]
# A slice's dense vectors, each chunk's extra ones (index.script_parts; empty lists unless
# the index keeps them), and their source.
Embedded = tuple[np.ndarray, list[list[list[float]]], VectorSource]
# Embeddings of a slice before it is given up (each retry follows a switch of generations).
WRITE_ATTEMPTS = 3


def live_model(svc: StageContext) -> LiveModel:
    """The embedder the live generation is served with, and its vectors' source. The model
    first: a switch between the two reads gives a source no generation has, refused and
    embedded again, never vectors of one generation named as the other's."""
    embedder = svc.embedder
    # Mixed-language chunks get a vector per language where the index keeps them.
    layout = svc.store.vector_layout()
    return embedder, VectorSource(identity_of(embedder, svc.sparse), layout)


def _embed(model: LiveModel, texts: list[str]) -> Embedded:
    embedder, source = model
    with metrics.timed(metrics.INGEST_STAGE_SECONDS.labels("embed"), "ingest.embed"):
        # The mixed-language chunks' extra texts in the same call, sorted among the others.
        dense, parts = embed_with_parts(embedder, texts, source.layout)
        return dense, parts, source


def _write_slice(
    svc: StageContext,
    group: Sequence[Run],
    batch: list[tuple[Run, Chunk]],
    embedded: Embedded,
    done: Counter[Run],
) -> None:
    with metrics.timed(
        metrics.INGEST_STAGE_SECONDS.labels("index"), "ingest.index", chunks=len(batch)
    ):
        _write(svc, group, batch, embedded, done)
    metrics.INGEST_CHUNKS.inc(len(batch))


def _write(
    svc: StageContext,
    group: Sequence[Run],
    batch: list[tuple[Run, Chunk]],
    embedded: Embedded,
    done: Counter[Run],
) -> None:
    # Slices are written one after another on one thread, so a run that lost its claim
    # while the previous slice was settled (deleted: its chunks already removed) gets no
    # more writes.
    # One conversion of the whole slice to Python floats (what the store takes), not one per row.
    dense, parts, source = embedded
    rows = zip(dense.tolist(), parts, strict=True)
    kept = [(rc, vectors) for rc, vectors in zip(batch, rows, strict=True) if rc[0].holds_claim]
    if not kept:
        return
    texts = [chunk.text for (_, chunk), _ in kept]
    sparse = svc.sparse.encode_documents(texts)
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        points = [
            ChunkPoint(
                id=chunk_id(run.tenant_id, run.doc_id, run.version, chunk.position),
                dense=vector,
                sparse=sparse_vector,
                payload=chunk_payload(run, chunk),
                parts=extra,
            )
            for ((run, chunk), (vector, extra)), sparse_vector in zip(kept, sparse, strict=True)
        ]
        try:
            with tracing.span("qdrant.upsert", tracing.CLIENT, points=len(points)):
                svc.store.upsert(points, made_by=source)
            break
        except GenerationSwitched as exc:
            if attempt == WRITE_ATTEMPTS:
                raise
            # Embedded before a re-index's switch, by the model it replaced: the same chunks
            # again, by the live model (its vectors would mix two models in one index).
            log.info("embedding %d chunks again with the live model: %s", len(kept), exc.detail)
            dense, parts, source = _embed(live_model(svc), texts)
            again = zip(dense.tolist(), parts, strict=True)
            kept = [(rc, vectors) for (rc, _), vectors in zip(kept, again, strict=True)]
    touched = Counter(run for (run, _), _ in kept)
    # Every run written, even one that lost its claim meanwhile: its chunks are in the store.
    settle_access(svc, list(touched))
    done.update(touched)
    complete = [run for run in touched if run.active and done[run] == len(run.chunks)]
    # Every run of the group still at work writes its progress, not only those written here,
    # and a run found lost by a beat learns it here (a fenced write) and is ended. (The claims
    # are kept fresh by ``heartbeats``, not by these writes: a slice may take longer in the
    # model than ``stale_after_s`` on a loaded machine.)
    ongoing = {
        run: {"chunks_done": run.start + done[run]}
        for run in group
        if run.active and not run.finished and (run in touched or done[run] < len(run.chunks))
    }
    for run in complete:
        del ongoing[run]
    if ongoing:
        record_progress(svc, ongoing)
    last = [run for run in complete if run.last_slice]
    if last:
        # Ready now, not when the whole group is: a small document embedded beside a large
        # one does not wait for it. (A run whose claim was lost is made inactive.)
        finish_all(svc, [(run, run.total) for run in last])
        for run in last:
            run.finished = True
    # A slice of a larger document: handed back at once, so its next slice can be queued
    # behind what arrived meanwhile.
    hand_back(svc, [run for run in complete if not run.last_slice])
