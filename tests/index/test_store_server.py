"""What only the server backend has: settings, a network that fails, collections made by others."""

from __future__ import annotations

from typing import Any

import pytest
from qdrant_client import QdrantClient, models

from core.errors import NotFound, UpstreamUnavailable
from core.settings import QdrantSettings
from index.filters import Condition
from index.qdrant_server import QdrantServerStore
from index.store import DimensionMismatch, Scope, SearchRequest
from index.types import SparseVector
from tests.index.contract.common import DIM, EVERYONE, point

pytestmark = [
    pytest.mark.filterwarnings("ignore:Local mode performs exact"),
    # qdrant-client checks the server version on first use and warns when it cannot.
    pytest.mark.filterwarnings("ignore:Failed to obtain server version"),
]


def test_from_settings_needs_a_url() -> None:
    with pytest.raises(ValueError, match="URL"):
        QdrantServerStore.from_settings(QdrantSettings())


def test_an_unreachable_server_is_worth_retrying() -> None:
    # Port 9 (discard) is closed here: the connection is refused at once.
    settings = QdrantSettings(url="http://127.0.0.1:9", timeout_s=2)
    store = QdrantServerStore.from_settings(settings)
    with pytest.raises(UpstreamUnavailable):
        store.ensure_collection(DIM)
    with pytest.raises(UpstreamUnavailable):
        store.count(Scope.admin("t1"))


def test_reads_before_the_collection_exists_are_not_found() -> None:
    store = QdrantServerStore(QdrantClient(":memory:"), "missing")
    with pytest.raises(NotFound):
        store.count(Scope.admin("t1"))


@pytest.mark.parametrize(
    "sparse",
    [None, {"sparse": models.SparseVectorParams()}],  # no sparse vectors; sparse without IDF
)
def test_refuses_a_collection_made_with_another_schema(sparse: Any) -> None:
    client = QdrantClient(":memory:")
    client.create_collection(
        "chunks",
        vectors_config={"dense": models.VectorParams(size=DIM, distance=models.Distance.COSINE)},
        sparse_vectors_config=sparse,
    )
    with pytest.raises(DimensionMismatch):
        QdrantServerStore(client, "chunks").ensure_collection(DIM)


def test_a_second_store_on_the_same_collection_shares_it() -> None:
    client = QdrantClient(":memory:")
    writer = QdrantServerStore(client, "chunks")
    writer.ensure_collection(DIM)
    writer.upsert([point("t1", "d1", i) for i in range(3)])
    reader = QdrantServerStore(client, "chunks")  # no ensure_collection: reads the dimension
    assert reader.count(Scope.admin("t1")) == 3
    with pytest.raises(DimensionMismatch):
        reader.search(SearchRequest(dense=[1.0] * (DIM + 2)), Scope.admin("t1"))


@pytest.mark.parametrize(
    ("flt", "forced", "exact"),
    [
        (None, None, False),
        (Condition("position", "==", 1), None, True),
        (Condition("position", "==", 1), False, False),
    ],
)
def test_selective_filters_search_exactly(
    flt: Condition | None, forced: bool | None, exact: bool
) -> None:
    client = QdrantClient(":memory:")
    store = QdrantServerStore(client, "chunks")
    store.ensure_collection(DIM)
    store.upsert([point("t1", "d1", i) for i in range(30)])
    sent: list[dict[str, Any]] = []
    real = client.query_points

    def spy(*args: Any, **kwargs: Any) -> Any:
        sent.append(kwargs)
        return real(*args, **kwargs)

    client.query_points = spy  # type: ignore[method-assign]
    request = SearchRequest(
        dense=[1.0] * DIM, sparse=SparseVector([1], [1.0]), filter=flt, exact=forced
    )
    store.search(request, Scope("t1", EVERYONE))
    (call,) = sent
    assert [p.params.exact for p in call["prefetch"]] == [exact, exact]
    assert call["query"] == models.RrfQuery(rrf=models.Rrf(k=60))
