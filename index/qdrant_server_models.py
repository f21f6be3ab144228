"""Translation between the store's types and qdrant-client's models: filters, points,
records and the query's legs and fusion. Shared by :mod:`index.qdrant_server` and its
generations (:mod:`index.server_generations`), so a point is written one way everywhere."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
from qdrant_client import models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from core.errors import Component, InvalidInput, NotFound, UpstreamUnavailable
from index import qdrant_common as common
from index.filters import Filter
from index.store import SearchRequest
from index.types import DENSE, PER_SCRIPT, SINGLE, SPARSE, ChunkPoint, SparseVector

log = logging.getLogger(__name__)


class _Build:
    """qdrant-client's filter classes for :func:`index.qdrant_common.compile_filter`."""

    def equals(self, key: str, value: str | int) -> Any:
        return models.FieldCondition(key=key, match=models.MatchValue(value=value))

    def any_of(self, key: str, values: list[str] | list[int]) -> Any:
        return models.FieldCondition(key=key, match=models.MatchAny(any=values))

    def within(self, key: str, **bounds: float | None) -> Any:
        return models.FieldCondition(key=key, range=models.Range(**bounds))

    def group(
        self, must: Sequence[Any] = (), should: Sequence[Any] = (), must_not: Sequence[Any] = ()
    ) -> models.Filter:
        return models.Filter(
            must=list(must) or None, should=list(should) or None, must_not=list(must_not) or None
        )


_BUILD = _Build()


def compile_filter(flt: Filter) -> models.Filter:
    return common.compile_filter(flt, _BUILD)


def dense_params(dense_dim: int, layout: str) -> models.VectorParams:
    """The dense vector's configuration; ``per_script``: a multivector scored by MaxSim."""
    multi = None
    if common.check_layout(layout) == PER_SCRIPT:
        multi = models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM)
    return models.VectorParams(
        size=dense_dim, distance=models.Distance.COSINE, multivector_config=multi
    )


def layout_of(params: models.VectorParams) -> str:
    return PER_SCRIPT if params.multivector_config is not None else SINGLE


def point_structs(
    points: Sequence[ChunkPoint], dense_dim: int, layout: str
) -> list[models.PointStruct]:
    """Checked (tenant, access list, dimension) and ready to upsert."""
    return [
        models.PointStruct(
            id=common.check_point(p, dense_dim),
            vector={
                DENSE: common.stored_dense(p, layout),
                SPARSE: models.SparseVector(indices=p.sparse.indices, values=p.sparse.values),
            },
            payload=p.payload,
        )
        for p in points
    ]


def search_legs(
    request: SearchRequest, exact: bool, idf_corpus: models.Filter, layout: str
) -> list[tuple[Any, str, models.SearchParams]]:
    """(query, vector name, params) per side. IDF is measured over what the caller may read:
    the same for every backend (both count live points) and no statistic about documents the
    caller cannot see leaks into scores."""
    legs: list[tuple[Any, str, models.SearchParams]] = []
    if request.dense is not None:
        dense = common.dense_query(request.dense, layout)
        legs.append((dense, DENSE, models.SearchParams(exact=exact)))
    if request.sparse is not None:
        sparse = models.SparseVector(indices=request.sparse.indices, values=request.sparse.values)
        idf = models.IdfCorpusParams(corpus=idf_corpus)
        legs.append((sparse, SPARSE, models.SearchParams(exact=exact, idf=idf)))
    return legs


def chunk_of(record: models.Record) -> ChunkPoint:
    vectors = record.vector if isinstance(record.vector, dict) else {}
    dense, parts = common.split_dense(vectors.get(DENSE))
    sparse = vectors.get(SPARSE)
    return ChunkPoint(
        id=str(record.id),
        dense=dense,
        sparse=SparseVector(list(sparse.indices), [float(v) for v in sparse.values])
        if isinstance(sparse, models.SparseVector)
        else SparseVector([], []),
        payload=dict(record.payload or {}),
        parts=parts,
    )


def fusion_of(request: SearchRequest) -> models.Query:
    if request.fusion == "dbsf":
        return models.FusionQuery(fusion=models.Fusion.DBSF)
    weights = list(request.weights) if request.weights else None
    return models.RrfQuery(rrf=models.Rrf(k=request.rrf_k, weights=weights))


# Payload-index schemas by kind (index.qdrant_common.PAYLOAD_INDEXES).
INDEX_SCHEMAS: dict[str, Any] = {
    "keyword": models.PayloadSchemaType.KEYWORD,
    "integer": models.IntegerIndexParams(
        type=models.IntegerIndexType.INTEGER, lookup=True, range=True
    ),
    "float": models.PayloadSchemaType.FLOAT,
}


@contextmanager
def upstream() -> Iterator[None]:
    """Translate the client's transport errors into domain errors (retry vs. fail)."""
    try:
        yield
    except UnexpectedResponse as exc:
        if exc.status_code == 404:
            raise NotFound("not found in the search index") from exc
        if exc.status_code == 429 or exc.status_code >= 500:
            raise UpstreamUnavailable(
                f"Qdrant answered {exc.status_code}", component=Component.VECTOR_STORE
            ) from exc
        # Qdrant's own words (field names, its parser's errors) go to the log, not the caller.
        log.warning("Qdrant refused a request: %s %r", exc.status_code, exc.content[:300])
        raise InvalidInput("the search index refused the request") from exc
    except (ResponseHandlingException, httpx.TransportError) as exc:
        raise UpstreamUnavailable(
            f"Qdrant unreachable: {exc}", component=Component.VECTOR_STORE
        ) from exc
