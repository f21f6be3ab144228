"""Both Qdrant backends against the one contract suite (tests/index/contract/)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from index.filters import Condition
from index.qdrant_embedded import EmbeddedQdrantStore
from index.qdrant_server import QdrantServerStore
from index.store import Scope, SearchRequest, VectorStore
from index.types import DOC_ID, PER_SCRIPT, SparseVector
from tests.index.contract.common import DIM, EVERYONE, point
from tests.index.contract.filters import FilterContract
from tests.index.contract.fusion import FusionContract
from tests.index.contract.generations import GenerationContract
from tests.index.contract.layouts import LayoutContract, PerScriptRecallContract
from tests.index.contract.scope import ScopeContract
from tests.index.contract.search import RecallContract, SearchContract
from tests.index.contract.writes import (
    AccessUpdateContract,
    DeleteContract,
    SchemaContract,
    UpsertContract,
)

pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact")


class StoreContract(
    UpsertContract,
    SchemaContract,
    DeleteContract,
    AccessUpdateContract,
    ScopeContract,
    FilterContract,
    SearchContract,
    FusionContract,
    RecallContract,
    GenerationContract,
    LayoutContract,
):
    pass


class ServerFixture:
    # qdrant-client's local mode is brute force in Python (~0.1 s per filtered call on 3,000
    # points): its recall is 1.0 by construction, so a few queries check the plumbing.
    RECALL_QUERIES = 5
    server_class: type[QdrantServerStore] = QdrantServerStore

    @pytest.fixture
    def store(self) -> Iterator[QdrantServerStore]:
        store = self.server_class(QdrantClient(":memory:"), "chunks")
        yield store
        store.close()


class TestServerStore(ServerFixture, StoreContract):
    pass


def embedded(
    path: Path, store_class: type[EmbeddedQdrantStore] = EmbeddedQdrantStore
) -> EmbeddedQdrantStore:
    # Thresholds lowered so a few thousand points get a real HNSW graph, and filtered
    # searches take the HNSW path unless the store's exact-search rule steps in.
    return store_class(
        path, optimize_after=None, indexing_threshold_kb=64, full_scan_threshold_kb=1
    )


class TestEmbeddedStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[EmbeddedQdrantStore]:
        store = embedded(tmp_path / "qdrant")
        yield store
        store.close()


class _PerScriptServer(QdrantServerStore):
    """A server store whose new collections take the ``per_script`` layout."""

    def ensure_collection(self, dense_dim: int, layout: str = PER_SCRIPT) -> None:
        super().ensure_collection(dense_dim, layout)


class _PerScriptEmbedded(EmbeddedQdrantStore):
    def ensure_collection(self, dense_dim: int, layout: str = PER_SCRIPT) -> None:
        super().ensure_collection(dense_dim, layout)


class PerScriptContract(
    ScopeContract, SearchContract, FusionContract, RecallContract, PerScriptRecallContract
):
    """Permissions, search and recall hold in the multivector layout too."""


class TestServerStorePerScript(ServerFixture, PerScriptContract):
    server_class = _PerScriptServer


class TestEmbeddedStorePerScript(PerScriptContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[EmbeddedQdrantStore]:
        store = embedded(tmp_path / "qdrant", _PerScriptEmbedded)
        yield store
        assert store.vector_layout() == PER_SCRIPT
        store.close()


def test_both_backends_score_alike(tmp_path: Path) -> None:
    """Same data, same queries: same ranking and the same IDF-weighted sparse scores."""
    server = QdrantServerStore(QdrantClient(":memory:"), "chunks")
    local = embedded(tmp_path / "qdrant")
    # Distinct weights: tied scores may come back in either order and shift fused ranks.
    points = [
        point(
            "t1",
            f"d{i % 3}",
            i,
            sparse=SparseVector([i % 5, 10 + i % 2, 20], [1 + i / 7, 2 + i / 13, 3 - i / 11]),
        )
        for i in range(30)
    ]
    points += [point("t2", "d0", i, sparse=SparseVector([0, 1], [5.0, 5.0])) for i in range(10)]
    scope = Scope("t1", EVERYONE)
    requests = [
        SearchRequest(dense=[0.5] * DIM, limit=5),
        SearchRequest(
            dense=[0.5] * DIM, limit=5, filter=Condition(DOC_ID, "==", "d1"), exact=False
        ),
        SearchRequest(sparse=SparseVector([0, 10, 20], [1.0, 1.0, 1.0]), limit=30),
        SearchRequest(dense=[0.5] * DIM, sparse=SparseVector([3, 11], [1.0, 1.0]), limit=8),
    ]
    results: list[list[list[tuple[str, float]]]] = []
    for store in (server, local):
        store.ensure_collection(DIM)
        store.upsert(points)
        results.append([[(r.id, r.score) for r in store.search(q, scope)] for q in requests])
        store.close()
    for request, served, embedded_ in zip(requests, *results, strict=True):
        assert [i for i, _ in served] == [i for i, _ in embedded_], request
        assert [s for _, s in served] == pytest.approx([s for _, s in embedded_], rel=1e-4)


def test_contract_classes_conform_to_the_protocol(tmp_path: Path) -> None:
    store: VectorStore = embedded(tmp_path / "q")
    assert isinstance(store, VectorStore)
    store.close()
    assert isinstance(QdrantServerStore(QdrantClient(":memory:"), "c"), VectorStore)
