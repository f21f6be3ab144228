"""Reads of an open embedded shard: the hybrid search, one document's chunks, and the ids of
every document. The store picks the shard (under its gate) and calls these."""

from __future__ import annotations

from typing import Any

import qdrant_edge as edge

from index import qdrant_common as common
from index.embedded_exact_choice import ExactChoiceCache
from index.qdrant_embedded_models import (
    chunk_of,
    fusion_of,
    read_filter,
    search_legs,
)
from index.store import Scope, SearchRequest
from index.types import DOC_ID, POSITION, TENANT, ChunkPoint, ScoredChunk, ranked

# Points per scroll page.
PAGE = 256


def search_shard(
    shard: edge.EdgeShard,
    dim: int,
    layout: str,
    request: SearchRequest,
    scope: Scope,
    exact_below_fraction: float,
    choices: ExactChoiceCache | None = None,
) -> list[ScoredChunk]:
    """One search: a single leg, or dense and sparse legs fused by the engine; exact (no
    HNSW) when the filter matches under ``exact_below_fraction`` of the points. ``choices``:
    that choice remembered per (scope, filter) until the shard's next write."""
    common.check_search(request, dim)
    engine_filter = read_filter(scope, request.filter)

    def decide() -> bool:
        return common.use_exact(
            request,
            lambda: shard.count(edge.CountRequest(exact=False, filter=engine_filter)),
            lambda: shard.count(edge.CountRequest(exact=True, filter=engine_filter)),
            lambda: shard.info().points_count,
            exact_below_fraction,
        )

    if choices is None or request.exact is not None:
        exact = decide()
    else:
        exact = choices.choose((scope, request.filter, exact_below_fraction), decide)
    legs = search_legs(request, exact, read_filter(scope), layout)
    if len(legs) == 1:
        leg, params = legs[0]
        query = edge.QueryRequest(
            limit=request.limit,
            query=leg,
            filter=engine_filter,
            params=params,
            with_payload=request.with_payload,
        )
    else:
        depth = max(request.prefetch_limit, request.limit)
        query = edge.QueryRequest(
            limit=request.limit,
            prefetches=[
                edge.Prefetch(limit=depth, query=leg, filter=engine_filter, params=params)
                for leg, params in legs
            ],
            query=fusion_of(request),
            filter=engine_filter,
            with_payload=request.with_payload,
        )
    return ranked(
        ScoredChunk(str(p.id), p.score, dict(p.payload or {})) for p in shard.query(query)
    )


def readable_payloads(
    shard: edge.EdgeShard, ids: list[str], scope: Scope
) -> dict[str, dict[str, Any]]:
    """The payloads of those of ``ids`` the scope admits, in one engine call."""
    if not ids:
        return {}
    engine_filter = edge.Filter(must=[edge.HasIdCondition(set(ids)), read_filter(scope)])
    page, _ = shard.scroll(
        edge.ScrollRequest(limit=len(ids), filter=engine_filter, with_payload=True)
    )
    return {str(r.id): dict(r.payload or {}) for r in page}


def scroll_records(
    shard: edge.EdgeShard, engine_filter: Any, with_vectors: bool
) -> list[edge.Record]:
    """Every point matching the filter, page by page from one shard."""
    records: list[edge.Record] = []
    offset: Any = None
    while True:
        page, offset = shard.scroll(
            edge.ScrollRequest(
                offset=offset,
                limit=PAGE,
                filter=engine_filter,
                with_payload=True,
                with_vector=with_vectors,
            )
        )
        records.extend(page)
        if offset is None:
            return records


def in_document_order(records: list[edge.Record]) -> list[ChunkPoint]:
    """The records as chunks, by their position in the document."""
    chunks = [chunk_of(r) for r in records]
    chunks.sort(key=lambda c: c.payload.get(POSITION, 0))
    return chunks


def scroll_document_ids(shard: edge.EdgeShard) -> set[tuple[str, str]]:
    """(tenant, document id) of every point's document."""
    found: set[tuple[str, str]] = set()
    offset: Any = None
    while True:
        page, offset = shard.scroll(
            edge.ScrollRequest(offset=offset, limit=PAGE, with_payload=[TENANT, DOC_ID])
        )
        found.update((r.payload[TENANT], r.payload[DOC_ID]) for r in page if r.payload)
        if offset is None:
            return found
