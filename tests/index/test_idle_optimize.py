"""The serving store's optimize waits for the store to be idle, off the writer's thread: the
engine holds the GIL for the whole optimize, so on the ingestion path it stopped the API."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from core.settings import QdrantSettings
from index.idle_optimizer import FORCE_FACTOR
from index.qdrant_embedded import OPTIMIZE_IDLE_S, EmbeddedQdrantStore
from index.store import Scope, SearchRequest
from index.types import SparseVector
from tests.index.contract.common import DIM, EVERYONE, point

REQUEST = SearchRequest(dense=[1.0] * DIM, sparse=SparseVector([1, 2], [1.0, 1.0]))


def hnsw_segments(path: Path) -> int:
    return sum((s / "vector_index-dense").exists() for s in (path / "segments").iterdir())


def test_the_serving_store_optimizes_only_when_idle(tmp_path: Path) -> None:
    path = tmp_path / "q"
    store = EmbeddedQdrantStore(
        path, optimize_after=200, optimize_idle_s=1.5, indexing_threshold_kb=8
    )
    store.ensure_collection(DIM)
    try:
        store.upsert([point("t1", "d", i) for i in range(250)])
        assert store._optimizer.runs == 0  # the writer does not optimize
        # Searches keep it busy: nothing is optimized while they come.
        busy_until = time.monotonic() + 2.5
        while time.monotonic() < busy_until:
            assert store.search(REQUEST, Scope("t1", EVERYONE))
            time.sleep(0.2)
        assert hnsw_segments(path) == 0
        deadline = time.monotonic() + 30
        while hnsw_segments(path) == 0:  # idle now
            assert time.monotonic() < deadline, "the idle store never optimized"
            time.sleep(0.2)
        assert store.count(Scope.admin("t1")) == 250
    finally:
        store.close()


def test_writes_that_never_pause_still_get_optimized_past_the_force_factor(tmp_path: Path) -> None:
    path = tmp_path / "q"
    store = EmbeddedQdrantStore(
        path, optimize_after=40, optimize_idle_s=3600, indexing_threshold_kb=8
    )
    store.ensure_collection(DIM)
    try:
        for batch in range(FORCE_FACTOR + 1):
            store.upsert([point("t1", "d", batch * 40 + i) for i in range(40)])
        deadline = time.monotonic() + 30
        while hnsw_segments(path) == 0:
            assert time.monotonic() < deadline, "a store never idle was never optimized"
            time.sleep(0.2)
    finally:
        store.close()


def test_close_waits_for_a_running_optimize_and_the_store_reopens(tmp_path: Path) -> None:
    path = tmp_path / "q"
    store = EmbeddedQdrantStore(
        path, optimize_after=100, optimize_idle_s=0.0, indexing_threshold_kb=8
    )
    store.ensure_collection(DIM)
    store.upsert([point("t1", "d", i) for i in range(300)])
    closer = threading.Thread(target=store.close)
    closer.start()
    closer.join(60)
    assert not closer.is_alive()
    reopened = EmbeddedQdrantStore(path)
    reopened.ensure_collection(DIM)
    assert reopened.count(Scope.admin("t1")) == 300
    reopened.close()


def test_the_store_built_from_settings_optimizes_when_idle(tmp_path: Path) -> None:
    store = EmbeddedQdrantStore.from_settings(QdrantSettings(), tmp_path)
    try:
        assert store._optimizer._idle_s == OPTIMIZE_IDLE_S
    finally:
        store.close()
