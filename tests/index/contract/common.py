"""What every contract module shares: the test dimension, a chunk factory, the oracles."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings

from index.filters import Filter, matches
from index.store import Scope, SearchRequest, VectorStore
from index.types import ACCESS, DOC_ID, TENANT, ChunkPoint, ScoredChunk, SparseVector, chunk_id

DIM = 16
EVERYONE = frozenset({"everyone"})
# Hypothesis runs many examples against one store: new tenants per example keep them apart,
# and the leftovers of earlier examples become other tenants' data that must never leak.
# The same mixin method runs once per backend class: Hypothesis calls that differing executors.
# The permission properties (scope.py here, tests/api/test_permissions.py over HTTP) run
# ``ZHIKU_PERMISSION_EXAMPLES`` examples when it is set: small in CI, 10,000 in the nightly
# ``python -m bench.permissions``.
PERMISSION_EXAMPLES_ENV = "ZHIKU_PERMISSION_EXAMPLES"


def permission_examples(default: int) -> int:
    """Examples a permission property runs: ``ZHIKU_PERMISSION_EXAMPLES``, else ``default``."""
    return int(os.environ.get(PERMISSION_EXAMPLES_ENV) or default)


HYPOTHESIS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
)


def point(
    tenant: str,
    doc: str,
    position: int,
    *,
    version: int = 1,
    access: Sequence[str] = ("everyone",),
    dense: Sequence[float] | None = None,
    sparse: SparseVector | None = None,
    dim: int = DIM,
    **extra: Any,
) -> ChunkPoint:
    """A valid chunk; the dense vector defaults to one derived from the id (stable, spread)."""
    pid = chunk_id(tenant, doc, version, position)
    if dense is None:
        dense = np.random.default_rng(uuid.UUID(pid).int % 2**32).normal(size=dim).tolist()
    payload = {TENANT: tenant, ACCESS: list(access), DOC_ID: doc, "version": version}
    payload |= {"position": position, "text": f"{doc} chunk {position}", **extra}
    return ChunkPoint(pid, list(dense), sparse or SparseVector([position % 7], [1.0]), payload)


def readable(scope: Scope, payload: dict[str, Any]) -> bool:
    """The oracle of a scope: tenant, then (unless admin) any shared token."""
    if scope.tokens is None:
        return payload[TENANT] == scope.tenant_id
    return payload[TENANT] == scope.tenant_id and not scope.tokens.isdisjoint(payload[ACCESS])


def expected_ids(points: Iterable[ChunkPoint], scope: Scope, flt: Filter | None = None) -> set[str]:
    return {p.id for p in points if readable(scope, p.payload) and matches(flt, p.payload)}


def ids(results: Iterable[ScoredChunk | ChunkPoint]) -> set[str]:
    return {r.id for r in results}


def everything(store: VectorStore, scope: Scope, flt: Filter | None = None) -> set[str]:
    """Every id a scope can find by exact dense search: the engine's filter, not a scan."""
    request = SearchRequest(dense=[1.0] * DIM, limit=10_000, filter=flt, exact=True)
    return ids(store.search(request, scope))


def brute_force(vectors: np.ndarray, query: np.ndarray, k: int, mask: Any = None) -> list[int]:
    """The indices of the ``k`` vectors nearest ``query`` by cosine (``mask``: allowed rows)."""
    cosine = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)) @ (
        query / np.linalg.norm(query)
    )
    if mask is not None:
        cosine = np.where(mask, cosine, -np.inf)
    return [int(i) for i in np.argsort(-cosine)[:k] if np.isfinite(cosine[i])]
