"""The embedded store's exact-or-HNSW choice, remembered per scope between writes
(:mod:`index.embedded_exact_choice`): a repeated search asks the engine for no count, and
after any write (upsert, delete, stale-chunk delete, access change, optimize) the very next
search decides afresh on what the caller can now read."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from index.embedded_exact_choice import ExactChoiceCache
from index.filters import Condition
from index.qdrant_embedded import EmbeddedQdrantStore
from index.store import Scope, SearchRequest
from index.types import SparseVector
from tests.index.contract.common import DIM, point

TENANT = "t-甲"
ANN = Scope(TENANT, frozenset({"user:ann"}))
# 40 chunks everyone reads; Ann's own documents come and go on top of them. Threshold 0.1:
# none or a few of Ann's → exact; 20 or more → HNSW.
BASE = 40
TEXTS = [
    "合同條款：付款期限為三十天。",
    "合同条款：付款期限为三十天。",
    "Payment is due in 30 days.",
]


class _Spy:
    """The live shard, counting the engine calls the exact-or-HNSW choice makes and keeping
    the exact flag of each query."""

    def __init__(self, shard: Any) -> None:
        self.shard, self.asks = shard, 0
        self.exact: list[bool] = []

    def count(self, request: Any) -> Any:
        self.asks += 1
        return self.shard.count(request)

    def info(self) -> Any:
        self.asks += 1
        return self.shard.info()

    def query(self, request: Any) -> Any:
        self.exact.append(all(p.params.exact for p in request.prefetches))
        return self.shard.query(request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.shard, name)


def chunks(doc: str, n: int, access: tuple[str, ...], version: int = 1) -> list[Any]:
    return [
        point(TENANT, doc, i, version=version, access=access, text=TEXTS[i % len(TEXTS)])
        for i in range(n)
    ]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedQdrantStore]:
    s = EmbeddedQdrantStore(tmp_path / "q", exact_below_fraction=0.1)
    s.ensure_collection(DIM)
    s.upsert(chunks("公告", BASE, ("everyone",)))
    spy = _Spy(s._shard)
    s._shard = spy  # type: ignore[assignment]
    yield s
    s._shard = spy.shard
    s.close()


def spy_of(store: EmbeddedQdrantStore) -> _Spy:
    assert isinstance(store._shard, _Spy)
    return store._shard


def search(
    store: EmbeddedQdrantStore, scope: Scope = ANN, flt: Any = None
) -> tuple[bool, set[str]]:
    """(searched exactly, the documents found)."""
    request = SearchRequest(
        dense=[1.0] * DIM, sparse=SparseVector([1], [1.0]), limit=100, filter=flt
    )
    found = {r.payload["doc_id"] for r in store.search(request, scope)}
    return spy_of(store).exact[-1], found


def test_a_repeated_search_asks_the_engine_no_count(store: EmbeddedQdrantStore) -> None:
    spy = spy_of(store)
    assert search(store) == (True, set())  # Ann reads nothing yet
    asked = spy.asks
    assert asked > 0
    for _ in range(3):
        assert search(store) == (True, set())
    assert spy.asks == asked
    # Another scope, or the same scope with a filter, decides for itself.
    search(store, Scope(TENANT, frozenset({"everyone"})))
    assert spy.asks > asked
    asked = spy.asks
    search(store, ANN, Condition("doc_id", "==", "報告"))
    assert spy.asks > asked


def test_an_access_change_counts_on_the_very_next_search(store: EmbeddedQdrantStore) -> None:
    assert search(store) == (True, set())
    store.set_document_access(TENANT, "公告", ["user:ann"])  # 40 of 40: HNSW
    assert search(store) == (False, {"公告"})
    store.set_document_access(TENANT, "公告", ["everyone"])
    assert search(store) == (True, set())


def test_an_upsert_and_a_delete_count_on_the_very_next_search(
    store: EmbeddedQdrantStore,
) -> None:
    assert search(store) == (True, set())
    store.upsert(chunks("報告", 30, ("user:ann",)))  # 30 of 70
    assert search(store) == (False, {"報告"})
    store.delete_document(TENANT, "報告")
    assert search(store) == (True, set())
    store.upsert(chunks("报告", 2, ("user:ann",)))  # 2 of 42: still exact, found at once
    assert search(store) == (True, {"报告"})


def test_stale_chunks_deleted_count_on_the_very_next_search(store: EmbeddedQdrantStore) -> None:
    store.upsert(chunks("說明", 30, ("user:ann",)))
    assert search(store) == (False, {"說明"})
    store.upsert(chunks("說明", 2, ("user:ann",), version=2))  # re-ingested, 2 chunks now
    store.delete_stale_chunks(TENANT, "說明", 2, 2)
    assert search(store) == (True, {"說明"})


def test_an_optimize_decides_afresh(store: EmbeddedQdrantStore) -> None:
    spy = spy_of(store)
    search(store)
    asked = spy.asks
    store.optimize()
    assert search(store) == (True, set())
    assert spy.asks > asked


def test_concurrent_searches_and_writes(store: EmbeddedQdrantStore) -> None:
    """Searches on many threads while access flips: no error, every result readable by Ann,
    and once the writes stop the choice matches the final data."""
    errors: list[BaseException] = []
    stop = threading.Event()

    def searching() -> None:
        try:
            while not stop.is_set():
                _, found = search(store)
                assert found <= {"公告", "報告"}
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=searching) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        for i in range(10):
            store.set_document_access(TENANT, "公告", ["user:ann"] if i % 2 else ["everyone"])
            store.upsert(chunks("報告", 1 + i, ("user:ann",)))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    assert search(store) == (False, {"公告", "報告"})  # the last flip gave Ann "公告"
    store.set_document_access(TENANT, "公告", ["everyone"])
    assert search(store) == (False, {"報告"})  # 10 of 50
    store.delete_document(TENANT, "報告")
    assert search(store) == (True, set())


def test_a_choice_decided_across_a_write_is_not_kept() -> None:
    cache = ExactChoiceCache()
    calls = 0

    def racing() -> bool:
        nonlocal calls
        calls += 1
        cache.written()  # a write lands while the counts are taken
        return True

    assert cache.choose(("k",), racing) is True
    assert cache.choose(("k",), lambda: False) is False  # decided again, not the stale True
    assert cache.choose(("k",), lambda: True) is False  # now kept
    assert cache.choose(["unhashable"], lambda: True) is True
    assert calls == 1


def test_the_cache_stays_bounded() -> None:
    cache = ExactChoiceCache(capacity=4)
    for i in range(10):
        cache.choose(i, lambda: True)
    assert cache.choose(0, lambda: False) is False  # evicted long ago
    assert cache.choose(9, lambda: False) is True
