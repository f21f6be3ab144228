"""What a re-index costs beyond embedding: ``python -m bench.reindex_overhead [points]``.

Loads ``points`` 384-d chunks (Chinese and English text, ~700 characters) into an embedded
store, then rebuilds them as a new generation with an "embedder" that returns random unit
vectors, so the time left over is the re-index's own: scanning both generations, reading the
live payloads, writing the new shard, the switch. Also times one fingerprint scan: the final,
writes-paused pass is about one scan of the live generation when nothing changed.
Compare with the model's own speed (e.g. ~45-50 chunks/s for int8 MiniLM on 2 cores).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from index.generations import Generation, ModelIdentity, next_generation, rebuild
from index.qdrant_embedded import EmbeddedQdrantStore
from index.types import ACCESS, DOC_ID, TENANT, ChunkPoint, SparseVector, chunk_id

DIM = 384
TEXT = "这是一个测试段落，用于重新索引。 A paragraph of English words for the re-index. " * 8


def _points(count: int, rng: np.random.Generator) -> list[ChunkPoint]:
    points = []
    for i in range(count):
        tenant, doc, position = f"t{i % 3}", f"d{i // 20}", i % 20
        payload = {TENANT: tenant, ACCESS: ["everyone"], DOC_ID: doc, "version": 1}
        payload |= {"position": position, "text": f"{TEXT}{i}"}
        vector = rng.normal(size=DIM).tolist()
        points.append(
            ChunkPoint(
                chunk_id(tenant, doc, 1, position), vector, SparseVector([1], [1.0]), payload
            )
        )
    return points


def main(count: int) -> None:
    rng = np.random.default_rng(0)
    encoding = [0.0]

    def encode(
        texts: list[str],
    ) -> tuple[list[list[float]], list[SparseVector], list[list[list[float]]]]:
        start = time.perf_counter()
        vectors = rng.normal(size=(len(texts), DIM))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        sparse = [SparseVector([1, 2], [1.0, 1.0]) for _ in texts]
        out = [row.tolist() for row in vectors], sparse, [[] for _ in texts]
        encoding[0] += time.perf_counter() - start
        return out

    with (
        tempfile.TemporaryDirectory() as folder,
        EmbeddedQdrantStore(Path(folder) / "chunks", optimize_after=None) as store,
    ):
        store.ensure_collection(DIM)
        store.generations().adopt(Generation(1, ModelIdentity("a", "a", DIM, "s")))
        store.upsert(_points(count, rng))
        ops = store.generations()
        start = time.perf_counter()
        scan = len(ops.fingerprints("live"))
        scan_s = time.perf_counter() - start
        target = next_generation(ops, ModelIdentity("b", "b", DIM, "s"), {})
        start = time.perf_counter()
        rebuild(ops, target, encode, batch=64)
        total_s = time.perf_counter() - start
    overhead = total_s - encoding[0]
    print(
        f"points={count} rebuild={total_s:.2f}s of which encoding={encoding[0]:.2f}s "
        f"overhead={overhead:.2f}s ({1000 * overhead / count:.2f} ms/chunk); "
        f"one fingerprint scan of {scan} points: {scan_s:.2f}s"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
