"""The vector-store contract as library code: one mixin per capability (Haystack's pattern).

A backend's test class inherits the mixins and provides one fixture, ``store``: a fresh, empty
store on which ``ensure_collection`` has not run yet. Expected results never come from a store:
they are computed in plain Python with :func:`index.filters.matches` and
:meth:`core.access.Principal.can_read` over the same data.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.access import Principal
from core.errors import InvalidInput
from index.filters import And, Condition, Filter, Not, Or, matches
from index.store import DimensionMismatch, Scope, SearchRequest, VectorStore
from index.types import ACCESS, DOC_ID, TENANT, ChunkPoint, ScoredChunk, SparseVector, chunk_id

DIM = 16
EVERYONE = frozenset({"everyone"})
# Hypothesis runs many examples against one store: new tenants per example keep them apart,
# and the leftovers of earlier examples become other tenants' data that must never leak.
# The same mixin method runs once per backend class: Hypothesis calls that differing executors.
_HYPOTHESIS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
)


def point(
    tenant: str,
    doc: str,
    position: int,
    *,
    version: int = 1,
    access: Sequence[str] = ("everyone",),
    dense: Sequence[float] | None = None,
    sparse: SparseVector | None = None,
    dim: int = DIM,
    **extra: Any,
) -> ChunkPoint:
    """A valid chunk; the dense vector defaults to one derived from the id (stable, spread)."""
    pid = chunk_id(tenant, doc, version, position)
    if dense is None:
        dense = np.random.default_rng(uuid.UUID(pid).int % 2**32).normal(size=dim).tolist()
    payload = {TENANT: tenant, ACCESS: list(access), DOC_ID: doc, "version": version}
    payload |= {"position": position, "text": f"{doc} chunk {position}", **extra}
    return ChunkPoint(pid, list(dense), sparse or SparseVector([position % 7], [1.0]), payload)


def readable(scope: Scope, payload: dict[str, Any]) -> bool:
    """The oracle of a scope: tenant, then (unless admin) any shared token."""
    if scope.tokens is None:
        return payload[TENANT] == scope.tenant_id
    return payload[TENANT] == scope.tenant_id and not scope.tokens.isdisjoint(payload[ACCESS])


def expected_ids(points: Iterable[ChunkPoint], scope: Scope, flt: Filter | None = None) -> set[str]:
    return {p.id for p in points if readable(scope, p.payload) and matches(flt, p.payload)}


def ids(results: Iterable[ScoredChunk | ChunkPoint]) -> set[str]:
    return {r.id for r in results}


def everything(store: VectorStore, scope: Scope, flt: Filter | None = None) -> set[str]:
    """Every id a scope can find by exact dense search: the engine's filter, not a scan."""
    request = SearchRequest(dense=[1.0] * DIM, limit=10_000, filter=flt, exact=True)
    return ids(store.search(request, scope))


class UpsertContract:
    def test_upserting_the_same_ids_twice_keeps_one_copy(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        points = [point("t1", "d1", i) for i in range(5)]
        store.upsert(points)
        store.upsert(points)
        assert store.count(Scope.admin("t1")) == 5
        assert ids(store.document_chunks(Scope.admin("t1"), "d1")) == ids(points)

    def test_upsert_overwrites_payload_and_vectors(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        store.upsert([point("t1", "d1", 0, title="old")])
        store.upsert([point("t1", "d1", 0, title="new", dense=[1.0] + [0.0] * (DIM - 1))])
        (chunk,) = store.document_chunks(Scope.admin("t1"), "d1", with_vectors=True)
        assert chunk.payload["title"] == "new"
        assert chunk.dense == pytest.approx([1.0] + [0.0] * (DIM - 1), abs=1e-6)

    def test_upsert_spans_several_batches(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        store.upsert([point("t1", f"d{i // 50}", i % 50) for i in range(600)])
        assert store.count(Scope.admin("t1")) == 600

    @pytest.mark.parametrize(
        "broken",
        [
            {TENANT: None},
            {ACCESS: "everyone"},
            {DOC_ID: ""},
            {"version": 1.0},
            {"position": True},
            {"created_at": "yesterday"},
        ],
    )
    def test_refuses_a_payload_the_filters_would_misread(
        self, store: VectorStore, broken: dict[str, Any]
    ) -> None:
        store.ensure_collection(DIM)
        bad = point("t1", "d1", 0)
        bad.payload |= broken
        with pytest.raises(InvalidInput):
            store.upsert([point("t1", "d2", 0), bad])
        assert store.count(Scope.admin("t1")) == 0

    def test_refuses_ids_that_are_not_uuids(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        bad = point("t1", "d1", 0)
        bad.id = "d1#0"
        with pytest.raises(InvalidInput):
            store.upsert([bad])


class SchemaContract:
    def test_ensure_collection_is_idempotent(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        store.upsert([point("t1", "d1", 0)])
        store.ensure_collection(DIM)
        assert store.count(Scope.admin("t1")) == 1

    def test_refuses_another_dimension(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        with pytest.raises(DimensionMismatch):
            store.ensure_collection(DIM + 1)
        with pytest.raises(DimensionMismatch):
            store.upsert([point("t1", "d1", 0, dim=DIM + 1)])
        with pytest.raises(DimensionMismatch):
            store.search(SearchRequest(dense=[1.0] * (DIM - 1)), Scope.admin("t1"))


class DeleteContract:
    def test_delete_document_removes_that_document_only(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        store.upsert([point(t, d, i) for t in ("t1", "t2") for d in ("d1", "d2") for i in range(3)])
        store.delete_document("t1", "d1")
        assert store.document_chunks(Scope.admin("t1"), "d1") == []
        assert len(store.document_chunks(Scope.admin("t1"), "d2")) == 3
        assert len(store.document_chunks(Scope.admin("t2"), "d1")) == 3

    def test_delete_stale_chunks_keeps_the_new_version(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        store.upsert([point("t1", "d1", i, version=1) for i in range(5)])
        store.upsert([point("t1", "d1", i, version=2) for i in range(3)])
        store.upsert([point("t1", "d2", i, version=1) for i in range(2)])
        store.delete_stale_chunks("t1", "d1", version=2, count=3)
        chunks = store.document_chunks(Scope.admin("t1"), "d1")
        assert [(c.payload["version"], c.payload["position"]) for c in chunks] == [
            (2, 0),
            (2, 1),
            (2, 2),
        ]
        assert len(store.document_chunks(Scope.admin("t1"), "d2")) == 2

    def test_delete_stale_chunks_trims_a_shorter_rewrite(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        store.upsert([point("t1", "d1", i) for i in range(5)])
        store.delete_stale_chunks("t1", "d1", version=1, count=2)
        positions = [c.payload["position"] for c in store.document_chunks(Scope.admin("t1"), "d1")]
        assert positions == [0, 1]


class AccessUpdateContract:
    def test_changes_the_payload_and_keeps_the_vectors(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        store.upsert([point("t1", "d1", i, access=["user:ann"]) for i in range(4)])
        before = store.document_chunks(Scope.admin("t1"), "d1", with_vectors=True)
        store.set_document_access("t1", "d1", ["group:eng", "user:bob"])
        after = store.document_chunks(Scope.admin("t1"), "d1", with_vectors=True)
        assert [c.payload[ACCESS] for c in after] == [["group:eng", "user:bob"]] * 4
        assert [(c.id, c.dense, c.sparse) for c in after] == [
            (c.id, c.dense, c.sparse) for c in before
        ]
        assert all(len(c.dense) == DIM for c in after)

    def test_refuses_a_bare_string_as_access_list(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        store.upsert([point("t1", "d1", 0)])
        with pytest.raises(InvalidInput):
            store.set_document_access("t1", "d1", "user:bob")

    def test_new_access_takes_effect_on_the_next_read(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        store.upsert([point("t1", "d1", i, access=["user:ann"]) for i in range(3)])
        store.upsert([point("t2", "d1", 0, access=["user:ann"])])  # same doc id, other tenant
        bob = Scope.for_principal(Principal("t1", "bob"))
        assert everything(store, bob) == set()
        store.set_document_access("t1", "d1", ["user:bob"])
        assert len(everything(store, bob)) == 3
        assert store.count(bob) == 3
        assert store.count(Scope.for_principal(Principal("t1", "ann"))) == 0
        assert store.document_chunks(Scope.for_principal(Principal("t2", "bob")), "d1") == []


_TOKENS = ["everyone", "user:ann", "user:bob", "group:eng", "group:ops"]
_chunks = st.lists(
    st.tuples(
        st.sampled_from(["t1", "t2", "t3"]),
        st.sampled_from(["d1", "d2", "d3"]),
        st.lists(st.sampled_from(_TOKENS), unique=True, max_size=3),
    ),
    min_size=1,
    max_size=15,
)
_principals = st.builds(
    Principal,
    tenant_id=st.sampled_from(["t1", "t2", "t3"]),
    user_id=st.sampled_from(["ann", "bob", "cy"]),
    group_ids=st.frozensets(st.sampled_from(["eng", "ops", "hr"]), max_size=2),
)


class ScopeContract:
    @_HYPOTHESIS
    @given(data=st.data())
    def test_no_read_ever_leaves_the_scope(self, store: VectorStore, data: st.DataObject) -> None:
        store.ensure_collection(DIM)
        mirror: dict[str, ChunkPoint] = getattr(self, "_mirror", {})
        self._mirror = mirror
        run = uuid.uuid4().hex[:6]  # this example's tenants
        written = [
            point(f"{run}{t}", d, i, access=acl, sparse=SparseVector([i % 3, 5], [1.0, 2.0]))
            for i, (t, d, acl) in enumerate(data.draw(_chunks))
        ]
        store.upsert(written)
        mirror |= {p.id: p for p in written}
        for who in data.draw(st.lists(_principals, min_size=1, max_size=3)):
            principal = Principal(f"{run}{who.tenant_id}", who.user_id, who.group_ids)
            tenant = principal.tenant_id
            in_scope = {
                Scope.for_principal(principal): {
                    i
                    for i, p in mirror.items()
                    if principal.can_read(p.payload[TENANT], p.payload[ACCESS])
                },
                Scope.admin(tenant): {i for i, p in mirror.items() if p.payload[TENANT] == tenant},
            }
            for scope, can in in_scope.items():
                assert store.count(scope) == len(can)
                assert everything(store, scope) == can
                for doc in ("d1", "d2", "d3"):
                    in_doc = {i for i in can if mirror[i].payload[DOC_ID] == doc}
                    assert ids(store.document_chunks(scope, doc)) == in_doc
                hybrid = SearchRequest(dense=[1.0] * DIM, sparse=SparseVector([0, 1, 5], [1.0] * 3))
                for request in (hybrid, SearchRequest(sparse=hybrid.sparse, limit=50)):
                    assert ids(store.search(request, scope)) <= can


def _mixed_payloads() -> list[dict[str, Any]]:
    """Mixed types, lists, missing fields: the data Qdrant and the oracle could disagree on."""
    kinds = ["a", "b", None, 5, ["a", "b"], "A"]
    numbers = [1, 2, 3.5, [1, 7], "3", True, None, -2, 0]
    tags = [["x"], ["x", "y"], "y", None, [], ["z", "x"], [1, "x"]]
    created = [100.0, 250.5, 300, None]
    langs = ["en", "zh", None]
    rows = []
    for i in range(36):
        row = {
            "kind": kinds[i % 6],
            "n": numbers[i % 9],
            "tags": tags[i % 7],
            "created_at": created[i % 4],
            "lang": langs[i % 5 % 3],
        }
        rows.append({k: v for k, v in row.items() if v is not None})
    return rows


_FIELDS = ["kind", "n", "tags", "created_at", "position", "lang", "absent"]
_EQUALS = ["a", "A", "x", "y", 1, 5, 0, 7, "3", "en"]
_LISTS: list[list[Any]] = [["a", "x"], [1, 7], ["a", 5], [], ["zz"], [0, 2]]
_BOUNDS = [-5, 0, 1, 2.5, 3.5, 7, 250.5, 300]
CONDITIONS = (
    [Condition(f, op, v) for f in _FIELDS for op in ("==", "!=") for v in _EQUALS]
    + [Condition(f, op, v) for f in _FIELDS for op in ("in", "not in") for v in _LISTS]
    + [Condition(f, op, v) for f in _FIELDS for op in (">", ">=", "<", "<=") for v in _BOUNDS]
)
_trees = st.recursive(
    st.sampled_from(CONDITIONS),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda c: And(tuple(c))),
        st.lists(inner, min_size=1, max_size=3).map(lambda c: Or(tuple(c))),
        inner.map(Not),
    ),
    max_leaves=6,
)


class FilterContract:
    SCOPE = Scope("t1", EVERYONE)

    def _load_mixed(self, store: VectorStore) -> list[ChunkPoint]:
        store.ensure_collection(DIM)
        points = [point("t1", f"d{i % 4}", i, **row) for i, row in enumerate(_mixed_payloads())]
        # Same fields in another tenant, and behind a token the scope lacks: a filter that
        # matches them must still not return them.
        points += [point("t2", "d0", i, **row) for i, row in enumerate(_mixed_payloads()[:9])]
        points += [
            point("t1", "hidden", i, access=["user:zed"], **row)
            for i, row in enumerate(_mixed_payloads()[:9])
        ]
        store.upsert(points)
        return points

    def test_every_operator_matches_the_oracle(self, store: VectorStore) -> None:
        points = self._load_mixed(store)
        wrong = []
        for condition in CONDITIONS:
            want = expected_ids(points, self.SCOPE, condition)
            if store.count(self.SCOPE, condition) != len(want):
                wrong.append(("count", condition))
            elif everything(store, self.SCOPE, condition) != want:
                wrong.append(("search", condition))
        assert not wrong, f"{len(wrong)} of {len(CONDITIONS)} conditions disagree: {wrong[:10]}"

    @_HYPOTHESIS
    @given(tree=_trees)
    def test_filter_trees_match_the_oracle(self, store: VectorStore, tree: Filter) -> None:
        points = getattr(self, "_points", None) or self._load_mixed(store)
        self._points = points
        want = expected_ids(points, self.SCOPE, tree)
        assert everything(store, self.SCOPE, tree) == want
        assert store.count(self.SCOPE, tree) == len(want)

    def test_a_filter_cannot_widen_the_scope(self, store: VectorStore) -> None:
        self._load_mixed(store)
        escape = Or(
            (
                Condition(TENANT, "==", "t2"),
                Condition(ACCESS, "in", ["user:zed"]),
                Not(Condition(TENANT, "==", "t1")),
            )
        )
        assert everything(store, self.SCOPE, escape) == set()
        assert store.count(self.SCOPE, escape) == 0


class SearchContract:
    def test_dense_search_ranks_by_cosine(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        points = [point("t1", "d1", i) for i in range(40)]
        store.upsert(points)
        query = np.random.default_rng(3).normal(size=DIM)
        top = _brute_force(np.array([p.dense for p in points]), query, 10)
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


def _brute_force(vectors: np.ndarray, query: np.ndarray, k: int, mask: Any = None) -> list[int]:
    cosine = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)) @ (
        query / np.linalg.norm(query)
    )
    if mask is not None:
        cosine = np.where(mask, cosine, -np.inf)
    return [int(i) for i in np.argsort(-cosine)[:k] if np.isfinite(cosine[i])]


class RecallContract:
    """recall@10 against numpy brute force, with and without selective filters."""

    RECALL_DIM = 32
    RECALL_QUERIES = 25

    def test_recall_against_brute_force(self, store: VectorStore) -> None:
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
                truth = {points[i].id for i in _brute_force(vectors, query, 10, mask)}
                found = store.search(
                    SearchRequest(dense=query.tolist(), limit=10, filter=flt), scope
                )
                recalls.append(len(ids(found) & truth) / len(truth))
            assert np.mean(recalls) >= 0.95, f"recall@10 {np.mean(recalls):.3f} with tag {tag}"
