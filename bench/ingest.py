"""Ingestion throughput: Zhiku's pipeline against the model alone and LlamaIndex, in one run.

    python -m bench.ingest --scifact-limit 0 --docs 30 --out ingest.json

Corpora: SciFact abstracts (one .txt file each) and real PDF/DOCX files (those Zhiku's parser
reads without OCR; the others are listed as excluded). Competitors, all in this one process:

1. Zhiku's pipeline on the embedded default (SQLite, embedded Qdrant engine, blob folder,
   in-process dispatcher with its parse child), from the first upload to the last document
   ready, every file through the API's ``check_file`` + ``store_upload``;
2. the same embedder alone on the chunk texts the pipeline produced, same batch size;
3. LlamaIndex's IngestionPipeline (SentenceSplitter 256/32 → embedding → QdrantVectorStore
   over an in-memory QdrantClient) with Zhiku's ONNX embedder, then with LlamaIndex's own
   HuggingFace embedding (torch).

The machine is shared and its load drifts, so SciFact is cut into ``--rounds`` slices and
every competitor runs on each slice in turn: each sees the same load history. If the next
slice would overrun ``--budget-min``, the run stops there and says which subset it measured.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, load_average, machine_info, shared_data_dir, write_json
from bench.corpora import SCIFACT_SIZE, SourceDoc, office_candidates, scifact, screen_files
from bench.ingest_report import aggregate, report
from bench.llama_peer import huggingface_embedding, run_llama, zhiku_embedding
from bench.pipeline import create_principal, run_model_alone, run_pipeline, submit, wait_terminal
from core.settings import Settings

# Kept in reserve for the PDF/DOCX round, which runs after the SciFact slices.
FILES_RESERVE_S = 120.0


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {load_average()[0]:.2f}] {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # "wrong pointing object" noise
    warnings.filterwarnings("ignore", message="Payload indexes have no effect")
    started = time.monotonic()
    shared = shared_data_dir()
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="zhiku-bench-ingest-"))
    out = Path(args.out or Path(tempfile.gettempdir()) / "zhiku-bench-ingest.json")
    settings = Settings(data_dir=data_dir)
    result: dict[str, Any] = {
        "command": "python -m bench.ingest " + " ".join(sys.argv[1:] if argv is None else argv),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine_info(),
        "git": git_facts(),
        "budget_min": args.budget_min,
    }
    slices = (
        _slices(scifact(shared, args.scifact_limit), args.rounds) if args.scifact_limit >= 0 else []
    )
    files: list[SourceDoc] = []
    if args.docs > 0:
        say("screening PDF/DOCX candidates with the pipeline's parser (outside the clock)")
        files, result["file_screening"] = screen_files(
            office_candidates(shared), settings, args.docs
        )
    say(f"SciFact {sum(map(len, slices))} docs in {len(slices)} slices, {len(files)} files")
    runs: list[dict[str, Any]] = []
    try:
        measure(settings, slices, files, args, started, result, runs)
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    result["runs"] = runs
    result["summary"] = aggregate(runs)
    result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %z")
    result["total_s"] = round(time.monotonic() - started, 1)
    result["load_average_at_end"] = load_average()
    write_json(out, result)
    print(report(result))
    say(f"results written to {out}")
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument(
        "--scifact-limit",
        type=int,
        default=0,
        help=f"SciFact documents to ingest (0: all {SCIFACT_SIZE:,}; -1: none)",
    )
    parser.add_argument("--docs", type=int, default=30, help="PDF and DOCX files (0: none)")
    parser.add_argument("--rounds", type=int, default=10, help="SciFact slices (default 10)")
    parser.add_argument(
        "--budget-min", type=float, default=25.0, help="stop starting new slices after this"
    )
    parser.add_argument("--out", help="where to write the JSON result")
    parser.add_argument("--data-dir", help="Zhiku's data folder (default: a fresh temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the data folder afterwards")
    parser.add_argument("--skip-llama", action="store_true", help="no LlamaIndex runs")
    parser.add_argument(
        "--skip-hf", action="store_true", help="no LlamaIndex run with its HuggingFace embedding"
    )
    return parser.parse_args(argv)


def measure(
    settings: Settings,
    slices: list[list[SourceDoc]],
    files: list[SourceDoc],
    args: argparse.Namespace,
    started: float,
    result: dict[str, Any],
    runs: list[dict[str, Any]],
) -> None:
    from api.main import build_state

    result["settings"] = {
        "embedding": settings.embedding.model_dump(),
        "chunking": settings.chunking.model_dump(),
        "qdrant_upsert_batch": settings.qdrant.upsert_batch,
        "database": settings.database_url.split(":", 1)[0],
    }
    state = build_state(settings)
    assert state.local is not None, "the benchmark needs the embedded default (no broker)"
    state.local.start()
    try:
        result["warmup_s"] = warm_up(state, [s[0] for s in slices[:1]] + _two_kinds(files))
        embedder = state.services.embedder
        result["embedder"] = {"class": type(embedder).__name__, "name": embedder.name}
        peers: dict[str, Any] = {}
        budget_s = args.budget_min * 60
        for number, docs in enumerate(slices, 1):
            round_started = time.monotonic()
            one_round(state, settings, "scifact", number, docs, args, peers, runs)
            spent = time.monotonic() - started
            last = time.monotonic() - round_started
            reserve = FILES_RESERVE_S if files else 0.0
            if number < len(slices) and spent + last + reserve > budget_s:
                left = sum(map(len, slices[number:]))
                result["stopped_early"] = (
                    f"stopped after {number} of {len(slices)} SciFact slices: the next would "
                    f"end past the {args.budget_min:.0f}-minute budget; {left} documents unmeasured"
                )
                say(result["stopped_early"])
                break
        if files:
            one_round(state, settings, "files", 1, files, args, peers, runs)
    finally:
        state.local.stop()
        state.services.close()


def warm_up(state: Any, docs: list[SourceDoc]) -> float:
    """Cold start outside the clock: the parse child spawns and imports unstructured, the
    model and the store open. In a tenant of its own, so no measured file is a "twin"."""
    started = time.perf_counter()
    principal = create_principal(state, "bench-warmup")
    ids, _ = submit(state, principal, docs)
    wait_terminal(state, principal.tenant_id, len(ids), 0.2, 600)
    spent = round(time.perf_counter() - started, 2)
    say(f"warm-up: {spent} s")
    return spent


def one_round(
    state: Any,
    settings: Settings,
    corpus: str,
    number: int,
    docs: list[SourceDoc],
    args: argparse.Namespace,
    peers: dict[str, Any],
    runs: list[dict[str, Any]],
) -> None:
    """Every competitor on the same documents, back to back."""
    embedder = state.services.embedder
    batch = settings.embedding.batch_size
    tag = f"{corpus} round {number} ({len(docs)} docs)"
    pipeline = run_pipeline(state, corpus, docs, f"bench-{corpus}-{number}")
    runs.append(_record("zhiku", corpus, number, pipeline.documents, pipeline.chunks, pipeline))
    say(f"{tag}: pipeline {_rate(runs[-1])}")
    alone = run_model_alone(embedder, corpus, pipeline.chunk_texts, batch)
    runs.append(_record("model_alone", corpus, number, 0, alone.chunks, alone))
    runs[-1]["detail"]["mean_tokens"] = pipeline.mean_tokens  # the very same chunks
    say(f"{tag}: model alone {_rate(runs[-1])}")
    if args.skip_llama:
        return
    embeddings = {"zhiku-onnx": lambda: zhiku_embedding(embedder, batch)}
    if not args.skip_hf:
        if "hf" not in peers:
            peers["hf"] = huggingface_embedding(batch)
        embeddings["huggingface-torch"] = lambda: peers["hf"]
    for name, make in embeddings.items():
        peer = run_llama(corpus, docs, settings, name, make(), embedder.token_count)
        runs.append(_record(f"llamaindex:{name}", corpus, number, peer.documents, peer.nodes, peer))
        say(f"{tag}: LlamaIndex + {name} {_rate(runs[-1])}")


def _record(
    competitor: str, corpus: str, number: int, docs: int, chunks: int, run: Any
) -> dict[str, Any]:
    detail = asdict(run)
    detail.pop("chunk_texts", None)
    return {
        "competitor": competitor,
        "corpus": corpus,
        "round": number,
        "documents": docs,
        "chunks": chunks,
        "resources": detail.pop("resources"),
        "detail": detail,
    }


def _rate(record: dict[str, Any]) -> str:
    wall = record["resources"]["wall_s"]
    docs = f"{record['documents'] / wall:.1f} docs/s, " if record["documents"] else ""
    return f"{wall:.1f} s, {docs}{record['chunks'] / wall:.1f} chunks/s"


def _slices(docs: list[SourceDoc], rounds: int) -> list[list[SourceDoc]]:
    rounds = max(1, min(rounds, len(docs)))
    size = -(-len(docs) // rounds)
    return [docs[i : i + size] for i in range(0, len(docs), size)]


def _two_kinds(files: list[SourceDoc]) -> list[SourceDoc]:
    """One file of each format, for the warm-up (the first PDF parse imports pdfminer)."""
    firsts: dict[str, SourceDoc] = {}
    for doc in files:
        firsts.setdefault(doc.kind, doc)
    return list(firsts.values())


def git_facts() -> dict[str, object]:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        return done.stdout.rstrip("\n")

    changed = [line[3:] for line in git("status", "--porcelain").splitlines()]
    return {
        "commit": git("rev-parse", "--short", "HEAD").strip(),
        "subject": git("log", "-1", "--format=%s").strip(),
        "uncommitted_outside_bench": [p for p in changed if not p.startswith(("bench/", "docs/"))],
    }


if __name__ == "__main__":
    sys.exit(main())
