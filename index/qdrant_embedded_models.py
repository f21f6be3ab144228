"""Translation between the store's types and qdrant-edge's: filters, points, records and
the query's legs and fusion. Shared by :mod:`index.qdrant_embedded` and its generations
(:mod:`index.embedded_generations`), so a point is written one way everywhere."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import qdrant_edge as edge

from index import qdrant_common as common
from index.filters import Filter
from index.store import Scope, SearchRequest
from index.types import DENSE, PER_SCRIPT, SPARSE, ChunkPoint, SparseVector


class _Build:
    """qdrant-edge's filter classes for :func:`index.qdrant_common.compile_filter`."""

    def equals(self, key: str, value: str | int) -> Any:
        return edge.FieldCondition(key, match=edge.MatchValue(value))

    def any_of(self, key: str, values: list[str] | list[int]) -> Any:
        return edge.FieldCondition(key, match=edge.MatchAny(values))

    def within(self, key: str, **bounds: float | None) -> Any:
        return edge.FieldCondition(key, range=edge.RangeFloat(**bounds))

    def group(
        self, must: Sequence[Any] = (), should: Sequence[Any] = (), must_not: Sequence[Any] = ()
    ) -> edge.Filter:
        return edge.Filter(
            must=list(must) or None, should=list(should) or None, must_not=list(must_not) or None
        )


_BUILD = _Build()


def compile_filter(flt: Filter) -> edge.Filter:
    return common.compile_filter(flt, _BUILD)


@lru_cache(maxsize=512)
def _read_filter(scope: Scope, flt: Filter | None) -> edge.Filter:
    return compile_filter(common.read_filter(scope, flt))


def read_filter(scope: Scope, flt: Filter | None = None) -> edge.Filter:
    """The engine's filter for a read of ``scope`` (and ``flt``), compiled once per distinct
    pair: a client's searches repeat the same principal's tenant and tokens. Keyed by the
    whole scope, tokens and all, so one caller's filter is never another's. The engine only
    reads a filter it is given, so one object serves every thread."""
    try:
        return _read_filter(scope, flt)
    except TypeError:  # a caller's filter holding a list: unhashable, compiled each time
        return compile_filter(common.read_filter(scope, flt))


def dense_params(dense_dim: int, layout: str) -> edge.EdgeVectorParams:
    """The dense vector's configuration; ``per_script``: a multivector scored by MaxSim."""
    if common.check_layout(layout) == PER_SCRIPT:
        multi = edge.MultiVectorConfig(edge.MultiVectorComparator.MaxSim)
        return edge.EdgeVectorParams(dense_dim, edge.Distance.Cosine, multivector_config=multi)
    return edge.EdgeVectorParams(dense_dim, edge.Distance.Cosine)


def shard_config(
    dense_dim: int,
    layout: str,
    hnsw: edge.HnswIndexConfig | None,
    optimizers: edge.EdgeOptimizersConfig,
) -> edge.EdgeConfig:
    """A shard's configuration. On load the engine checks the vectors against the segments (a
    size mismatch fails) and applies the tuning; unset values stay as stored."""
    return edge.EdgeConfig(
        vectors={DENSE: dense_params(dense_dim, layout)},
        # IDF is applied by the engine at query time, so documents carry term-frequency
        # weights and queries 1.0 per term.
        sparse_vectors={SPARSE: edge.EdgeSparseVectorParams(modifier=edge.Modifier.Idf)},
        hnsw_config=hnsw,
        optimizers=optimizers,
    )


def engine_points_of(points: Sequence[ChunkPoint], dense_dim: int, layout: str) -> list[edge.Point]:
    """Checked (tenant, access list, dimension) and ready to upsert."""
    return [
        edge.Point(
            common.check_point(p, dense_dim),
            {
                DENSE: common.stored_dense(p, layout),
                SPARSE: edge.SparseVector(p.sparse.indices, p.sparse.values),
            },
            p.payload,
        )
        for p in points
    ]


def fusion_of(request: SearchRequest) -> Any:
    if request.fusion == "dbsf":
        return edge.Fusion.Dbsf()
    weights = list(request.weights) if request.weights else None
    return edge.Fusion.Rrf(k=request.rrf_k, weights=weights)


def search_legs(
    request: SearchRequest, exact: bool, idf_corpus: edge.Filter, layout: str
) -> list[tuple[Any, edge.SearchParams]]:
    """(query, params) per side; IDF over what the caller may read (see qdrant_server)."""
    legs: list[tuple[Any, edge.SearchParams]] = []
    if request.dense is not None:
        dense = edge.Query.Nearest(common.dense_query(request.dense, layout), using=DENSE)
        legs.append((dense, edge.SearchParams(exact=exact)))
    if request.sparse is not None:
        vector = edge.SparseVector(request.sparse.indices, request.sparse.values)
        idf = edge.IdfParams(corpus=idf_corpus)
        legs.append(
            (edge.Query.Nearest(vector, using=SPARSE), edge.SearchParams(exact=exact, idf=idf))
        )
    return legs


def chunk_of(record: edge.Record) -> ChunkPoint:
    vectors = record.vector if isinstance(record.vector, dict) else {}
    dense, parts = common.split_dense(vectors.get(DENSE))
    sparse = vectors.get(SPARSE)
    return ChunkPoint(
        id=str(record.id),
        dense=dense,
        sparse=SparseVector(list(sparse.indices), [float(v) for v in sparse.values])
        if isinstance(sparse, edge.SparseVector)
        else SparseVector([], []),
        payload=dict(record.payload or {}),
        parts=parts,
    )


# Payload-index schemas by kind (index.qdrant_common.PAYLOAD_INDEXES).
INDEX_SCHEMAS: dict[str, Any] = {
    "keyword": edge.PayloadSchemaType.Keyword,
    "integer": edge.IntegerIndexParams(lookup=True, range=True),
    "float": edge.PayloadSchemaType.Float,
}


def create_payload_indexes(shard: edge.EdgeShard) -> None:
    """The payload indexes every shard has: a live one and a generation being built."""
    for field, kind in common.PAYLOAD_INDEXES.items():
        shard.update(edge.UpdateOperation.create_field_index(field, INDEX_SCHEMAS[kind]))
