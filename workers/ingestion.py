"""The two ingestion stages of one document version, as plain functions over services.

parse stage:  blob → elements → chunks (saved beside the original) → hand over to embedding
embed stage:  chunks → dense + sparse vectors → upserts (overlapped with the next batch) → ready

Both stages claim the document first (``core.db.documents.claim``) and stop writing as soon as
the claim is lost, and every chunk has a deterministic point id, so a re-delivered or re-run
stage leaves exactly one copy of each chunk.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta
from enum import Enum

from core.blobs import BlobStore
from core.db import documents as doc_queries
from core.db.models import Document, DocumentStage, DocumentStatus
from core.db.session import SessionFactory, transaction
from core.errors import NotFound, UnprocessableDocument
from core.settings import Settings
from index import types as fields
from index.embedding import Embedder
from index.sparse import SparseEncoder
from index.store import Scope, VectorStore
from index.types import ChunkPoint, chunk_id
from ingest.types import Chunk

log = logging.getLogger(__name__)

# parse(data, filename) -> (chunks, parser facts). Injected so the embedded runner can
# isolate parsing in a child process and Celery can run it inline in its prefork child.
ParseFn = Callable[[bytes, str], tuple[list[Chunk], dict[str, object]]]


class Outcome(Enum):
    EMBED_NEXT = "embed-next"  # parsing done; the embed stage must run
    PARSE_NEXT = "parse-next"  # an embed message came before parsing finished
    DONE = "done"
    SKIPPED = "skipped"  # nothing to do: finished, deleted, superseded, or another run holds it
    FAILED = "failed"


class IngestionServices:
    """What the stages need. The vector store and the models are opened on first use, so a
    parse-only worker never loads a model nor locks an embedded store."""

    def __init__(
        self,
        settings: Settings,
        sessions: SessionFactory,
        blobs: BlobStore,
        store: Callable[[], VectorStore],
        embedder: Callable[[], Embedder],
        sparse: Callable[[], SparseEncoder],
        worker_name: str = "local",
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.blobs = blobs
        self.worker_name = worker_name
        self._factories = {"store": store, "embedder": embedder, "sparse": sparse}
        self._built: dict[str, object] = {}
        self._lock = threading.Lock()

    def _get(self, name: str) -> object:
        with self._lock:
            if name not in self._built:
                self._built[name] = self._factories[name]()
            return self._built[name]

    @property
    def store(self) -> VectorStore:
        return self._get("store")  # type: ignore[return-value]

    @property
    def embedder(self) -> Embedder:
        return self._get("embedder")  # type: ignore[return-value]

    @property
    def sparse(self) -> SparseEncoder:
        return self._get("sparse")  # type: ignore[return-value]

    def close(self) -> None:
        store = self._built.pop("store", None)
        if store is not None:
            store.close()  # type: ignore[attr-defined]


def original_key(tenant_id: str, doc_id: str, version: int) -> str:
    return f"{tenant_id}/{doc_id}/v{version}/original"


def chunks_key(tenant_id: str, doc_id: str, version: int) -> str:
    return f"{tenant_id}/{doc_id}/v{version}/chunks.json"


def run_parse_stage(svc: IngestionServices, doc_id: str, version: int, parse: ParseFn) -> Outcome:
    with _claimed(svc, doc_id, version, DocumentStage.PARSING) as run:
        if isinstance(run, Outcome):
            return run
        data = svc.blobs.get(original_key(run.tenant_id, doc_id, version))
        with _heartbeat(svc, run):
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
        return Outcome.EMBED_NEXT


def run_embed_stage(svc: IngestionServices, doc_id: str, version: int) -> Outcome:
    with _claimed(svc, doc_id, version, DocumentStage.EMBEDDING) as run:
        if isinstance(run, Outcome):
            return run
        if _reuse_twin(svc, run):
            return Outcome.DONE
        raw = json.loads(svc.blobs.get(chunks_key(run.tenant_id, doc_id, version)))
        chunks = [Chunk(**{**c, "section_path": tuple(c["section_path"])}) for c in raw]
        batch_size = max(1, svc.settings.embedding.batch_size)
        # Upserts run on their own thread while the next batch is embedded.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="upsert") as pool:
            pending: Future[None] | None = None
            done = 0
            for start in range(0, len(chunks), batch_size):
                points = _embed_batch(svc, run, chunks[start : start + batch_size])
                if pending is not None:
                    pending.result()
                    done = start
                    _progress(svc, run, chunks_done=done)
                pending = pool.submit(svc.store.upsert, points)
            if pending is not None:
                pending.result()
        _finish(svc, run, len(chunks))
        return Outcome.DONE


@dataclass
class _Run:
    doc_id: str
    version: int
    token: str
    tenant_id: str
    filename: str
    title: str
    mime_type: str
    access: list[str]
    tags: list[str]
    created_at: float
    content_hash: str
    job_id: str
    stage: DocumentStage

    def require(self, still_ours: bool) -> None:
        if not still_ours:
            raise _ClaimLost(self.doc_id)


class _ClaimLost(Exception):
    """Another run took this document over (or it was deleted): stop without writing."""


@contextmanager
def _claimed(
    svc: IngestionServices, doc_id: str, version: int, stage: DocumentStage
) -> Iterator[_Run | Outcome]:
    stale_after = timedelta(seconds=svc.settings.worker.stale_after_s)
    with transaction(svc.sessions) as session:
        token = doc_queries.claim(session, doc_id, version, stale_after)
        if token is None:
            yield Outcome.SKIPPED
            return
        doc = doc_queries.get_document(session, doc_id)
        parsed = doc.stage in (DocumentStage.EMBEDDING, DocumentStage.DONE)
        if parsed != (stage == DocumentStage.EMBEDDING):
            # A stage message that arrived out of turn (re-delivered, or re-queued by the
            # sweeper): hand the document back and let the right stage run.
            doc_queries.release(session, doc_id, token)
            yield Outcome.EMBED_NEXT if parsed else Outcome.PARSE_NEXT
            return
        doc.stage = stage
        job = doc_queries.start_job(session, doc, stage, svc.worker_name)
        run = _run_from(doc, token, job.id, stage)
    try:
        yield run
    except _ClaimLost:
        _after_claim_lost(svc, run)
    except UnprocessableDocument as exc:
        log.info("document %s failed: %s", doc_id, exc)
        _fail(svc, run, str(exc))
    except NotFound as exc:
        _fail(svc, run, f"stored data is missing: {exc}")
    except Exception as exc:
        # Transient errors are retried by the caller; the claim is released so a retry
        # (or another worker) can take the document at once.
        with transaction(svc.sessions) as session:
            doc_queries.release(session, doc_id, token)
            doc_queries.end_job(session, run.job_id, "error", f"{type(exc).__name__}: {exc}")
        raise
    else:
        _end_job(svc, run.job_id, "done")


def _after_claim_lost(svc: IngestionServices, run: _Run) -> None:
    with svc.sessions() as session:
        deleted = session.get(Document, run.doc_id) is None
    if deleted:
        # Deleted while we were writing: remove what our in-flight upserts may have added.
        if run.stage == DocumentStage.EMBEDDING:
            svc.store.delete_document(run.tenant_id, run.doc_id)
        log.info("document %s was deleted during ingestion", run.doc_id)
        return
    log.info("document %s: claim lost, another run continues it", run.doc_id)
    _end_job(svc, run.job_id, "superseded")


def _run_from(doc: Document, token: str, job_id: str, stage: DocumentStage) -> _Run:
    return _Run(
        doc_id=doc.id,
        version=doc.version,
        token=token,
        tenant_id=doc.tenant_id,
        filename=doc.filename,
        title=doc.title,
        mime_type=doc.mime_type,
        access=doc.access,
        tags=list(doc.tags or []),
        created_at=doc.created_at.timestamp(),
        content_hash=doc.content_hash,
        job_id=job_id,
        stage=stage,
    )


def _fail(svc: IngestionServices, run: _Run, reason: str) -> None:
    with transaction(svc.sessions) as session:
        doc_queries.fail(session, run.doc_id, reason, token=run.token)
        doc_queries.end_job(session, run.job_id, "failed", reason)


def _end_job(svc: IngestionServices, job_id: str, status: str) -> None:
    with transaction(svc.sessions) as session:
        doc_queries.end_job(session, job_id, status)


def _progress(svc: IngestionServices, run: _Run, **values: object) -> None:
    """Record progress, and pick up an access list changed meanwhile for the next batches."""
    with transaction(svc.sessions) as session:
        run.require(doc_queries.record_progress(session, run.doc_id, run.token, **values))
        run.access = doc_queries.get_document(session, run.doc_id).access


def _finish(svc: IngestionServices, run: _Run, count: int) -> None:
    svc.store.delete_stale_chunks(run.tenant_id, run.doc_id, run.version, count)
    written_with = list(run.access)
    _progress(svc, run)
    if run.access != written_with:
        # The access list changed while earlier batches were written with the old one.
        svc.store.set_document_access(run.tenant_id, run.doc_id, run.access)
    with transaction(svc.sessions) as session:
        run.require(doc_queries.finish(session, run.doc_id, run.token, count))


@contextmanager
def _heartbeat(svc: IngestionServices, run: _Run, every_s: float | None = None) -> Iterator[None]:
    """Keep the claim fresh while a long single call (parsing, OCR) runs."""
    interval = every_s or max(1.0, svc.settings.worker.stale_after_s / 5)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            try:
                with transaction(svc.sessions) as session:
                    if not doc_queries.record_progress(session, run.doc_id, run.token):
                        return
            except Exception:  # a missed beat is harmless; the next one may succeed
                log.warning("heartbeat for %s failed", run.doc_id, exc_info=True)

    thread = threading.Thread(target=beat, name=f"heartbeat-{run.doc_id[:8]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _embed_batch(svc: IngestionServices, run: _Run, chunks: Sequence[Chunk]) -> list[ChunkPoint]:
    # The chunker already starts each chunk with its section path: embed the text as stored.
    texts = [c.text for c in chunks]
    dense = svc.embedder.embed_documents(texts)
    sparse = svc.sparse.encode_documents(texts)
    return [
        ChunkPoint(
            id=chunk_id(run.tenant_id, run.doc_id, run.version, chunk.position),
            dense=[float(x) for x in vector],
            sparse=sparse_vector,
            payload=chunk_payload(run, chunk),
        )
        for chunk, vector, sparse_vector in zip(chunks, dense, sparse, strict=True)
    ]


def chunk_payload(run: _Run, chunk: Chunk) -> dict[str, object]:
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


def _reuse_twin(svc: IngestionServices, run: _Run) -> bool:
    """Identical bytes already indexed in this tenant: copy its vectors instead of embedding."""
    with svc.sessions() as session:
        doc = doc_queries.get_document(session, run.doc_id)
        twin = doc_queries.find_indexed_twin(session, doc)
        if twin is None:
            return False
        twin_id, twin_parse_info = twin.id, dict(twin.parse_info or {})
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
    _progress(svc, run, reused_from=twin_id, parse_info=twin_parse_info)
    _finish(svc, run, len(points))
    log.info("document %s reused the chunks of identical document %s", run.doc_id, twin_id)
    return True


def is_terminal(status: str) -> bool:
    return status in (DocumentStatus.READY, DocumentStatus.FAILED)


def wait_for(
    sessions: SessionFactory, doc_ids: Sequence[str], timeout_s: float = 600.0
) -> dict[str, str]:
    """Poll until every document is ready or failed (used by the CLI and tests)."""
    deadline = time.monotonic() + timeout_s
    while True:
        with sessions() as session:
            states = {d: doc_queries.get_document(session, d).status for d in doc_ids}
        if all(is_terminal(s) for s in states.values()) or time.monotonic() > deadline:
            return states
        time.sleep(0.2)
