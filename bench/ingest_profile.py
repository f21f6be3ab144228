"""Where an embedded deployment's CPU goes per document, beyond the model: one ingestion over
HTTP (``bench.http_ingest``, as ``bench.ingest_models`` runs it) while py-spy samples the
server and its parse child, each sample's stack put in one bucket by the first rule that
matches it (``BUCKETS``), then CPU ms per document by bucket.

    nice -n 10 python -m bench.ingest_profile --corpus xquad-r-zh --limit 1000 \
        --py-spy /tmp/pyspy/bin/py-spy

py-spy is not a project dependency: pass its path. ``--root`` runs another checkout's code
(a before/after pair in one session). Per-thread CPU from ``/proc/<pid>/task`` is reported
beside the samples (short-lived threads, the writer's and feeders', are undercounted there).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

from bench.common import REPO_ROOT, load_average, shared_data_dir
from bench.corpora import scifact, xquad_r_zh
from bench.http_ingest import run_http, warm_up
from bench.http_stack import start_stack, stop_stack
from bench.ingest_models import MODELS, _warmup_docs

# (bucket, substrings of a frame "function (file)"): the first bucket any frame of a stack
# matches, searched from the innermost frame outwards, takes the sample.
BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("model (onnxruntime run)", ("run (onnxruntime",)),
    ("model: tokenize/pad/pool", ("_encode (index/embedding_onnx", "_pool (index/embedding_onnx")),
    ("bm25 sparse (jieba, forms)", ("index/sparse.py",)),
    ("upsert (embedded qdrant)", ("qdrant_client", "qdrant_embedded")),
    ("chunker token counting", ("count_tokens (index/tokens",)),
    ("chunker other", ("ingest/chunking.py", "llama_index")),
    ("parse: plain text", ("ingest/plain_text.py", "decode_text", "text_decoding")),
    ("parse: other", ("ingest/parsing.py", "ingest/formats.py")),
    ("parse child: pickling / pipes", ("_parse_many_in_child", "multiprocessing", "pickle")),
    ("blob writes/reads", ("core/blobs.py",)),
    ("upload checks", ("check_file (services/documents", "_unpacked", "check_archive")),
    ("chunk payload json", ("json/encoder", "json/decoder", "_load_slice", "asdict")),
    ("payload building", ("chunk_payload", "ChunkPoint")),
    ("sql (sqlalchemy/sqlite)", ("sqlalchemy", "sqlite3", "core/db/")),
    (
        "http (uvicorn/starlette/multipart)",
        ("uvicorn", "starlette", "multipart", "h11", "httptools"),
    ),
    ("api / pydantic", ("api/", "pydantic", "fastapi")),
    ("workers other", ("workers/",)),
    ("services other", ("services/",)),
]


# Leaves where a thread waits: py-spy's idle detection misses some of them.
IDLE = (
    "Condition.wait",
    "select (selectors",
    "_exit_with_parent",
    "Event.wait",
    "Queue.get (queue",
    "WorkerThread.run (anyio",
    "_wait_for_tstate_lock",
)


def bucket_of(frames: list[str]) -> str:
    for frame in reversed(frames):  # innermost last in py-spy's collapsed output
        for name, needles in BUCKETS:
            if any(n in frame for n in needles):
                return name
    return "other"


def read_collapsed(path: Path) -> Counter[str]:
    """py-spy ``--format raw`` (collapsed stacks, ``a;b;c count``) → samples per bucket, with
    ``thread:`` and ``process:`` prefixes."""
    counts: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        frames = stack.split(";")
        if any(idle in frames[-1] for idle in IDLE):
            continue
        # With --subprocesses a child's stacks start with the server's and then its own.
        where = "child" if len(frames) > 1 and frames[1].startswith("process ") else "server"
        counts[f"{where}|{bucket_of(frames)}"] += int(n)
    return counts


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread name of ``pid`` and its children."""
    out: Counter[str] = Counter()
    tick = os.sysconf("SC_CLK_TCK")
    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return {}
    for proc in procs:
        base = Path(f"/proc/{proc.pid}/task")
        for task in base.iterdir() if base.exists() else []:
            try:
                name = (task / "comm").read_text().strip()
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            label = f"{'child' if proc.pid != pid else 'server'}:{name}"
            out[label] += (int(fields[11]) + int(fields[12])) / tick
    return dict(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_profile", description=__doc__)
    parser.add_argument("--corpus", default="xquad-r-zh", choices=["xquad-r-zh", "scifact"])
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--model", default="e5", choices=list(MODELS))
    parser.add_argument("--py-spy", default="", help="py-spy binary (none: /proc only)")
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--root", default=str(REPO_ROOT), help="the checkout to run")
    parser.add_argument("--out", default="")
    parser.add_argument("--redis-db", type=int, default=12)
    args = parser.parse_args(argv)
    for name in [k for k in os.environ if k.startswith("ZHIKU_") and k != "ZHIKU_SHARED_DATA"]:
        del os.environ[name]
    shared = shared_data_dir()
    docs = (xquad_r_zh if args.corpus == "xquad-r-zh" else scifact)(shared, args.limit)
    stack = start_stack(
        "embedded",
        args.redis_db,
        False,
        settings_env={"ZHIKU_EMBEDDING__MODEL": MODELS[args.model]},
        root=Path(args.root),
    )
    result: dict[str, Any] = {"command": " ".join(sys.argv), "root": args.root}
    spy = None
    try:
        warm_up(stack, _warmup_docs())
        pid = stack.procs["server"].pid
        raw = Path(args.out or f"/tmp/ingest-profile-{os.getpid()}").with_suffix(".raw")
        if args.py_spy:
            spy = subprocess.Popen(
                [
                    args.py_spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--rate",
                    str(args.rate),
                    "--subprocesses",
                    "--threads",
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--output",
                    str(raw),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(2.0)
        before = thread_cpu(pid)
        load_before = load_average()
        http = run_http(stack, args.corpus, docs, 20, 3)
        after = thread_cpu(pid)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        cpu = {k: round(after.get(k, 0.0) - before.get(k, 0.0), 2) for k in after}
        result.update(
            documents=http.accepted,
            ready=http.ready,
            failed=http.failed,
            chunks=http.chunks,
            wall_s=http.wall_s,
            upload_s=http.upload_s,
            cpu_s=http.resources.get("cpu_s"),
            load_before=load_before,
            load_after=load_average(),
            thread_cpu_s={k: v for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]) if v},
        )
        if spy is not None and raw.exists():
            counts = read_collapsed(raw)
            total = sum(counts.values())
            cpu_s = float(http.resources.get("cpu_s") or 0.0)
            result["samples"] = total
            # Samples scaled to the measured CPU of the server tree, per document.
            result["ms_per_doc"] = {
                k: round(1000 * cpu_s * n / total / max(1, http.accepted), 2)
                for k, n in counts.most_common()
            }
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
        stop_stack(stack)
    text = json.dumps(result, indent=1, ensure_ascii=False)
    print(text)
    if args.out:
        Path(args.out).with_suffix(".json").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
