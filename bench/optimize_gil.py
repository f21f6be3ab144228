"""How long the embedded store's optimize stops the other threads of its process.

    python -m bench.optimize_gil --points 21000            # child process, then in process

Fills an embedded store with ``--points`` random 384-d points (unindexed, as a large upload
leaves them), then runs ``optimize()`` while a thread ticks every 5 ms and another searches
every 50 ms. Reported: the optimize's wall time, the ticker's longest gap (the longest the
GIL was held by someone else) and search latencies, for the child-process optimize of the
serving store and the engine's in-process one. Issue 10: ``/health/live`` within 1 s.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import REPO_ROOT, load_average, machine_info, markdown_table, write_json
from index.qdrant_embedded import EmbeddedQdrantStore
from index.store import Scope, SearchRequest
from index.types import ChunkPoint, SparseVector, chunk_id

DIM = 384
EVERYONE = frozenset({"everyone"})


def filled(path: Path, points: int, in_child: bool) -> tuple[EmbeddedQdrantStore, list[float]]:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(points, DIM))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = EmbeddedQdrantStore(path, optimize_after=None, optimize_in_child=in_child)
    store.ensure_collection(DIM)
    batch = []
    for i, vector in enumerate(vectors):
        doc, position = f"d{i // 10}", i % 10
        payload = {"tenant_id": "t", "access": ["everyone"], "doc_id": doc, "version": 1}
        payload |= {"position": position, "text": "x"}
        batch.append(
            ChunkPoint(
                chunk_id("t", doc, 1, position),
                vector.tolist(),
                SparseVector([i % 50], [1.0]),
                payload,
            )
        )
    store.upsert(batch)
    return store, vectors[0].tolist()


def measure(points: int, in_child: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        store, query = filled(Path(folder) / "q", points, in_child)
        gaps: list[float] = []
        searches: list[float] = []
        stopped = threading.Event()

        def tick() -> None:
            last = time.perf_counter()
            while not stopped.is_set():
                time.sleep(0.005)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        def search() -> None:
            request = SearchRequest(dense=query, limit=10)
            while not stopped.is_set():
                started = time.perf_counter()
                store.search(request, Scope("t", EVERYONE))
                searches.append(time.perf_counter() - started)
                time.sleep(0.05)

        threads = [threading.Thread(target=f, daemon=True) for f in (tick, search)]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        gaps.clear()
        searches.clear()
        started = time.perf_counter()
        store.optimize()
        wall = time.perf_counter() - started
        stopped.set()
        for thread in threads:
            thread.join(120)
        store.close()
    return {
        "optimize": "child process" if in_child else "in process",
        "points": points,
        "optimize_s": round(wall, 2),
        "ticks": len(gaps),
        "max_gap_s": round(max(gaps), 3),
        "searches": len(searches),
        "search_p99_s": round(float(np.percentile(searches, 99)), 3) if searches else None,
        "search_max_s": round(max(searches), 3) if searches else None,
        "load": load_average(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.optimize_gil", description=__doc__)
    parser.add_argument("--points", type=int, default=21_000)
    parser.add_argument("--out", help="JSON result (default bench/results/optimize_gil.json)")
    args = parser.parse_args(argv)
    results = [measure(args.points, in_child) for in_child in (True, False)]
    out = Path(args.out or REPO_ROOT / "bench" / "results" / "optimize_gil.json")
    write_json(out, {"machine": machine_info(), "results": results})
    keys = ["optimize", "points", "optimize_s", "ticks", "max_gap_s", "searches", "search_max_s"]
    print(markdown_table(keys, [[r[k] for k in keys] for r in results]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
