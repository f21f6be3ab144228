"""The shipped default's retrieval quality, as a fresh install searches: the default embedding
model, chunks sized by that model's tokenizer, and the search request the product sends (its
fusion, candidates and limit from ``RetrievalSettings``), on SciFact and xquad-r-zh.

    nice -n 10 python -m bench.retrieval_default [--datasets xquad-r-zh,scifact] [--model M]

Beside it in the same run: each side alone (BM25, dense) on the same chunks. Vectors are cached
as in :mod:`bench.retrieval_research`. Writes ``bench/results/retrieval_default.json`` and
merges ``dataset/split/metric/default`` (and ``.../default-sparse``, ``.../default-dense``)
into ``bench/results/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from bench.common import machine_info, merge_summary, write_json
from bench.retrieval_data import SCOPE, product_dense
from bench.retrieval_eval import Ranked
from bench.retrieval_multilingual import REPORT_SPLITS
from bench.retrieval_research import (
    RESULTS,
    Context,
    _silent,
    for_queries,
    open_context,
)
from core.settings import Settings
from core.settings_retrieval import RetrievalSettings
from index.store import SearchRequest
from retrieval.language import dense_languages, query_language

LIMIT = 100  # deep enough for Recall@100 over documents


def shipped(
    ctx: Context,
    qid: str,
    settings: RetrievalSettings,
    dense_languages: list[str],
    dense: list[float] | None = None,
) -> Ranked:
    """The engine request ``retrieval.search.Retriever`` sends for a hybrid query; a query in a
    language the dense model does not serve goes to the keyword side alone, as it routes.
    ``dense``: another query vector in place of the query's own (a study's variant)."""
    if query_language(ctx.data.queries[qid]) not in dense_languages:
        return ctx.sparse_legs[qid]
    found = ctx.store.search(
        SearchRequest(
            dense=ctx.query_dense[qid].tolist() if dense is None else dense,
            sparse=ctx.query_sparse[qid],
            limit=LIMIT,
            prefetch_limit=settings.candidates,
            fusion=settings.fusion,
            rrf_k=settings.rrf_k,
            weights=settings.fusion_weights,
            with_payload=False,
        ),
        SCOPE,
    )
    return ctx.hits(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="xquad-r-zh,scifact")
    parser.add_argument("--model", default=Settings().embedding.model)
    parser.add_argument(
        "--label", default="default", help="the configuration's name in summary.json"
    )
    parser.add_argument("--no-summary", action="store_true")
    parser.add_argument(
        "--title-every-chunk",
        action="store_true",
        help="a study: each chunk after a document's first also starts with its title",
    )
    args = parser.parse_args()
    settings = Settings().retrieval
    report: dict[str, Any] = {
        "machine": machine_info(),
        "started": time.strftime("%F %T"),
        "model": args.model,
        "retrieval": settings.model_dump(include={"candidates", "fusion", "rrf_k"}),
    }
    model = product_dense(args.model)
    languages = dense_languages(settings, model.name)
    report["dense_languages"] = languages
    figures: dict[str, float] = {}
    for name in args.datasets.split(","):
        ctx = open_context(
            name,
            model,
            with_title=name == "scifact",
            title_every_chunk=args.title_every_chunk,
            tokens_of=args.model,
        )
        try:
            rows = {
                args.label: _silent(
                    ctx, for_queries(ctx, lambda q, c=ctx: shipped(c, q, settings, languages))
                ),
                f"{args.label}-sparse": _silent(ctx, ctx.sparse_legs),
                f"{args.label}-dense": _silent(ctx, ctx.dense_legs),
            }
        finally:
            ctx.close()
        report[name] = {"chunks": len(ctx.chunks.texts), "rows": rows}
        for configuration, scores in rows.items():
            for split in REPORT_SPLITS[name]:
                for metric, value in scores[split].items():
                    figures[f"{name}/{split}/{metric}/{configuration}"] = round(value, 4)
        print(json.dumps({name: report[name]}, indent=1), flush=True)
    report["headline"] = figures
    write_json(RESULTS / f"retrieval_{args.label}.json", report)
    if not args.no_summary:
        merge_summary(figures)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
