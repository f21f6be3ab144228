"""Writing to a store: upsert, the collection's schema, deletes, access updates."""

from __future__ import annotations

from typing import Any

import pytest

from core.access import Principal
from core.errors import InvalidInput
from index.filters import Condition
from index.store import DimensionMismatch, Scope, SearchRequest, VectorStore
from index.types import ACCESS, DOC_ID, TAGS, TENANT
from tests.index.contract.common import DIM, everything, ids, point


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

    def test_delete_stale_chunks_keeps_a_newer_version(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        store.upsert([point("t1", "d1", i, version=3) for i in range(4)])
        store.delete_stale_chunks("t1", "d1", version=2, count=1)
        assert len(store.document_chunks(Scope.admin("t1"), "d1")) == 4

    def test_delete_version_removes_that_version_only(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        store.upsert([point("t1", "d1", i, version=v) for v in (1, 2) for i in range(3)])
        store.upsert([point("t2", "d1", i, version=2) for i in range(2)])
        store.delete_version("t1", "d1", 2)
        chunks = store.document_chunks(Scope.admin("t1"), "d1")
        assert {c.payload["version"] for c in chunks} == {1}
        assert len(store.document_chunks(Scope.admin("t2"), "d1")) == 2

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

    def test_rewrites_the_tags_when_given_and_only_then(self, store: VectorStore) -> None:
        """Tags stored before they were folded (migration 0013) reach the chunks with the
        access list; a filter then finds them in their folded form (HR, 人事)."""
        store.ensure_collection(DIM)
        store.upsert([point("t1", "d1", i, tags=["ＨＲ", "人事，２０２６"]) for i in range(3)])
        store.set_document_access("t1", "d1", ["everyone"])
        chunks = store.document_chunks(Scope.admin("t1"), "d1")
        assert [c.payload[TAGS] for c in chunks] == [["ＨＲ", "人事，２０２６"]] * 3
        store.set_document_access("t1", "d1", ["user:bob"], ["HR", "人事", "2026"])
        chunks = store.document_chunks(Scope.admin("t1"), "d1")
        assert [c.payload[TAGS] for c in chunks] == [["HR", "人事", "2026"]] * 3
        assert [c.payload[ACCESS] for c in chunks] == [["user:bob"]] * 3
        bob = Scope.for_principal(Principal("t1", "bob"))
        assert store.count(bob, Condition(TAGS, "in", ["HR"])) == 3
        assert store.count(bob, Condition(TAGS, "in", ["人事，２０２６"])) == 0
        with pytest.raises(InvalidInput):
            store.set_document_access("t1", "d1", ["user:bob"], "HR")

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
