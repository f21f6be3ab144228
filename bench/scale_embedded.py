"""The embedded engine (qdrant-edge) at one million chunks on one machine (issue 14, "Scale on
one machine"): ingest rate (upsert, then the HNSW/payload index build), resident memory, the
shard's size on disk, and the permission-filtered hybrid query p50/p95 for a reader of
everything and for a reader whose access list admits 1% of the chunks.

It reuses :mod:`bench.retrieval_latency` (SciFact chunks copied with jittered dense vectors under
new document ids, queries through the product's ``Retriever``) and adds what a million needs: a
watcher thread that samples the process's RSS (peak and per phase) and stops the run, writing
what it has, when the machine's available memory falls under ``--min-available-gib`` (the
machine is shared).

The server backend is not measured: no Qdrant server binary installs here, and qdrant-client's
local mode is a brute-force Python scan, not a fair stand-in for the server at this size.

    nice -n 5 python -m bench.scale_embedded [--size 1000000] [--queries 100]
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import REPO_ROOT, load_average, machine_info
from bench.common import shared_data_dir as shared
from bench.retrieval_data import (
    CACHE,
    Chunks,
    chunk_dataset,
    load_beir,
    passage_vectors,
    product_dense,
    sparse_vectors,
)
from bench.retrieval_latency import (
    EVERYONE_GROUP,
    FEW_GROUP,
    build,
    measure,
    principal,
    render,
)
from core.settings import Settings
from index.sparse import Bm25Encoder
from index.types import LAYOUTS

GIB = 1024**3
# An indexing threshold no segment reaches (1 TB): optimize leaves the shard as written.
NO_HNSW_KB = 10**9


def _meminfo_gib(field: str) -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024 / GIB
    return 0.0


def rss_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / GIB
    return 0.0


def folder_gib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / GIB


class Watcher(threading.Thread):
    """Samples RSS every ``every`` s; on low available memory writes the partial report and
    exits the process (a shared machine must not be pushed into the OOM killer)."""

    def __init__(self, report: dict[str, Any], out: Path, floor_gib: float, every: float = 2.0):
        super().__init__(daemon=True)
        self.report, self.out, self.floor, self.every = report, out, floor_gib, every
        self.peak = 0.0
        self.min_available = float("inf")
        self.samples: list[tuple[float, float, float]] = []
        self.started = time.perf_counter()

    def run(self) -> None:
        while True:
            rss, available = rss_gib(), _meminfo_gib("MemAvailable")
            self.peak = max(self.peak, rss)
            self.min_available = min(self.min_available, available)
            elapsed = round(time.perf_counter() - self.started, 1)
            self.samples.append((elapsed, round(rss, 2), round(available, 2)))
            if available < self.floor:
                self.report["stopped"] = (
                    f"available memory {available:.1f} GiB < {self.floor} GiB at {elapsed} s"
                )
                self.flush()
                print(self.report["stopped"], flush=True)
                os._exit(3)
            time.sleep(self.every)

    def flush(self) -> None:
        self.report["peak_rss_gib"] = round(self.peak, 2)
        self.report["min_available_gib"] = round(self.min_available, 2)
        self.report["rss_samples"] = self.samples[::5]
        self.report["load_average_at_end"] = load_average()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps(self.report, indent=2))


def cached_prefix(chunks: Chunks, model_name: str, dataset: str) -> tuple[Chunks, np.ndarray]:
    """The chunks whose dense vectors are already cached (the resumable parts that
    :func:`~bench.retrieval_data.passage_vectors` writes), so a run on a loaded machine need not
    first embed all of SciFact (an hour at load 15); copies then fill the million."""
    import hashlib

    slug = hashlib.sha256(model_name.encode()).hexdigest()[:10]
    parts = sorted((CACHE / dataset / f"dense-{slug}-{chunks.key}.parts").glob("???????.npy"))
    if not parts:
        raise SystemExit("no cached dense vectors: run without --cached-only first")
    dense = np.concatenate([np.load(p) for p in parts]).astype(np.float32)
    n = len(dense)
    prefix = Chunks(chunks.doc_ids[:n], chunks.positions[:n], chunks.texts[:n], chunks.key)
    return prefix, dense


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--min-available-gib", type=float, default=4.0)
    parser.add_argument(
        "--cached-only", action="store_true", help="copy only the chunks already embedded"
    )
    parser.add_argument(
        "--layout", default=Settings().embedding.vector_layout, choices=list(LAYOUTS)
    )
    parser.add_argument(
        "--no-hnsw",
        action="store_true",
        help="optimize changes nothing: the shard as written, as it serves while its index "
        "is built in the background (optimize_in_child)",
    )
    parser.add_argument(
        "--no-graph",
        action="store_true",
        help="optimize merges segments and builds payload indexes, but no HNSW graph (m=0)",
    )
    parser.add_argument(
        "--legs",
        action="store_true",
        help="also the hybrid query as one engine call against its legs in turn and side by "
        "side (bench.hybrid_legs)",
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench/results/scale_embedded.json")
    args = parser.parse_args()

    report: dict[str, Any] = {"machine": machine_info(), "size": args.size, "rows": []}
    watcher = Watcher(report, args.out, args.min_available_gib)
    watcher.start()

    # The shipped default: its model (chunks sized by its tokenizer) and its vector layout.
    shipped = Settings().embedding
    report["model"], report["layout"] = shipped.model, args.layout
    report["dense_hnsw"] = not (args.no_hnsw or args.no_graph)
    report["optimized"] = not args.no_hnsw
    dataset = load_beir(shared() / "scifact", with_title=True)
    chunks = chunk_dataset(dataset, tokens_of=shipped.model)
    model = product_dense(shipped.model)
    if args.cached_only:
        chunks, dense = cached_prefix(chunks, model.name, dataset.name)
        sparse = Bm25Encoder().encode_documents(chunks.texts)
    else:
        dense = passage_vectors(model, chunks, dataset.name)
        sparse = sparse_vectors(chunks, dataset.name)
    report["source_chunks"] = len(chunks.texts)
    queries = [dataset.queries[q] for q in sorted(dataset.qrels["test"])[: args.queries]]
    report["rss_before_build_gib"] = round(rss_gib(), 2)

    from core.settings_retrieval import RetrievalSettings
    from retrieval.search import Retriever
    from zhiku.container import build_model

    embedder = build_model(Settings())
    store, folder, times = build(
        chunks,
        dense,
        sparse,
        args.size,
        layout=args.layout,
        indexing_threshold_kb=NO_HNSW_KB if args.no_hnsw else None,
        graph=not args.no_graph,
    )
    try:
        report.update(times)
        report["upsert_chunks_per_s"] = round(args.size / times["upsert_s"])
        report["ingest_chunks_per_s"] = round(args.size / (times["upsert_s"] + times["index_s"]))
        report["rss_after_build_gib"] = round(rss_gib(), 2)
        report["peak_rss_build_gib"] = round(watcher.peak, 2)
        report["disk_gib"] = round(folder_gib(Path(folder.name)), 2)
        report["load_average_after_build"] = load_average()
        watcher.flush()
        print(json.dumps({k: v for k, v in report.items() if k != "machine"}), flush=True)
        settings = RetrievalSettings()
        retriever = Retriever(store, embedder, Bm25Encoder(), settings, None)
        for label, group in (("1% readable", FEW_GROUP), ("everything", EVERYONE_GROUP)):
            figures = measure(retriever, embedder, store, queries, group, settings, legs=True)
            if args.legs:
                from bench.hybrid_legs import compare

                figures["legs"] = compare(store, embedder, principal(group), queries)
            row = {"chunks": args.size, "layout": args.layout, "reader": label}
            report["rows"].append({**row, **times, **figures})
            print(json.dumps(report["rows"][-1]), flush=True)
            watcher.flush()
        report["rss_after_queries_gib"] = round(rss_gib(), 2)
    finally:
        store.close()
        folder.cleanup()
    watcher.flush()
    print(render(report["rows"]))


if __name__ == "__main__":
    main()
