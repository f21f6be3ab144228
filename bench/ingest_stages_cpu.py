"""CPU per document of each part of the ingestion path, in process, outside the model: the
upload service, the parse stage's bookkeeping, parse + chunk (as the parse child runs it),
the embed stage's bookkeeping, BM25, payloads and upserts, on SQLite and the embedded
engine, with a zero-cost embedder so that only the pipeline's own work counts. One thread
drives every stage in turn (uploads in requests of 20, parse groups of 32, embed groups of
128 documents / 512 chunks, as the embedded default forms them), so each phase's CPU is read
from the clock of the process (the embed stage's writer runs on a thread of its own).

    nice -n 10 python -m bench.ingest_stages_cpu --corpus xquad-r-zh --limit 1000
    PYTHONPATH=/path/to/other/checkout python -m bench.ingest_stages_cpu ...   # before/after

``--profile FILE``: a cProfile of the driving thread as well (pstats format).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import event

from bench.common import load_average, shared_data_dir
from bench.corpora import scifact, xquad_r_zh
from core.db import identity
from core.db.session import transaction
from core.resources import Resource
from core.settings import Settings
from services.documents import DocumentService
from services.uploads import IncomingFile
from workers.context import parse_each
from workers.embed_stage import run_embed_group
from workers.parse_stage import run_parse_group
from zhiku.container import Container, build_parse_fn
from zhiku.database import build_sessions

MODELS = {"minilm": "packaged:all-minilm-l6-v2", "e5": "packaged:multilingual-e5-small"}
CPU: dict[str, float] = defaultdict(float)
# SQL statements (executemany counts once) and commits, by the phase running them.
SQL: dict[str, int] = defaultdict(int)
PHASE = ["setup"]


@contextmanager
def cpu(name: str, clock: Callable[[], float] = time.process_time) -> Iterator[None]:
    started = clock()
    outer = PHASE[0]
    if clock is time.process_time:
        PHASE[0] = name
    try:
        yield
    finally:
        CPU[name] += clock() - started
        PHASE[0] = outer


def count_sql(what: str) -> None:
    SQL[f"{PHASE[0]}: {what}"] += 1


class ZeroEmbedder:
    """What the stages ask of an embedder, at no cost: the model's own time is not measured."""

    name = "zero"
    model_key = "zero"
    dim = 384
    batch_size = 32
    concurrency = 2
    max_tokens = 510

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        out[:, 0] = 1.0
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def token_count(self, text: str) -> int:
        return len(text)


class NoDispatch:
    def parse(self, doc_id: str, version: int) -> None: ...

    def embed(self, doc_id: str, version: int) -> None: ...

    def parse_many(self, documents: Sequence[Any]) -> None: ...


def timed_method(obj: Any, attr: str, name: str) -> None:
    """Wrap ``obj.attr`` to add its thread CPU to ``CPU[name]`` (it may run on the writer)."""
    original = getattr(obj, attr)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with cpu(name, time.thread_time):
            return original(*args, **kwargs)

    object.__setattr__(obj, attr, wrapper)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_stages_cpu", description=__doc__)
    parser.add_argument("--corpus", default="xquad-r-zh", choices=["xquad-r-zh", "scifact"])
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--model", default="e5", choices=list(MODELS))
    parser.add_argument("--profile", default="")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    docs = (xquad_r_zh if args.corpus == "xquad-r-zh" else scifact)(shared_data_dir(), args.limit)
    data_dir = Path(tempfile.mkdtemp(prefix="zhiku-stages-cpu-"))
    settings = Settings(
        environment="test",
        data_dir=data_dir,
        llm={"local": {"enabled": False}},
        embedding={"model": MODELS[args.model]},
    )
    build_sessions(settings, migrate=True)
    container = Container(settings, role="cli")
    engine = container.sessions.kw["bind"]
    event.listen(engine, "before_cursor_execute", lambda *_: count_sql("statements"))
    event.listen(engine, "commit", lambda *_: count_sql("commits"))
    zero = ZeroEmbedder()
    # The identity of the model the index was made for (``index.generations.identity_of``):
    # a zero embedder of another identity has every upsert refused as another generation's,
    # and the embed stage measured its retries instead of its work.
    real = container.stage_context.embedder
    zero.name = real.name
    zero.model_key = getattr(real, "model_key", None) or type(real).__name__
    zero.dim = real.dim
    svc = replace(container.stage_context, embedder_resource=Resource("zero", lambda: zero))
    svc.store.upsert([])  # opens the store (and its serving model) outside the clock
    # jieba loads its dictionary on its first text (~0.6 s): a deployment's warm-up pays it.
    svc.sparse.encode_documents(["预热 warm-up 預熱"])
    timed_method(svc.sparse, "encode_documents", "embed: bm25 sparse")
    timed_method(svc.store, "upsert", "embed: upsert")
    parse_fn = build_parse_fn(settings)
    with transaction(svc.sessions) as s:
        tenant = identity.create_tenant(s, "bench")
        user = identity.create_user(s, tenant.id, "u")
        principal = identity.principal_for(user)
    service = DocumentService(
        svc.sessions, svc.blobs, container.store_resource, NoDispatch(), settings.limits
    )
    access = ["everyone"]

    def parse_many(items: Sequence[tuple[bytes, str]]) -> list[Any]:
        with cpu("parse: parse + chunk (the child's work)"):
            return parse_each(parse_fn)(items)

    parse_fn(b"warm up", "w.txt")
    profile = cProfile.Profile() if args.profile else None
    if profile:
        profile.enable()
    ids: list[str] = []
    started = time.process_time()
    with cpu("upload: service"):
        for start in range(0, len(docs), 20):
            files = [IncomingFile(d.filename, d.data) for d in docs[start : start + 20]]
            result = service.upload(principal, files, access, [])
            ids += [d.id for d in result.data]
    with cpu("parse: stage total"):
        for start in range(0, len(ids), 32):
            run_parse_group(svc, [(i, 1) for i in ids[start : start + 32]], parse_many)
    with cpu("embed: stage total"):
        for start in range(0, len(ids), 128):
            run_embed_group(svc, [(i, 1) for i in ids[start : start + 128]], 512)
    total = time.process_time() - started
    if profile:
        profile.disable()
        profile.dump_stats(args.profile)
    with svc.sessions() as s:
        from core.db import documents as doc_queries

        counts = doc_queries.count_by_status(s, principal.tenant_id)
    n = len(ids)
    parts = dict(CPU)
    parts["parse: stage bookkeeping"] = (
        parts["parse: stage total"] - parts["parse: parse + chunk (the child's work)"]
    )
    parts["embed: stage bookkeeping"] = (
        parts["embed: stage total"] - parts["embed: bm25 sparse"] - parts["embed: upsert"]
    )
    out = {
        "command": "python -m bench.ingest_stages_cpu " + " ".join(argv or sys.argv[1:]),
        "code": str(Path(sys.modules["workers.runs"].__file__ or "").parent.parent),
        "documents": n,
        "statuses": counts,
        "load_average": load_average(),
        "cpu_ms_per_doc": {k: round(1000 * v / n, 3) for k, v in sorted(parts.items())},
        "total_ms_per_doc": round(1000 * total / n, 3),
        # Statements on the writer thread count under the embed stage (the phase running).
        "sql_per_doc": {k: round(v / n, 2) for k, v in sorted(SQL.items()) if k[0] != "s"},
    }
    print(json.dumps(out, indent=1, ensure_ascii=False))
    container.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
