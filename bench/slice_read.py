"""What one embed slice pays to read its chunks: ``python -m bench.slice_read [chunks] [slice]``.

Writes a document of ``chunks`` chunks (~500 characters each, English and Chinese, the fields
the parse stage keeps) to a local blob store, then times what a slice's run does before it
embeds: read its chunks and make them ``Chunk``s. Two layouts:

- ``one list``: the whole list in one blob, read and decoded whole by every slice (before
  ``core.chunk_pages``);
- ``pages``: ``core.chunk_pages``, a slice reading only the pages it is on.

Per-slice times are medians of ``REPEATS`` reads at the first, middle and last slice; the
whole document's reading is every slice's read summed (one list: the median times the slice
count, since each slice reads the same blob). Also the parse stage's write of each layout.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from bench.common import REPO_ROOT, load_average, machine_info
from core.blobs import LocalBlobStore, chunks_key
from core.chunk_pages import PAGE_CHUNKS, read_chunks, write_chunks
from ingest.types import Chunk

REPEATS = 5
WORDS = ["pump", "valve", "chiller", "hall", "service", "pressure", "泵", "阀门", "检修", "压力"]


def _chunks(count: int) -> list[dict[str, object]]:
    rng = random.Random(7)
    out = []
    for position in range(count):
        text = " ".join(rng.choice(WORDS) for _ in range(80))[:500]
        chunk = Chunk(text, position, 1 + position // 20, ("Manual", f"Part {position // 500}"))
        out.append(asdict(chunk))
    return out


def _as_chunks(raw: list[dict]) -> list[Chunk]:
    # What ``workers.embed_stage._load_slice`` makes of the records.
    return [Chunk(**{**c, "section_path": tuple(c["section_path"])}) for c in raw]


def _median_ms(read: Callable[[], list[Chunk]], size: int) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        assert len(read()) == size
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main(count: int = 50_000, slice_chunks: int = 512) -> dict[str, object]:
    records = _chunks(count)
    starts = list(range(0, count, slice_chunks))
    probes = {"first": starts[0], "middle": starts[len(starts) // 2], "last": starts[-1]}
    with tempfile.TemporaryDirectory() as folder:
        blobs = LocalBlobStore(Path(folder))
        started = time.perf_counter()
        blobs.put(chunks_key("t", "d", 1), json.dumps(records, ensure_ascii=False).encode())
        write_one_s = time.perf_counter() - started
        started = time.perf_counter()
        write_chunks(blobs, "t", "d", 1, records)
        write_pages_s = time.perf_counter() - started
        one_list_bytes = len(blobs.get(chunks_key("t", "d", 1)))

        def one_list(start: int) -> list[Chunk]:
            raw = json.loads(blobs.get(chunks_key("t", "d", 1)))
            return _as_chunks(raw[start : start + slice_chunks])

        def pages(start: int) -> list[Chunk]:
            return _as_chunks(read_chunks(blobs, "t", "d", 1, start, start + slice_chunks))

        rows = {}
        for name, read in (("one list", one_list), ("pages", pages)):
            rows[name] = {
                probe: _median_ms(lambda s=start, r=read: r(s), min(slice_chunks, count - start))
                for probe, start in probes.items()
            }
        # Every slice of the document with pages (cheap); one list: the same read each time.
        started = time.perf_counter()
        for start in starts:
            pages(start)
        pages_total_s = time.perf_counter() - started
    one_list_total_s = statistics.median(rows["one list"].values()) * len(starts) / 1000
    result = {
        "chunks": count,
        "slice_chunks": slice_chunks,
        "page_chunks": PAGE_CHUNKS,
        "slices": len(starts),
        "one_list_mb": round(one_list_bytes / 1e6, 1),
        "per_slice_ms": {k: {p: round(v, 2) for p, v in r.items()} for k, r in rows.items()},
        "all_slices_s": {"one list": round(one_list_total_s, 1), "pages": round(pages_total_s, 2)},
        "write_s": {"one list": round(write_one_s, 2), "pages": round(write_pages_s, 2)},
        "load_average": load_average(),
        "machine": machine_info(),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    out = REPO_ROOT / "bench" / "results" / f"slice-read-{count}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
