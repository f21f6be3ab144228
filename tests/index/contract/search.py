"""Search: dense, sparse and hybrid ranking, fusion, limits, and recall against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.access import Principal
from core.errors import InvalidInput
from index.filters import Condition
from index.store import Scope, SearchRequest, VectorStore
from index.types import SparseVector
from tests.index.contract.common import DIM, EVERYONE, brute_force, ids, point


class SearchContract:
    def test_dense_search_ranks_by_cosine(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        points = [point("t1", "d1", i) for i in range(40)]
        store.upsert(points)
        query = np.random.default_rng(3).normal(size=DIM)
        top = brute_force(np.array([p.dense for p in points]), query, 10)
        for exact in (True, None):
            request = SearchRequest(dense=query.tolist(), limit=10, exact=exact)
            found = store.search(request, Scope("t1", EVERYONE))
            assert [r.id for r in found] == [points[i].id for i in top]
            assert [r.score for r in found] == sorted((r.score for r in found), reverse=True)

    def test_sparse_search_weights_terms_by_idf_over_the_scope(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        # Term 1 is in every chunk of t1, term 2 in one: the rare term must dominate. Term 2
        # also fills t2, which must not change t1's statistics.
        docs = {
            0: ([1, 2], [1.0, 1.0]),
            1: ([1, 3], [2.0, 1.0]),
            2: ([1], [3.0]),
            3: ([1, 3], [1.0, 1.5]),
        }
        t1 = [point("t1", "d1", i, sparse=SparseVector(*docs[i])) for i in docs]
        t2 = [point("t2", "d1", i, sparse=SparseVector([2], [1.0])) for i in range(20)]
        store.upsert(t1 + t2)
        query = SparseVector([1, 2, 3], [1.0, 1.0, 1.0])
        found = store.search(SearchRequest(sparse=query, limit=10), Scope("t1", EVERYONE))

        def bm25_idf(term: int) -> float:
            n = sum(term in indices for indices, _ in docs.values())
            return math.log(1 + (len(docs) - n + 0.5) / (n + 0.5))

        want = {t1[i].id: sum(w * bm25_idf(t) for t, w in zip(*docs[i], strict=True)) for i in docs}
        assert {r.id: r.score for r in found} == pytest.approx(want, rel=1e-4)
        assert found[0].id == t1[0].id

    def test_hybrid_search_fuses_dense_and_sparse_in_the_engine(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        query = np.random.default_rng(5).normal(size=DIM)
        near = query + 0.05 * np.random.default_rng(6).normal(size=DIM)
        dense_best = point("t1", "d1", 0, dense=query.tolist(), sparse=SparseVector([50], [1.0]))
        sparse_best = point("t1", "d1", 1, dense=(-query).tolist(), sparse=SparseVector([7], [3.0]))
        both = point("t1", "d1", 2, dense=near.tolist(), sparse=SparseVector([7], [1.0]))
        rest = [point("t1", "d2", i, sparse=SparseVector([60 + i], [1.0])) for i in range(20)]
        store.upsert([dense_best, sparse_best, both, *rest])
        scope = Scope("t1", EVERYONE)
        sparse_query = SparseVector([7], [1.0])
        dense_only = store.search(SearchRequest(dense=query.tolist(), limit=3), scope)
        sparse_only = store.search(SearchRequest(sparse=sparse_query, limit=3), scope)
        hybrid = store.search(
            SearchRequest(dense=query.tolist(), sparse=sparse_query, limit=3), scope
        )
        assert dense_only[0].id == dense_best.id
        assert sparse_only[0].id == sparse_best.id
        # Second on both sides beats first on one: that is reciprocal rank fusion.
        assert hybrid[0].id == both.id
        assert ids(hybrid) == {dense_best.id, sparse_best.id, both.id}
        assert all(0 < r.score < 1 for r in hybrid)

    def test_weighted_and_distribution_based_fusion(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        rng = np.random.default_rng(8)
        query = rng.normal(size=DIM)
        dense_best = point("t1", "d1", 0, dense=query.tolist(), sparse=SparseVector([50], [1.0]))
        sparse_best = point("t1", "d1", 1, dense=(-query).tolist(), sparse=SparseVector([7], [3.0]))
        rest = [point("t1", "d2", i, sparse=SparseVector([60 + i], [1.0])) for i in range(9)]
        hidden = point("t1", "d3", 0, dense=query.tolist(), access=["user:ann"])
        store.upsert([dense_best, sparse_best, *rest, hidden])
        scope = Scope("t1", EVERYONE)
        # Two candidates a side, so each side's best is missing from the other's list and
        # the weights alone decide (the engines' weighted-RRF formulas differ in detail).
        both = {
            "dense": query.tolist(),
            "sparse": SparseVector([7], [1.0]),
            "limit": 5,
            "prefetch_limit": 2,
        }
        dense_heavy = store.search(SearchRequest(**both, weights=(10.0, 1.0)), scope)
        sparse_heavy = store.search(SearchRequest(**both, weights=(1.0, 10.0)), scope)
        assert dense_heavy[0].id == dense_best.id
        assert sparse_heavy[0].id == sparse_best.id
        dbsf = store.search(SearchRequest(**both, fusion="dbsf"), scope)
        assert {dense_best.id, sparse_best.id} <= ids(dbsf)
        assert hidden.id not in ids(dbsf) | ids(dense_heavy) | ids(sparse_heavy)
        assert [r.score for r in dbsf] == sorted((r.score for r in dbsf), reverse=True)
        with pytest.raises(InvalidInput):
            store.search(SearchRequest(**both, weights=(1.0, 0.0)), scope)

    def test_search_honours_limit_and_payload_choice(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        store.upsert([point("t1", "d1", i) for i in range(20)])
        request = SearchRequest(dense=[1.0] * DIM, limit=4, with_payload=False)
        found = store.search(request, Scope("t1", EVERYONE))
        assert len(found) == 4
        assert all(r.payload == {} for r in found)

    def test_search_with_nothing_readable_is_empty(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        store.upsert([point("t1", "d1", i, access=["user:ann"]) for i in range(3)])
        bob = Scope.for_principal(Principal("t1", "bob"))
        request = SearchRequest(dense=[1.0] * DIM, sparse=SparseVector([0, 1, 2], [1.0] * 3))
        assert store.search(request, bob) == []
        assert store.search(request, Scope.admin("t2")) == []


class RecallContract:
    """recall@10 against numpy brute force, with and without selective filters."""

    RECALL_DIM = 32
    RECALL_QUERIES = 25

    def test_recall_againstbrute_force(self, store: VectorStore) -> None:
        rng = np.random.default_rng(11)
        n, dim = 3000, self.RECALL_DIM
        # Clustered like real embeddings (uniform noise is HNSW's worst case, and nobody's data).
        centers = rng.normal(size=(40, dim))
        vectors = centers[rng.integers(40, size=n)] + 0.5 * rng.normal(size=(n, dim))
        draw = rng.random(n)
        tags = np.where(draw < 0.01, "one", np.where(draw < 0.09, "eight", "rest"))
        store.ensure_collection(dim)
        points = [
            point(
                "t1", f"d{i // 50}", i % 50, dense=vectors[i].tolist(), tags=[str(tags[i])], dim=dim
            )
            for i in range(n)
        ]
        store.upsert(points)
        store.optimize()
        count = self.RECALL_QUERIES
        queries = centers[rng.integers(40, size=count)] + 0.5 * rng.normal(size=(count, dim))
        scope = Scope("t1", EVERYONE)
        for tag in (None, "eight", "one"):
            flt = None if tag is None else Condition("tags", "==", tag)
            mask = None if tag is None else tags == tag
            recalls = []
            for query in queries:
                truth = {points[i].id for i in brute_force(vectors, query, 10, mask)}
                found = store.search(
                    SearchRequest(dense=query.tolist(), limit=10, filter=flt), scope
                )
                recalls.append(len(ids(found) & truth) / len(truth))
            assert np.mean(recalls) >= 0.95, f"recall@10 {np.mean(recalls):.3f} with tag {tag}"
