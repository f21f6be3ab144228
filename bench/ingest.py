"""Ingestion throughput of Zhiku as a user meets it, over HTTP, against the model alone and
LlamaIndex's standard pipeline, in one run.

    python -m bench.ingest                                  # all of SciFact and 30 PDF/DOCX
    python -m bench.ingest --limit 300 --skip-llama --deployments embedded   # a quick look

Zhiku runs as subprocesses, started from the command line as a user starts it:

- ``embedded``: ``zhiku serve`` alone (SQLite, the embedded Qdrant engine, ingestion inside
  the server process);
- ``celery``: ``zhiku serve`` on PostgreSQL and Redis, plus one ``zhiku worker --queues
  parse,embed --concurrency 1`` that owns the embedded Qdrant store (``zhiku worker`` refuses
  more embedding processes on that store); ``--parse-workers N`` moves parsing to a second
  worker (``--queues parse --concurrency N``).

Several clients (``--clients``) upload the files, ``--files-per-request`` per
``POST /v1/documents``; the clock runs from the first upload to the moment the documents list
reports the last document ready or failed. Cold start is spent beforehand on a warm-up in a
tenant of its own. Beside them, in this process: the model alone (Zhiku's int8 ONNX embedder
on the chunks Zhiku's parse function makes of the same files) and LlamaIndex's
IngestionPipeline (``bench/llama_peer.py``), with its HuggingFace embedding and with Zhiku's
ONNX embedder. SciFact can be cut into ``--rounds`` slices; every competitor runs on each slice
in turn, so all see the same load history. The deployments stay up between rounds.
"""

from __future__ import annotations

import argparse
import logging
import os
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
from bench.http_ingest import run_http, warm_up
from bench.http_stack import Stack, start_stack, stop_stack
from bench.ingest_report import aggregate, report
from bench.llama_peer import huggingface_embedding, run_llama, zhiku_embedding
from bench.model_alone import make_embedder, make_parse_fn, run_model_alone
from core.settings import Settings

DEPLOYMENTS = ("embedded", "celery")
RESULTS = REPO_ROOT / "bench" / "results"


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {load_average()[0]:.2f}] {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Payload indexes have no effect")
    # Every competitor runs on the defaults: inherited ZHIKU_* settings would change them.
    dropped = sorted(k for k in os.environ if k.startswith("ZHIKU_") and k != "ZHIKU_SHARED_DATA")
    for name in dropped:
        del os.environ[name]
    started = time.monotonic()
    shared = shared_data_dir()
    out = Path(args.out or RESULTS / f"ingest-http-{time.strftime('%Y-%m-%d-%H%M')}.json")
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="zhiku-bench-local-")))
    result: dict[str, Any] = {
        "command": "python -m bench.ingest " + " ".join(sys.argv[1:] if argv is None else argv),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine_info(),
        "git": git_facts(),
        "dropped_env": dropped,
        "deployments": args.deployments,
        "clients": args.clients,
        "files_per_request": args.files_per_request,
        "worker_concurrency": args.worker_concurrency,
        "parse_workers": args.parse_workers,
        "deployment_env": dict(args.env),
        "settings": {
            "embedding": settings.embedding.model_dump(),
            "chunking": settings.chunking.model_dump(),
        },
    }
    docs = scifact(shared, args.limit) if args.limit >= 0 else []
    slices = _slices(docs, args.rounds or max(1, min(5, len(docs) // 1000)))
    files: list[SourceDoc] = []
    if args.docs > 0:
        say("screening PDF/DOCX candidates with the product's parser (outside the clock)")
        files, result["file_screening"] = screen_files(
            office_candidates(shared), settings, args.docs
        )
    say(f"SciFact {len(docs)} docs in {len(slices)} slices, {len(files)} files")
    runs: list[dict[str, Any]] = []
    stacks: dict[str, Stack] = {}
    try:
        for name in args.deployments:
            say(f"starting the {name} deployment")
            facts = result.setdefault("stacks", {}).setdefault(name, {})
            try:
                stack = start_stack(
                    name,
                    args.redis_db,
                    args.keep,
                    args.worker_concurrency,
                    args.parse_workers,
                    dict(args.env),
                )
                stacks[name] = stack
                facts.update(start_s=stack.started_s, warmup_s=warm_up(stack, warmup_docs(files)))
            except Exception as exc:  # the other deployments are still measured
                facts["error"] = f"{type(exc).__name__}: {exc}"[:4000]
                say(f"{name} did not start: {facts['error']}")
                if name in stacks:
                    stop_stack(stacks.pop(name), args.keep)
                continue
            facts["data_dir"] = str(stack.data_dir) if args.keep else None
            say(f"{name}: up in {stack.started_s} s, warm-up {facts['warmup_s']} s")
        measure(stacks, settings, slices, files, args, runs, result)
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        say(f"stopped by an error: {result['error']}")
    finally:
        for stack in stacks.values():
            stop_stack(stack, args.keep)
        shutil.rmtree(settings.data_dir, ignore_errors=True)  # the local runs write nothing
    result["runs"] = runs
    result["summary"] = aggregate(runs)
    result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %z")
    result["total_s"] = round(time.monotonic() - started, 1)
    result["load_average_at_end"] = load_average()
    write_json(out, result)
    print(report(result))
    say(f"results written to {out}")
    return 1 if "error" in result else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument(
        "--limit",
        "--scifact-limit",
        type=int,
        default=0,
        help=f"the first N SciFact documents (0: all {SCIFACT_SIZE:,}; -1: none)",
    )
    parser.add_argument("--docs", type=int, default=30, help="PDF and DOCX files (0: none)")
    parser.add_argument(
        "--rounds", type=int, default=0, help="SciFact slices (0: one per 1,000 docs, at most 5)"
    )
    parser.add_argument(
        "--deployments",
        type=lambda s: [d.strip() for d in s.split(",") if d.strip()],
        default=list(DEPLOYMENTS),
        help="comma-separated: embedded, celery (default both)",
    )
    parser.add_argument("--files-per-request", type=int, default=20, help="files per upload")
    parser.add_argument("--clients", type=int, default=3, help="concurrent uploading clients")
    parser.add_argument(
        "--worker-concurrency",
        type=int,
        default=1,
        help="processes of the Celery worker that embeds (more needs a Qdrant server)",
    )
    parser.add_argument(
        "--parse-workers",
        type=int,
        default=0,
        help="N > 0: a second Celery worker parses with N processes (default: one worker)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        type=lambda s: tuple(s.split("=", 1)),
        metavar="ZHIKU_X=Y",
        help="a setting for the deployments (repeatable), e.g. ZHIKU_DATABASE__ECHO=true",
    )
    parser.add_argument("--redis-db", type=int, default=14, help="Redis database (flushed)")
    parser.add_argument("--skip-llama", action="store_true", help="no LlamaIndex runs")
    parser.add_argument("--skip-hf", action="store_true", help="no LlamaIndex + HuggingFace run")
    parser.add_argument("--skip-model-alone", action="store_true", help="no model-alone run")
    parser.add_argument("--out", help="JSON result (default bench/results/ingest-http-<date>.json)")
    parser.add_argument("--keep", action="store_true", help="keep data folders and database")
    args = parser.parse_args(argv)
    unknown = set(args.deployments) - set(DEPLOYMENTS)
    if unknown:
        parser.error(f"unknown deployments: {', '.join(sorted(unknown))}")
    return args


def measure(
    stacks: dict[str, Stack],
    settings: Settings,
    slices: list[list[SourceDoc]],
    files: list[SourceDoc],
    args: argparse.Namespace,
    runs: list[dict[str, Any]],
    result: dict[str, Any],
) -> None:
    local: dict[str, Any] = {}
    if not args.skip_model_alone or not args.skip_llama:
        local["embedder"] = make_embedder(settings)
        local["parse"] = make_parse_fn(settings)
        result["embedder"] = {
            "class": type(local["embedder"]).__name__,
            "name": getattr(local["embedder"], "name", ""),
        }
    rounds = [("scifact", n, docs) for n, docs in enumerate(slices, 1)]
    rounds += [("files", 1, files)] if files else []
    for corpus, number, docs in rounds:
        one_round(stacks, settings, corpus, number, docs, args, local, runs)


def one_round(
    stacks: dict[str, Stack],
    settings: Settings,
    corpus: str,
    number: int,
    docs: list[SourceDoc],
    args: argparse.Namespace,
    local: dict[str, Any],
    runs: list[dict[str, Any]],
) -> None:
    """Every competitor on the same documents, back to back."""
    tag = f"{corpus} round {number} ({len(docs)} docs)"
    for name, stack in stacks.items():
        http = run_http(stack, corpus, docs, args.files_per_request, args.clients)
        detail = asdict(http)
        resources = detail.pop("resources")
        runs.append(
            _record(
                f"zhiku:{name}",
                corpus,
                number,
                http.accepted,
                http.chunks,
                http.wall_s,
                resources,
                detail,
            )
        )
        say(
            f"{tag}: {name} {_rate(runs[-1])} (uploads {http.upload_s:.1f} s, then "
            f"{http.drain_s:.1f} s to the last ready; {http.ready} ready, {http.failed} failed)"
        )
    if not args.skip_model_alone:
        alone = run_model_alone(
            local["embedder"], local["parse"], corpus, docs, settings.embedding.max_tokens
        )
        detail = asdict(alone)
        res = detail.pop("resources")
        runs.append(
            _record(
                "model_alone",
                corpus,
                number,
                0,
                alone.chunks,
                res["wall_s"],
                _local_resources(res),
                detail,
            )
        )
        say(f"{tag}: model alone {_rate(runs[-1])}")
    if args.skip_llama:
        return
    embedder = local["embedder"]
    batch = settings.embedding.batch_size
    embeddings = {"zhiku-onnx": lambda: zhiku_embedding(embedder, batch)}
    if not args.skip_hf:
        if "hf" not in local:
            local["hf"] = huggingface_embedding(batch)
        embeddings["huggingface-torch"] = lambda: local["hf"]
    for name, make in embeddings.items():
        peer = run_llama(corpus, docs, settings, name, make(), embedder.token_count)
        detail = asdict(peer)
        res = detail.pop("resources")
        runs.append(
            _record(
                f"llamaindex:{name}",
                corpus,
                number,
                peer.documents,
                peer.nodes,
                res["wall_s"],
                _local_resources(res),
                detail,
            )
        )
        say(f"{tag}: LlamaIndex + {name} {_rate(runs[-1])}")


def _local_resources(res: dict[str, Any]) -> dict[str, Any]:
    """This process alone (its children are the idle deployments), in the deployments' shape."""
    return {
        "peak_rss_mib": res["peak_rss_main_mib"],
        "cpu_s": res["cpu_main_s"],
        "load_mean": res["load_mean"],
        "load_max": res["load_max"],
    }


def _record(
    competitor: str,
    corpus: str,
    number: int,
    docs: int,
    chunks: int,
    wall_s: float,
    resources: dict[str, Any],
    detail: dict[str, Any],
) -> dict[str, Any]:
    return {
        "competitor": competitor,
        "corpus": corpus,
        "round": number,
        "documents": docs,
        "chunks": chunks,
        "wall_s": wall_s,
        "resources": resources,
        "detail": detail,
    }


def _rate(record: dict[str, Any]) -> str:
    wall = record["wall_s"]
    docs = f"{record['documents'] / wall:.1f} docs/s, " if record["documents"] else ""
    return f"{wall:.1f} s, {docs}{record['chunks'] / wall:.1f} chunks/s"


def _slices(docs: list[SourceDoc], rounds: int) -> list[list[SourceDoc]]:
    if not docs:
        return []
    rounds = max(1, min(rounds, len(docs)))
    size = -(-len(docs) // rounds)
    return [docs[i : i + size] for i in range(0, len(docs), size)]


def warmup_docs(files: list[SourceDoc]) -> list[SourceDoc]:
    """Twelve small texts (so both Celery pool processes load their model) and one file of
    each office format (the first PDF parse imports its reader), uploaded in another tenant."""
    texts = [
        SourceDoc(f"warm-up-{n}.txt", f"Warm-up note {n}.\n\nNothing here {n}.".encode(), "txt")
        for n in range(12)
    ]
    firsts: dict[str, SourceDoc] = {}
    for doc in files:
        firsts.setdefault(doc.kind, doc)
    return texts + list(firsts.values())


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
