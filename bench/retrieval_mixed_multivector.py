"""What one point carrying several dense vectors (Qdrant multivector, MaxSim) would give the
mixed-language set: a mixed chunk keeps its whole-text vector and gains one vector for its
Latin runs and one for its Han runs; its dense score is the best of them. Estimated in numpy
on the bench's own chunks (the product is unchanged), fused with BM25 by DBSF as the engine
does, beside the same numpy fusion without the extra vectors (which reproduces the engine).

An upper bound: here nearly every mixed chunk belongs to a relevant document (the distractors
are pure), so extra vectors can only lift answers; a corpus with mixed distractors would show
the false matches they add too. Both engines take such points (qdrant-edge-py 0.9
``EdgeVectorParams(multivector_config=MultiVectorConfig(MultiVectorComparator.MaxSim))``,
qdrant-client ``:memory:`` ``MultiVectorConfig(comparator=MAX_SIM)``), DBSF-fused as today.

    nice -n 10 python -m bench.retrieval_mixed_multivector [--pairs 150] [--distractors 1000]
        [--mixed-distractors 0] [--model e5]

``--mixed-distractors N`` adds mixed documents relevant to nothing (see bench.retrieval_mixed),
which is the check of that bound: how often their extra vectors lift them above the answer.
A variant gives extra vectors only to runs of at least an eighth of a chunk (the chunker's own
threshold) and reports how many chunks and vectors that adds (index size, ingest cost).
Writes ``bench/results/retrieval_mixed_multivector[-mdN]-<model>.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.common import machine_info, write_json
from bench.retrieval_data import passage_vectors, product_dense
from bench.retrieval_default import shipped
from bench.retrieval_eval import Ranked, dbsf, evaluate
from bench.retrieval_mixed import MODELS, build
from bench.retrieval_research import DEPTH, RESULTS, open_context
from core.settings import Settings
from index.script_parts import script_parts
from index.tokens import token_counter
from index.types import PER_SCRIPT, SINGLE
from ingest.script_runs import min_stretch_tokens
from retrieval.language import dense_languages, query_language


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _extras(
    mixed: dict[int, list[str]], count: Callable[[str], int], least: int
) -> tuple[list[int], list[str]]:
    """(owning chunk, text) of each extra vector: the runs of at least ``least`` tokens."""
    owners: list[int] = []
    texts: list[str] = []
    for chunk, runs in mixed.items():
        for text in runs:
            if count(text) >= least:
                owners.append(chunk)
                texts.append(text)
    return owners, texts


def _above(rankings: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """How often a mixed distractor stands above the relevant document in the top 10: the
    questions where one does, and how many do in all."""
    hit = total = 0
    for qid, relevant in qrels.items():
        top = rankings.get(qid, [])[:10]
        cut = next((n for n, d in enumerate(top) if d in relevant), len(top))
        above = sum(d.startswith("distractor-") for d in top[:cut])
        hit += above > 0
        total += above
    return {"questions-with-distractor-above": hit, "distractors-above": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=150)
    parser.add_argument("--distractors", type=int, default=1000)
    parser.add_argument("--mixed-distractors", type=int, default=0)
    parser.add_argument("--model", default="e5", choices=sorted(MODELS))
    parser.add_argument(
        "--least", default="", help="comma-separated run sizes in tokens (default: 1/8 chunk)"
    )
    args = parser.parse_args()
    name = MODELS[args.model]
    settings = Settings()
    settings.embedding.model = name
    count = token_counter(settings.embedding)
    # The cheaper variant: extra vectors only for runs the chunker itself would call
    # substantial (an eighth of a chunk), which bounds how many points carry extras.
    eighth = min_stretch_tokens(settings.chunking.chunk_tokens)
    leasts = [int(k) for k in args.least.split(",")] if args.least else [eighth]
    data = build(args.pairs, args.distractors, mixed_distractors=args.mixed_distractors)
    model = product_dense(name)
    languages = dense_languages(settings.retrieval, model.name)
    # The numpy estimate starts from one vector a chunk; the engine's own ``per_script``
    # layout (what ingestion builds by default now) is measured beside it.
    ctx = open_context(data.name, model, with_title=True, data=data, tokens_of=name, layout=SINGLE)
    per_script = open_context(
        data.name, model, with_title=True, data=data, tokens_of=name, layout=PER_SCRIPT
    )
    try:
        whole = _unit(passage_vectors(model, ctx.chunks, data.name, log=lambda _: None))
        mixed = {i: r for i, t in enumerate(ctx.chunks.texts) if (r := script_parts(t))}
        owners, texts = _extras(mixed, count, 0)
        vectors = _unit(model.passages(texts))
        variants = {"multivector": (owners, vectors)}
        for least in leasts:
            kept = [n for n, text in enumerate(texts) if count(text) >= least]
            variants[f"multivector-k{least}"] = ([owners[n] for n in kept], vectors[kept])
        rows: dict[str, Any] = {
            "chunks": len(whole),
            "mixed_chunks": len(mixed),
            "mixed_distractor_chunks": sum(
                ctx.chunks.doc_ids[i].startswith("distractor-") for i in mixed
            ),
        }
        for variant, (who, _) in variants.items():
            rows[f"{variant}-vectors"] = {
                "chunks_with_extras": len(set(who)),
                "extra_vectors": len(who),
                "growth": round(len(who) / len(whole), 4),
            }
        configurations: dict[str, dict[str, Ranked]] = {
            "engine-default": {},
            "numpy-default": {},
            "engine-per-script-default": {},
        }
        for variant in variants:
            configurations[f"{variant}-default"] = {}
            configurations[f"{variant}-dense"] = {}
        for qid, query in ctx.query_dense.items():
            query = query / np.linalg.norm(query)
            plain = whole @ query
            sparse = ctx.sparse_legs[qid][:DEPTH]
            routed = query_language(data.queries[qid]) in languages
            scored = {"numpy": plain}
            for variant, (who, extra) in variants.items():
                best = plain.copy()
                np.maximum.at(best, who, extra @ query)
                scored[variant] = best
            for label, scores in scored.items():
                top = np.argsort(-scores)[:DEPTH]
                dense = [(int(i), float(scores[i])) for i in top]
                if label != "numpy":
                    configurations[f"{label}-dense"][qid] = dense
                configurations[f"{label}-default"][qid] = (
                    dbsf([dense, sparse]) if routed else sparse
                )
            configurations["engine-default"][qid] = shipped(ctx, qid, settings.retrieval, languages)
            configurations["engine-per-script-default"][qid] = shipped(
                per_script, qid, settings.retrieval, languages
            )
        configurations[f"{args.model}-dense"] = ctx.dense_legs
        configurations["sparse"] = ctx.sparse_legs
        qrels = data.qrels["test"]
        for label, ranked in configurations.items():
            rankings = ctx.rankings(ranked)
            row: dict[str, Any] = {}
            for lang in ("en", "zh"):
                asked = {q: r for q, r in qrels.items() if q[:2] == lang}
                row[lang] = evaluate(rankings, asked)
                row[f"{lang}-distractors"] = _above(rankings, asked)
                for shape in ("manual", "contract"):
                    row[f"{lang}-{shape}"] = evaluate(
                        rankings,
                        {
                            q: r
                            for q, r in asked.items()
                            if next(iter(r)).startswith(f"mixed-{shape}")
                        },
                    )
            rows[label] = row
    finally:
        ctx.close()
        per_script.close()
    report = {
        "machine": machine_info(),
        "started": time.strftime("%F %T"),
        "dataset": data.name,
        "pairs": args.pairs,
        "distractors_per_language": args.distractors,
        "mixed_distractors": args.mixed_distractors,
        "least_tokens": leasts,
        args.model: rows,
    }
    suffix = f"-md{args.mixed_distractors}" if args.mixed_distractors else ""
    write_json(RESULTS / f"retrieval_mixed_multivector{suffix}-{args.model}.json", report)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
