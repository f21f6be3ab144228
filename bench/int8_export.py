"""The int8 ONNX export's vectors and the batch cut's cost, on real passages.

    nice -n 10 python -m bench.int8_export quality [--model M] [--texts 300]
    nice -n 10 python -m bench.int8_export cut [--model M] [--texts 1000] [--rounds 3] \\
        [--cuts 17,32] [--groups 8,32,128,0]
    nice -n 10 python -m bench.int8_export query [--model M] [--texts 300] [--rounds 3]

``quality``: the cosine of the int8 vectors (``embed_documents`` on groups of 32, as the
pipeline calls it) to sentence-transformers' fp32 vectors, mean and min, on SciFact abstracts
and xquad-r-zh paragraphs; and how far a text's int8 vector moves between being embedded
alone and in one batch with all the others (padded to the longest). ``cut``: CPU ms a passage
of ``embed_documents`` on xquad-r-zh paragraphs in groups of each size (0: one call), for
each batch cut (its ``CALL_TOKENS``; ``bench.batch_cut`` compares it with the older
length-ratio cut), the cuts taking turns in every round (their
order reversed every other round), the embedder built as the product builds it. ``query``:
``embed_query`` latency (wall ms, p50 / p95) and CPU ms a query, on SciFact and xquad-r-zh
queries, one at a time as a search encodes them. Run it from
another tree (``PYTHONPATH=<tree> python <this file>``) to measure that tree's export. Results
go to ``bench/results/int8_export-<mode>-<label>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import load_average, machine_info, markdown_table, shared_data_dir, write_json

RESULTS = Path(__file__).resolve().parent / "results"
E5 = "packaged:multilingual-e5-small"


def passages(corpus: str, count: int) -> list[str]:
    texts = []
    with (shared_data_dir() / corpus / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            title = record.get("title", "") if corpus == "scifact" else ""
            texts.append(f"{title} {record['text']}".strip())
            if len(texts) == count:
                break
    return texts


def onnx_embedder(model: str, threads: int = 0) -> Any:
    from core.settings import EmbeddingSettings, Settings
    from index.embedders import build_embedder

    settings = EmbeddingSettings(model=model, backend="onnx", threads=threads)
    return build_embedder(settings, Settings().model_cache_path)


def in_groups(embedder: Any, texts: list[str], group: int) -> np.ndarray:
    step = group or len(texts)
    return np.concatenate(
        [embedder.embed_documents(texts[i : i + step]) for i in range(0, len(texts), step)]
    )


def quality(args: argparse.Namespace) -> dict[str, Any]:
    from core.settings import Settings
    from index import embedding_onnx
    from index.embedding import SentenceTransformerEmbedder

    int8 = onnx_embedder(args.model, threads=2)
    fp32 = SentenceTransformerEmbedder(
        args.model, device="cpu", cache_dir=Settings().model_cache_path
    )
    report: dict[str, Any] = {}
    for corpus in ("scifact", "xquad-r-zh"):
        texts = passages(corpus, args.texts)
        reference = fp32.embed_documents(texts)
        grouped = in_groups(int8, texts, 32)
        alone = np.stack([int8.embed_documents([t])[0] for t in texts])
        call_tokens = embedding_onnx.CALL_TOKENS
        embedding_onnx.CALL_TOKENS = 1e9  # a call dearer than any padding: fewest batches
        try:
            padded = in_groups(int8, texts, 32)  # each group one batch, padded to its longest
        finally:
            embedding_onnx.CALL_TOKENS = call_tokens
        cosines = (grouped * reference).sum(axis=1)
        moved = np.abs(padded - alone).max(axis=1)
        report[corpus] = {
            "texts": len(texts),
            "cosine_to_fp32_mean": round(float(cosines.mean()), 5),
            "cosine_to_fp32_min": round(float(cosines.min()), 5),
            "alone_vs_padded_batch_max_abs": float(moved.max()),
            "alone_vs_padded_batch_identical": round(float((moved == 0).mean()), 3),
            "alone_vs_padded_batch_cosine_min": round(float((padded * alone).sum(axis=1).min()), 7),
        }
        print(corpus, json.dumps(report[corpus]), flush=True)
    return report


def cut(args: argparse.Namespace) -> dict[str, Any]:
    from index import embedding_onnx

    texts = passages("xquad-r-zh", args.texts)
    embedder = onnx_embedder(args.model)
    embedder.embed_documents(texts[:64])  # warm-up: the session's first runs
    cuts = [c.strip() for c in args.cuts.split(",")]
    groups = [int(g) for g in args.groups.split(",")]
    samples: dict[str, list[float]] = {}
    for round_ in range(args.rounds):
        for call_tokens in cuts if round_ % 2 == 0 else cuts[::-1]:
            embedding_onnx.CALL_TOKENS = float(call_tokens)
            for group in groups:
                cpu = time.process_time()
                in_groups(embedder, texts, group)
                ms = 1000 * (time.process_time() - cpu) / len(texts)
                samples.setdefault(f"{call_tokens}/{group}", []).append(round(ms, 2))
            print(
                f"round {round_} call tokens {call_tokens} "
                + " ".join(f"{g}: {samples[f'{call_tokens}/{g}'][-1]}" for g in groups)
                + f" (load {load_average()[0]:.2f})",
                flush=True,
            )
    rows = [
        [
            call_tokens,
            *(round(statistics.median(samples[f"{call_tokens}/{g}"]), 2) for g in groups),
        ]
        for call_tokens in cuts
    ]
    headers = [
        "CALL_TOKENS",
        *(f"groups of {g}" if g else "one call" for g in groups),
    ]
    print(markdown_table(headers, rows))
    return {"cpu_ms_a_passage": samples, "median_table": rows}


def queries(corpus: str, count: int) -> list[str]:
    texts = []
    with (shared_data_dir() / corpus / "queries.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            texts.append(json.loads(line)["text"])
            if len(texts) == count:
                break
    return texts


def query(args: argparse.Namespace) -> dict[str, Any]:
    embedder = onnx_embedder(args.model)
    report: dict[str, Any] = {}
    for corpus in ("scifact", "xquad-r-zh"):
        texts = queries(corpus, args.texts)
        for text in texts[:20]:  # warm-up
            embedder.embed_query(text)
        walls: list[float] = []
        cpu = time.process_time()
        for _ in range(args.rounds):
            for text in texts:
                started = time.perf_counter()
                embedder.embed_query(text)
                walls.append(1000 * (time.perf_counter() - started))
        cpu_ms = 1000 * (time.process_time() - cpu) / len(walls)
        walls.sort()
        report[corpus] = {
            "queries": len(walls),
            "p50_ms": round(walls[len(walls) // 2], 2),
            "p95_ms": round(walls[int(len(walls) * 0.95)], 2),
            "cpu_ms_a_query": round(cpu_ms, 2),
        }
        print(corpus, json.dumps(report[corpus]), f"(load {load_average()[0]:.2f})", flush=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["quality", "cut", "query"])
    parser.add_argument("--model", default=E5)
    parser.add_argument("--texts", type=int, default=0, help="passages (quality 300, cut 1000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cuts", default="17,32")
    parser.add_argument("--groups", default="8,32,128,0")
    parser.add_argument("--label", default=time.strftime("%F"))
    args = parser.parse_args()
    args.texts = args.texts or (1000 if args.mode == "cut" else 300)
    from index import embedding_onnx

    report: dict[str, Any] = {
        "machine": machine_info(),
        "started": time.strftime("%F %T"),
        "load_average_at_start": load_average(),
        "args": vars(args),
        "export_recipe": embedding_onnx.EXPORT_RECIPE,
        "shipped_cut": embedding_onnx.CALL_TOKENS,
    }
    report[args.mode] = {"quality": quality, "cut": cut, "query": query}[args.mode](args)
    report["load_average_at_end"] = load_average()
    write_json(RESULTS / f"int8_export-{args.mode}-{args.label}.json", report)


if __name__ == "__main__":
    main()
