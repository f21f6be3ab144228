"""Why the model runs slower inside the pipeline than alone: padding and CPU contention.

    python -m bench.embed_contention --docs 150 --reps 2 --out contention.json

On SciFact chunks made by the pipeline's own parser and chunker, it measures the int8 ONNX
embedder's chunks/s and CPU per chunk

* by batching: all chunks sorted by length (the model-alone reference of ``bench.ingest``),
  batches of 32 in document order, and groups of 32 documents (as the embed stage groups);
* by thread layout, alone and beside a side process busy 30% of one core (about what the
  parse child used during ``bench.ingest``): Zhiku's default (one thread per batch, as many
  batches side by side as cores), onnxruntime's own 2-thread spinning pool, the same without
  spinning, and one batch on one thread. Configurations alternate, ``--reps`` times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import load_average, markdown_table, shared_data_dir, write_json
from bench.corpora import scifact

# Busy 30 ms, idle 70 ms: 30% of one core.
BURNER = (
    "import time\n"
    "while True:\n"
    "    t = time.perf_counter()\n"
    "    while time.perf_counter() - t < 0.03: pass\n"
    "    time.sleep(0.07)\n"
)


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def measure(texts_count: int, work: Callable[[], object], burner: bool) -> dict[str, float]:
    side = subprocess.Popen([sys.executable, "-c", BURNER]) if burner else None
    try:
        if side is not None:
            time.sleep(0.3)
        wall, cpu = time.perf_counter(), cpu_seconds()
        work()
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    finally:
        if side is not None:
            side.kill()
            side.wait()
    return {
        "chunks_per_s": round(texts_count / wall, 1),
        "cpu_ms_per_chunk": round(1000 * cpu / texts_count, 1),
        "load": load_average()[0],
    }


DEFAULT = "1 thread per batch, 2 batches side by side (default)"


def sessions(model_file: Path) -> dict[str, tuple[Any, int]]:
    """Layouts: (session, batches run side by side)."""
    import onnxruntime as ort

    def make(threads: int, spin: bool) -> Any:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        return ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])

    return {
        DEFAULT: (make(1, True), 2),
        "2 threads, spinning (onnxruntime default)": (make(2, True), 1),
        "2 threads, no spinning": (make(2, False), 1),
        "1 thread, one batch at a time": (make(1, True), 1),
    }


def use(embedder: Any, layout: tuple[Any, int]) -> None:
    """The session and its worker pool are private; swapping them is the one way to vary
    the layout on one loaded embedder."""
    from concurrent.futures import ThreadPoolExecutor

    session, side_by_side = layout
    embedder._session = session
    embedder.concurrency = side_by_side
    embedder._workers = ThreadPoolExecutor(side_by_side) if side_by_side > 1 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.embed_contention", description=__doc__)
    parser.add_argument("--docs", type=int, default=150, help="SciFact documents (from #2000)")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--out", help="where to write the JSON result")
    args = parser.parse_args(argv)

    from core.settings import Settings
    from index.embedding_onnx import MODEL_FILE, OnnxEmbedder, ensure_onnx_model
    from zhiku.container import build_model, build_parse_fn

    # Nothing is written there: parsing and embedding only; the model cache is the user's.
    settings = Settings(data_dir=Path(tempfile.gettempdir()) / "zhiku-bench-contention")
    parse = build_parse_fn(settings)
    docs = scifact(shared_data_dir(), 2000 + args.docs)[2000:]
    per_doc = [[c.text for c in parse(d.data, d.filename)[0]] for d in docs]
    texts = [t for chunks in per_doc for t in chunks]
    embedder = build_model(settings)
    assert isinstance(embedder, OnnxEmbedder), "this diagnosis is about the ONNX backend"
    embedder.embed_documents(texts[:64])  # warm

    def groups_of_32_docs() -> None:
        for i in range(0, len(per_doc), 32):
            embedder.embed_documents([t for chunks in per_doc[i : i + 32] for t in chunks])

    batching: dict[str, Callable[[], object]] = {
        "all chunks sorted by length": lambda: embedder.embed_documents(texts),
        "batches of 32 in document order": lambda: [
            embedder.embed_documents(texts[i : i + 32]) for i in range(0, len(texts), 32)
        ],
        "groups of 32 documents": groups_of_32_docs,
    }
    configs = sessions(ensure_onnx_model("", settings.model_cache_path) / MODEL_FILE)
    samples: dict[tuple[str, str], list[dict[str, float]]] = {}
    for _ in range(args.reps):
        use(embedder, configs[DEFAULT])  # the shipped setting
        for name, work in batching.items():
            samples.setdefault(("batching", name), []).append(measure(len(texts), work, False))
        for burner in (False, True):
            for name, layout in configs.items():
                use(embedder, layout)
                label = f"{name}{', side load 30% of a core' if burner else ''}"
                result = measure(len(texts), lambda: embedder.embed_documents(texts), burner)
                samples.setdefault(("contention", label), []).append(result)
    rows, out = [], []
    for (kind, label), runs in samples.items():
        median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        out.append({"kind": kind, "config": label, "median": median, "runs": runs})
        rows.append(
            [kind, label, f"{median['chunks_per_s']:.1f}", f"{median['cpu_ms_per_chunk']:.1f}"]
        )
    print(f"{len(texts)} chunks from {len(docs)} SciFact documents, {args.reps} reps (medians)\n")
    print(markdown_table(["Kind", "Configuration", "Chunks/s", "CPU ms/chunk"], rows))
    if args.out:
        write_json(Path(args.out), {"chunks": len(texts), "reps": args.reps, "results": out})
    return 0


if __name__ == "__main__":
    sys.exit(main())
