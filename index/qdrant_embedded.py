"""The vector store on the Qdrant engine embedded in this process (``qdrant-edge-py``).

One folder is one shard, and one process owns it: a lock file taken on open (and the engine's
own WAL lock) refuse a second opener with :class:`~core.errors.UpstreamUnavailable`, and
:meth:`EmbeddedQdrantStore.close` releases both.

The engine builds HNSW only when :meth:`optimize` runs; until then new points sit in plain
segments, searched by brute force (exact, slower as they grow). The engine's ``optimize`` holds
the GIL for its whole run (measured: no other Python thread moves), so the serving store
(:meth:`EmbeddedQdrantStore.from_settings`) optimizes a copy of the shard in a child process
(:mod:`index.shard_optimize`) once the store is idle (:mod:`index.idle_optimizer`), searching
and writing the live shard meanwhile; a store built directly optimizes in process, at the end
of the ``upsert`` that passes ``optimize_after`` unless ``optimize_idle_s`` is given.

The folder lock is :mod:`index.embedded_folder_lock`; the search and scrolls of an open shard
are :mod:`index.embedded_reads`; the optimize in a child (copy, replay, swap) is
:mod:`index.embedded_optimize`.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import qdrant_edge as edge

from core.errors import Component, UpstreamUnavailable
from core.settings import QdrantSettings
from index import qdrant_common as common
from index import shard_optimize as isolated
from index.embedded_exact_choice import ExactChoiceCache
from index.embedded_folder_lock import FolderLock
from index.embedded_generations import EmbeddedGenerations
from index.embedded_optimize import REPLAY_LIMIT, optimize_in_child
from index.embedded_reads import (
    in_document_order,
    readable_payloads,
    scroll_document_ids,
    scroll_records,
    search_shard,
)
from index.filters import Filter
from index.generations import Generation, GenerationSwitched, VectorSource
from index.idle_optimizer import IdleOptimizer
from index.qdrant_embedded_models import (
    compile_filter,
    create_payload_indexes,
    engine_points_of,
    shard_config,
)
from index.store import DimensionMismatch, Scope, SearchRequest
from index.types import SINGLE, ChunkPoint, ScoredChunk

_SEGMENTS = 8
# Seconds without a write or search before a serving process's store optimizes.
OPTIMIZE_IDLE_S = QdrantSettings().optimize_idle_s
# The engine's own HNSW defaults, restated where one of them is overridden.
_HNSW_M, _HNSW_EF_CONSTRUCT, _FULL_SCAN_KB = 16, 100, 10_000
_META = "zhiku.json"


class EmbeddedQdrantStore:
    def __init__(
        self,
        path: Path,
        exact_below_fraction: float = 0.1,
        upsert_batch: int = 256,
        *,
        optimize_after: int | None = 20_000,
        optimize_idle_s: float | None = None,
        indexing_threshold_kb: int | None = None,
        full_scan_threshold_kb: int | None = None,
        hnsw_m: int | None = None,
        optimize_in_child: bool = False,
    ) -> None:
        """``optimize_in_child``: :meth:`optimize` works on a copy in a child process and
        never holds this process's GIL (the serving store). ``indexing_threshold_kb``:
        segments above it get HNSW on optimize (engine default ~10 MB, about 6,500 384-d
        vectors). ``full_scan_threshold_kb``: filters whose matches
        fit under it are searched by brute force inside the engine. Tests lower both so a few
        thousand points exercise the HNSW path. ``hnsw_m``: edges per point of the graph
        (engine default 16); 0 builds none, for a shard read only under restrictive filters,
        which the store searches exactly anyway (1M chunks: optimize 129 s instead of > 1 h)."""
        self._path = Path(path)
        self._exact_below = exact_below_fraction
        self._batch = upsert_batch
        self._optimizer = IdleOptimizer(self.optimize, optimize_after, optimize_idle_s)
        self._optimizing = threading.Lock()  # ``close`` waits for a running optimize
        self._in_child = optimize_in_child
        self._writes = threading.Lock()  # one write at a time; a copy or a swap waits for it
        self._gate = isolated.ShardGate()  # searches and writes vs. swapping or closing
        self._replay: list[tuple[edge.UpdateOperation, int]] | None = None
        self._replay_points = 0
        self.child: isolated.OptimizeChild | None = None  # the running optimize child
        self._closing = False
        # Exact-or-HNSW per search scope; ``_changed`` after anything that alters the shard.
        self._choices = ExactChoiceCache()
        self._hnsw = (
            None
            if full_scan_threshold_kb is None and hnsw_m is None
            else edge.HnswIndexConfig(
                m=_HNSW_M if hnsw_m is None else hnsw_m,
                ef_construct=_HNSW_EF_CONSTRUCT,
                full_scan_threshold=full_scan_threshold_kb or _FULL_SCAN_KB,
            )
        )
        # Up to 8 segments before merging: each optimize then indexes the new points instead of
        # re-merging everything (+20k on 60k points: 15-19 s instead of 36-41 s; queries alike).
        self._optimizers = edge.EdgeOptimizersConfig(
            default_segment_number=_SEGMENTS, indexing_threshold=indexing_threshold_kb
        )
        isolated.restore(self._path)  # a swap interrupted by a crash: the old shard back
        self._lock: FolderLock | None = FolderLock(self._path)
        isolated.clean(self._path)  # what an interrupted optimize left beside it
        self._shard: edge.EdgeShard | None = None
        self._dim: int | None = None
        self._layout = SINGLE  # shards made before layouts held one vector per chunk
        # The live generation's record, as ``zhiku.json`` holds it: every upsert is checked
        # against it (kept here by ``adopt`` and the switch, which write the file).
        self.generation: Generation | None = None
        try:
            if (self._path / _META).exists():
                meta = json.loads((self._path / _META).read_text())
                self._dim, self._layout = int(meta["dense_dim"]), meta.get("layout", SINGLE)
                raw = meta.get("generation")
                self.generation = Generation.from_json(raw) if raw else None
                config = self._config(self._dim)
                self._shard = self._open(lambda: edge.EdgeShard.load(str(self._path), config))
        except BaseException:
            self._lock.release()
            raise

    @classmethod
    def from_settings(cls, settings: QdrantSettings, data_path: Path) -> EmbeddedQdrantStore:
        """``data_path`` is ``Settings.qdrant_path``; the shard lives in its collection folder."""
        return cls(
            data_path / settings.collection,
            settings.exact_search_below_fraction,
            settings.upsert_batch,
            optimize_after=settings.optimize_after or None,
            optimize_idle_s=settings.optimize_idle_s,
            optimize_in_child=settings.optimize_in_child,
        )

    def _open(self, opener: Any) -> edge.EdgeShard:
        try:
            return opener()
        except Exception as exc:
            if "WouldBlock" in str(exc):
                raise UpstreamUnavailable(
                    f"the embedded vector store at {self._path} is locked by another process",
                    component=Component.VECTOR_STORE,
                ) from exc
            if "ncompatible" in str(exc):
                raise DimensionMismatch(f"the index at {self._path}: {exc}") from exc
            raise

    # --- schema -------------------------------------------------------------------------

    def ensure_collection(self, dense_dim: int, layout: str = SINGLE) -> None:
        with self._writes:
            self._ensure_collection(dense_dim, common.check_layout(layout))

    def _ensure_collection(self, dense_dim: int, layout: str) -> None:
        if self._shard is None:
            self._require_open()
            self._layout = layout
            if (self._path / "segments").exists():
                # A shard whose metadata write was interrupted: the engine checks the size.
                config = self._config(dense_dim)
                self._shard = self._open(lambda: edge.EdgeShard.load(str(self._path), config))
            else:
                config = self._config(dense_dim)
                self._shard = self._open(lambda: edge.EdgeShard.create(str(self._path), config))
            create_payload_indexes(self._shard)
            # Written last: its presence means "a complete shard lives here".
            meta = {"dense_dim": dense_dim, "layout": layout}
            (self._path / _META).write_text(json.dumps(meta))
            self._dim = dense_dim
            self._changed()
        if self._dim != dense_dim:
            raise DimensionMismatch(
                f"the index at {self._path} holds {self._dim}-d vectors, "
                f"the embedding model makes {dense_dim}-d ones"
            )

    def vector_layout(self) -> str:
        return self._layout

    def _config(self, dense_dim: int, layout: str | None = None) -> edge.EdgeConfig:
        """The shard's configuration (``layout``: another than the live shard's, for a new
        generation); see :func:`index.qdrant_embedded_models.shard_config`."""
        layout = layout or self._layout
        return shard_config(dense_dim, layout, self._hnsw, self._optimizers)

    def _ready(self) -> tuple[edge.EdgeShard, int]:
        self._require_open()
        if self._shard is None or self._dim is None:
            raise RuntimeError(f"no index at {self._path} yet: call ensure_collection first")
        return self._shard, self._dim

    def _require_open(self) -> None:
        if self._lock is None:
            raise RuntimeError("the embedded vector store is closed")

    @contextmanager
    def _reading(self) -> Iterator[tuple[edge.EdgeShard, int]]:
        """The open shard, which no swap or close replaces while the block runs."""
        with self._gate.using():
            yield self._ready()

    def _apply(self, operation: edge.UpdateOperation) -> None:
        with self._writes, self._gate.using():
            self._apply_held(self._ready()[0], operation)

    def _apply_held(
        self, shard: edge.EdgeShard, operation: edge.UpdateOperation, points: int = 0
    ) -> None:
        """One write to the live shard, kept for replay while a child optimizes a copy; the
        caller holds ``_writes`` and the gate."""
        try:
            shard.update(operation)
        finally:
            self._changed()  # after it lands: see index.embedded_exact_choice
        if self._replay is not None:
            self._replay.append((operation, points))
            self._replay_points += points
            if self._replay_points > REPLAY_LIMIT and self.child is not None:
                self.child.kill()  # abandoned: retried once the store is idle again

    def _changed(self) -> None:
        """The live shard changed (a write, an optimize, a swap): remembered choices go."""
        self._choices.written()

    # --- writes -------------------------------------------------------------------------

    def upsert(self, points: Sequence[ChunkPoint], made_by: VectorSource | None = None) -> None:
        shape = self._ready()[1], self._layout
        engine_points = engine_points_of(points, *shape)  # all checked before any is written
        for start in range(0, len(engine_points), self._batch):
            # The check and the write under one hold of ``_writes``, which a switch of
            # generations holds too: vectors checked against one generation cannot land in
            # the next (a worker that embedded with the old model just before the switch).
            with self._writes, self._gate.using():
                if made_by is not None and not made_by.made_for(self.generation):
                    raise GenerationSwitched(made_by, self.generation)
                shard, dim = self._ready()
                batch = engine_points[start : start + self._batch]
                if (dim, self._layout) != shape:  # unchecked vectors, across a switch
                    batch = engine_points_of(points[start : start + self._batch], dim, self._layout)
                self._apply_held(shard, edge.UpdateOperation.upsert_points(batch), len(batch))
        self._optimizer.added(len(engine_points))

    def delete_document(self, tenant_id: str, doc_id: str) -> None:
        self._update_by_filter(common.document_filter(tenant_id, doc_id), None)

    def delete_stale_chunks(self, tenant_id: str, doc_id: str, version: int, count: int) -> None:
        self._update_by_filter(common.stale_filter(tenant_id, doc_id, version, count), None)

    def delete_version(self, tenant_id: str, doc_id: str, version: int) -> None:
        self._update_by_filter(common.version_filter(tenant_id, doc_id, version), None)

    def set_document_access(
        self,
        tenant_id: str,
        doc_id: str,
        access: Sequence[str],
        tags: Sequence[str] | None = None,
    ) -> None:
        # A payload update by filter: vectors untouched, no re-embedding.
        self._update_by_filter(
            common.document_filter(tenant_id, doc_id), common.access_payload(access, tags)
        )

    def _update_by_filter(self, flt: Filter, payload: dict[str, Any] | None) -> None:
        self._ready()
        engine_filter = compile_filter(flt)
        if payload is None:
            self._apply(edge.UpdateOperation.delete_points_by_filter(engine_filter))
        else:
            self._apply(edge.UpdateOperation.set_payload_by_filter(engine_filter, payload))

    def optimize(self) -> None:
        """Build HNSW for new points (and merge segments) now. In process, this blocks the
        whole process, the engine holding the GIL: on 2 shared cores, 100k 384-d points at
        once took 44-280 s, each further 20k about 15-20 s. With ``optimize_in_child`` it
        blocks only the caller (see :mod:`index.shard_optimize`); :class:`OptimizeFailed`
        if the child failed, the live shard untouched."""
        with self._optimizing:
            if not self._in_child:
                with self._reading() as (shard, _):
                    try:
                        shard.optimize()
                    finally:
                        self._changed()
                self._optimizer.pending = 0
                return
            staging = isolated.staging_path(self._path)
            try:
                optimize_in_child(self, staging)
            finally:
                self.child, self._replay, self._replay_points = None, None, 0
                shutil.rmtree(staging, ignore_errors=True)

    def generations(self) -> EmbeddedGenerations:
        """Re-indexing beside the live shard (:mod:`index.embedded_generations`)."""
        return EmbeddedGenerations(self)

    # --- reads --------------------------------------------------------------------------

    def search(self, request: SearchRequest, scope: Scope) -> list[ScoredChunk]:
        self._optimizer.touch()  # postpones a waiting optimize
        with self._reading() as (shard, dim):
            return search_shard(
                shard, dim, self._layout, request, scope, self._exact_below, self._choices
            )

    def count(self, scope: Scope, filter: Filter | None = None) -> int:
        engine_filter = compile_filter(common.read_filter(scope, filter))
        with self._reading() as (shard, _):
            return shard.count(edge.CountRequest(exact=True, filter=engine_filter))

    def payloads(self, ids: Sequence[str], scope: Scope) -> dict[str, dict[str, Any]]:
        with self._reading() as (shard, _):
            return readable_payloads(shard, [common.point_id(i) for i in ids], scope)

    def document_chunks(
        self, scope: Scope, doc_id: str, with_vectors: bool = False
    ) -> list[ChunkPoint]:
        flt = common.read_filter(scope, common.document_filter(scope.tenant_id, doc_id))
        engine_filter = compile_filter(flt)
        with self._reading() as (shard, _):  # one shard for every page
            records = scroll_records(shard, engine_filter, with_vectors)
        return in_document_order(records)

    def document_ids(self) -> set[tuple[str, str]]:
        self._require_open()
        if self._shard is None:
            return set()  # no index yet
        with self._reading() as (shard, _):
            return scroll_document_ids(shard)

    def close(self) -> None:
        self._optimizer.stop()
        with self._writes:  # an optimize checks ``_closing`` before it starts a child
            self._closing = True
            child = self.child
        if child is not None:
            child.kill()  # its copy is dropped: the live shard holds everything
        # An optimize in progress finishes (or gives up) first.
        with self._optimizing, self._writes, self._gate.exclusive():
            self._close()

    def _close(self) -> None:
        if self._shard is not None:
            self._shard.flush()
            self._shard.close()
            self._shard = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> EmbeddedQdrantStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
