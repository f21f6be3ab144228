"""The embedded store's optimize in a child process: copy the shard, optimize the copy, replay
onto it the writes made meanwhile, and swap it in for the live shard.

The engine's ``optimize`` holds the GIL for its whole run, so the serving store optimizes a
copy in a child (:mod:`index.shard_optimize`) while it searches and writes the live shard;
each write made meanwhile is kept (``store._replay``, by the store's ``_apply_held``) and
applied to the optimized copy before the swap, under the store's write lock, so nothing
written during the optimize is lost. The swap is one ``renameat2(RENAME_EXCHANGE)`` while
searches wait (milliseconds).

These functions reach into :class:`~index.qdrant_embedded.EmbeddedQdrantStore`'s locks and
shard on purpose (as :mod:`index.embedded_generations` does): they are its optimize, kept in
a module of their own for its size.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import qdrant_edge as edge

from index import shard_optimize as isolated
from index.embedded_folder_lock import LOCK_FILE, FolderLock

log = logging.getLogger(__name__)

# Points written during a child's optimize kept for its replay; past this the optimize is
# abandoned (and retried later) rather than holding more in memory.
REPLAY_LIMIT = 50_000


def optimize_in_child(store: Any, staging: Path) -> None:
    """Optimize a copy of ``store``'s shard in a child process, replay onto it what was
    written meanwhile, and swap it in; the caller holds ``store._optimizing`` and removes
    ``staging`` afterwards."""
    with store._writes:
        with store._reading() as (shard, _):
            shard.flush()
        isolated.copy_shard(store._path, staging, LOCK_FILE)
        store._replay, store._replay_points = [], 0
        taken = store._optimizer.pending
        if store._closing:
            raise RuntimeError("the embedded vector store is closed")
        store.child = isolated.OptimizeChild(staging)
    try:
        store.child.wait()
    except isolated.OptimizeFailed:
        if store._closing:
            raise RuntimeError("the embedded vector store is closed") from None
        if store._replay_points > REPLAY_LIMIT:
            raise isolated.OptimizeFailed(
                f"optimize abandoned: over {REPLAY_LIMIT} points written meanwhile"
            ) from None
        raise
    with store._writes:
        _, dim = store._ready()
        optimized = edge.EdgeShard.load(str(staging), store._config(dim))
        try:
            for operation, _ in store._replay or ():
                optimized.update(operation)
            optimized.flush()
        finally:
            optimized.close()
        lock = FolderLock(staging)  # moves into place with the folder
        try:
            with store._gate.exclusive():
                old = _swap(store, staging, dim)
        except BaseException:
            lock.release()
            raise
        assert store._lock is not None
        store._lock.release()
        store._lock = lock
        store._optimizer.pending = max(0, store._optimizer.pending - taken)
    shutil.rmtree(old, ignore_errors=True)


def _swap(store: Any, staging: Path, dim: int) -> Path:
    """The optimized copy in place of the live shard; returns where the old one went."""
    assert store._shard is not None
    store._shard.flush()
    store._shard.close()
    store._shard = None
    old = isolated.exchange(store._path, staging)
    config = store._config(dim)
    try:
        store._shard = edge.EdgeShard.load(str(store._path), config)
    except BaseException:
        log.exception("the optimized shard did not open: the old one goes back")
        isolated.exchange(store._path, old)
        store._shard = edge.EdgeShard.load(str(store._path), config)
        raise
    finally:
        store._changed()
    return old
