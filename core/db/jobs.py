"""Ingestion jobs: one row per stage run of a document version, for operators and tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from core.db.models import IngestionJob, new_id, utcnow

_JOBS = IngestionJob.__table__


class JobSubject(Protocol):
    """What a job row names of its document (a ``Document``, or a claimed row)."""

    id: str
    tenant_id: str
    version: int


def start_jobs(session: Session, docs: Sequence[JobSubject], stage: str, worker: str) -> list[str]:
    """One job row per document, inserted in one statement; returns their ids in order.

    A run that died (SIGKILL, a lost machine, the database gone as it ended) never ended its
    job; a new claim means that run is over, so its row says so instead of "running" for
    ever. A slow run that is in fact alive finds its claim lost and marks it "superseded".

    On the table, not as ORM objects: every document starts two jobs (parse, embed), and on
    short files the ORM's unit of work cost more than the insert (docs/benchmarks.md)."""
    if not docs:
        return []
    conn = session.connection()
    conn.execute(
        update(_JOBS)
        .where(_JOBS.c.document_id.in_([doc.id for doc in docs]), _JOBS.c.status == "running")
        .values(
            status="abandoned",
            error="the run went silent; another run took the document over",
            finished_at=utcnow(),
        )
    )
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "document_id": doc.id,
            "tenant_id": doc.tenant_id,
            "version": doc.version,
            "stage": stage,
            "status": "running",
            "worker": worker,
            "error": None,
            "started_at": now,
            "finished_at": None,
        }
        for doc in docs
    ]
    conn.execute(insert(_JOBS), rows)
    return [row["id"] for row in rows]


# A job's end is written once: a run whose finish committed but whose connection died before
# the answer came must not turn its "done" into "error" when it then ends on that error. Only
# "abandoned" (another run's guess that this one died) may still be corrected by the run itself.
_ENDABLE = ("running", "abandoned")


def end_job(session: Session, job_id: str, status: str, error: str | None = None) -> None:
    session.execute(
        update(IngestionJob)
        .where(IngestionJob.id == job_id, IngestionJob.status.in_(_ENDABLE))
        .values(status=status, error=error, finished_at=utcnow())
    )


def end_jobs(session: Session, job_ids: Sequence[str], status: str) -> None:
    if job_ids:
        session.execute(
            update(IngestionJob)
            .where(IngestionJob.id.in_(list(job_ids)), IngestionJob.status.in_(_ENDABLE))
            .values(status=status, finished_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def jobs_for(session: Session, doc_id: str) -> list[IngestionJob]:
    return list(
        session.scalars(
            select(IngestionJob)
            .where(IngestionJob.document_id == doc_id)
            .order_by(IngestionJob.started_at)
        )
    )


def silent_runs(session: Session, doc_id: str, version: int) -> int:
    """Runs of this document version that went silent: "abandoned" (a later claim found them
    unfinished) or still "running" (the caller found the document stale). The sweeper's
    count of dead workers: unlike ``Document.attempts``, neither the normal stage claims nor
    the retries of a transient error (a database restart) count."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(IngestionJob)
            .where(
                IngestionJob.document_id == doc_id,
                IngestionJob.version == version,
                IngestionJob.status.in_(("running", "abandoned")),
            )
        )
        or 0
    )
