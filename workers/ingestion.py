"""The two ingestion stages of a document version.

parse stage:  original → elements → chunks (saved beside the original) → hand over to embedding
embed stage:  chunks → dense + sparse vectors → upserts → ready. It takes a *group* of
              documents: their chunks are embedded together, shortest first, in full batches, so
              many small documents cost what one large one does; upserts of one batch overlap
              the embedding of the next.

Point ids are derived from (tenant, document, version, position), and every write is fenced
by the run's claim (``workers.runs``), so a re-delivered or re-run stage leaves exactly one
copy of each chunk.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict

from core.db import documents as doc_queries
from core.db.models import DocumentStage
from core.db.session import transaction
from core.errors import UnprocessableDocument
from index import types as fields
from index.store import Scope
from index.types import ChunkPoint, chunk_id
from ingest.types import Chunk
from workers.runs import (
    Run,
    claimed,
    close_run,
    finish,
    finish_all,
    heartbeat,
    open_run,
    record_progress,
)
from workers.services import (
    IngestionServices,
    Outcome,
    ParseFn,
    chunks_key,
    original_key,
)

log = logging.getLogger(__name__)

__all__ = [
    "IngestionServices",
    "Outcome",
    "ParseFn",
    "original_key",
    "run_embed_group",
    "run_embed_stage",
    "run_parse_stage",
]


def run_parse_stage(svc: IngestionServices, doc_id: str, version: int, parse: ParseFn) -> Outcome:
    with claimed(svc, doc_id, version, DocumentStage.PARSING) as run:
        if isinstance(run, Outcome):
            return run
        data = svc.blobs.get(original_key(run.tenant_id, doc_id, version))
        with heartbeat(svc, run):
            chunks, facts = parse(data, run.filename)
        if not chunks:
            raise UnprocessableDocument("no text could be extracted from this document")
        payload = json.dumps([asdict(c) for c in chunks], ensure_ascii=False).encode()
        svc.blobs.put(chunks_key(run.tenant_id, doc_id, version), payload)
        with transaction(svc.sessions) as session:
            run.require(
                doc_queries.record_progress(
                    session,
                    doc_id,
                    run.token,
                    stage=DocumentStage.EMBEDDING,
                    chunks_total=len(chunks),
                    chunks_done=0,
                    parse_info=facts,
                )
            )
            doc_queries.release(session, doc_id, run.token)
            doc_queries.end_job(session, run.job_id, "done")
        return Outcome.EMBED_NEXT
    return Outcome.FAILED  # the block raised and ``claimed`` recorded why


def run_embed_stage(svc: IngestionServices, doc_id: str, version: int) -> Outcome:
    outcomes, errors = run_embed_group(svc, [(doc_id, version)])
    if doc_id in errors:
        raise errors[doc_id]
    return outcomes[doc_id]


def run_embed_group(
    svc: IngestionServices, items: Sequence[tuple[str, int]], max_chunks: int | None = None
) -> tuple[dict[str, Outcome], dict[str, Exception]]:
    """Embed several documents together. Returns each one's outcome, and the exceptions of
    those released for a retry (transient failures) so the caller can schedule them.

    Once ``max_chunks`` are gathered the remaining documents are not claimed: their outcome
    is ``EMBED_NEXT``, to be queued again, so a group of large documents cannot hold every
    one of them back until all are embedded."""
    outcomes: dict[str, Outcome] = {}
    errors: dict[str, Exception] = {}
    runs: list[Run] = []
    gathered = 0

    def end(run: Run, exc: Exception | None) -> None:
        outcomes[run.doc_id] = close_run(svc, run, exc, reraise=False)
        if outcomes[run.doc_id] is Outcome.RETRY and exc is not None:
            errors[run.doc_id] = exc

    for doc_id, version in items:
        if max_chunks is not None and gathered >= max_chunks:
            outcomes[doc_id] = Outcome.EMBED_NEXT
            continue
        opened = open_run(svc, doc_id, version, DocumentStage.EMBEDDING)
        if isinstance(opened, Outcome):
            outcomes[doc_id] = opened
            continue
        try:
            if _reuse_twin(svc, opened):
                outcomes[doc_id] = Outcome.DONE
                continue
            opened.chunks = _load_chunks(svc, opened)
            gathered += len(opened.chunks)
            runs.append(opened)
        except Exception as exc:
            end(opened, exc)
    if runs:
        try:
            _embed_and_upsert(svc, runs)
        except Exception as exc:
            # The model or the store failed: the whole group shares the fate.
            for run in runs:
                if run.active:
                    end(run, exc)
            return outcomes, errors
    finished = [(run, len(run.chunks)) for run in runs if run.active]
    outcomes.update({run.doc_id: Outcome.SKIPPED for run in runs if not run.active})
    try:
        lost = finish_all(svc, finished)
    except Exception as exc:
        for run, _ in finished:
            end(run, exc)
        return outcomes, errors
    for run, _ in finished:
        outcomes[run.doc_id] = Outcome.SKIPPED if run in lost else Outcome.DONE
    return outcomes, errors


def _load_chunks(svc: IngestionServices, run: Run) -> list[Chunk]:
    raw = json.loads(svc.blobs.get(chunks_key(run.tenant_id, run.doc_id, run.version)))
    return [Chunk(**{**c, "section_path": tuple(c["section_path"])}) for c in raw]


def _embed_and_upsert(svc: IngestionServices, runs: list[Run]) -> None:
    # Shortest first: a batch of similar lengths wastes little on padding.
    work = sorted(
        ((run, chunk) for run in runs for chunk in run.chunks), key=lambda rc: len(rc[1].text)
    )
    done: Counter[Run] = Counter()
    batch_size = max(1, svc.settings.embedding.batch_size)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="upsert") as pool:
        pending: tuple[Future[None], list[tuple[Run, Chunk]]] | None = None
        for start in range(0, len(work), batch_size):
            batch = [(r, c) for r, c in work[start : start + batch_size] if r.active]
            if not batch:
                continue
            points = _embed_batch(svc, batch)
            if pending is not None:
                _settle(svc, *pending, done)
                # A run may have lost its claim meanwhile: write nothing more for it.
                kept = [(rc, p) for rc, p in zip(batch, points, strict=True) if rc[0].active]
                batch, points = [rc for rc, _ in kept], [p for _, p in kept]
            pending = (pool.submit(svc.store.upsert, points), batch) if batch else None
        if pending is not None:
            _settle(svc, *pending, done)


def _settle(
    svc: IngestionServices,
    future: Future[None],
    batch: list[tuple[Run, Chunk]],
    done: Counter[Run],
) -> None:
    future.result()
    touched = Counter(run for run, _ in batch)
    done.update(touched)
    record_progress(svc, {run: {"chunks_done": done[run]} for run in touched if run.active})


def _embed_batch(svc: IngestionServices, batch: list[tuple[Run, Chunk]]) -> list[ChunkPoint]:
    # The chunker already starts each chunk with its section path: embed the text as stored.
    texts = [chunk.text for _, chunk in batch]
    dense = svc.embedder.embed_documents(texts)
    sparse = svc.sparse.encode_documents(texts)
    return [
        ChunkPoint(
            id=chunk_id(run.tenant_id, run.doc_id, run.version, chunk.position),
            dense=vector.tolist(),
            sparse=sparse_vector,
            payload=chunk_payload(run, chunk),
        )
        for (run, chunk), vector, sparse_vector in zip(batch, dense, sparse, strict=True)
    ]


def chunk_payload(run: Run, chunk: Chunk) -> dict[str, object]:
    run.written_access.add(tuple(run.access))
    return {
        fields.TENANT: run.tenant_id,
        fields.ACCESS: run.access,
        fields.DOC_ID: run.doc_id,
        fields.VERSION: run.version,
        fields.POSITION: chunk.position,
        fields.PAGE: chunk.page,
        "page_end": chunk.page_end,
        fields.SECTION_PATH: list(chunk.section_path),
        fields.TEXT: chunk.text,
        "kind": chunk.kind,
        fields.TITLE: run.title,
        fields.FILENAME: run.filename,
        fields.MIME_TYPE: run.mime_type,
        fields.TAGS: run.tags,
        fields.CREATED_AT: run.created_at,
    }


def _reuse_twin(svc: IngestionServices, run: Run) -> bool:
    """Identical bytes already indexed in this tenant: copy its vectors instead of embedding."""
    with svc.sessions() as session:
        twin = doc_queries.find_indexed_twin(session, run.tenant_id, run.content_hash, run.doc_id)
    if twin is None:
        return False
    twin_id, twin_parse_info = twin
    source = svc.store.document_chunks(Scope.admin(run.tenant_id), twin_id, with_vectors=True)
    if not source:
        return False
    points = []
    for point in source:
        position = int(point.payload[fields.POSITION])
        chunk = Chunk(
            text=str(point.payload[fields.TEXT]),
            position=position,
            page=point.payload.get(fields.PAGE),  # type: ignore[arg-type]
            section_path=tuple(point.payload.get(fields.SECTION_PATH) or ()),
            kind=str(point.payload.get("kind", "text")),
            page_end=point.payload.get("page_end"),  # type: ignore[arg-type]
        )
        points.append(
            ChunkPoint(
                id=chunk_id(run.tenant_id, run.doc_id, run.version, position),
                dense=point.dense,
                sparse=point.sparse,
                payload=chunk_payload(run, chunk),
            )
        )
    for start in range(0, len(points), svc.settings.qdrant.upsert_batch):
        svc.store.upsert(points[start : start + svc.settings.qdrant.upsert_batch])
    record_progress(svc, {run: {"reused_from": twin_id, "parse_info": twin_parse_info}})
    finish(svc, run, len(points))
    log.info("document %s reused the chunks of identical document %s", run.doc_id, twin_id)
    return True
