"""Memory and speed of the int8 ONNX embedder with multilingual-e5-small against MiniLM, and
against an earlier version of :mod:`index.embedding_onnx` (for before/after figures).

    nice -n 10 python -m bench.e5_memory {all,memory,speed} [--before OLD/embedding_onnx.py]

``memory``: one fresh process per configuration, as an ingesting process holds it (the
chunker's token counter, then the embedder): RSS after imports, after the counter, after the
load, after 32 long passages (the longest SciFact abstracts, one batch), after 128 (four
batches, two side by side) and the peak. The vectors of those passages and of 64 xquad-r-zh
paragraphs are kept, and every configuration's are compared with the first's (cosine).
``speed``: passages per second of each embedder in one process, in alternating rounds over
the same SciFact abstracts and xquad-r-zh paragraphs, so a change in the machine's load falls
on all of them; the ratios are the medians of the per-round ratios. Results go to
``bench/results/e5_memory.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import REPO_ROOT, machine_info, shared_data_dir, write_json
from bench.e5_check import E5, _jsonl, _rss_mib

RESULTS = REPO_ROOT / "bench" / "results"
MODELS = {"minilm": "", "e5": E5}
# (label, model, implementation, options): "before" is the module given by --before.
CONFIGS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("e5 before", "e5", "before", {}),
    ("e5 after (shared tokenizer, arena shrink)", "e5", "after", {}),
    ("e5 after, arena off", "e5", "after", {"arena": "off"}),
    ("e5 after, arena kept", "e5", "after", {"arena": "on"}),
    ("e5 after, one batch at a time (2 intra-op threads)", "e5", "after", {"intra": 2}),
    ("minilm before", "minilm", "before", {}),
    ("minilm after", "minilm", "after", {}),
]


def long_passages(count: int) -> list[str]:
    rows = _jsonl(shared_data_dir() / "scifact" / "corpus.jsonl", 10_000)
    texts = [f"{r['title']}\n\n{r['text']}" for r in rows]
    return sorted(texts, key=len, reverse=True)[:count]


def scifact_passages(count: int) -> list[str]:
    rows = _jsonl(shared_data_dir() / "scifact" / "corpus.jsonl", count)
    return [f"{r['title']}\n\n{r['text']}" for r in rows]


def xquad_passages(count: int) -> list[str]:
    return [r["text"] for r in _jsonl(shared_data_dir() / "xquad-r-zh" / "corpus.jsonl", count)]


def build(model: str, impl: str, before: str, options: dict[str, Any], threads: int) -> Any:
    from core.settings import Settings
    from index.models import resolve_model

    settings = Settings()
    cache = settings.model_cache_path
    intra = options.get("intra", 1)
    if impl == "after":
        from index.embedding_onnx import OnnxEmbedder

        extra = {"arena": options["arena"]} if "arena" in options else {}
        return OnnxEmbedder.from_model(
            model, cache, threads=threads, intra_op_threads=intra, **extra
        )
    from index.embedding_onnx import ensure_onnx_model

    spec = importlib.util.spec_from_file_location("embedding_onnx_before", before)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    _, name = resolve_model(model, cache)
    return module.OnnxEmbedder(
        ensure_onnx_model(model, cache), name=name, threads=threads, intra_op_threads=intra
    )


def memory_child(key: str, impl: str, before: str, options: dict[str, Any], out: Path) -> None:
    from core.settings import EmbeddingSettings
    from index.tokens import token_counter

    figures: dict[str, float] = {"imports": _rss_mib()}
    token_counter(EmbeddingSettings(model=MODELS[key]))
    figures["counter"] = _rss_mib()
    embedder = build(MODELS[key], impl, before, options, threads=2)
    figures["loaded"] = _rss_mib()
    passages = long_passages(128)
    first = embedder.embed_documents(passages[:32])
    figures["after_32_long"] = _rss_mib()
    embedder.embed_documents(passages)
    figures["after_128_long"] = _rss_mib()
    figures["peak"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    chinese = embedder.embed_documents(xquad_passages(64))
    queries = np.stack([embedder.embed_query(q) for q in ("维生素D的作用", "vitamin D bones")])
    np.save(out, np.concatenate([first, chinese, queries]))
    print(json.dumps(figures))


def memory(before: str) -> list[dict[str, Any]]:
    rows = []
    reference: dict[str, np.ndarray] = {}
    for label, key, impl, options in CONFIGS:
        out = Path(f"/tmp/e5_memory-{len(rows)}.npy")
        command = [sys.executable, "-m", "bench.e5_memory", "memory-child", "--model", key]
        command += ["--impl", impl, "--before", before, "--options", json.dumps(options)]
        command += ["--vectors", str(out)]
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        row: dict[str, Any] = {"config": label, **json.loads(result.stdout.splitlines()[-1])}
        vectors = np.load(out)
        if key not in reference:
            reference[key] = vectors
        cosine = np.sum(vectors * reference[key], axis=1)
        row["cosine_vs_first_min"] = round(float(cosine.min()), 6)
        row["load"] = machine_info().get("load_average_at_start")
        rows.append(row)
        print(row, flush=True)
    return rows


def speed(before: str, rounds: int, count: int) -> dict[str, Any]:
    corpora = {"scifact": scifact_passages(count), "xquad-r-zh": xquad_passages(count)}
    embedders = {
        "minilm": build("", "after", before, {}, 2),
        "minilm-before": build("", "before", before, {}, 2),
        "e5": build(E5, "after", before, {}, 2),
        "e5-before": build(E5, "before", before, {}, 2),
        "e5-intra2": build(E5, "after", before, {"intra": 2}, 2),
    }
    for embedder in embedders.values():
        embedder.embed_documents(corpora["xquad-r-zh"][:8])
    rates: dict[str, dict[str, list[float]]] = {c: {k: [] for k in embedders} for c in corpora}
    for n in range(rounds):
        for corpus, texts in corpora.items():
            keys = list(embedders) if n % 2 == 0 else list(reversed(embedders))
            for key in keys:
                started = time.perf_counter()
                embedders[key].embed_documents(texts)
                rates[corpus][key].append(len(texts) / (time.perf_counter() - started))
        print(n, {c: {k: round(v[-1], 2) for k, v in r.items()} for c, r in rates.items()})
    summary: dict[str, Any] = {"rounds": rounds, "texts": count}
    for corpus, by_key in rates.items():
        base = by_key["minilm"]
        summary[corpus] = {
            "passages_per_s_median": {k: round(statistics.median(v), 2) for k, v in by_key.items()},
            "ratio_to_minilm_median": {
                k: round(statistics.median(a / b for a, b in zip(v, base, strict=True)), 3)
                for k, v in by_key.items()
            },
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["all", "memory", "speed", "memory-child"])
    parser.add_argument("--before", default=str(REPO_ROOT / "index" / "embedding_onnx.py"))
    parser.add_argument("--model", default="e5", choices=sorted(MODELS))
    parser.add_argument("--impl", default="after", choices=["before", "after"])
    parser.add_argument("--options", default="{}")
    parser.add_argument("--vectors", default="/tmp/e5_memory.npy")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--texts", type=int, default=96)
    args = parser.parse_args()
    if args.mode == "memory-child":
        options = json.loads(args.options)
        memory_child(args.model, args.impl, args.before, options, Path(args.vectors))
        return
    report: dict[str, Any] = {"machine": machine_info(), "started": time.strftime("%F %T")}
    if args.mode in ("all", "memory"):
        report["memory"] = memory(args.before)
    if args.mode in ("all", "speed"):
        report["speed"] = speed(args.before, args.rounds, args.texts)
    report["machine_after"] = machine_info()
    write_json(RESULTS / f"e5_memory-{args.mode}.json", report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
