"""The vector store on a Qdrant server, through qdrant-client (tests run it on ``":memory:"``).

Every read compiles the caller's :class:`Scope` into the engine's filter; hybrid search runs the
dense and sparse prefetches and fuses them (RRF or DBSF) inside one ``query_points`` call.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from core.errors import Component, NotFound, UpstreamUnavailable
from core.settings import QdrantSettings
from index import qdrant_common as common
from index import server_generations as generations
from index import server_reads as reads
from index.filters import Filter
from index.generations import Generation, GenerationSwitched, VectorSource
from index.qdrant_placement import Placement
from index.qdrant_server_models import (
    INDEX_SCHEMAS,
    compile_filter,
    dense_params,
    layout_of,
    point_structs,
    upstream,
)
from index.store import DimensionMismatch, Scope, SearchRequest
from index.types import (
    DENSE,
    SINGLE,
    SPARSE,
    TENANT,
    ChunkPoint,
    ScoredChunk,
)

log = logging.getLogger(__name__)

_GREEN = models.CollectionStatus.GREEN
# How often a write that a carry-over overlapped looks whether it is over.
CARRY_POLL_S = 0.05


class QdrantServerStore:
    def __init__(
        self,
        client: QdrantClient,
        collection: str,
        exact_below_fraction: float = 0.1,
        upsert_batch: int = 256,
        placement: Placement | None = None,
    ) -> None:
        self._client = client
        # Which shard key each tenant's requests name (none unless tenants are dedicated).
        self.placement = placement or Placement()
        # The configured name: the first generation's collection, and the pointer's prefix.
        self._name = collection
        self._target: str | None = None  # the live generation's collection, as last read
        self.generation: Generation | None = None  # and its record, read with it
        self._live: generations.Live | None = None  # the pointer as last read
        self._carry_watch = generations.CarryWatch()  # is a carry-over's mark live
        self._follow_at = 0.0
        self._exact_below = exact_below_fraction
        self._batch = upsert_batch
        self._dim: int | None = None
        self._layout = SINGLE  # the live collection's, read with its dimension
        # This process's writes; a re-index holds it for its last pass and the switch.
        self._writes = threading.RLock()
        # Told when another generation became live (a re-index, maybe in another process):
        # the owner re-reads which model embeds queries (zhiku.container).
        self.on_generation_change: Callable[[], None] | None = None

    @property
    def _collection(self) -> str:
        """The live generation's collection (:mod:`index.server_generations`)."""
        if self._target is None or time.monotonic() >= self._follow_at:
            self._follow()
        assert self._target is not None
        return self._target

    def _follow(self) -> None:
        """Re-read which collection is live (a re-index may have switched it)."""
        with upstream():
            self._live = generations.read_live(self._client, self._name, self._carry_watch)
        target, self.generation = self._live.collection, self._live.generation
        if target != self._target:
            changed = self._target is not None
            self._target, self._dim = target, None
            if changed and self.on_generation_change is not None:
                self.on_generation_change()
        self._follow_at = time.monotonic() + generations.POINTER_TTL_S

    def generations(self) -> generations.ServerGenerations:
        return generations.ServerGenerations(self)

    @classmethod
    def from_settings(cls, settings: QdrantSettings) -> QdrantServerStore:
        if not settings.url:
            raise ValueError(
                "QdrantServerStore needs ZHIKU_QDRANT__URL; leave it empty for embedded"
            )
        placement = Placement(settings.placement)
        if settings.url == ":memory:":
            # qdrant-client's in-process stand-in for a server: tests and trials only (it
            # refuses shard keys: no dedicated tenants).
            client = QdrantClient(":memory:")
        else:
            client = QdrantClient(
                url=settings.url, api_key=settings.api_key or None, timeout=int(settings.timeout_s)
            )
        return cls(
            client,
            settings.collection,
            settings.exact_search_below_fraction,
            settings.upsert_batch,
            placement,
        )

    # --- schema -------------------------------------------------------------------------

    def ensure_collection(self, dense_dim: int, layout: str = SINGLE) -> None:
        with upstream():
            if not self._client.collection_exists(self._collection):
                self._create(dense_dim, layout=layout)
            self.placement.check(self._client, self._collection)
            self.placement.ensure_keys(self._client, self._collection)
            self._dim = self._read_dim()
            if self._dim != dense_dim:
                raise DimensionMismatch(
                    f"collection {self._collection!r} holds {self._dim}-d vectors, "
                    f"the embedding model makes {dense_dim}-d ones"
                )
            self._ensure_indexes()

    def _create(self, dense_dim: int, name: str | None = None, layout: str = SINGLE) -> None:
        try:
            self._client.create_collection(
                name or self._collection,
                vectors_config={DENSE: dense_params(dense_dim, layout)},
                # IDF is applied by the engine at query time over the live collection, so
                # documents carry term-frequency weights and queries 1.0 per term.
                sparse_vectors_config={
                    SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)
                },
                **self.placement.create_options(),
            )
        except UnexpectedResponse as exc:
            if exc.status_code != 409:  # another worker created it first
                raise
        self.placement.ensure_keys(self._client, name or self._collection)

    def _read_dim(self) -> int:
        params = self._client.get_collection(self._collection).config.params
        vectors = params.vectors if isinstance(params.vectors, dict) else {}
        sparse = params.sparse_vectors or {}
        if DENSE not in vectors or SPARSE not in sparse:
            raise DimensionMismatch(
                f"collection {self._collection!r} lacks the {DENSE!r}/{SPARSE!r} named vectors"
            )
        if sparse[SPARSE].modifier != models.Modifier.IDF:
            raise DimensionMismatch(f"collection {self._collection!r}: sparse vectors lack IDF")
        self._layout = layout_of(vectors[DENSE])
        return vectors[DENSE].size

    def _ensure_indexes(self, name: str | None = None) -> None:
        name = name or self._collection
        existing = self._client.get_collection(name).payload_schema or {}
        for field, kind in common.PAYLOAD_INDEXES.items():
            if field in existing:
                continue
            schema = INDEX_SCHEMAS[kind]
            if field == TENANT:
                # Qdrant co-locates a tenant's points when the field is marked as the tenant.
                schema = models.KeywordIndexParams(
                    type=models.KeywordIndexType.KEYWORD, is_tenant=True
                )
            with warnings.catch_warnings():
                # qdrant-client's local mode (tests) ignores payload indexes and says so.
                warnings.filterwarnings("ignore", message="Payload indexes have no effect")
                self._client.create_payload_index(name, field, schema, wait=True)

    def vector_layout(self) -> str:
        self._dense_dim()
        return self._layout

    def _dense_dim(self) -> int:
        name = self._collection  # first: a switch of generations resets the dimension
        if self._dim is None:
            with upstream():
                if not self._client.collection_exists(name):
                    raise NotFound(f"collection {name!r} does not exist yet")
                self._dim = self._read_dim()
        return self._dim

    # --- writes -------------------------------------------------------------------------

    def upsert(self, points: Sequence[ChunkPoint], made_by: VectorSource | None = None) -> None:
        """``made_by``: refused with :class:`GenerationSwitched` unless the live generation's
        (checked under ``_writes``, which this process's re-index holds over its switch; a
        switch by another process is caught by the re-read after the write)."""
        with self._writes:
            self._follow()  # a write goes to the generation live now, never a dropped one
            while True:
                written_to, before = self._collection, self._live
                if made_by is not None and not made_by.made_for(self.generation):
                    raise GenerationSwitched(made_by, self.generation)
                self._upsert(points)
                if not self._disturbed_since(written_to, before):
                    return
                if self._collection != written_to:
                    # Vectors of the old generation's model, in the collection being dropped:
                    # the caller embeds them again with the new one (``on_generation_change``).
                    raise GenerationSwitched(made_by, self.generation)
                # A carry-over overlapped it: written again once that is done.

    def _disturbed_since(self, written_to: str, before: generations.Live | None) -> bool:
        """Whether a write to ``written_to`` made since the pointer read ``before`` may not
        stand: a re-index (maybe in another process) made another collection live (the write
        may land in the old one after its late writes were carried over, and be dropped with
        it), or carried late writes over meanwhile (an older copy may have been written over
        it). Its writer, which still knows what it wrote, writes it again; when a carry-over
        runs, once it is over."""
        self._follow()
        assert self._live is not None and before is not None
        if self._collection == written_to and self._live.undisturbed(before):
            return False
        while self._live.carrying:  # written again once, after it
            time.sleep(CARRY_POLL_S)
            self._follow()
        return True

    def _upsert(self, points: Sequence[ChunkPoint]) -> None:
        structs = point_structs(points, self._dense_dim(), self._layout)
        with upstream():
            for route, group in self.placement.by_tenant(points, structs):
                for start in range(0, len(group), self._batch):
                    batch = group[start : start + self._batch]
                    self._client.upsert(self._collection, points=batch, wait=True, **route)

    def delete_document(self, tenant_id: str, doc_id: str) -> None:
        self._delete(common.document_filter(tenant_id, doc_id), tenant_id)

    def delete_stale_chunks(self, tenant_id: str, doc_id: str, version: int, count: int) -> None:
        self._delete(common.stale_filter(tenant_id, doc_id, version, count), tenant_id)

    def delete_version(self, tenant_id: str, doc_id: str, version: int) -> None:
        self._delete(common.version_filter(tenant_id, doc_id, version), tenant_id)

    def _delete(self, flt: Filter, tenant_id: str) -> None:
        selector = models.FilterSelector(filter=compile_filter(flt))
        with self._writes:
            self._follow()
            while True:
                written_to, before = self._collection, self._live
                self._dense_dim()
                with upstream():
                    self._client.delete(
                        written_to,
                        points_selector=selector,
                        wait=True,
                        **self.placement.route(tenant_id),
                    )
                if not self._disturbed_since(written_to, before):
                    return

    def set_document_access(
        self,
        tenant_id: str,
        doc_id: str,
        access: Sequence[str],
        tags: Sequence[str] | None = None,
    ) -> None:
        with self._writes:
            self._follow()
            while True:
                written_to, before = self._collection, self._live
                self._set_document_access(tenant_id, doc_id, access, tags, written_to)
                if not self._disturbed_since(written_to, before):
                    return

    def _set_document_access(
        self,
        tenant_id: str,
        doc_id: str,
        access: Sequence[str],
        tags: Sequence[str] | None,
        collection: str,
    ) -> None:
        self._dense_dim()
        # A payload update by filter: one call, vectors untouched, no re-embedding.
        selector = models.FilterSelector(
            filter=compile_filter(common.document_filter(tenant_id, doc_id))
        )
        with upstream():
            self._client.set_payload(
                collection,
                payload=common.access_payload(access, tags),
                points=selector,
                wait=True,
                **self.placement.route(tenant_id),
            )

    # --- reads --------------------------------------------------------------------------

    def search(self, request: SearchRequest, scope: Scope) -> list[ScoredChunk]:
        common.check_search(request, self._dense_dim())
        layout = self._layout  # read with the dimension, from the same collection
        # Custom sharding: the search, and the counts choosing exact search, in the tenant's shard.
        route = self.placement.route(scope.tenant_id)
        with upstream():
            return reads.search_collection(
                self._client, self._collection, layout, request, scope, self._exact_below, route
            )

    def payloads(self, ids: Sequence[str], scope: Scope) -> dict[str, dict[str, Any]]:
        self._dense_dim()
        route = self.placement.route(scope.tenant_id)
        with upstream():
            return reads.readable_payloads(
                self._client, self._collection, [common.point_id(i) for i in ids], scope, route
            )

    def count(self, scope: Scope, filter: Filter | None = None) -> int:
        self._dense_dim()
        with upstream():
            return reads.count_points(
                self._client,
                self._collection,
                compile_filter(common.read_filter(scope, filter)),
                **self.placement.route(scope.tenant_id),
            )

    def document_chunks(
        self, scope: Scope, doc_id: str, with_vectors: bool = False
    ) -> list[ChunkPoint]:
        self._dense_dim()
        flt = common.read_filter(scope, common.document_filter(scope.tenant_id, doc_id))
        route = self.placement.route(scope.tenant_id)
        with upstream():
            return reads.scroll_document(
                self._client, self._collection, compile_filter(flt), with_vectors, route
            )

    def document_ids(self) -> set[tuple[str, str]]:
        self._dense_dim()
        with upstream():
            return reads.scroll_document_ids(self._client, self._collection)

    def optimize(self, timeout_s: float = 600.0) -> None:
        """The server indexes in the background; this waits until it reports green."""
        self._dense_dim()
        deadline = time.monotonic() + timeout_s
        with upstream():
            while (status := self._client.get_collection(self._collection).status) != _GREEN:
                if status == models.CollectionStatus.GREY:
                    # Optimizations pending but not started (e.g. after a restart): an empty
                    # config update is Qdrant's documented way to start them.
                    self._client.update_collection(
                        self._collection, optimizers_config=models.OptimizersConfigDiff()
                    )
                if time.monotonic() > deadline:
                    raise UpstreamUnavailable(
                        f"Qdrant still indexing after {timeout_s:.0f} s",
                        component=Component.VECTOR_STORE,
                    )
                time.sleep(0.5)

    def close(self) -> None:
        self._client.close()
