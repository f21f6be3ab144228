"""Identical uploads: a document whose bytes are already indexed in its tenant copies that
twin's vectors instead of being embedded again (the embed stage asks here first), and the
payload every chunk is written with, whether embedded or copied."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from core.db import documents as doc_queries
from index import types as fields
from index.generations import GenerationSwitched, VectorSource
from index.store import Scope
from index.types import ChunkPoint, chunk_id
from ingest.types import Chunk
from services.pii import IngestMasks
from workers.context import StageContext
from workers.runs import Run, finish, record_progress, settle_access

log = logging.getLogger(__name__)


def chunk_payload(run: Run, chunk: Chunk) -> dict[str, object]:
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


def indexed_twins(svc: StageContext, runs: Sequence[Run]) -> dict[str, tuple[str, dict]]:
    """Each run's ready twin in its tenant (same bytes), if any: (twin id, parse facts)."""
    if not runs:
        return {}
    # A tenant masking personal data at ingestion re-embeds its chunks (masked by the parse
    # stage): a twin indexed before the mode was chosen would carry the numbers back in.
    masks = IngestMasks(svc.sessions, svc.pii)
    runs = [run for run in runs if masks.for_tenant(run.tenant_id) is None]
    if not runs:
        return {}
    with svc.sessions() as session:
        return doc_queries.find_indexed_twins(
            session, [(run.tenant_id, run.content_hash, run.doc_id) for run in runs]
        )


def reuse_twin(svc: StageContext, run: Run, twin_id: str, twin_parse_info: dict) -> bool:
    """Identical bytes already indexed in this tenant: copy its vectors instead of embedding.
    False (embed it) when there is nothing to copy, or a re-index switched generations
    between the read and the write (the copied vectors are the replaced model's)."""
    # Read before the vectors: the generation they are at least as old as.
    live = svc.store.generations().live_generation()
    made_by = VectorSource.of(live) if live is not None else None
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
                parts=point.parts,
            )
        )
    try:
        for start in range(0, len(points), svc.upsert_batch):
            svc.store.upsert(points[start : start + svc.upsert_batch], made_by=made_by)
    except GenerationSwitched:
        log.info("document %s: the index switched generations; embedding it", run.doc_id)
        return False
    settle_access(svc, [run])
    record_progress(svc, {run: {"reused_from": twin_id, "parse_info": twin_parse_info}})
    finish(svc, run, len(points))
    log.info("document %s reused the chunks of identical document %s", run.doc_id, twin_id)
    return True
