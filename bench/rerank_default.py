"""A cross-encoder reranking the shipped default's candidates: does it beat the fusion alone?

    nice -n 10 python -m bench.rerank_default --dataset xquad-r-zh \\
        --reranker ~/.cache/zhiku/models/xquad-e5-ce

The shipped search request (the default model's chunks and vectors, DBSF of BM25 and dense,
200 candidates a side; :func:`bench.retrieval_default.shipped`) gives each query's candidates;
the reranker (int8 ONNX on CPU, as the product runs it: :class:`retrieval.rerankers.
CrossEncoderReranker`) scores the first ``depth`` of them, blended with the fused score as
``Retriever`` blends (:func:`bench.retrieval_eval.rerank`). Depth and blend are chosen on a split
the reranker never learned from: SciFact's ``train-dev`` fold, xquad-r-zh's dev-half ``dev``
fold (:func:`bench.train_reranker.dev_half_folds`); the test split is only reported. Also
timed: the reranker's CPU per query at each depth, on test queries.

Writes ``bench/results/rerank_default-<dataset>-<reranker>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from bench.common import machine_info, write_json
from bench.retrieval_data import product_dense
from bench.retrieval_default import shipped
from bench.retrieval_eval import Ranked, rerank
from bench.retrieval_research import RESULTS, _silent, open_context
from bench.train_reranker import dev_half_folds
from core.settings import Settings
from retrieval.language import dense_languages
from retrieval.rerankers import CrossEncoderReranker

BLENDS = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="xquad-r-zh", choices=["xquad-r-zh", "scifact"])
    parser.add_argument("--reranker", required=True, help="cross-encoder folder or hub name")
    parser.add_argument("--depths", default="20,50")
    parser.add_argument("--backend", default="onnx", choices=["onnx", "torch"])
    parser.add_argument("--max-length", type=int, default=224)
    parser.add_argument("--timed-queries", type=int, default=30)
    args = parser.parse_args()
    depths = sorted(int(d) for d in args.depths.split(","))
    config = Settings()
    settings = config.retrieval
    model = product_dense(config.embedding.model)
    languages = dense_languages(settings, model.name)
    name = args.dataset
    report: dict[str, Any] = {
        "machine": machine_info(),
        "started": time.strftime("%F %T"),
        "model": config.embedding.model,
        "reranker": args.reranker,
        "backend": args.backend,
        "max_length": args.max_length,
    }
    ctx = open_context(name, model, with_title=name == "scifact", tokens_of=config.embedding.model)
    try:
        if name == "scifact":
            tune, test = ctx.splits["train-dev"], ctx.splits["test"]
        else:
            _, _, dev = dev_half_folds(ctx.data)
            tune, test = {q: ctx.data.qrels["test"][q] for q in dev}, ctx.splits["test-half"]
        ctx.splits = {"tune": tune, "test": test}
        qids = sorted(set(tune) | set(test))
        fused: dict[str, Ranked] = {q: shipped(ctx, q, settings, languages) for q in qids}
        reranker = CrossEncoderReranker(
            args.reranker,
            cache_dir=config.model_cache_path,
            backend=args.backend,
            threads=2,
            max_length=args.max_length,
        )
        started = time.perf_counter()
        scores: dict[str, dict[int, float]] = {}
        for qid in qids:
            head = [i for i, _ in fused[qid][: depths[-1]]]
            values = reranker.score(ctx.data.queries[qid], [ctx.chunks.texts[i] for i in head])
            scores[qid] = dict(zip(head, values, strict=True))
        report["scoring_s"] = round(time.perf_counter() - started, 1)
        rows: dict[str, dict[str, dict[str, float]]] = {"shipped": _silent(ctx, fused)}
        for depth in depths:
            for blend in BLENDS:
                ranked = {q: rerank(fused[q], depth, scores[q], blend) for q in qids}
                rows[f"depth {depth} blend {blend}"] = _silent(ctx, ranked)
        timed: dict[str, float] = {}
        for depth in depths:
            spent = []
            for qid in sorted(test)[: args.timed_queries]:
                texts = [ctx.chunks.texts[i] for i, _ in fused[qid][:depth]]
                began = time.perf_counter()
                reranker.score(ctx.data.queries[qid], texts)
                spent.append((time.perf_counter() - began) * 1000)
            timed[f"depth {depth} p50 ms"] = round(statistics.median(spent), 1)
    finally:
        ctx.close()
    best = max((r for r in rows if r != "shipped"), key=lambda r: rows[r]["tune"]["ndcg@10"])
    table = {
        label: {split: round(v["ndcg@10"], 4) for split, v in scores_.items()}
        for label, scores_ in rows.items()
    }
    report.update(
        {
            "tune_queries": len(tune),
            "test_queries": len(test),
            "rows": rows,
            "ndcg@10": table,
            "chosen_on_tune": best,
            "chosen": table[best],
            "shipped": table["shipped"],
            "rerank_latency": timed,
        }
    )
    print(json.dumps({k: report[k] for k in ("ndcg@10", "chosen_on_tune", "rerank_latency")}))
    write_json(RESULTS / f"rerank_default-{name}-{Path(args.reranker).name}.json", report)


if __name__ == "__main__":
    main()
