"""What the two Qdrant backends share: payload schema, checks, filters and the exact-search rule.

Everything that decides *which* points a call touches lives here as neutral filter trees
(:mod:`index.filters`), so the permission filter is written once and both backends compile the
same tree through :func:`compile_filter`. The trees are also what the tests feed to the oracle.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

from core.errors import InvalidInput
from index.filters import And, Condition, Filter, FilterError, Not, Or, all_of
from index.store import DimensionMismatch, Scope, SearchRequest
from index.types import (
    ACCESS,
    CREATED_AT,
    DOC_ID,
    LAYOUTS,
    MIME_TYPE,
    PER_SCRIPT,
    POSITION,
    TAGS,
    TENANT,
    TEXT,
    VERSION,
    ChunkPoint,
)

IndexKind = Literal["keyword", "integer", "float"]

# Payload indexes: the permission fields first (every read filters on them), then the fields
# users filter on. A field indexed as "integer" must only ever hold integers: the engine's
# integer index reads 1.0 as 1 and drops 2.5 from ranges, so upserts check it (check_point).
PAYLOAD_INDEXES: dict[str, IndexKind] = {
    TENANT: "keyword",
    ACCESS: "keyword",
    DOC_ID: "keyword",
    VERSION: "integer",
    POSITION: "integer",
    TAGS: "keyword",
    MIME_TYPE: "keyword",
    CREATED_AT: "float",
}


class FilterBuilder(Protocol):
    """One backend's filter classes, behind the four shapes the compiler needs."""

    def equals(self, key: str, value: str | int) -> Any: ...

    def any_of(self, key: str, values: list[str] | list[int]) -> Any: ...

    def within(
        self,
        key: str,
        gt: float | None = None,
        gte: float | None = None,
        lt: float | None = None,
        lte: float | None = None,
    ) -> Any: ...

    def group(
        self, must: Sequence[Any] = (), should: Sequence[Any] = (), must_not: Sequence[Any] = ()
    ) -> Any: ...


def compile_filter(flt: Filter, build: FilterBuilder) -> Any:
    """Compile a neutral tree into the backend's ``Filter``, with :func:`index.filters.matches`
    semantics (a list field matches when any element does; a missing field never matches)."""
    if isinstance(flt, Condition):
        return build.group(must=[_condition(flt, build)])
    return _part(flt, build)


def _part(flt: Filter, build: FilterBuilder) -> Any:
    """A clause for a must/should/must_not list: leaves stay bare, nested ANDs are flattened
    (fewer nested filters to evaluate per point)."""
    if isinstance(flt, Condition):
        return _condition(flt, build)
    if isinstance(flt, And):
        return build.group(must=[_part(c, build) for c in _flatten(flt)])
    if isinstance(flt, Or):
        if not flt.conditions:
            return _nothing(build)
        return build.group(should=[_part(c, build) for c in flt.conditions])
    if isinstance(flt, Not):
        return build.group(must_not=[_part(flt.condition, build)])
    raise FilterError(f"not a filter: {flt!r}")


def _flatten(flt: And) -> list[Filter]:
    out: list[Filter] = []
    for child in flt.conditions:
        out.extend(_flatten(child) if isinstance(child, And) else [child])
    return out


def _condition(cond: Condition, build: FilterBuilder) -> Any:
    key, op, value = cond.field, cond.op, cond.value
    if op == "==":
        return build.equals(key, value)
    if op == "!=":
        return build.group(must_not=[build.equals(key, value)])
    if op == "in":
        return _any_of(key, list(value), build)
    if op == "not in":
        # Not Qdrant's MatchExcept: that one matches a list holding *some* other value and
        # never matches a missing field. "None of the values" is a negated MatchAny.
        return build.group(must_not=[_any_of(key, list(value), build)])
    bounds = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
    if op in bounds:
        return build.within(key, **{bounds[op]: float(value)})
    raise FilterError(f"operator {op!r} cannot be compiled")


def _any_of(key: str, values: list[Any], build: FilterBuilder) -> Any:
    if not values:
        return _nothing(build)
    if all(isinstance(v, str) for v in values) or all(isinstance(v, int) for v in values):
        return build.any_of(key, values)
    # MatchAny takes one type; a mixed list becomes one equality per value.
    return build.group(should=[build.equals(key, v) for v in values])


def _nothing(build: FilterBuilder) -> Any:
    # An empty filter matches every point, so its negation matches none.
    return build.group(must_not=[build.group()])


def scope_filter(scope: Scope) -> Filter:
    """The permission filter: the tenant, and (unless admin) any of the caller's tokens."""
    tenant = Condition(TENANT, "==", scope.tenant_id)
    if scope.tokens is None:
        return tenant
    return And((tenant, Condition(ACCESS, "in", sorted(scope.tokens))))


def read_filter(scope: Scope, flt: Filter | None) -> Filter:
    """What every read sends to the engine: the scope AND the caller's own filter, never either."""
    combined = all_of(scope_filter(scope), flt)
    assert combined is not None  # the scope is never empty
    return combined


def document_filter(tenant_id: str, doc_id: str) -> Filter:
    if not tenant_id or not doc_id:
        raise InvalidInput("a document is named by a tenant and a document id")
    return And((Condition(TENANT, "==", tenant_id), Condition(DOC_ID, "==", doc_id)))


def stale_filter(tenant_id: str, doc_id: str, version: int, count: int) -> Filter:
    """A document's chunks of an older version, or of this one beyond the new chunk count.

    Never a newer version's: a run finishing ``version`` may reach its delete after a newer
    upload was parsed, embedded and made ready (the delete is a store call, outside any lock);
    "any other version" then wiped the ready document's chunks."""
    beyond = And((Condition(VERSION, "==", version), Condition(POSITION, ">=", count)))
    stale = Or((Condition(VERSION, "<", version), beyond))
    return And((document_filter(tenant_id, doc_id), stale))


def version_filter(tenant_id: str, doc_id: str, version: int) -> Filter:
    """One version's chunks of a document."""
    return And((document_filter(tenant_id, doc_id), Condition(VERSION, "==", version)))


def use_exact(
    request: SearchRequest,
    estimate: Callable[[], int],
    matching: Callable[[], int],
    total: Callable[[], int],
    below_fraction: float,
) -> bool:
    """Exact (brute-force) search when the filter keeps under ``below_fraction`` of the points.

    Filtered HNSW walks a graph whose neighbours mostly fail the filter and loses recall on
    selective filters (0.71 recall@10 at 8% measured here); brute force over the few points a
    payload index hands back is exact and, at that selectivity, faster. The engine's estimate
    (from payload-index cardinalities, ~0.02 ms) settles the clear cases; only a filter that
    may be near the threshold pays for an exact count (~8 ms for 100k matches, far less for
    few). Below the engine's own ``full_scan_threshold`` it searches exactly anyway.
    """
    if request.exact is not None:
        return request.exact
    all_points = total()
    if all_points == 0:
        return True
    if estimate() >= _CLEARLY_ABOVE * below_fraction * all_points:
        return False
    return matching() < below_fraction * all_points


# An estimate this many times the threshold is trusted without an exact count.
_CLEARLY_ABOVE = 2


def point_id(raw: str) -> str:
    """Qdrant ids are UUIDs (or integers); we store the canonical UUID string."""
    try:
        return str(uuid.UUID(str(raw)))
    except ValueError as exc:
        raise InvalidInput(f"chunk ids must be UUIDs (index.types.chunk_id), got {raw!r}") from exc


def check_point(point: ChunkPoint, dense_dim: int) -> str:
    """Refuse a point the permission filter or the payload indexes would misread."""
    check_dense(point.dense, dense_dim)
    for part in point.parts:
        check_dense(part, dense_dim)
    if len(point.sparse.indices) != len(point.sparse.values):
        raise InvalidInput(f"chunk {point.id}: sparse indices and values differ in length")
    if len(set(point.sparse.indices)) != len(point.sparse.indices):
        raise InvalidInput(f"chunk {point.id}: repeated sparse index")
    payload = point.payload
    for key in (TENANT, DOC_ID, TEXT):
        if not isinstance(payload.get(key), str) or (key != TEXT and not payload[key]):
            raise InvalidInput(f"chunk {point.id}: payload needs a string {key!r}")
    access = payload.get(ACCESS)
    if not isinstance(access, list) or not all(isinstance(t, str) for t in access):
        raise InvalidInput(f"chunk {point.id}: payload {ACCESS!r} must be a list of tokens")
    for key, kind in PAYLOAD_INDEXES.items():
        value = payload.get(key)
        if kind == "integer" and not _is_int(value):
            raise InvalidInput(f"chunk {point.id}: payload {key!r} must be an integer")
        if kind == "float" and value is not None and not _is_number(value):
            raise InvalidInput(f"chunk {point.id}: payload {key!r} must be a number")
    return point_id(point.id)


def check_layout(layout: str) -> str:
    if layout not in LAYOUTS:
        raise InvalidInput(f"unknown vector layout {layout!r}: one of {', '.join(LAYOUTS)}")
    return layout


def stored_dense(point: ChunkPoint, layout: str) -> list[float] | list[list[float]]:
    """The point's dense value as the collection holds it: a ``per_script`` collection a
    multivector (the whole text's vector first, then its parts), a ``single`` one the vector."""
    if layout == PER_SCRIPT:
        return [list(point.dense), *(list(part) for part in point.parts)]
    return list(point.dense)


def split_dense(value: Any) -> tuple[list[float], list[list[float]]]:
    """A dense value read back: (the whole text's vector, the extra ones), for either layout."""
    if not isinstance(value, list) or not value:
        return [], []
    if isinstance(value[0], list):
        return [float(v) for v in value[0]], [[float(v) for v in part] for part in value[1:]]
    return [float(v) for v in value], []


def dense_query(vector: Sequence[float], layout: str) -> list[float] | list[list[float]]:
    """A query vector as the collection compares it: MaxSim of a one-vector query is the
    best cosine over the point's vectors."""
    return [list(vector)] if layout == PER_SCRIPT else list(vector)


def check_access(access: Sequence[str]) -> list[str]:
    """An access list as stored: a list of tokens (a bare string would become its letters)."""
    if isinstance(access, str) or not all(isinstance(t, str) for t in access):
        raise InvalidInput(f"an access list is a list of token strings, got {access!r}")
    return list(access)


def access_payload(access: Sequence[str], tags: Sequence[str] | None) -> dict[str, Any]:
    """The payload a document's access rewrite sets: its access list, and its tags when given
    (stored tags a migration rewrote reach the chunks this way, ``core.db.access``)."""
    payload: dict[str, Any] = {ACCESS: check_access(access)}
    if tags is not None:
        if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
            raise InvalidInput(f"tags are a list of strings, got {tags!r}")
        payload[TAGS] = list(tags)
    return payload


def check_dense(vector: Sequence[float], dense_dim: int) -> None:
    if len(vector) != dense_dim:
        raise DimensionMismatch(
            f"dense vector has {len(vector)} dimensions, the collection {dense_dim}"
        )


def check_search(request: SearchRequest, dense_dim: int) -> None:
    if request.dense is None and request.sparse is None:
        raise InvalidInput("a search needs a dense vector, a sparse vector, or both")
    if request.limit < 1 or request.prefetch_limit < 1:
        raise InvalidInput("limit and prefetch_limit must be positive")
    if request.dense is not None:
        check_dense(request.dense, dense_dim)
    if request.rrf_k < 1:
        raise InvalidInput("rrf_k must be positive")
    if request.weights is not None and (
        len(request.weights) != 2 or not all(w > 0 for w in request.weights)
    ):
        raise InvalidInput("weights are two positive numbers: (dense, sparse)")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
