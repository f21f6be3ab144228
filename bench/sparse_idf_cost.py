"""What a restrictive reader's keyword side spends its time on: the engine's sparse search with
IDF over the reader's scope (what the product sends: nothing unreadable counts in the
statistics) against the same search without the IDF request, beside the dense side and an exact
count of the scope. The shard is built as :mod:`bench.scale_embedded` builds it with
``--no-graph`` (SciFact's e5 chunks copied with jittered vectors, 1% readable by the reader).

    python -m bench.sparse_idf_cost [--size 200000] [--queries 40] [--rounds 3]

Prints one JSON line; writes nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import qdrant_edge as edge

from bench.common import shared_data_dir as shared
from bench.retrieval_data import (
    chunk_dataset,
    load_beir,
    passage_vectors,
    product_dense,
    sparse_vectors,
)
from bench.retrieval_latency import FEW_GROUP, build, principal
from core.settings import Settings
from index.qdrant_embedded_models import read_filter, search_legs
from index.sparse import Bm25Encoder
from index.store import Scope, SearchRequest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    shipped = Settings().embedding
    data = load_beir(shared() / "scifact", with_title=True)
    chunks = chunk_dataset(data, tokens_of=shipped.model)
    model = product_dense(shipped.model)
    dense = passage_vectors(model, chunks, data.name)
    store, folder, times = build(
        chunks,
        dense,
        sparse_vectors(chunks, data.name),
        args.size,
        layout=shipped.vector_layout,
        graph=False,
    )
    try:
        shard = store._shard
        assert shard is not None
        scope = read_filter(Scope.for_principal(principal(FEW_GROUP)))
        encoder = Bm25Encoder()
        texts = [data.queries[q] for q in sorted(data.qrels["test"])[: args.queries + 5]]
        query_dense = {t: model.query(t).tolist() for t in texts}

        def p50(make: Callable[[str], edge.QueryRequest]) -> float:
            spent = []
            for n, text in enumerate(texts):
                request = make(text)
                started = time.perf_counter()
                shard.query(request)
                if n >= 5:  # warm-up
                    spent.append((time.perf_counter() - started) * 1000)
            return round(statistics.median(spent), 2)

        def one_side(request: SearchRequest, idf: bool = True) -> edge.QueryRequest:
            """The leg the store sends for ``request`` (exact, as for this reader), or the same
            leg without its IDF-over-the-scope request."""
            ((leg, params),) = search_legs(request, True, scope, shipped.vector_layout)
            return edge.QueryRequest(
                limit=10,
                query=leg,
                filter=scope,
                params=params if idf else edge.SearchParams(exact=True),
            )

        def keyword(text: str, idf: bool) -> edge.QueryRequest:
            return one_side(SearchRequest(sparse=encoder.encode_query(text), limit=10), idf)

        def semantic(text: str) -> edge.QueryRequest:
            return one_side(SearchRequest(dense=query_dense[text], limit=10))

        started = time.perf_counter()
        readable = shard.count(edge.CountRequest(exact=True, filter=scope))
        count_ms = (time.perf_counter() - started) * 1000
        figures = {
            "chunks": args.size,
            "readable": readable,
            **times,
            "count_exact_ms": round(count_ms, 2),
        }
        # Alternated rounds (A B C A B C ...): the first of each side is not privileged.
        variants: dict[str, Callable[[str], edge.QueryRequest]] = {
            "keyword_idf_over_scope_p50_ms": lambda t: keyword(t, True),
            "keyword_without_idf_request_p50_ms": lambda t: keyword(t, False),
            "dense_exact_p50_ms": semantic,
        }
        rounds: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, make in variants.items():
                rounds[name].append(p50(make))
        figures |= {name: statistics.median(values) for name, values in rounds.items()}
        figures["rounds"] = rounds
    finally:
        store.close()
        folder.cleanup()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
