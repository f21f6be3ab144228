"""What "recovered" means after a fault, checked against the database and the store.

Every document is ready once: one row, status ready, one upload event, exactly one finished
parse job and one finished embedding job for its version, and no job left ``running`` by a
process that died. The store holds exactly the chunk ids the document's chunk count names
(ids are deterministic per tenant, document, version and position: ``index.types.chunk_id``),
so a lost chunk or a duplicate shows as a difference of two sets.
"""

from __future__ import annotations

import faulthandler
import time
from collections import Counter
from collections.abc import Callable, Sequence

import httpx
from sqlalchemy import func, select

from core.db.models import AuditEvent, Document, IngestionJob
from core.db.session import SessionFactory
from index import types as fields
from index.store import Scope, VectorStore
from index.types import chunk_id


def wait_mid_ingestion(
    client: httpx.Client, doc_ids: Sequence[str], tick: Callable[[], None] = lambda: None
) -> dict[str, str]:
    """Poll the API until one of ``doc_ids`` is parsed (embedding, or ready): the moment to
    inject a fault. Returns each document's status. The limit guards against a hang only: a
    loaded machine takes a minute to start its first parser."""
    deadline = time.monotonic() + 300
    while True:
        tick()
        listed = {d["id"]: d for d in client.get("/v1/documents").json()["data"]}
        mine = [listed[i] for i in doc_ids if i in listed]
        if any(d["status"] == "ready" or d["stage"] == "embedding" for d in mine):
            return {d["id"]: d["status"] for d in mine}
        assert time.monotonic() < deadline, [(d["status"], d["stage"]) for d in mine]
        time.sleep(0.2)


def wait_until_settled(
    sessions: SessionFactory, doc_ids: Sequence[str], timeout_s: float, tick: Callable[[], None]
) -> dict[str, str]:
    """Poll until no document is queued or processing; ``tick`` runs each round (a test
    checks there that its processes are alive). Returns each document's status."""
    deadline = time.monotonic() + timeout_s
    statuses: dict[str, str] = {}
    while time.monotonic() < deadline:
        tick()
        try:
            with sessions() as session:
                rows = session.execute(
                    select(Document.id, Document.status).where(Document.id.in_(list(doc_ids)))
                ).all()
            statuses = {doc_id: status for doc_id, status in rows}
        except Exception:  # the database may still be coming back
            time.sleep(0.5)
            continue
        if len(statuses) == len(doc_ids) and set(statuses.values()) <= {"ready", "failed"}:
            return statuses
        time.sleep(0.3)
    # What was stuck, and where every thread of this process stood (the embedded runner's).
    faulthandler.dump_traceback(all_threads=True)
    with sessions() as session:
        stuck = session.execute(
            select(Document.id, Document.stage, Document.attempts, Document.heartbeat_at).where(
                Document.id.in_(list(doc_ids)), Document.status.not_in(("ready", "failed"))
            )
        ).all()
    raise TimeoutError(f"not settled in {timeout_s} s: {Counter(statuses.values())}: {stuck}")


def assert_ready_exactly_once(
    sessions: SessionFactory, store: VectorStore, doc_ids: Sequence[str]
) -> dict[str, int]:
    """Assert the recovery invariants for ``doc_ids``; returns each one's chunk count."""
    with sessions() as session:
        docs = {
            d.id: d for d in session.scalars(select(Document).where(Document.id.in_(list(doc_ids))))
        }
        jobs = session.scalars(
            select(IngestionJob).where(IngestionJob.document_id.in_(list(doc_ids)))
        ).all()
        uploads = Counter(
            session.scalars(
                select(AuditEvent.target_id).where(
                    AuditEvent.action == "document.upload",
                    AuditEvent.target_id.in_(list(doc_ids)),
                )
            ).all()
        )
        # One row per upload: a retried request must not have made a twin of any of them.
        tenants = {d.tenant_id for d in docs.values()}
        names = session.execute(
            select(Document.filename, func.count())
            .where(Document.tenant_id.in_(tenants))
            .group_by(Document.filename)
        ).all()
    assert set(docs) == set(doc_ids), "a document row is missing"
    not_ready = {i: (d.status, d.error) for i, d in docs.items() if d.status != "ready"}
    assert not not_ready, not_ready
    assert all(uploads[i] == 1 for i in doc_ids), uploads
    filenames = {d.filename for d in docs.values()}
    assert all(n == 1 for name, n in names if name in filenames), names
    left_running = [(j.document_id, j.stage, j.worker) for j in jobs if j.status == "running"]
    assert not left_running, f"jobs left running by a dead run: {left_running}"
    done = Counter((j.document_id, j.version, j.stage) for j in jobs if j.status == "done")
    counts: dict[str, int] = {}
    for doc_id, doc in docs.items():
        for stage in ("parsing", "embedding"):
            assert done[(doc_id, doc.version, stage)] == 1, (doc_id, stage, done)
        assert doc.chunks_done == doc.chunks_total > 0, (doc_id, doc.chunks_done)
        chunks = store.document_chunks(Scope.admin(doc.tenant_id), doc_id)
        ids = [c.id for c in chunks]
        expected = {
            chunk_id(doc.tenant_id, doc_id, doc.version, p) for p in range(doc.chunks_total)
        }
        assert len(ids) == len(set(ids)) and set(ids) == expected, (
            doc_id,
            f"missing {len(expected - set(ids))}, extra {len(set(ids) - expected)}",
        )
        assert sorted(c.payload[fields.POSITION] for c in chunks) == list(range(len(expected)))
        counts[doc_id] = doc.chunks_total
    return counts
