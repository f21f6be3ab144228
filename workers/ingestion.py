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

import contextlib
import json
import logging
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict

import numpy as np

from core.db import documents as doc_queries
from core.db.models import DocumentStage
from core.db.session import transaction
from core.errors import UnprocessableDocument
from index import types as fields
from index.store import Scope
from index.types import ChunkPoint, chunk_id
from ingest.types import Chunk
from workers.runs import (
    ClaimLost,
    Run,
    close_run,
    finish,
    finish_all,
    heartbeat,
    open_runs,
    record_progress,
)
from workers.services import (
    IngestionServices,
    Outcome,
    ParseFn,
    ParseManyFn,
    ParseResult,
    chunks_key,
    original_key,
    parse_each,
)

log = logging.getLogger(__name__)

__all__ = [
    "IngestionServices",
    "Outcome",
    "ParseFn",
    "original_key",
    "run_embed_group",
    "run_embed_stage",
    "run_parse_group",
    "run_parse_stage",
]


def run_parse_stage(svc: IngestionServices, doc_id: str, version: int, parse: ParseFn) -> Outcome:
    outcomes, errors = run_parse_group(svc, [(doc_id, version)], parse_each(parse))
    if doc_id in errors:
        raise errors[doc_id]
    return outcomes[doc_id]


# Files parsed in one ``parse_many`` call (one round trip to an isolated parser): up to
# WAVE_FILES small files and WAVE_BYTES in all. A file over SMALL_FILE_BYTES goes alone, so
# that a large one is handed to embedding as soon as it is parsed, not after its neighbours.
SMALL_FILE_BYTES = 64 * 1024
WAVE_FILES = 32
WAVE_BYTES = 256 * 1024

Report = Callable[[dict[str, Outcome], dict[str, Exception]], None]


class _Results:
    """Each document's outcome, and the exceptions of those released for a retry."""

    def __init__(self, svc: IngestionServices) -> None:
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


def parse_waves(sizes: Sequence[int]) -> list[list[int]]:
    """Positions of the files, in order, cut into the waves ``run_parse_group`` parses."""
    waves: list[list[int]] = []
    current: list[int] = []
    total = 0
    for position, size in enumerate(sizes):
        large = size > SMALL_FILE_BYTES
        if current and (large or len(current) >= WAVE_FILES or total + size > WAVE_BYTES):
            waves.append(current)
            current, total = [], 0
        if large:
            waves.append([position])
            continue
        current.append(position)
        total += size
    if current:
        waves.append(current)
    return waves


def run_parse_group(
    svc: IngestionServices,
    items: Sequence[tuple[str, int]],
    parse_many: ParseManyFn,
    report: Report | None = None,
) -> tuple[dict[str, Outcome], dict[str, Exception]]:
    """Parse several documents: one transaction claims them all; then, wave by wave (see
    ``parse_waves``), one ``parse_many`` call parses a wave and one transaction hands it to
    embedding. A file that cannot be parsed fails alone.

    Returns each document's outcome, and the exceptions of those released for a retry
    (transient failures). ``report``, when given, also receives every outcome once, as soon
    as it is known, so the next stage can start on a wave while the next wave is parsed."""
    results = _Results(svc)
    outcomes, errors = results.outcomes, results.errors
    reported: set[str] = set()

    def send() -> None:
        fresh = [doc_id for doc_id in outcomes if doc_id not in reported]
        reported.update(fresh)
        if report is not None and fresh:
            report({d: outcomes[d] for d in fresh}, {d: errors[d] for d in fresh if d in errors})

    runs: list[tuple[Run, bytes]] = []

    def load_original(run: Run) -> None:
        runs.append((run, svc.blobs.get(original_key(run.tenant_id, run.doc_id, run.version))))

    results.claim(_once_each(items), DocumentStage.PARSING, load_original)
    send()
    with contextlib.ExitStack() as beating:
        for run, _ in runs:
            beating.enter_context(heartbeat(svc, run))
        for wave in parse_waves([len(data) for _, data in runs]):
            batch = [runs[position] for position in wave]
            parsed = parse_many([(data, run.filename) for run, data in batch])
            _hand_over(svc, [run for run, _ in batch], parsed, results)
            send()
    return outcomes, errors


def _once_each(items: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """A document queued twice is handled once (its first entry)."""
    first: dict[str, tuple[str, int]] = {}
    for doc_id, version in items:
        first.setdefault(doc_id, (doc_id, version))
    return list(first.values())


def _hand_over(
    svc: IngestionServices,
    runs: list[Run],
    parse_results: list[ParseResult | Exception],
    results: _Results,
) -> None:
    """Store a wave's chunks and pass its documents to the embed stage in one transaction."""
    end, outcomes = results.end, results.outcomes
    parsed: list[tuple[Run, int, dict[str, object]]] = []
    for run, result in zip(runs, parse_results, strict=True):
        try:
            if isinstance(result, Exception):
                raise result
            chunks, facts = result
            if not chunks:
                raise UnprocessableDocument("no text could be extracted from this document")
            payload = json.dumps([asdict(c) for c in chunks], ensure_ascii=False).encode()
            svc.blobs.put(chunks_key(run.tenant_id, run.doc_id, run.version), payload)
            parsed.append((run, len(chunks), facts))
        except Exception as exc:
            end(run, exc)
    values = {"stage": DocumentStage.EMBEDDING, "chunks_done": 0}
    try:
        with transaction(svc.sessions) as session:
            held = doc_queries.release_many(
                session,
                [
                    (run.doc_id, run.token, {**values, "chunks_total": count, "parse_info": facts})
                    for run, count, facts in parsed
                ],
            )
            doc_queries.end_jobs(
                session, [run.job_id for run, _, _ in parsed if run.doc_id in held], "done"
            )
        lost = [run for run, _, _ in parsed if run.doc_id not in held]
    except Exception as exc:
        for run, _, _ in parsed:
            end(run, exc)
        return
    for run, _, _ in parsed:
        outcomes[run.doc_id] = Outcome.EMBED_NEXT
    for run in lost:
        outcomes[run.doc_id] = close_run(svc, run, ClaimLost(run.doc_id), reraise=False)


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
    results = _Results(svc)
    outcomes, errors, end = results.outcomes, results.errors, results.end
    runs: list[Run] = []
    items = _once_each(items)
    claiming = list(items)
    if max_chunks is not None and items:
        # Claim only as many documents as their parsed chunk counts say fit (at least one).
        gathered = 0
        with svc.sessions() as session:
            totals = doc_queries.chunk_totals(session, [doc_id for doc_id, _ in items])
        for cut in range(1, len(items) + 1):
            gathered += totals.get(items[cut - 1][0], 0)
            if gathered >= max_chunks:
                break
        claiming = list(items[:cut])
        outcomes.update((doc_id, Outcome.EMBED_NEXT) for doc_id, _ in items[cut:])

    def load_chunks(run: Run) -> None:
        if _reuse_twin(svc, run):
            outcomes[run.doc_id] = Outcome.DONE
            return
        run.chunks = _load_chunks(svc, run)
        runs.append(run)

    results.claim(claiming, DocumentStage.EMBEDDING, load_chunks)
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
    in_model: deque[tuple[list[tuple[Run, Chunk]], Future[np.ndarray]]] = deque()
    writing: deque[Future[None]] = deque()
    with (
        ThreadPoolExecutor(max_workers=2, thread_name_prefix="zhiku-feed") as feeder,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="zhiku-writer") as writer,
    ):

        def hand_over() -> None:
            batch, vectors = in_model.popleft()
            dense = vectors.result()
            # At most two slices wait for the writer: a slow store holds the model back
            # instead of piling vectors up in memory.
            while len(writing) >= 2:
                writing.popleft().result()
            writing.append(writer.submit(_write_slice, svc, batch, dense, done))

        for start in range(0, len(work), step):
            batch = [(r, c) for r, c in work[start : start + step] if r.active]
            if not batch:
                continue
            texts = [chunk.text for _, chunk in batch]
            in_model.append((batch, feeder.submit(embedder.embed_documents, texts)))
            if len(in_model) >= 2:
                hand_over()
        while in_model:
            hand_over()
        for future in writing:
            future.result()


def _write_slice(
    svc: IngestionServices,
    batch: list[tuple[Run, Chunk]],
    dense: np.ndarray,
    done: Counter[Run],
) -> None:
    # Slices are written one after another on one thread, so a run that lost its claim
    # while the previous slice was settled (deleted: its chunks already removed) gets no
    # more writes.
    kept = [(rc, vector) for rc, vector in zip(batch, dense, strict=True) if rc[0].active]
    if not kept:
        return
    texts = [chunk.text for (_, chunk), _ in kept]
    sparse = svc.sparse.encode_documents(texts)
    points = [
        ChunkPoint(
            id=chunk_id(run.tenant_id, run.doc_id, run.version, chunk.position),
            dense=vector.tolist(),
            sparse=sparse_vector,
            payload=chunk_payload(run, chunk),
        )
        for ((run, chunk), vector), sparse_vector in zip(kept, sparse, strict=True)
    ]
    svc.store.upsert(points)
    touched = Counter(run for (run, _), _ in kept)
    done.update(touched)
    record_progress(svc, {run: {"chunks_done": done[run]} for run in touched if run.active})


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
