"""Ingestion jobs: one row per stage run of a document version, for operators and tests."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.db.models import Document, IngestionJob, utcnow


def start_jobs(
    session: Session, docs: Sequence[Document], stage: str, worker: str
) -> list[IngestionJob]:
    """One job row per document, inserted in one batch."""
    jobs = [
        IngestionJob(
            document_id=doc.id,
            tenant_id=doc.tenant_id,
            version=doc.version,
            stage=stage,
            worker=worker,
        )
        for doc in docs
    ]
    session.add_all(jobs)
    session.flush()
    return jobs


def end_job(session: Session, job_id: str, status: str, error: str | None = None) -> None:
    session.execute(
        update(IngestionJob)
        .where(IngestionJob.id == job_id)
        .values(status=status, error=error, finished_at=utcnow())
    )


def end_jobs(session: Session, job_ids: Sequence[str], status: str) -> None:
    if job_ids:
        session.execute(
            update(IngestionJob)
            .where(IngestionJob.id.in_(list(job_ids)))
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
