"""Reads of one collection on a Qdrant server: the hybrid search, counts, one document's
chunks, and the ids of every document. The store resolves the live generation's collection
and the tenant's shard route, and calls these inside its error translation."""

from __future__ import annotations

from typing import Any

from qdrant_client import QdrantClient, models

from index import qdrant_common as common
from index.qdrant_server_models import chunk_of, compile_filter, fusion_of, search_legs
from index.store import Scope, SearchRequest
from index.types import DOC_ID, POSITION, TENANT, ChunkPoint, ScoredChunk, ranked

# Points per scroll page.
PAGE = 256


def search_collection(
    client: QdrantClient,
    collection: str,
    layout: str,
    request: SearchRequest,
    scope: Scope,
    exact_below_fraction: float,
    route: dict[str, Any],
) -> list[ScoredChunk]:
    """One search: a single leg, or the dense and sparse prefetches fused inside one
    ``query_points`` call; exact when the filter matches under ``exact_below_fraction`` of
    the points (counted in the tenant's shard, as the search runs)."""
    engine_filter = compile_filter(common.read_filter(scope, request.filter))
    exact = common.use_exact(
        request,
        lambda: count_points(client, collection, engine_filter, exact=False, **route),
        lambda: count_points(client, collection, engine_filter, **route),
        lambda: count_points(client, collection, None, exact=False, **route),
        exact_below_fraction,
    )
    idf_corpus = compile_filter(common.scope_filter(scope))
    legs = search_legs(request, exact, idf_corpus, layout)
    if len(legs) == 1:
        query, using, params = legs[0]
        response = client.query_points(
            collection,
            query=query,
            using=using,
            query_filter=engine_filter,
            search_params=params,
            limit=request.limit,
            with_payload=request.with_payload,
            **route,
        )
    else:
        depth = max(request.prefetch_limit, request.limit)
        prefetch = [
            models.Prefetch(
                query=query, using=using, filter=engine_filter, params=params, limit=depth
            )
            for query, using, params in legs
        ]
        response = client.query_points(
            collection,
            prefetch=prefetch,
            query=fusion_of(request),
            query_filter=engine_filter,
            limit=request.limit,
            with_payload=request.with_payload,
            **route,
        )
    return ranked(ScoredChunk(str(p.id), p.score, dict(p.payload or {})) for p in response.points)


def readable_payloads(
    client: QdrantClient,
    collection: str,
    ids: list[str],
    scope: Scope,
    route: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """The payloads of those of ``ids`` the scope admits, in one call."""
    if not ids:
        return {}
    engine_filter = models.Filter(
        must=[models.HasIdCondition(has_id=ids), compile_filter(common.read_filter(scope, None))]
    )
    page, _ = client.scroll(
        collection,
        scroll_filter=engine_filter,
        limit=len(ids),
        with_payload=True,
        with_vectors=False,
        **route,
    )
    return {str(r.id): dict(r.payload or {}) for r in page}


def count_points(
    client: QdrantClient,
    collection: str,
    engine_filter: models.Filter | None,
    exact: bool = True,
    **route: Any,
) -> int:
    return client.count(collection, count_filter=engine_filter, exact=exact, **route).count


def scroll_document(
    client: QdrantClient,
    collection: str,
    engine_filter: models.Filter,
    with_vectors: bool,
    route: dict[str, Any],
) -> list[ChunkPoint]:
    """Every point the filter matches, ordered by position."""
    records: list[models.Record] = []
    offset: Any = None
    while True:
        page, offset = client.scroll(
            collection,
            scroll_filter=engine_filter,
            limit=PAGE,
            offset=offset,
            with_payload=True,
            with_vectors=with_vectors,
            **route,
        )
        records.extend(page)
        if offset is None:
            break
    chunks = [chunk_of(r) for r in records]
    chunks.sort(key=lambda c: c.payload.get(POSITION, 0))
    return chunks


def scroll_document_ids(client: QdrantClient, collection: str) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    offset: Any = None
    while True:
        page, offset = client.scroll(
            collection, limit=PAGE, offset=offset, with_payload=[TENANT, DOC_ID]
        )
        found.update((r.payload[TENANT], r.payload[DOC_ID]) for r in page if r.payload)
        if offset is None:
            return found
