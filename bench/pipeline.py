"""Zhiku's ingestion as a user gets it on the embedded default, and the model alone.

The pipeline is driven exactly as the API drives it: ``api.main.build_state`` builds the
services and the in-process dispatcher (parse in an isolated child process, embed on a
thread), and every file goes through ``check_file`` + ``store_upload``. The benchmark only
watches: it times calls on the embedder, the sparse encoder and the store (instance-level
wrappers that delegate unchanged) and counts SQL statements through SQLAlchemy events.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event

from api.services import documents as service
from api.state import AppState
from bench.common import CallStats, PhaseResources, ResourceSampler, percentile, time_calls
from bench.corpora import SourceDoc
from core.access import Principal
from core.db import documents as doc_queries
from core.db import identity
from core.db.session import transaction
from index.embedding import Embedder
from index.store import Scope

TERMINAL = ("ready", "failed")


@dataclass
class SqlStats:
    statements: int = 0
    commits: int = 0
    seconds: float = 0.0


@dataclass
class PipelineRun:
    corpus: str
    documents: int
    ready: int
    failed: int
    rejected: int
    chunks: int
    reused: int
    submit_s: float
    first_ready_s: float
    resources: PhaseResources
    stages: dict[str, object]
    failures: list[dict[str, str]] = field(default_factory=list)
    per_file: list[dict[str, object]] = field(default_factory=list)
    # MiniLM tokens per chunk, capped at the model's window: what the model runs on.
    mean_tokens: float = 0.0
    # Chunk texts per ready document, in submission and position order (for the model alone).
    chunk_texts: list[list[str]] = field(default_factory=list, repr=False)


def create_principal(state: AppState, tenant_name: str) -> Principal:
    with transaction(state.services.sessions) as session:
        tenant = identity.create_tenant(session, tenant_name)
        user = identity.create_user(session, tenant.id, "bench", is_admin=True)
        return identity.principal_for(user)


@contextmanager
def sql_counter(state: AppState) -> Iterator[SqlStats]:
    engine = state.services.sessions.kw["bind"]
    stats = SqlStats()

    def before(conn: Any, *_: Any) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(conn: Any, *_: Any) -> None:
        started = conn.info["bench_started"].pop()
        stats.statements += 1
        stats.seconds += time.perf_counter() - started

    def commit(*_: Any) -> None:
        stats.commits += 1

    listeners: list[tuple[str, Callable[..., None]]] = [
        ("before_cursor_execute", before),
        ("after_cursor_execute", after),
        ("commit", commit),
    ]
    for name, fn in listeners:
        event.listen(engine, name, fn)
    try:
        yield stats
    finally:
        for name, fn in listeners:
            event.remove(engine, name, fn)


@contextmanager
def stage_timers(state: AppState) -> Iterator[dict[str, CallStats]]:
    """Time the embedder, the sparse encoder and the store while the pipeline runs."""
    svc = state.services
    stats = {"dense": CallStats(), "sparse": CallStats(), "upsert": CallStats()}
    removers = [
        time_calls(svc.embedder, "embed_documents", stats["dense"]),
        time_calls(svc.sparse, "encode_documents", stats["sparse"]),
        time_calls(svc.store, "upsert", stats["upsert"]),
    ]
    try:
        yield stats
    finally:
        for remove in removers:
            remove()


def submit(
    state: AppState, principal: Principal, docs: Sequence[SourceDoc]
) -> tuple[list[str], int]:
    """Every file through the API's own checks and upload path; returns (ids, rejected)."""
    access = service.resolve_access(state, principal, None)
    ids: list[str] = []
    rejected = 0
    for doc in docs:
        incoming = service.IncomingFile(doc.filename, doc.data)
        try:
            clean, mime = service.check_file(state, incoming)
        except service.UploadRejected:
            rejected += 1
            continue
        ids.append(service.store_upload(state, principal, incoming, clean, mime, access, []).id)
    return ids, rejected


def wait_terminal(
    state: AppState, tenant_id: str, expected: int, poll_s: float, timeout_s: float
) -> bool:
    """Poll one aggregate query (not one per document: 5,000 reads every poll would compete
    with the pipeline) until every document is ready or failed."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        with state.services.sessions() as session:
            counts = doc_queries.count_by_status(session, tenant_id)
        if sum(counts.get(s, 0) for s in TERMINAL) >= expected:
            return True
        time.sleep(poll_s)
    return False


def run_pipeline(
    state: AppState,
    corpus: str,
    docs: Sequence[SourceDoc],
    tenant_name: str,
    poll_s: float = 0.2,
    timeout_s: float = 3600.0,
) -> PipelineRun:
    principal = create_principal(state, tenant_name)
    with stage_timers(state) as stats, sql_counter(state) as sql, ResourceSampler() as sampler:
        started = time.perf_counter()
        started_at = datetime.now(UTC)
        ids, rejected = submit(state, principal, docs)
        submit_s = time.perf_counter() - started
        done = wait_terminal(state, principal.tenant_id, len(ids), poll_s, timeout_s)
    if not done:
        raise TimeoutError(f"{corpus}: documents still in flight after {timeout_s:.0f} s")
    run = _collect(state, principal.tenant_id, ids, corpus, len(docs), rejected, started_at)
    run.submit_s = round(submit_s, 2)
    embedder = state.services.embedder
    texts = [t for doc in run.chunk_texts for t in doc]
    if texts:
        capped = sum(min(embedder.max_tokens, embedder.token_count(t)) for t in texts)
        run.mean_tokens = round(capped / len(texts), 1)
    run.resources = sampler.result
    run.stages.update({name: s.summary() for name, s in stats.items()})
    run.stages["sql"] = {
        "statements": sql.statements,
        "commits": sql.commits,
        "seconds": round(sql.seconds, 2),
        "statements_per_doc": round(sql.statements / max(1, len(ids)), 1),
        "commits_per_doc": round(sql.commits / max(1, len(ids)), 1),
    }
    return run


def _collect(
    state: AppState,
    tenant_id: str,
    ids: list[str],
    corpus: str,
    submitted: int,
    rejected: int,
    started_at: datetime,
) -> PipelineRun:
    """Facts from the database (status, parse facts, stage jobs) and the chunk texts from
    the vector store, read after the clock stopped."""
    store = state.services.store
    scope = Scope.admin(tenant_id)
    statuses: Counter[str] = Counter()
    parse_s: list[float] = []
    strategies: Counter[str] = Counter()
    ocr_pages = 0
    job_s: dict[str, list[float]] = {"parsing": [], "embedding": []}
    finished: list[datetime] = []
    run = PipelineRun(corpus, submitted, 0, 0, rejected, 0, 0, 0.0, 0.0, PhaseResources(), {})
    with state.services.sessions() as session:
        for doc_id in ids:
            doc = doc_queries.get_document(session, doc_id)
            statuses[doc.status] += 1
            info = dict(doc.parse_info or {})
            if "parse_seconds" in info:
                parse_s.append(float(info["parse_seconds"]))  # type: ignore[arg-type]
            strategies[str(info.get("strategy", "?"))] += 1
            ocr_pages += int(info.get("ocr_pages", 0) or 0)  # type: ignore[call-overload]
            run.reused += doc.reused_from is not None
            for job in doc_queries.jobs_for(session, doc_id):
                if job.finished_at is not None and job.stage in job_s:
                    job_s[job.stage].append((job.finished_at - job.started_at).total_seconds())
                    if job.stage == "embedding" and job.status == "done":
                        finished.append(_aware(job.finished_at))
            if doc.status == "failed":
                run.failures.append({"file": doc.filename, "error": doc.error or ""})
                continue
            texts = [str(p.payload["text"]) for p in store.document_chunks(scope, doc_id)]
            run.chunk_texts.append(texts)
            if info.get("format") == "txt":
                continue  # thousands of identical rows; the aggregates say it all
            run.per_file.append(
                {
                    "file": doc.filename,
                    "format": info.get("format"),
                    "pages": info.get("pages"),
                    "strategy": info.get("strategy"),
                    "ocr_pages": info.get("ocr_pages", 0),
                    "parse_s": info.get("parse_seconds"),
                    "chunks": len(texts),
                }
            )
    run.ready = statuses.get("ready", 0)
    run.failed = statuses.get("failed", 0)
    run.chunks = sum(len(t) for t in run.chunk_texts)
    if finished:
        run.first_ready_s = round((min(finished) - started_at).total_seconds(), 2)
    run.stages = {
        "parse_in_child": _spread(parse_s),
        "parse_strategies": dict(strategies),
        "ocr_pages": ocr_pages,
        "parse_jobs": _spread(job_s["parsing"]),
        "embed_jobs": _spread(job_s["embedding"]),
    }
    return run


def _aware(moment: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "count": len(values),
        "total_s": round(sum(values), 2),
        "p50_s": round(percentile(values, 0.5), 4),
        "p95_s": round(percentile(values, 0.95), 4),
        "max_s": round(max(values, default=0.0), 4),
    }


@dataclass
class ModelAloneRun:
    corpus: str
    chunks: int
    batch_size: int
    resources: PhaseResources


def run_model_alone(
    embedder: Embedder, corpus: str, chunk_texts: list[list[str]], batch_size: int
) -> ModelAloneRun:
    """The same embedder on the same chunk texts in one call: it cuts them into batches of
    its configured size, shortest first, so this is the model's best case (least padding)."""
    texts = [t for doc in chunk_texts for t in doc]
    with ResourceSampler() as sampler:
        embedder.embed_documents(texts)
    return ModelAloneRun(corpus, len(texts), batch_size, sampler.result)
