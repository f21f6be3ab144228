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
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

import numpy as np

from bench.retrieval_data import passage_vectors, product_dense
from bench.retrieval_default import shipped
from bench.retrieval_eval import Ranked, dbsf, evaluate
from bench.retrieval_mixed import MODELS, NAME, build
from bench.retrieval_research import DEPTH, open_context
from core.settings import Settings
from retrieval.language import dense_languages, query_language

_LATIN_RUN = re.compile(r"[A-Za-z\u00c0-\u024f][A-Za-z0-9\u00c0-\u024f\s.,;:'\"()\-/%+=<>]*")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def language_runs(text: str) -> tuple[str, str] | None:
    """(Latin runs, the rest) of a chunk that holds both languages substantially, else None."""
    latin = " ".join(m.group().strip() for m in _LATIN_RUN.finditer(text))
    han = _LATIN_RUN.sub(" ", text)
    if len(latin.split()) < 8 or len(_HAN.findall(han)) < 16:
        return None
    return latin, re.sub(r"\s+", " ", han).strip()


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=150)
    parser.add_argument("--distractors", type=int, default=1000)
    parser.add_argument("--model", default="e5", choices=sorted(MODELS))
    args = parser.parse_args()
    name = MODELS[args.model]
    settings = Settings().retrieval
    data = build(args.pairs, args.distractors)
    model = product_dense(name)
    languages = dense_languages(settings, model.name)
    ctx = open_context(NAME, model, with_title=True, data=data, tokens_of=name)
    try:
        whole = _unit(passage_vectors(model, ctx.chunks, NAME, log=lambda _: None))
        mixed = {i: r for i, t in enumerate(ctx.chunks.texts) if (r := language_runs(t))}
        owners = [i for i in mixed for _ in range(2)]
        extra = _unit(model.passages([text for runs in mixed.values() for text in runs]))
        rows: dict[str, Any] = {"chunks": len(whole), "mixed_chunks": len(mixed)}
        configurations: dict[str, dict[str, Ranked]] = {
            "engine-default": {},
            "numpy-default": {},
            "multivector-default": {},
            "multivector-dense": {},
        }
        for qid, query in ctx.query_dense.items():
            query = query / np.linalg.norm(query)
            plain = whole @ query
            best = plain.copy()
            np.maximum.at(best, owners, extra @ query)
            sparse = ctx.sparse_legs[qid][:DEPTH]
            for label, scores in (("numpy", plain), ("multivector", best)):
                top = np.argsort(-scores)[:DEPTH]
                dense = [(int(i), float(scores[i])) for i in top]
                if label == "multivector":
                    configurations["multivector-dense"][qid] = dense
                routed = query_language(data.queries[qid]) in languages
                fused = dbsf([dense, sparse]) if routed else sparse
                configurations[f"{label}-default"][qid] = fused
            configurations["engine-default"][qid] = shipped(ctx, qid, settings, languages)
        qrels = data.qrels["test"]
        for label, ranked in configurations.items():
            rankings = ctx.rankings(ranked)
            row = {}
            for lang in ("en", "zh"):
                row[lang] = evaluate(rankings, {q: r for q, r in qrels.items() if q[:2] == lang})
                for shape in ("manual", "contract"):
                    row[f"{lang}-{shape}"] = evaluate(
                        rankings,
                        {
                            q: r
                            for q, r in qrels.items()
                            if q[:2] == lang and next(iter(r)).startswith(f"mixed-{shape}")
                        },
                    )
            rows[label] = {k: v["ndcg@10"] for k, v in row.items()}
    finally:
        ctx.close()
    print(json.dumps({args.model: rows}, indent=1))


if __name__ == "__main__":
    main()
