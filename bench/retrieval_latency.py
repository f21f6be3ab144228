"""Retrieval latency: question embedding + permission-filtered hybrid search (+ rerank), p50
and p95, at 10,000 and 100,000 chunks, for a reader of everything and for a reader whose
access list admits 1% of the chunks; and the engine call alone (vectors given), so the cost of
each stage is visible.

The chunks are SciFact's, parsed, chunked and embedded by the product (cached by
``bench.retrieval_data``); 100,000 is reached with copies whose dense vectors are jittered and
re-normalised, under new document ids, so the HNSW graph and the payload indexes work as on
real data. Queries run through the product's own ``retrieval.search.Retriever``.

    python -m bench.retrieval_latency [--sizes 10000 100000] [--queries 100] [--reranker PATH]
        [--layouts single per_script] [--mixed-share 0.1]

``--layouts``: the index's vector layout (``index.types``), each built and measured in turn.
SciFact holds no Chinese, so in the ``per_script`` layout ``--mixed-share`` of the chunks get
two extra vectors (jittered copies of their own), standing in for a corpus where that share of
chunks mixes Chinese and English: the engine's cost of the layout, not its quality.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import REPO_ROOT, load_average, machine_info, markdown_table, percentile
from bench.common import shared_data_dir as shared
from bench.retrieval_data import (
    Chunks,
    chunk_dataset,
    load_beir,
    passage_vectors,
    product_dense,
    sparse_vectors,
)
from core.access import Principal
from core.settings import Settings
from core.settings_retrieval import RetrievalSettings
from index.embedding import Embedder
from index.qdrant_embedded import EmbeddedQdrantStore
from index.sparse import Bm25Encoder
from index.store import Scope, SearchRequest
from index.types import PER_SCRIPT, SINGLE, ChunkPoint, SparseVector, chunk_id
from retrieval.search import Retriever

TENANT = "latency"
EVERYONE_GROUP = "all"
FEW_GROUP = "few"
FEW_SHARE = 0.01
JITTER = 0.03


def _jittered(vector: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    vector = vector + rng.normal(0, JITTER, vector.shape).astype(np.float32)
    return vector / np.linalg.norm(vector)


def build(
    chunks: Chunks,
    dense: np.ndarray,
    sparse: list[SparseVector],
    size: int,
    seed: int = 7,
    layout: str = SINGLE,
    mixed_share: float = 0.0,
    indexing_threshold_kb: int | None = None,
    graph: bool = True,
) -> tuple[EmbeddedQdrantStore, tempfile.TemporaryDirectory[str], dict[str, float]]:
    """``indexing_threshold_kb``: segments above it get HNSW on optimize (``None``: the
    engine's default); a huge value leaves the shard as written (appendable segments), as it
    serves while its index is built in the background. ``graph=False``: optimize merges the
    segments and builds their payload indexes but no HNSW graph (``m=0``, Qdrant's setting for
    collections searched only under restrictive filters)."""
    folder = tempfile.TemporaryDirectory(prefix="zhiku-latency-")
    store = EmbeddedQdrantStore(
        Path(folder.name) / "shard",
        optimize_after=None,
        indexing_threshold_kb=indexing_threshold_kb,
        hnsw_m=None if graph else 0,
    )
    store.ensure_collection(dense.shape[1], layout)
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    n = len(chunks.texts)
    started = time.perf_counter()
    batch: list[ChunkPoint] = []
    for i in range(size):
        source, copy = i % n, i // n
        vector = dense[source]
        if copy:
            vector = _jittered(vector, rng)
        parts = []
        if layout == PER_SCRIPT and pick.random() < mixed_share:
            parts = [_jittered(vector, rng).tolist() for _ in range(2)]
        doc_id = f"{chunks.doc_ids[source]}-c{copy}"
        access = [f"group:{EVERYONE_GROUP}"]
        if pick.random() < FEW_SHARE:
            access.append(f"group:{FEW_GROUP}")
        batch.append(
            ChunkPoint(
                id=chunk_id(TENANT, doc_id, 1, chunks.positions[source]),
                dense=vector.tolist(),
                sparse=sparse[source],
                payload={
                    "tenant_id": TENANT,
                    "access": access,
                    "doc_id": doc_id,
                    "version": 1,
                    "position": chunks.positions[source],
                    "text": chunks.texts[source],
                    "title": chunks.doc_ids[source],
                },
                parts=parts,
            )
        )
        if len(batch) == 2048:
            store.upsert(batch)
            batch = []
    if batch:
        store.upsert(batch)
    upsert_s = time.perf_counter() - started
    started = time.perf_counter()
    store.optimize()
    return (
        store,
        folder,
        {"upsert_s": round(upsert_s, 1), "index_s": round(time.perf_counter() - started, 1)},
    )


def principal(group: str) -> Principal:
    # The user id matches nothing: only the group token admits chunks.
    return Principal(TENANT, "bench-user", frozenset({group}))


def measure(
    retriever: Retriever,
    embedder: Embedder,
    store: EmbeddedQdrantStore,
    queries: list[str],
    group: str,
    settings: RetrievalSettings,
    legs: bool = False,
) -> dict[str, float]:
    """Per-stage p50/p95 in ms over ``queries`` (after a warm-up of 5). ``legs``: also the
    engine's dense side alone and its keyword side alone (IDF over the reader's scope
    included), to tell which one a slow hybrid query waits on."""
    caller = principal(group)
    scope = Scope.for_principal(caller)
    sparse = Bm25Encoder()
    stages: dict[str, list[float]] = {"encode": [], "search": [], "rerank": [], "total": []}
    engine_only: list[float] = []
    sides: dict[str, list[float]] = {"engine_dense": [], "engine_sparse": []}
    for n, text in enumerate(queries[:5] + queries):
        started = time.perf_counter()
        result = retriever.search(caller, text, limit=10)
        total = (time.perf_counter() - started) * 1000
        dense = embedder.embed_query(text).tolist()
        # The same engine request the retriever sends (fusion, candidates, depth).
        request = SearchRequest(
            dense=dense,
            sparse=sparse.encode_query(text),
            limit=max(10, settings.rerank_depth) if result.reranked else 10,
            prefetch_limit=settings.candidates,
            fusion=settings.fusion,
            rrf_k=settings.rrf_k,
            weights=settings.fusion_weights,
        )
        started = time.perf_counter()
        store.search(request, scope)
        engine = (time.perf_counter() - started) * 1000
        side_ms: dict[str, float] = {}
        if legs:
            alone = [("engine_dense", SearchRequest(dense=dense, limit=10))]
            if request.sparse is not None and request.sparse.indices:
                alone.append(("engine_sparse", SearchRequest(sparse=request.sparse, limit=10)))
            for side, side_request in alone:
                started = time.perf_counter()
                store.search(side_request, scope)
                side_ms[side] = (time.perf_counter() - started) * 1000
        if n < 5:
            continue
        for side, ms in side_ms.items():
            sides[side].append(ms)
        for stage in ("encode", "search", "rerank"):
            if stage in result.timings_ms:
                stages[stage].append(result.timings_ms[stage])
        stages["total"].append(total)
        engine_only.append(engine)
    out: dict[str, float] = {}
    for stage, values in [*stages.items(), ("engine_only", engine_only), *sides.items()]:
        if values:
            out[f"{stage}_p50_ms"] = round(percentile(values, 0.5), 2)
            out[f"{stage}_p95_ms"] = round(percentile(values, 0.95), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--reranker", default="", help="a cross-encoder folder or hub name")
    parser.add_argument(
        "--model",
        default=Settings().embedding.model,
        help="EmbeddingSettings.model for passages and questions (default: the product's)",
    )
    parser.add_argument("--layouts", nargs="+", default=[SINGLE], choices=[SINGLE, PER_SCRIPT])
    parser.add_argument("--mixed-share", type=float, default=0.1)
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT / "bench/results/retrieval_latency.json"
    )
    args = parser.parse_args()

    dataset = load_beir(shared() / "scifact", with_title=True)
    chunks = chunk_dataset(dataset, tokens_of=args.model)
    model = product_dense(args.model)
    dense = passage_vectors(model, chunks, dataset.name)
    sparse = sparse_vectors(chunks, dataset.name)
    test_ids = sorted(dataset.qrels["test"])[: args.queries]
    queries = [dataset.queries[q] for q in test_ids]

    from zhiku.container import build_model

    settings = Settings()
    settings.embedding.model = args.model  # the questions' model is the passages'
    embedder = build_model(settings)
    reranker = None
    if args.reranker:
        from retrieval.rerankers import CrossEncoderReranker

        reranker = CrossEncoderReranker(args.reranker)
    rows: list[dict[str, Any]] = []
    for size in args.sizes:
        for layout in args.layouts:
            store, folder, build_times = build(
                chunks, dense, sparse, size, layout=layout, mixed_share=args.mixed_share
            )
            try:
                settings = RetrievalSettings()
                retriever = Retriever(store, embedder, Bm25Encoder(), settings, reranker)
                for label, group in (("everything", EVERYONE_GROUP), ("1% readable", FEW_GROUP)):
                    figures = measure(retriever, embedder, store, queries, group, settings)
                    row = {"chunks": size, "layout": layout, "reader": label, **build_times}
                    rows.append({**row, **figures})
                    print(json.dumps(rows[-1]), flush=True)
            finally:
                store.close()
                folder.cleanup()
    report = {
        "machine": machine_info(),
        "load_average": load_average(),
        "queries": len(queries),
        "reranker": args.reranker or None,
        "model": args.model,
        "mixed_share": args.mixed_share if PER_SCRIPT in args.layouts else None,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(render(rows))


def render(rows: list[dict[str, Any]]) -> str:
    headers = ["chunks", "layout", "reader", "encode p50/p95", "search p50/p95", "rerank p50/p95",
               "total p50/p95", "engine alone p50/p95"]  # fmt: skip

    def pair(row: dict[str, Any], stage: str) -> str:
        if f"{stage}_p50_ms" not in row:
            return "—"
        return f"{row[f'{stage}_p50_ms']:.1f} / {row[f'{stage}_p95_ms']:.1f}"

    return markdown_table(
        headers,
        [
            [
                f"{r['chunks']:,}",
                r.get("layout", SINGLE),
                r["reader"],
                pair(r, "encode"),
                pair(r, "search"),
                pair(r, "rerank"),
                pair(r, "total"),
                pair(r, "engine_only"),
            ]
            for r in rows
        ],
    )


if __name__ == "__main__":
    main()
