"""A hybrid query's keyword leg runs on a spare thread while the question is encoded, with the
caller's context; with no spare thread the query is one engine call; the hits are the same."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.access import Principal
from core.settings import Settings
from core.settings_retrieval import RetrievalSettings
from index.embedders import build_embedder
from index.qdrant_embedded import EmbeddedQdrantStore
from index.sparse import Bm25Encoder
from index.store import Scope, SearchRequest
from index.types import ChunkPoint, ScoredChunk, chunk_id
from retrieval.legs import LegRunner
from retrieval.search import Retriever

TEXTS = [
    "Mount Etna erupted and lava reached Nicolosi.",
    "Lava flows from Etna closed Catania airport.",
    "Honeybees pollinate almond orchards in California.",
    "龙井茶产于杭州西湖，明前龙井最贵。",
    "年假制度：员工每年有十五天带薪年假。",
    "Volcanic ash grounded flights across Sicily.",
]
REQUEST_ID = contextvars.ContextVar("request_id", default="")


class WatchedStore:
    """The real store, noting on which thread and in which context each leg ran."""

    def __init__(self, store: EmbeddedQdrantStore) -> None:
        self.store = store
        self.legs: list[tuple[str, str, str]] = []

    def search(self, request: SearchRequest, scope: Scope) -> list[ScoredChunk]:
        side = "+".join(
            name for name, v in (("dense", request.dense), ("sparse", request.sparse)) if v
        )
        self.legs.append((side, threading.current_thread().name, REQUEST_ID.get()))
        return self.store.search(request, scope)

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    settings = Settings(environment="test")
    embedder = build_embedder(settings.embedding, settings.model_cache_path)
    sparse = Bm25Encoder()
    store = EmbeddedQdrantStore(Path(tmp_path_factory.mktemp("legs")) / "shard")
    store.ensure_collection(embedder.dim)
    dense = embedder.embed_documents(TEXTS)
    vectors = sparse.encode_documents(TEXTS)
    store.upsert(
        [
            ChunkPoint(
                chunk_id("t1", f"d{i}", 1, 0),
                dense[i].tolist(),
                vectors[i],
                {
                    "tenant_id": "t1",
                    "access": ["user:ann"] if i == 0 else ["everyone"],
                    "doc_id": f"d{i}",
                    "version": 1,
                    "position": 0,
                    "text": text,
                },
            )
            for i, text in enumerate(TEXTS)
        ]
    )
    yield store, embedder, sparse
    store.close()


QUESTIONS = ["Etna lava Nicolosi", "员工年假有几天", "年假 annual leave", "ash flights Sicily"]


def test_the_keyword_leg_runs_beside_the_encoding_in_the_callers_context(parts: tuple) -> None:
    store, embedder, sparse = parts
    watched = WatchedStore(store)
    runner = LegRunner(2)
    retriever = Retriever(watched, embedder, sparse, RetrievalSettings(), legs=runner)  # type: ignore[arg-type]
    REQUEST_ID.set("req-42")
    result = retriever.search(Principal("t1", "bob"), "Etna lava Nicolosi")
    assert result.mode == "hybrid" and result.hits[0].doc_id == "d1"  # d0 is ann's alone
    threads = {side: (thread, rid) for side, thread, rid in watched.legs}
    assert threads["sparse"][0].startswith("zhiku-leg")
    assert threads["dense"][0] == threading.current_thread().name
    assert threads["sparse"][1] == threads["dense"][1] == "req-42"
    runner.close()


def test_with_no_spare_thread_the_query_is_one_engine_call(parts: tuple) -> None:
    store, embedder, sparse = parts
    busy = LegRunner(1)
    hold = threading.Event()
    held = busy.start(hold.wait)  # the one thread is taken
    assert held is not None and busy.start(hold.wait) is None
    watched = WatchedStore(store)
    retriever = Retriever(watched, embedder, sparse, RetrievalSettings(), legs=busy)  # type: ignore[arg-type]
    result = retriever.search(Principal("t1", "bob"), "Etna lava Nicolosi")
    assert result.hits[0].doc_id == "d1"
    assert [(side, thread) for side, thread, _ in watched.legs] == [
        ("dense+sparse", threading.current_thread().name)
    ]
    hold.set()
    assert held() is True
    busy.close()


@pytest.mark.parametrize("fusion", ["dbsf", "rrf"])
@pytest.mark.parametrize("rerank_depth", [0, 4])
def test_the_hits_do_not_depend_on_the_threads(
    parts: tuple, fusion: str, rerank_depth: int
) -> None:
    store, embedder, sparse = parts
    settings = RetrievalSettings(
        fusion=fusion, dense_languages=["en", "zh"], rerank_depth=rerank_depth
    )
    side_by_side = Retriever(store, embedder, sparse, settings, legs=LegRunner(2))
    one_engine_call = Retriever(store, embedder, sparse, settings)
    for principal in (Principal("t1", "ann"), Principal("t1", "bob"), Principal("t2", "ann")):
        for question in QUESTIONS:
            a = side_by_side.search(principal, question, limit=5)
            b = one_engine_call.search(principal, question, limit=5)
            # The engine fuses in single precision, this module in double.
            assert [h.doc_id for h in a.hits] == [h.doc_id for h in b.hits]
            assert [h.score for h in a.hits] == pytest.approx([h.score for h in b.hits], rel=1e-5)
            assert principal.user_id == "ann" or "d0" not in {h.doc_id for h in a.hits}
            assert principal.tenant_id == "t1" or a.hits == []


def test_a_failing_leg_raises_to_the_caller_and_frees_its_thread() -> None:
    runner = LegRunner(1)

    def broken() -> None:
        raise RuntimeError("engine down")

    failing = runner.start(broken)
    assert failing is not None
    with pytest.raises(RuntimeError, match="engine down"):
        failing()
    current = runner.start(threading.current_thread)
    assert current is not None
    ran = current()
    assert ran.name.startswith("zhiku-leg")  # the thread was given back
    runner.close()
