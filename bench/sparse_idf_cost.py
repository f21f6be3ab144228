"""What a restrictive reader's keyword side spends its time on: the engine's sparse search with
IDF over the reader's scope (what the product sends: nothing unreadable counts in the
statistics) against the same search without the IDF request, beside the dense side and an exact
count of the scope. The shard is built as :mod:`bench.scale_embedded` builds it with
``--no-graph`` (SciFact's e5 chunks copied with jittered vectors, 1% readable by the reader).

    python -m bench.sparse_idf_cost [--size 200000] [--queries 40]

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
from index import qdrant_common as common
from index.qdrant_embedded_models import read_filter
from index.sparse import Bm25Encoder
from index.store import Scope
from index.types import DENSE, SPARSE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=40)
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
        query_dense = {
            t: common.dense_query(model.query(t).tolist(), shipped.vector_layout) for t in texts
        }

        def p50(make: Callable[[str], edge.QueryRequest]) -> float:
            spent = []
            for n, text in enumerate(texts):
                request = make(text)
                started = time.perf_counter()
                shard.query(request)
                if n >= 5:  # warm-up
                    spent.append((time.perf_counter() - started) * 1000)
            return round(statistics.median(spent), 2)

        def keyword(text: str, idf: bool) -> edge.QueryRequest:
            vector = encoder.encode_query(text)
            params = edge.SearchParams(
                exact=True, idf=edge.IdfParams(corpus=scope) if idf else None
            )
            return edge.QueryRequest(
                limit=10,
                query=edge.Query.Nearest(
                    edge.SparseVector(vector.indices, vector.values), using=SPARSE
                ),
                filter=scope,
                params=params,
            )

        def semantic(text: str) -> edge.QueryRequest:
            return edge.QueryRequest(
                limit=10,
                query=edge.Query.Nearest(query_dense[text], using=DENSE),
                filter=scope,
                params=edge.SearchParams(exact=True),
            )

        started = time.perf_counter()
        readable = shard.count(edge.CountRequest(exact=True, filter=scope))
        count_ms = (time.perf_counter() - started) * 1000
        figures = {
            "chunks": args.size,
            "readable": readable,
            **times,
            "count_exact_ms": round(count_ms, 2),
            "keyword_idf_over_scope_p50_ms": p50(lambda t: keyword(t, True)),
            "keyword_without_idf_request_p50_ms": p50(lambda t: keyword(t, False)),
            "dense_exact_p50_ms": p50(semantic),
        }
    finally:
        store.close()
        folder.cleanup()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
