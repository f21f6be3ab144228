"""The reranker's int8 ONNX path against torch fp32 on the same candidates: speed and quality.

    nice -n 10 python -m bench.retrieval_rerank_backends MODEL [--queries 50] [--depth 20]

SciFact test queries, the first ``depth`` candidates of the tuned fusion (DBSF, prefetch 100),
scored by both backends with 2 threads; reports pairs per second, the rank correlation of the
scores, and nDCG@10 of each reranked list over the same queries. Writes
``bench/results/retrieval_rerank_backends.json``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from bench.common import machine_info, write_json
from bench.retrieval_data import product_dense
from bench.retrieval_eval import documents, evaluate, rerank
from bench.retrieval_research import RESULTS, fuse, open_context

SETTINGS = {"fusion": "dbsf", "depth": 100, "dense_weight": 1.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--max-length", type=int, default=224)
    args = parser.parse_args()

    from core.settings import Settings
    from retrieval.rerankers import CrossEncoderReranker

    ctx = open_context("scifact", product_dense(), with_title=True)
    try:
        qids = sorted(ctx.splits["test"])[: args.queries]
        fused = {q: fuse(ctx, q, SETTINGS) for q in qids}
        report: dict[str, Any] = {"machine": machine_info(), "queries": len(qids)}
        scores: dict[str, dict[str, list[float]]] = {}
        for backend in ("onnx", "torch"):
            reranker = CrossEncoderReranker(
                args.model,
                cache_dir=Settings().model_cache_path,
                backend=backend,  # type: ignore[arg-type]
                threads=2,
                max_length=args.max_length,
            )
            reranker.score("warm up", ["a passage"])
            started = time.perf_counter()
            scores[backend] = {
                q: reranker.score(
                    ctx.data.queries[q], [ctx.chunks.texts[i] for i, _ in fused[q][: args.depth]]
                )
                for q in qids
            }
            seconds = time.perf_counter() - started
            ranked = {
                q: rerank(
                    fused[q],
                    args.depth,
                    dict(zip([i for i, _ in fused[q][: args.depth]], s, strict=True)),
                )
                for q, s in scores[backend].items()
            }
            rankings = {q: documents(r, ctx.chunks.doc_ids) for q, r in ranked.items()}
            qrels = {q: ctx.splits["test"][q] for q in qids}
            report[backend] = {
                "pairs_per_s": round(len(qids) * args.depth / seconds, 1),
                "ms_per_query": round(1000 * seconds / len(qids), 1),
                **evaluate(rankings, qrels),
            }
            print(backend, report[backend], flush=True)
        correlations = [
            float(np.corrcoef(_ranks(scores["onnx"][q]), _ranks(scores["torch"][q]))[0, 1])
            for q in qids
        ]
        report["spearman_mean"] = round(float(np.mean(correlations)), 4)
        report["max_abs_score_diff"] = round(
            max(
                float(np.max(np.abs(np.subtract(scores["onnx"][q], scores["torch"][q]))))
                for q in qids
            ),
            4,
        )
        print(report)
        write_json(RESULTS / "retrieval_rerank_backends.json", report)
    finally:
        ctx.close()


def _ranks(values: list[float]) -> np.ndarray:
    return np.argsort(np.argsort(values)).astype(float)


if __name__ == "__main__":
    main()
