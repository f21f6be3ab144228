"""A hybrid query two ways through the product's ``Retriever``, alternated over the same
questions and reader, the whole query timed (encoding included): one engine call with the
engine's fusion (``leg_threads=0``; what a query does when no leg thread is free), and the
keyword leg on a second thread while the question is encoded, the legs fused in Python and the
best chunks' payloads read after (``leg_threads=2``, the default). Used by
:mod:`bench.scale_embedded` (``--legs``) and on its own:

    python -m bench.hybrid_legs [--size 100000] [--queries 50] [--rounds 3]

Prints one JSON line per reader.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

from bench.common import percentile
from core.access import Principal
from core.settings_retrieval import RetrievalSettings
from index.embedding import Embedder
from index.sparse import Bm25Encoder
from index.store import VectorStore
from retrieval.legs import LegRunner
from retrieval.search import Retriever

Variant = Callable[[str], object]


def variants(
    store: VectorStore, embedder: Embedder, caller: Principal, settings: RetrievalSettings
) -> dict[str, Variant]:
    sparse = Bm25Encoder()
    one_call = Retriever(store, embedder, sparse, settings, legs=LegRunner(0))
    side_by_side = Retriever(store, embedder, sparse, settings, legs=LegRunner(2))
    return {
        "one_engine_call": lambda t: one_call.search(caller, t, limit=10),
        "legs_side_by_side": lambda t: side_by_side.search(caller, t, limit=10),
    }


def compare(
    store: VectorStore,
    embedder: Embedder,
    caller: Principal,
    queries: list[str],
    rounds: int = 3,
    settings: RetrievalSettings | None = None,
) -> dict[str, object]:
    """p50/p95 ms per variant (median over rounds of each round's figure), after 5 warm-ups;
    the variants take turns within each round, so load drifts hit all of them alike."""
    ways = variants(store, embedder, caller, settings or RetrievalSettings())
    for text in queries[:5]:
        for run in ways.values():
            run(text)
    spent: dict[str, list[list[float]]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, run in ways.items():
            times = []
            for text in queries:
                started = time.perf_counter()
                run(text)
                times.append((time.perf_counter() - started) * 1000)
            spent[name].append(times)
    out: dict[str, object] = {}
    for name, per_round in spent.items():
        out[f"{name}_p50_ms"] = round(statistics.median(percentile(r, 0.5) for r in per_round), 2)
        out[f"{name}_p95_ms"] = round(statistics.median(percentile(r, 0.95) for r in per_round), 2)
        out[f"{name}_round_p50s"] = [round(percentile(r, 0.5), 2) for r in per_round]
    return out


def main() -> None:
    from bench.common import shared_data_dir as shared
    from bench.retrieval_data import (
        chunk_dataset,
        load_beir,
        passage_vectors,
        product_dense,
        sparse_vectors,
    )
    from bench.retrieval_latency import EVERYONE_GROUP, FEW_GROUP, build, principal
    from core.settings import Settings
    from zhiku.container import build_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-graph", action="store_true", help="optimize without HNSW (m=0)")
    args = parser.parse_args()
    shipped = Settings().embedding
    data = load_beir(shared() / "scifact", with_title=True)
    chunks = chunk_dataset(data, tokens_of=shipped.model)
    dense = passage_vectors(product_dense(shipped.model), chunks, data.name)
    store, folder, times = build(
        chunks,
        dense,
        sparse_vectors(chunks, data.name),
        args.size,
        layout=shipped.vector_layout,
        graph=not args.no_graph,
    )
    embedder = build_model(Settings())
    queries = [data.queries[q] for q in sorted(data.qrels["test"])[: args.queries]]
    try:
        for label, group in (("1% readable", FEW_GROUP), ("everything", EVERYONE_GROUP)):
            figures = compare(store, embedder, principal(group), queries, args.rounds)
            print(json.dumps({"chunks": args.size, "reader": label, **times, **figures}))
    finally:
        store.close()
        folder.cleanup()


if __name__ == "__main__":
    main()
