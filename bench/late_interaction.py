"""multilingual-e5-small's own late interaction (MaxSim over its token vectors) as a reranker
of the fused candidates, on xquad-r-zh and SciFact.

    nice -n 10 python -m bench.late_interaction tokens --dataset xquad-r-zh
    nice -n 10 python -m bench.late_interaction study --dataset xquad-r-zh

``tokens``: one pass of the product's e5 embedder (int8 ONNX) over every chunk, batched as
``passage_vectors`` batches it, that writes the pooled vectors where ``passage_vectors``
caches them (so :mod:`bench.retrieval_multilingual` reuses them) and each chunk's token vectors
(the last hidden states, L2-normalised, float16) beside them. ``study``: the product's shipped
fusion (the engine's DBSF, prefetch 200, equal weights) over BM25 + e5, then its first 20 / 50
candidates reordered by MaxSim (mean over the query's tokens of the best cosine with a
passage token), alone or blended with the fused score as ``Retriever`` blends a reranker's;
the depth, blend and token choice are tuned on SciFact ``train`` / xquad-r-zh ``dev-half``.
The cost per query is measured as the product would pay it on this machine: the candidates
embedded at query time. Results go to ``bench/results/late_interaction-<dataset>.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as edge

from bench.common import machine_info, shared_data_dir, write_json
from bench.retrieval_data import (
    CACHE,
    DenseModel,
    chunk_dataset,
    dense_cache_name,
    load_beir,
    passage_vectors,
)
from bench.retrieval_eval import Ranked, rerank
from bench.retrieval_research import RESULTS, Table, _silent, engine_fused, open_context

E5 = "packaged:multilingual-e5-small"
TUNE = {"scifact": "train", "xquad-r-zh": "dev-half"}
REPORT = {"scifact": ("train", "test"), "xquad-r-zh": ("dev-half", "test-half")}
PART = 512  # as bench.retrieval_data.passage_vectors cuts its resumable parts


def e5_embedder() -> Any:
    from core.settings import Settings
    from zhiku.container import build_model

    settings = Settings()
    settings.embedding.model = E5
    return build_model(settings)


def _model(embedder: Any) -> DenseModel:
    # The name bench.retrieval_data.product_dense gives: the same cache entries.
    return DenseModel(dense_cache_name(embedder), embedder.embed_documents, embedder.embed_query)


def token_dir(dataset: str, chunks_key: str) -> Path:
    return CACHE / dataset / f"tokens-e5-{chunks_key}"


def tokens(dataset: str) -> None:
    data = load_beir(shared_data_dir() / dataset, with_title=dataset == "scifact")
    chunks = chunk_dataset(data)
    embedder = e5_embedder()
    model = _model(embedder)
    slug = hashlib.sha256(model.name.encode()).hexdigest()[:10]
    parts = CACHE / dataset / f"dense-{slug}-{chunks.key}.parts"
    parts.mkdir(parents=True, exist_ok=True)
    folder = token_dir(dataset, chunks.key)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for start in range(0, len(chunks.texts), PART):
        part, kept = parts / f"{start:07d}.npy", folder / f"{start:07d}.npz"
        if part.is_file() and kept.is_file():
            continue
        vectors, matrices = embedder.embed_with_tokens(chunks.texts[start : start + PART])
        offsets = np.cumsum([0] + [len(m) for m in matrices])
        np.savez(kept.with_suffix(".tmp.npz"), tokens=np.concatenate(matrices), offsets=offsets)
        kept.with_suffix(".tmp.npz").rename(kept)
        if not part.is_file():
            np.save(part.with_suffix(".tmp.npy"), vectors)
            part.with_suffix(".tmp.npy").rename(part)
        done = min(start + PART, len(chunks.texts))
        rate = (done - start) / (time.perf_counter() - started)
        print(f"{dataset}: {done}/{len(chunks.texts)} chunks ({rate:.1f}/s)", flush=True)
        started = time.perf_counter()
    passage_vectors(model, chunks, dataset)  # joins the parts into the cached whole


def load_tokens(dataset: str, chunks_key: str, count: int) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for start in range(0, count, PART):
        with np.load(token_dir(dataset, chunks_key) / f"{start:07d}.npz") as part:
            matrix, offsets = part["tokens"], part["offsets"]
        out += [matrix[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
    return out


def maxsim(query: np.ndarray, passage: np.ndarray) -> float:
    """Mean over the query's token vectors of the best cosine with the passage's."""
    return float((query.astype(np.float32) @ passage.astype(np.float32).T).max(axis=1).mean())


def trimmed(matrix: np.ndarray, prompt_tokens: int, mode: str) -> np.ndarray:
    """``all`` tokens, or ``content``: without <s>, the prompt's tokens and </s>."""
    return matrix if mode == "all" else matrix[1 + prompt_tokens : -1]


def study(dataset: str, depths: tuple[int, ...], cost_queries: int) -> dict[str, Any]:
    embedder = e5_embedder()
    ctx = open_context(dataset, _model(embedder), with_title=dataset == "scifact")
    try:
        passages = load_tokens(dataset, ctx.chunks.key, len(ctx.chunks.texts))
        table = Table()
        fused: dict[str, Ranked] = {
            q: engine_fused(ctx, q, 200, edge.Fusion.Dbsf(), 200) for q in ctx.dense_legs
        }
        shipped = table.add(ctx, "DBSF engine prefetch 200 (shipped fusion), BM25 + e5", fused)
        queries = {}
        for qid in ctx.dense_legs:
            _, matrices = embedder.embed_with_tokens([ctx.data.queries[qid]], kind="query")
            queries[qid] = matrices[0]
        reserve = {k: embedder.token_count(p) for k, p in embedder._prompts.items()}
        results: dict[tuple[str, int, float], dict[str, dict[str, float]]] = {}
        for mode in ("all", "content"):
            scores = {
                (q, i): maxsim(
                    trimmed(queries[q], reserve.get("query", 0), mode),
                    trimmed(passages[i], reserve.get("document", 0), mode),
                )
                for q in fused
                for i, _ in fused[q][: max(depths)]
            }
            for depth, blend in itertools.product(depths, (0.0, 0.3, 0.5, 0.7, 0.85)):
                ranked = {
                    q: rerank(
                        fused[q], depth, {i: scores[(q, i)] for i, _ in fused[q][:depth]}, blend
                    )
                    for q in fused
                }
                label = f"MaxSim ({mode} tokens) depth {depth} blend {blend}"
                results[(mode, depth, blend)] = table.add(ctx, label, ranked)
        chosen = max(results, key=lambda key: results[key][TUNE[dataset]]["ndcg@10"])
        cost = query_cost(embedder, ctx, fused, depths, cost_queries)
        return {
            "shipped": shipped,
            "chosen_on_tune_split": {"tokens": chosen[0], "depth": chosen[1], "blend": chosen[2]},
            "chosen": results[chosen],
            "dense_only": _silent(ctx, ctx.dense_legs),
            "rows": table.rows,
            "cost": cost,
        }
    finally:
        ctx.close()


def query_cost(
    embedder: Any, ctx: Any, fused: dict[str, Ranked], depths: tuple[int, ...], count: int
) -> dict[str, Any]:
    """What reranking costs a query when the candidates' token vectors are computed then:
    the query's and the candidates' forward passes plus MaxSim (milliseconds, median)."""
    out: dict[str, Any] = {}
    sample = sorted(fused)[:count]
    for depth in depths:
        spent = []
        for qid in sample:
            started = time.perf_counter()
            _, (query,) = embedder.embed_with_tokens([ctx.data.queries[qid]], kind="query")
            texts = [ctx.chunks.texts[i] for i, _ in fused[qid][:depth]]
            _, matrices = embedder.embed_with_tokens(texts)
            [maxsim(query, m) for m in matrices]
            spent.append(1000 * (time.perf_counter() - started))
        out[f"depth{depth}_ms_median"] = round(statistics.median(spent), 1)
        out[f"depth{depth}_ms_max"] = round(max(spent), 1)
    out["queries"] = len(sample)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["tokens", "study"])
    parser.add_argument("--dataset", default="xquad-r-zh", choices=sorted(TUNE))
    parser.add_argument("--depths", default="20,50")
    parser.add_argument("--cost-queries", type=int, default=4)
    args = parser.parse_args()
    if args.mode == "tokens":
        tokens(args.dataset)
        return
    report: dict[str, Any] = {"machine": machine_info(), "started": time.strftime("%F %T")}
    depths = tuple(int(d) for d in args.depths.split(","))
    report.update(study(args.dataset, depths, args.cost_queries))
    report["machine_after"] = machine_info()
    write_json(RESULTS / f"late_interaction-{args.dataset}.json", report)


if __name__ == "__main__":
    main()
