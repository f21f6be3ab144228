"""What the sweeper counts before it gives a document up: dead runs, not claims.

A database restart makes every document in flight retry a few times, each retry a new claim
(``Document.attempts`` + 1); found by the PostgreSQL restart test, such documents were failed
as "worker kept dying" although no worker died. Dead runs are the job rows a run never ended:
still "running" when the sweeper finds the document silent, "abandoned" once a later claim
took it over.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from core.db import documents as doc_queries
from core.db import identity
from core.db import jobs as job_queries
from core.db.models import Document, DocumentStage, DocumentStatus, utcnow
from core.db.session import SessionFactory, transaction
from core.dispatch import QueuedDocument
from tests.support import make_settings
from workers.sweeper import sweep_once
from zhiku.database import build_sessions


class Queued:
    """The dispatcher's side of a sweep: what it was asked to queue."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def parse(self, doc_id: str, version: int) -> None:
        self.sent.append(("parse", doc_id))

    def embed(self, doc_id: str, version: int) -> None:
        self.sent.append(("embed", doc_id))

    def parse_many(self, documents: Sequence[QueuedDocument]) -> None:
        self.sent += [("parse", d.doc_id) for d in documents]


def _silent_doc(sessions: SessionFactory, tenant_id: str, attempts: int, dead_runs: int) -> str:
    """A document mid-embedding whose heartbeat stopped a minute ago, after ``attempts``
    claims of which ``dead_runs`` never ended their job."""
    with transaction(sessions) as s:
        doc = doc_queries.create_document(
            s,
            tenant_id=tenant_id,
            title="t",
            filename=f"{attempts}-{dead_runs}.txt",
            mime_type="text/plain",
            size_bytes=1,
            content_hash="h",
            blob_key="k",
        )
        doc.status, doc.stage, doc.attempts = DocumentStatus.PROCESSING, "embedding", attempts
        doc.run_token = "gone"
        s.flush()
        for _ in range(dead_runs):
            job_queries.start_jobs(s, [doc], DocumentStage.EMBEDDING, "w")
        minute_ago = utcnow() - timedelta(minutes=1)
        doc.heartbeat_at = doc.updated_at = minute_ago
        return doc.id


def test_retries_are_not_deaths_and_deaths_still_give_up(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, worker={"stale_after_s": 5, "max_retries": 5})
    sessions = build_sessions(settings, migrate=True)
    with transaction(sessions) as s:
        tenant = identity.create_tenant(s, "sweep").id
    # Nine claims (parse, embed, seven retries through a database outage), one dead run.
    outage = _silent_doc(sessions, tenant, attempts=9, dead_runs=1)
    # Six runs that each died without a word.
    doomed = _silent_doc(sessions, tenant, attempts=6, dead_runs=6)
    queued = Queued()
    assert sweep_once(sessions, queued, settings.worker) == 1
    assert queued.sent == [("embed", outage)]
    with sessions() as s:
        kept, failed = s.get(Document, outage), s.get(Document, doomed)
        assert kept is not None and kept.status == "processing"
        assert failed is not None and failed.status == "failed"
        assert failed.error == "gave up after 6 attempts (worker kept dying)"
        # Every new claim ended the rows its dead predecessors left running.
        statuses = sorted(j.status for j in job_queries.jobs_for(s, doomed))
    assert statuses == ["abandoned"] * 5 + ["running"]
