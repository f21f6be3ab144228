"""The vector-store protocol. Two backends conform: ``qdrant_server`` and ``qdrant_embedded``.

Every read takes a required :class:`Scope`. There is no ``None`` that means "no restriction":
an unrestricted read inside a tenant is spelled :meth:`Scope.admin`, so it is visible in review.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from core.access import Principal
from core.errors import InvalidInput
from index.filters import Filter
from index.generations import GenerationOps, VectorSource
from index.types import SINGLE, ChunkPoint, ScoredChunk, SparseVector


class DimensionMismatch(InvalidInput):
    """A vector, or an existing collection, of another dimension than the embedding model's."""


@dataclass(frozen=True)
class Scope:
    """Whose data a read may touch: always one tenant; ``tokens`` None only for admin reads."""

    tenant_id: str
    tokens: frozenset[str] | None

    @classmethod
    def for_principal(cls, principal: Principal) -> Scope:
        return cls(principal.tenant_id, principal.access_tokens())

    @classmethod
    def admin(cls, tenant_id: str) -> Scope:
        """Every chunk of one tenant, whatever its access list: maintenance and tests only."""
        return cls(tenant_id, None)

    def __post_init__(self) -> None:
        if not self.tenant_id:
            raise ValueError("a scope needs a tenant")
        if self.tokens is not None and not self.tokens:
            raise ValueError("an empty token set admits nothing; use a real principal")


@dataclass(frozen=True)
class SearchRequest:
    """Dense, sparse, or both (hybrid: fused inside the engine).

    ``fusion``: ``"rrf"`` (reciprocal rank fusion with ``rrf_k``, optionally weighted per
    side with ``weights`` = (dense, sparse)) or ``"dbsf"`` (distribution-based score fusion:
    each side's scores normalised by their mean and spread, then summed).
    """

    dense: Sequence[float] | None = None
    sparse: SparseVector | None = None
    limit: int = 10
    # Candidates each side contributes to the fusion.
    prefetch_limit: int = 100
    filter: Filter | None = None
    fusion: Literal["rrf", "dbsf"] = "rrf"
    rrf_k: int = 60
    weights: tuple[float, float] | None = None
    # Force exact (brute force) search; otherwise the backend decides from filter selectivity.
    exact: bool | None = None
    with_payload: bool = True


@runtime_checkable
class VectorStore(Protocol):
    def ensure_collection(self, dense_dim: int, layout: str = SINGLE) -> None:
        """Create the collection and payload indexes if missing, its dense vectors held in
        ``layout`` (:data:`index.types.VectorLayout`); refuse a mismatched dimension. An
        existing collection keeps its layout (changing it is a re-index)."""

    def vector_layout(self) -> str:
        """The live collection's layout: whether it keeps a point's ``parts``."""

    def upsert(self, points: Sequence[ChunkPoint], made_by: VectorSource | None = None) -> None:
        """Insert or overwrite by id (ids are deterministic, so a re-run leaves one copy).
        ``made_by``: the model and layout the vectors were made with, checked against the live
        generation in the same hold of the store's write lock as the write; a mismatch (a
        re-index switched after they were embedded) raises
        :class:`~index.generations.GenerationSwitched` and nothing is written. None: not
        checked (bulk loads and benches that make their own index)."""

    def delete_document(self, tenant_id: str, doc_id: str) -> None: ...

    def delete_stale_chunks(self, tenant_id: str, doc_id: str, version: int, count: int) -> None:
        """Delete the document's chunks of older versions, and of ``version`` at positions
        >= ``count``; a newer version's are kept."""

    def delete_version(self, tenant_id: str, doc_id: str, version: int) -> None:
        """Delete the document's chunks of one version (a superseded run's late writes)."""

    def set_document_access(
        self,
        tenant_id: str,
        doc_id: str,
        access: Sequence[str],
        tags: Sequence[str] | None = None,
    ) -> None:
        """Rewrite the access list on every chunk of a document, without touching vectors;
        and its tags, when given (rows whose stored tags a migration rewrote: 0013)."""

    def search(self, request: SearchRequest, scope: Scope) -> list[ScoredChunk]: ...

    def count(self, scope: Scope, filter: Filter | None = None) -> int: ...

    def payloads(self, ids: Sequence[str], scope: Scope) -> dict[str, dict[str, Any]]:
        """The payloads of those of ``ids`` that ``scope`` may read, the scope applied inside
        the engine as in a search: an id it may not (or no longer) read is absent."""
        ...

    def document_chunks(
        self, scope: Scope, doc_id: str, with_vectors: bool = False
    ) -> list[ChunkPoint]:
        """All chunks of a document the scope may read, ordered by position."""

    def document_ids(self) -> set[tuple[str, str]]:
        """Every (tenant id, document id) with chunks in the live index, across tenants: for
        maintenance only (``workers.maintenance`` removes those with no document row)."""

    def optimize(self) -> None:
        """Build pending vector indexes (HNSW) now and wait for them; call after bulk loads."""

    def generations(self) -> GenerationOps:
        """The index generations: which model built the live vectors, and re-indexing
        beside them (:mod:`index.generations`)."""

    def close(self) -> None: ...
