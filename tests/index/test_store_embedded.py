"""What only the embedded engine has: a folder it owns, persistence, and optimize()."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.errors import UpstreamUnavailable
from core.settings import QdrantSettings
from index.filters import Condition
from index.qdrant_embedded import EmbeddedQdrantStore
from index.store import DimensionMismatch, Scope, SearchRequest
from index.types import SparseVector
from tests.index.contract.common import DIM, EVERYONE, point

REPO = Path(__file__).resolve().parents[2]


def filled(path: Path, **options: Any) -> EmbeddedQdrantStore:
    store = EmbeddedQdrantStore(path, **options)
    store.ensure_collection(DIM)
    store.upsert([point("t1", f"d{i % 3}", i, tags=["x"] if i % 2 else ["y"]) for i in range(30)])
    return store


def test_close_and_reopen_keeps_everything(tmp_path: Path) -> None:
    store = filled(tmp_path / "q")
    request = SearchRequest(dense=[1.0] * DIM, sparse=SparseVector([1, 2], [1.0, 1.0]))
    before = store.search(request, Scope("t1", EVERYONE))
    store.close()

    store = EmbeddedQdrantStore(tmp_path / "q")
    store.ensure_collection(DIM)
    assert store.count(Scope.admin("t1")) == 30
    assert store.count(Scope.admin("t1"), Condition("tags", "==", "x")) == 15
    assert [c.payload["position"] for c in store.document_chunks(Scope.admin("t1"), "d1")] == list(
        range(1, 30, 3)
    )
    assert [(r.id, r.score) for r in store.search(request, Scope("t1", EVERYONE))] == [
        (r.id, pytest.approx(r.score)) for r in before
    ]
    with pytest.raises(DimensionMismatch):
        store.ensure_collection(DIM + 1)
    store.close()


def test_a_second_opener_is_refused_until_close(tmp_path: Path) -> None:
    store = filled(tmp_path / "q")
    with pytest.raises(UpstreamUnavailable, match="open in another process"):
        EmbeddedQdrantStore(tmp_path / "q")
    store.close()
    store.close()  # idempotent
    with EmbeddedQdrantStore(tmp_path / "q") as again:
        assert again.count(Scope.admin("t1")) == 30


def test_another_process_is_refused(tmp_path: Path) -> None:
    store = filled(tmp_path / "q")
    script = (
        "import sys, pathlib\n"
        "from index.qdrant_embedded import EmbeddedQdrantStore\n"
        "try:\n    EmbeddedQdrantStore(pathlib.Path(sys.argv[1]))\n"
        "except Exception as exc:\n    print(type(exc).__name__)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "q")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.stdout.strip() == "UpstreamUnavailable", run.stderr
    store.close()


def test_a_closed_or_unprepared_store_says_so(tmp_path: Path) -> None:
    store = EmbeddedQdrantStore(tmp_path / "q")
    with pytest.raises(RuntimeError, match="ensure_collection"):
        store.count(Scope.admin("t1"))
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.ensure_collection(DIM)


def test_recovers_a_shard_whose_metadata_was_never_written(tmp_path: Path) -> None:
    filled(tmp_path / "q").close()
    (tmp_path / "q" / "zhiku.json").unlink()
    store = EmbeddedQdrantStore(tmp_path / "q")
    with pytest.raises(DimensionMismatch):
        store.ensure_collection(DIM + 1)
    store.close()
    store = EmbeddedQdrantStore(tmp_path / "q")
    store.ensure_collection(DIM)
    assert store.count(Scope.admin("t1")) == 30
    store.close()


def test_upserts_build_hnsw_once_enough_points_pile_up(tmp_path: Path) -> None:
    store = filled(tmp_path / "q", optimize_after=200, indexing_threshold_kb=8)
    segments = tmp_path / "q" / "segments"

    def hnsw_segments() -> int:
        return sum((s / "vector_index-dense").exists() for s in segments.iterdir())

    assert hnsw_segments() == 0  # 30 points: plain segments, searched exactly
    store.upsert([point("t2", "d", i) for i in range(200)])
    assert hnsw_segments() >= 1
    assert store.count(Scope.admin("t2")) == 200
    store.close()


def test_hnsw_m_zero_optimises_without_a_graph_and_still_finds_the_nearest(tmp_path: Path) -> None:
    store = filled(tmp_path / "q", optimize_after=None, indexing_threshold_kb=8, hnsw_m=0)
    points = [point("t2", "d", i, access=["group:few"] if i % 50 == 0 else ()) for i in range(400)]
    store.upsert(points)
    store.optimize()
    # Optimised (a dense index over the 430 points), with no edges per point: no graph.
    configs = [
        json.loads((s / "vector_index-dense" / "hnsw_config.json").read_text())
        for s in (tmp_path / "q" / "segments").iterdir()
        if (s / "vector_index-dense").exists()
    ]
    assert sum(c["indexed_vector_count"] for c in configs) == 430
    assert all(c["m"] == 0 and c["m0"] == 0 for c in configs)
    for scope, pool in ((Scope.admin("t2"), points), (Scope("t2", ["group:few"]), points[::50])):
        target = pool[len(pool) // 2]
        found = store.search(SearchRequest(dense=target.dense, limit=1), scope)
        assert found[0].id == target.id
    store.close()


class _SpyShard:
    """Records every query the store sends to the engine."""

    def __init__(self, shard: Any) -> None:
        self.shard, self.queries = shard, []

    def query(self, request: Any) -> Any:
        self.queries.append(request)
        return self.shard.query(request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.shard, name)


@pytest.mark.parametrize(
    ("flt", "forced", "exact"),
    [
        (None, None, False),
        (Condition("doc_id", "==", "d1"), None, False),  # a third of the points
        (Condition("position", "==", 1), None, True),  # one in 30
        (Condition("position", "==", 1), False, False),
        (None, True, True),
    ],
)
def test_selective_filters_search_exactly(
    tmp_path: Path, flt: Condition | None, forced: bool | None, exact: bool
) -> None:
    store = filled(tmp_path / "q")
    spy = _SpyShard(store._shard)
    store._shard = spy  # type: ignore[assignment]
    request = SearchRequest(
        dense=[1.0] * DIM, sparse=SparseVector([1], [1.0]), filter=flt, exact=forced
    )
    store.search(request, Scope("t1", EVERYONE))
    (sent,) = spy.queries
    assert [p.params.exact for p in sent.prefetches] == [exact, exact]
    store._shard = spy.shard
    store.close()


def test_from_settings_puts_the_shard_in_the_collection_folder(tmp_path: Path) -> None:
    settings = QdrantSettings(collection="kb", exact_search_below_fraction=0.2)
    store = EmbeddedQdrantStore.from_settings(settings, tmp_path)
    store.ensure_collection(DIM)
    assert (tmp_path / "kb" / "zhiku.json").exists()
    store.close()
