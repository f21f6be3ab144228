"""The retriever fuses a hybrid query's two legs itself (retrieval.fusion), so that the keyword
leg can run while the question is encoded: its ranking and scores must be the engine's own."""

from __future__ import annotations

import numpy as np
import pytest

from index.store import Scope, SearchRequest, VectorStore
from index.types import SparseVector
from retrieval.fusion import fuse
from tests.index.contract.common import DIM, EVERYONE, point

FUSIONS = [
    {"fusion": "dbsf"},
    {"fusion": "rrf", "rrf_k": 60},
    {"fusion": "rrf", "rrf_k": 2},
    {"fusion": "rrf", "rrf_k": 60, "weights": (0.7, 0.3)},
    {"fusion": "rrf", "rrf_k": 10, "weights": (1.0, 2.5)},
]


class FusionContract:
    @pytest.mark.parametrize("how", FUSIONS, ids=lambda how: "-".join(map(str, how.values())))
    def test_fusing_the_legs_here_equals_the_engine(self, store: VectorStore, how: dict) -> None:
        store.ensure_collection(DIM)
        rng = np.random.default_rng(11)
        points = []
        for i in range(80):
            terms = sorted(set(rng.integers(0, 30, size=4).tolist()))
            weights = rng.uniform(0.5, 3.0, size=len(terms)).round(3).tolist()
            points.append(point("t1", f"d{i % 9}", i, sparse=SparseVector(terms, weights)))
        # Another tenant's points: in neither leg, nor in the engine's fusion.
        points += [
            point("t2", "d0", i, sparse=SparseVector([1, 2, 3], [9.0] * 3)) for i in range(20)
        ]
        store.upsert(points)
        scope = Scope("t1", EVERYONE)
        for q in range(4):
            dense = rng.normal(size=DIM).tolist()
            sparse = SparseVector([1, 2, 3, 5 + q], [1.0, 0.5, 2.0, 1.0])
            # Every candidate is kept (the limit over both legs' union): no boundary to tie at.
            # The keyword leg finds only the points sharing a term: legs of unequal length.
            engine = store.search(
                SearchRequest(
                    dense=dense,
                    sparse=sparse,
                    limit=200,
                    prefetch_limit=200,
                    exact=True,
                    fusion=how["fusion"],
                    rrf_k=how.get("rrf_k", 60),
                    weights=how.get("weights"),
                ),
                scope,
            )
            legs = [
                store.search(SearchRequest(dense=dense, limit=200, exact=True), scope),
                store.search(SearchRequest(sparse=sparse, limit=200, exact=True), scope),
            ]
            here = fuse(
                legs,
                how["fusion"],
                200,
                rrf_k=how.get("rrf_k", 60),
                weights=how.get("weights"),
            )
            assert len(here) == len(engine) == 80
            assert 0 < len(legs[1]) < 80
            assert {c.id: pytest.approx(c.score, rel=1e-4, abs=1e-6) for c in here} == {
                c.id: c.score for c in engine
            }
            # The same order wherever the scores are told apart in single precision.
            for a, b in zip(here, engine, strict=True):
                if a.id != b.id:
                    assert a.score == pytest.approx(b.score, rel=1e-5)
            assert all(c.payload["tenant_id"] == "t1" for c in here)

    def test_payloads_are_read_only_within_the_scope(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        ann = point("t1", "d1", 0, access=["user:ann"], text="年假十五天")
        team = point("t1", "d2", 0, access=["group:eng"])
        other_tenant = point("t2", "d1", 0, access=["user:ann"])
        store.upsert([ann, team, other_tenant])
        asked = [ann.id, team.id, other_tenant.id, point("t1", "gone", 9).id]
        found = store.payloads(asked, Scope("t1", frozenset({"user:ann"})))
        assert set(found) == {ann.id}
        assert found[ann.id]["text"] == "年假十五天" and found[ann.id]["doc_id"] == "d1"
        assert set(store.payloads(asked, Scope.admin("t1"))) == {ann.id, team.id}
        assert store.payloads([], Scope.admin("t1")) == {}
        # Access narrowed after a search found the chunk: its payload is no longer given.
        store.set_document_access("t1", "d1", ["user:bob"])
        assert store.payloads(asked, Scope("t1", frozenset({"user:ann"}))) == {}
