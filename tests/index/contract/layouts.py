"""The ``per_script`` vector layout: a point keeps extra dense vectors and is scored by the best.

Vectors here are unit vectors on chosen axes, so which one a query meets is unambiguous: the
engines normalise cosine vectors, and a point read back must give the same directions.
"""

from __future__ import annotations

import numpy as np
import pytest

from index.generations import Generation, next_generation, rebuild
from index.script_parts import script_parts
from index.store import Scope, SearchRequest, VectorStore
from index.types import PER_SCRIPT, SINGLE, TEXT, ChunkPoint, SparseVector
from tests.index.contract.common import DIM, EVERYONE, point
from tests.index.contract.generations import NEW, NEW_DIM, OLD, tiny_vector

MIXED_MANUAL = (
    "Install the pump on a level base and tighten the four anchor bolts to the torque in "
    "table 3 before the first start. "
    "注意：首次启动前请检查泵体是否灌满液体，否则密封件会在干运转中损坏。"
)
MIXED_CONTRACT = (
    "本合同由甲方與乙方簽訂，雙方同意以下付款條件及違約責任，並按約定日期交付貨物。"
    "Payment is due within thirty days of the invoice date, in United States dollars only."
)


def axis(n: int, dim: int = DIM) -> list[float]:
    vector = np.zeros(dim)
    vector[n] = 1.0
    return vector.tolist()


def blend(a: int, b: int, weight: float = 0.6) -> list[float]:
    vector = weight * np.array(axis(a)) + (1 - weight) * np.array(axis(b))
    return (vector / np.linalg.norm(vector)).tolist()


def _points() -> list[ChunkPoint]:
    """``mixed``: a whole vector on axis 0, parts on axes 1 and 2 (its two languages);
    ``near``: one vector leaning to axis 1, closer to it than ``mixed``'s whole vector."""
    mixed = point("t1", "mixed", 0, dense=axis(0))
    mixed.parts = [axis(1), axis(2)]
    near = point("t1", "near", 0, dense=blend(1, 0))
    return [mixed, near]


def _docs(store: VectorStore, query: list[float], **request: object) -> list[str]:
    found = store.search(SearchRequest(dense=query, limit=5, **request), Scope("t1", EVERYONE))
    return [str(r.payload["doc_id"]) for r in found]


def _encode(
    texts: list[str],
) -> tuple[list[list[float]], list[SparseVector], list[list[list[float]]]]:
    parts = [[tiny_vector(part) for part in script_parts(text)] for text in texts]
    sparse = [SparseVector([len(t) % 11], [1.0]) for t in texts]
    return [tiny_vector(t) for t in texts], sparse, parts


class LayoutContract:
    def test_a_new_collection_takes_the_layout_asked_for(self, store: VectorStore) -> None:
        store.ensure_collection(DIM, PER_SCRIPT)
        assert store.vector_layout() == PER_SCRIPT
        store.ensure_collection(DIM, SINGLE)  # an existing collection keeps its own
        assert store.vector_layout() == PER_SCRIPT

    def test_the_default_layout_is_one_vector_a_chunk(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        assert store.vector_layout() == SINGLE

    @pytest.mark.parametrize("exact", [True, False])
    def test_per_script_scores_a_point_by_its_best_vector(
        self, store: VectorStore, exact: bool
    ) -> None:
        store.ensure_collection(DIM, PER_SCRIPT)
        store.upsert(_points())
        # The query meets ``mixed``'s first part exactly, and ``near`` only partly.
        assert _docs(store, axis(1), exact=exact) == ["mixed", "near"]
        assert _docs(store, axis(2), exact=exact)[0] == "mixed"
        # Its whole vector still answers as before.
        assert _docs(store, axis(0), exact=exact)[0] == "mixed"
        top = store.search(SearchRequest(dense=axis(1), limit=1), Scope("t1", EVERYONE))
        assert top[0].score == pytest.approx(1.0, abs=1e-4)

    def test_single_ignores_parts(self, store: VectorStore) -> None:
        store.ensure_collection(DIM, SINGLE)
        store.upsert(_points())
        assert _docs(store, axis(1)) == ["near", "mixed"]
        (mixed,) = store.document_chunks(Scope.admin("t1"), "mixed", with_vectors=True)
        assert mixed.parts == []

    def test_parts_are_read_back_with_the_point(self, store: VectorStore) -> None:
        store.ensure_collection(DIM, PER_SCRIPT)
        store.upsert(_points())
        scope = Scope.admin("t1")
        (mixed,) = store.document_chunks(scope, "mixed", with_vectors=True)
        assert np.allclose(mixed.dense, axis(0), atol=1e-5)
        assert np.allclose(mixed.parts, [axis(1), axis(2)], atol=1e-5)
        (near,) = store.document_chunks(scope, "near", with_vectors=True)
        assert near.parts == [] and len(near.dense) == DIM

    def test_per_script_keeps_hybrid_search_and_the_permission_filter(
        self, store: VectorStore
    ) -> None:
        store.ensure_collection(DIM, PER_SCRIPT)
        points = _points()
        points[1].sparse = SparseVector([3], [1.0])  # the keyword side finds ``mixed`` alone
        hidden = point("t1", "hidden", 0, dense=axis(1), access=("legal",))
        other = point("t2", "other-tenant", 0, dense=axis(1))
        other.parts = [axis(1)]
        store.upsert([*points, hidden, other])
        sparse = SparseVector([0], [1.0])
        for fusion in ("rrf", "dbsf"):
            found = _docs(store, axis(1), sparse=sparse, fusion=fusion)
            assert set(found) == {"mixed", "near"}, fusion
            assert found[0] == "mixed"

    def test_a_part_of_the_wrong_size_is_refused(self, store: VectorStore) -> None:
        from index.store import DimensionMismatch

        store.ensure_collection(DIM, PER_SCRIPT)
        bad = point("t1", "bad", 0)
        bad.parts = [[1.0] * (DIM - 1)]
        with pytest.raises(DimensionMismatch):
            store.upsert([bad])

    def test_a_reindex_switches_the_layout(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        store.generations().adopt(Generation(1, OLD, {"model": "old"}))
        texts = {"manual": MIXED_MANUAL, "contract": MIXED_CONTRACT, "plain": "季度报告涵盖收入。"}
        store.upsert(
            [point("t1", doc, 0, text=text, access=("everyone",)) for doc, text in texts.items()]
            + [point("t1", "secret", 0, text=MIXED_MANUAL, access=("legal",))]
        )
        ops = store.generations()
        live = rebuild(ops, next_generation(ops, NEW, {}, PER_SCRIPT), _encode, batch=2)
        assert live.layout == PER_SCRIPT
        assert store.generations().live_generation() == live
        assert store.vector_layout() == PER_SCRIPT
        scope = Scope("t1", EVERYONE)
        by_doc = {
            c.payload["doc_id"]: c
            for doc in texts
            for c in store.document_chunks(scope, doc, with_vectors=True)
        }
        assert len(by_doc["manual"].parts) == 2 and len(by_doc["contract"].parts) == 2
        assert by_doc["plain"].parts == []
        # A query in one of the manual's languages meets that part exactly.
        chinese_note = script_parts(MIXED_MANUAL)[1]
        request = SearchRequest(dense=tiny_vector(chinese_note), limit=3, exact=True)
        found = store.search(request, scope)
        assert str(found[0].payload[TEXT]) == MIXED_MANUAL
        assert found[0].score == pytest.approx(1.0, abs=1e-4)
        assert all(r.payload["doc_id"] != "secret" for r in found)
        # Writes after the switch keep their parts.
        late = point("t1", "late", 0, dense=tiny_vector(MIXED_CONTRACT), dim=NEW_DIM)
        late.parts = _encode([MIXED_CONTRACT])[2][0]
        store.upsert([late])
        (back,) = store.document_chunks(scope, "late", with_vectors=True)
        assert len(back.parts) == 2

    def test_a_build_of_another_layout_is_not_resumed(self, store: VectorStore) -> None:
        store.ensure_collection(DIM)
        store.generations().adopt(Generation(1, OLD, {"model": "old"}))
        store.upsert([point("t1", "manual", 0, text=MIXED_MANUAL)])
        ops = store.generations()
        ops.start_building(next_generation(ops, NEW, {}, SINGLE))
        ops.close()
        ops = store.generations()
        live = rebuild(ops, next_generation(ops, NEW, {}, PER_SCRIPT), _encode, batch=2)
        assert live.layout == PER_SCRIPT and store.vector_layout() == PER_SCRIPT


class PerScriptRecallContract:
    """recall@10 of the multivector layout against numpy's best-of-vectors, HNSW built."""

    RECALL_QUERIES = 25

    def test_recall_against_brute_force_best_of_vectors(self, store: VectorStore) -> None:
        from index.filters import Condition

        rng = np.random.default_rng(5)
        n, dim = 3000, 32
        centers = rng.normal(size=(40, dim))
        whole = centers[rng.integers(40, size=n)] + 0.5 * rng.normal(size=(n, dim))
        # A tenth of the points are "mixed": two more vectors, near other topics.
        mixed = rng.random(n) < 0.1
        extra = centers[rng.integers(40, size=(n, 2))] + 0.5 * rng.normal(size=(n, 2, dim))
        tags = np.where(rng.random(n) < 0.05, "few", "rest")
        store.ensure_collection(dim, PER_SCRIPT)
        points = []
        for i in range(n):
            p = point("t1", f"d{i // 50}", i % 50, dense=whole[i].tolist(), dim=dim)
            p.payload["tags"] = [str(tags[i])]
            p.parts = extra[i].tolist() if mixed[i] else []
            points.append(p)
        store.upsert(points)
        store.optimize()

        def unit(v: np.ndarray) -> np.ndarray:
            return v / np.linalg.norm(v, axis=-1, keepdims=True)

        queries = centers[rng.integers(40, size=self.RECALL_QUERIES)]
        queries = queries + 0.5 * rng.normal(size=queries.shape)
        for tag in (None, "few"):
            flt = None if tag is None else Condition("tags", "==", tag)
            recalls = []
            for query in queries:
                q = unit(query)
                best = unit(whole) @ q
                best = np.where(mixed, np.maximum(best, (unit(extra) @ q).max(axis=1)), best)
                if tag is not None:
                    best = np.where(tags == tag, best, -np.inf)
                truth = {points[i].id for i in np.argsort(-best)[:10]}
                found = store.search(
                    SearchRequest(dense=query.tolist(), limit=10, filter=flt),
                    Scope("t1", EVERYONE),
                )
                recalls.append(len({r.id for r in found} & truth) / len(truth))
            assert np.mean(recalls) >= 0.95, f"recall@10 {np.mean(recalls):.3f} with tag {tag}"
