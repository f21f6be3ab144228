"""Switching index generations: built beside the live one, switched whole, old one dropped."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable

import numpy as np
import pytest

from index.generations import (
    Generation,
    GenerationSwitched,
    ModelIdentity,
    Progress,
    VectorSource,
    next_generation,
    rebuild,
)
from index.store import DimensionMismatch, Scope, SearchRequest, VectorStore
from index.types import PER_SCRIPT, SINGLE, TEXT, ChunkPoint, SparseVector
from tests.index.contract.common import DIM, EVERYONE, ids, point

NEW_DIM = 24
OLD = ModelIdentity("old-model", "old-key", DIM, "bm25-test")
NEW = ModelIdentity("tiny-model", "tiny-key", NEW_DIM, "bm25-test")
# Another model of the old one's size: nothing but the recorded generation tells its vectors
# from the old model's.
SAME_SIZE = ModelIdentity("same-size-model", "same-size-key", DIM, "bm25-test")

DOCS = {
    "contract": "本合同由甲方与乙方签订，付款条件为 Net 30 days。",
    "manual": "Install the pump, then check the pressure gauge. 注意：请勿超压。",
    "traditional": "請於會議前提交報告，並確認預算。",
    "english": "The quarterly report covers revenue and hiring plans.",
}


def _terms(text: str) -> list[str]:
    """Han characters one by one, Latin words whole: enough for a test embedder."""
    return re.findall(r"[\u4e00-\u9fff]|[A-Za-z0-9]+", text.lower())


def tiny_vector(text: str, dim: int = NEW_DIM) -> list[float]:
    """A bag of hashed terms: a second, different 'model' that loads anywhere."""
    vector = np.zeros(dim)
    for term in _terms(text):
        vector[int(hashlib.md5(term.encode()).hexdigest(), 16) % dim] += 1.0
    norm = np.linalg.norm(vector)
    return (vector / norm if norm else vector + 1 / np.sqrt(dim)).tolist()


Encoded = tuple[list[list[float]], list[SparseVector], list[list[list[float]]]]


class TinyEncoder:
    def __init__(self, fail_after: int | None = None, dim: int = NEW_DIM) -> None:
        self.texts: list[str] = []
        self._fail_after = fail_after
        self._dim = dim

    def __call__(self, texts: list[str]) -> Encoded:
        if self._fail_after is not None and len(self.texts) >= self._fail_after:
            raise RuntimeError("the build was interrupted")
        self.texts.extend(texts)
        sparse = [SparseVector([len(t) % 11], [1.0]) for t in texts]
        return [tiny_vector(t, self._dim) for t in texts], sparse, [[] for _ in texts]


def _load(store: VectorStore) -> list[ChunkPoint]:
    store.ensure_collection(DIM)
    store.generations().adopt(Generation(1, OLD, {"model": "old"}))
    points = [
        point("t1", doc, i, text=f"{text} ({i})", access=("everyone",) if i else ("legal",))
        for doc, text in DOCS.items()
        for i in range(3)
    ]
    points += [point("t2", "other", i, text=f"另一租户 other tenant {i}") for i in range(4)]
    store.upsert(points)
    return points


def _payloads(store: VectorStore, tenant: str, doc: str) -> dict[str, dict[str, object]]:
    return {c.id: c.payload for c in store.document_chunks(Scope.admin(tenant), doc)}


def _new_search(store: VectorStore, text: str, scope: Scope) -> list[str]:
    request = SearchRequest(dense=tiny_vector(text), limit=3, exact=True)
    return [str(r.payload[TEXT]) for r in store.search(request, scope)]


class GenerationContract:
    def _rebuild(
        self,
        store: VectorStore,
        encode: Callable[[list[str]], Encoded],
        during: Callable[[Progress], None] = lambda _: None,
        model: ModelIdentity = NEW,
    ) -> Generation:
        ops = store.generations()
        target = next_generation(ops, model, {"model": model.name})
        return rebuild(ops, target, encode, during, batch=4)

    def test_search_uses_the_old_generation_until_the_switch(self, store: VectorStore) -> None:
        _load(store)
        scope = Scope("t1", EVERYONE)
        old_query = SearchRequest(dense=[0.5] * DIM, limit=50, exact=True)
        before = ids(store.search(old_query, scope))
        seen: list[set[str]] = []

        def during(progress: Progress) -> None:
            if progress.phase == "building" and progress.done:
                seen.append(ids(store.search(old_query, scope)))
                with pytest.raises(DimensionMismatch):  # the half-built one is never served
                    store.search(SearchRequest(dense=tiny_vector("合同"), limit=3), scope)

        live = self._rebuild(store, TinyEncoder(), during)
        assert seen and all(s == before for s in seen)
        assert store.generations().live_generation() == live
        assert live.model == NEW and live.number == 2
        with pytest.raises(DimensionMismatch):  # only the new generation after it
            store.search(old_query, scope)
        assert ids(store.search(SearchRequest(dense=tiny_vector("x"), limit=50), scope)) == before
        assert store.generations().building_generation() is None

    def test_payloads_and_permissions_survive_the_switch(self, store: VectorStore) -> None:
        _load(store)
        payloads = {doc: _payloads(store, "t1", doc) for doc in DOCS}
        self._rebuild(store, TinyEncoder())
        assert {doc: _payloads(store, "t1", doc) for doc in DOCS} == payloads
        assert store.count(Scope.admin("t1")) == 12 and store.count(Scope.admin("t2")) == 4
        legal = _new_search(store, "本合同", Scope("t1", frozenset({"legal"})))
        assert legal and all("(0)" in text for text in legal)  # only the legal-only chunks
        assert all("租户" not in t for t in _new_search(store, "另一租户", Scope("t1", EVERYONE)))

    def test_chinese_and_english_are_found_with_the_new_model(self, store: VectorStore) -> None:
        _load(store)
        self._rebuild(store, TinyEncoder())
        scope = Scope("t1", EVERYONE)
        assert _new_search(store, "合同 付款", scope)[0].startswith(DOCS["contract"])
        assert _new_search(store, "會議 報告 預算", scope)[0].startswith(DOCS["traditional"])
        assert _new_search(store, "quarterly revenue hiring", scope)[0].startswith(DOCS["english"])

    def test_writes_and_deletes_during_the_build_are_caught_up(self, store: VectorStore) -> None:
        _load(store)
        added = point("t1", "late", 0, text="新增文件 added during the build")
        changes = iter([lambda: store.delete_document("t1", "manual")])

        def during(progress: Progress) -> None:
            if progress.phase == "building" and progress.done:
                for change in changes:
                    change()
                    store.upsert([added])
                    store.set_document_access("t1", "english", ["finance"])
                    break

        self._rebuild(store, TinyEncoder(), during)
        assert _payloads(store, "t1", "manual") == {}  # not resurrected
        (late,) = store.document_chunks(Scope.admin("t1"), "late", with_vectors=True)
        assert late.dense == pytest.approx(tiny_vector(added.payload[TEXT]), abs=1e-5)
        assert all(p["access"] == ["finance"] for p in _payloads(store, "t1", "english").values())
        assert store.count(Scope.admin("t1")) == 10

    def test_an_interrupted_build_leaves_the_old_live_and_resumes(self, store: VectorStore) -> None:
        points = _load(store)
        with pytest.raises(RuntimeError, match="interrupted"):
            self._rebuild(store, TinyEncoder(fail_after=8))
        ops = store.generations()
        assert ops.live_generation() == Generation(1, OLD)
        assert store.count(Scope.admin("t1")) == 12  # still served, old vectors
        assert ops.building_generation() == Generation(2, NEW)
        encoder = TinyEncoder()
        self._rebuild(store, encoder)
        assert len(encoder.texts) == len(points) - 8  # only what the first run had not built
        assert store.generations().live_generation() == Generation(2, NEW)

    def test_another_model_discards_an_interrupted_build(self, store: VectorStore) -> None:
        _load(store)
        with pytest.raises(RuntimeError):
            self._rebuild(store, TinyEncoder(fail_after=4))
        other = ModelIdentity("tiny-model", "another-key", NEW_DIM, "bm25-test")
        encoder = TinyEncoder()
        live = self._rebuild(store, encoder, model=other)
        assert len(encoder.texts) == 16 and live.model == other

    def test_writes_after_the_switch_go_to_the_new_generation(self, store: VectorStore) -> None:
        _load(store)
        self._rebuild(store, TinyEncoder())
        store.upsert([point("t1", "after", 0, dense=tiny_vector("之后 after"), text="之后 after")])
        assert _new_search(store, "之后 after", Scope("t1", EVERYONE))[0] == "之后 after"
        with pytest.raises(DimensionMismatch):
            store.upsert([point("t1", "after", 1)])  # an old-model vector is refused

    def test_vectors_of_the_replaced_model_are_refused_after_the_switch(
        self, store: VectorStore
    ) -> None:
        """A writer embedded with the old model, then a re-index switched to another model of
        the same size: its upsert, made before the switch and arriving during it (waiting on
        the store's write lock) or after it, is refused whole; the new model's is taken."""
        _load(store)
        old, new = VectorSource(OLD, SINGLE), VectorSource(SAME_SIZE, SINGLE)
        stale = [point("t1", "stale", i, text=f"陈旧 stale {i}") for i in range(3)]
        refused: list[BaseException] = []

        def write_stale() -> None:
            try:
                store.upsert(stale, made_by=old)
            except GenerationSwitched as exc:
                refused.append(exc)

        waiting: list[threading.Thread] = []

        def during(progress: Progress) -> None:
            if progress.phase == "switching":  # the last pass done, writes paused
                waiting.append(threading.Thread(target=write_stale))
                waiting[0].start()

        store.upsert([point("t1", "fresh", 0)], made_by=old)  # before: the live model's
        self._rebuild(store, TinyEncoder(dim=DIM), during, model=SAME_SIZE)
        waiting[0].join(timeout=30)
        write_stale()
        assert len(refused) == 2
        assert _payloads(store, "t1", "stale") == {}  # nothing of either write
        assert len(_payloads(store, "t1", "fresh")) == 1  # carried into the new generation
        fresh = point("t1", "stale", 0, dense=tiny_vector("陈旧 stale 0", DIM), text="陈旧 stale 0")
        store.upsert([fresh], made_by=new)
        assert len(_payloads(store, "t1", "stale")) == 1
        with pytest.raises(GenerationSwitched):  # a layout the live generation lacks
            store.upsert([fresh], made_by=VectorSource(SAME_SIZE, PER_SCRIPT))
