"""Generations on the embedded engine: the new one is a shard folder beside the live one.

The new generation is built in ``.<name>.generation`` next to the live folder, under its own
folder lock, by the process that owns the live store (the only writer: the embedded engine is
one process per folder, so the writes-paused final pass is exact). The switch is the optimize
swap of :mod:`index.shard_optimize`: one ``renameat2(RENAME_EXCHANGE)`` of the two folders
while searches wait (milliseconds), the new shard opened in place of the old, whose folder is
then deleted. A crash before the exchange leaves the old generation live and the new folder
resumable (its ``zhiku.json`` names its generation); a crash after it leaves the new one live
and the old folder behind, recognised by its older number and discarded on the next build.

The helper reaches into :class:`~index.qdrant_embedded.EmbeddedQdrantStore`'s locks and shard
on purpose: the swap must hold the same locks as the store's own optimize swap.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import qdrant_edge as edge

from index import shard_optimize as isolated
from index.embedded_folder_lock import FolderLock
from index.generations import Generation, Side, fingerprint
from index.qdrant_embedded_models import create_payload_indexes, engine_points_of
from index.types import ChunkPoint, SparseVector

_PAGE = 512
_META = "zhiku.json"


def building_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.generation")


def read_meta(folder: Path) -> dict[str, Any]:
    meta = folder / _META
    return json.loads(meta.read_text()) if meta.exists() else {}


def write_meta(folder: Path, meta: dict[str, Any]) -> None:
    """Written whole, then renamed over the old: a crash leaves the old file or the new."""
    scratch = folder / f".{_META}.tmp"
    scratch.write_text(json.dumps(meta))
    os.replace(scratch, folder / _META)


class EmbeddedGenerations:
    def __init__(self, store: Any) -> None:
        """``store``: the :class:`~index.qdrant_embedded.EmbeddedQdrantStore` (which imports
        this module)."""
        self._store = store
        self._folder = building_path(store._path)
        self._shard: edge.EdgeShard | None = None
        self._lock: Any = None
        self._dim = 0
        self._layout = ""
        self._previous: Path | None = None
        self._switched_points = 0

    # --- records

    def live_generation(self) -> Generation | None:
        raw = read_meta(self._store._path).get("generation")
        return Generation.from_json(raw) if raw else None

    def adopt(self, generation: Generation) -> None:
        with self._store._writes:
            meta = read_meta(self._store._path)
            meta["generation"] = generation.to_json()
            write_meta(self._store._path, meta)
            self._store.generation = generation

    def building_generation(self) -> Generation | None:
        raw = read_meta(self._folder).get("generation")
        if not raw:
            return None
        generation = Generation.from_json(raw)
        live = self.live_generation()
        if live is not None and generation.number <= live.number:
            return None  # the old folder of a switch that a crash stopped before deleting it
        return generation

    # --- the new shard

    def start_building(self, generation: Generation) -> None:
        self.discard_building()
        self._lock = FolderLock(self._folder)
        self._dim, self._layout = generation.model.dim, generation.layout
        config = self._store._config(self._dim, self._layout)
        self._shard = edge.EdgeShard.create(str(self._folder), config)
        create_payload_indexes(self._shard)
        # Written last: its presence means "a complete (if unfilled) shard lives here".
        meta = {"dense_dim": self._dim, "layout": self._layout, "generation": generation.to_json()}
        write_meta(self._folder, meta)

    def _open_building(self) -> edge.EdgeShard:
        """The new shard, opened on first use (a resumed build opens what a crash left)."""
        if self._shard is None:
            generation = self.building_generation()
            if generation is None:
                raise RuntimeError("no generation is being built")
            self._lock = FolderLock(self._folder)
            self._dim, self._layout = generation.model.dim, generation.layout
            config = self._store._config(self._dim, self._layout)
            self._shard = edge.EdgeShard.load(str(self._folder), config)
        return self._shard

    def discard_building(self) -> None:
        self._close_building()
        shutil.rmtree(self._folder, ignore_errors=True)

    def _close_building(self) -> None:
        if self._shard is not None:
            self._shard.close()
            self._shard = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # --- reading and writing

    def fingerprints(self, side: Side) -> dict[str, str]:
        if side == "building":
            return _fingerprints(self._open_building())
        with self._store._reading() as (shard, _):
            return _fingerprints(shard)

    def fetch_live(self, ids: Sequence[str]) -> list[ChunkPoint]:
        with self._store._reading() as (shard, _):
            records = shard.retrieve(list(ids), with_payload=True, with_vector=False)
        return [
            ChunkPoint(str(r.id), [], SparseVector([], []), dict(r.payload or {})) for r in records
        ]

    def write_building(self, points: Sequence[ChunkPoint]) -> None:
        shard = self._open_building()
        engine_points = engine_points_of(points, self._dim, self._layout)
        if engine_points:
            shard.update(edge.UpdateOperation.upsert_points(engine_points))

    def delete_building(self, ids: Sequence[str]) -> None:
        if ids:
            self._open_building().update(edge.UpdateOperation.delete_points(list(ids)))

    @contextmanager
    def pause_writes(self) -> Iterator[None]:
        # The store's own order (optimize: _optimizing, then _writes): no optimize swap runs
        # while the generations are exchanged.
        with self._store._optimizing, self._store._writes:
            yield

    # --- the switch

    def switch(self) -> bool:
        store = self._store
        shard = self._open_building()
        shard.flush()
        count = shard.info().points_count
        shard.close()
        self._shard = None
        lock, self._lock = self._lock, None  # moves into place with the folder
        assert lock is not None
        with store._gate.exclusive():
            assert store._shard is not None
            store._shard.flush()
            store._shard.close()
            store._shard = None
            old = isolated.exchange(store._path, self._folder)
            try:
                config = store._config(self._dim, self._layout)
                store._shard = edge.EdgeShard.load(str(store._path), config)
            except BaseException:
                isolated.exchange(store._path, old)  # the old generation back, still live
                store._shard = edge.EdgeShard.load(str(store._path), store._config(store._dim or 0))
                lock.release()
                raise
            store._dim, store._layout = self._dim, self._layout
            store.generation = Generation.from_json(read_meta(store._path)["generation"])
            store._changed()  # another shard: no choice made on the old one holds
        assert store._lock is not None
        store._lock.release()
        store._lock = lock
        self._previous, self._switched_points = old, count
        return False  # this process is the only writer: nothing to carry over

    def late_fingerprints(self) -> dict[str, str]:
        return {}  # this process is the only writer

    def carrying_over(self) -> nullcontext[None]:
        return nullcontext()  # nothing is carried over (see ``switch``)

    def keep_carrying(self) -> None:
        pass

    def fetch_previous(self, ids: Sequence[str]) -> list[ChunkPoint]:
        return []

    def drop_previous(self) -> None:
        if self._previous is not None:
            shutil.rmtree(self._previous, ignore_errors=True)
            self._previous = None
        # The new shard has no HNSW yet (searched exactly meanwhile): the optimizer builds it.
        # Outside the paused writes: an optimize without an idle wait runs on this thread.
        points, self._switched_points = self._switched_points, 0
        if points:
            self._store._optimizer.added(points)

    def close(self) -> None:
        self._close_building()


def _fingerprints(shard: edge.EdgeShard) -> dict[str, str]:
    out: dict[str, str] = {}
    offset: Any = None
    while True:
        page, offset = shard.scroll(
            edge.ScrollRequest(offset=offset, limit=_PAGE, with_payload=True, with_vector=False)
        )
        for record in page:
            out[str(record.id)] = fingerprint(dict(record.payload or {}))
        if offset is None:
            return out
