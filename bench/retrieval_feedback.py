"""Pseudo-relevance feedback on the dense side (Rocchio), measured against the shipped default:
the shipped hybrid request runs once, the query vector moves toward the mean of its top ``k``
chunks' vectors (``q + beta * mean``, renormalised), and the same hybrid request runs again with
it. The grid is tuned on xquad-r-zh's dev half and SciFact's train split; the test splits are
reported beside the shipped default in the same run.

    nice -n 10 python -m bench.retrieval_feedback [--datasets xquad-r-zh,scifact]

Writes ``bench/results/retrieval_feedback-<dataset>.json``; touches no summary figure (a study,
not a shipped configuration).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from bench.common import machine_info, write_json
from bench.retrieval_data import passage_vectors, product_dense
from bench.retrieval_default import shipped
from bench.retrieval_eval import Ranked
from bench.retrieval_research import RESULTS, Context, _silent, for_queries, open_context
from core.settings import Settings
from core.settings_retrieval import RetrievalSettings
from retrieval.language import dense_languages

TUNE = {"xquad-r-zh": "dev-half", "scifact": "train"}
REPORT = {"xquad-r-zh": "test-half", "scifact": "test"}


def moved(query: np.ndarray, top: np.ndarray, beta: float) -> np.ndarray:
    vector = query + beta * top.mean(axis=0)
    return vector / np.linalg.norm(vector)


def with_feedback(
    ctx: Context,
    qid: str,
    first: Ranked,
    dense: np.ndarray,
    settings: RetrievalSettings,
    languages: list[str],
    k: int,
    beta: float,
) -> Ranked:
    top = dense[[index for index, _ in first[:k]]]
    vector = moved(ctx.query_dense[qid], top, beta).tolist()
    return shipped(ctx, qid, settings, languages, dense=vector)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="xquad-r-zh,scifact")
    parser.add_argument("--ks", default="1,3,5,10")
    parser.add_argument("--betas", default="0.25,0.5,1,2")
    args = parser.parse_args()
    model_name = Settings().embedding.model
    settings = Settings().retrieval
    model = product_dense(model_name)
    languages = dense_languages(settings, model.name)
    for name in args.datasets.split(","):
        report: dict[str, Any] = {"machine": machine_info(), "started": time.strftime("%F %T")}
        ctx = open_context(name, model, with_title=name == "scifact", tokens_of=model_name)
        try:
            dense = passage_vectors(model, ctx.chunks, name)
            first = for_queries(ctx, lambda q, c=ctx: shipped(c, q, settings, languages))
            rows: dict[str, Any] = {"shipped": _silent(ctx, first)}
            for k in (int(x) for x in args.ks.split(",")):
                for beta in (float(x) for x in args.betas.split(",")):
                    ranked = {
                        q: with_feedback(ctx, q, first[q], dense, settings, languages, k, beta)
                        for q in first
                    }
                    rows[f"k={k} beta={beta}"] = _silent(ctx, ranked)
        finally:
            ctx.close()
        tune, test = TUNE[name], REPORT[name]
        best = max(rows, key=lambda label: rows[label][tune]["ndcg@10"])
        table = {
            label: {
                tune: round(scores[tune]["ndcg@10"], 4),
                test: round(scores[test]["ndcg@10"], 4),
            }
            for label, scores in rows.items()
        }
        report[name] = {"rows": rows, "ndcg@10": table, "best_on_tune": best}
        print(json.dumps({name: table, "best": best}, indent=1), flush=True)
        write_json(RESULTS / f"retrieval_feedback-{name}.json", report)


if __name__ == "__main__":
    main()
