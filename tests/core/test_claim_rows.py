"""The rows-not-objects paths of ingestion (``core.db.document_inserts``, ``core.db.claims``,
``core.db.jobs.start_jobs``), on PostgreSQL and SQLite: an upload's rows are the ones the ORM
wrote, and a claim reads what loading the ``Document`` gave, in Chinese (Simplified and
Traditional) and English names."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from core.access import user_token
from core.db import claims, identity
from core.db import documents as doc_queries
from core.db import jobs as job_queries
from core.db.document_inserts import insert_documents, new_document
from core.db.events import record_event
from core.db.models import AuditEvent, Document, DocumentStage, IngestionJob
from core.db.session import SessionFactory, transaction

NAMES = ["季度报告.txt", "季度報告.txt", "quarterly report.txt"]
ACCESS = ["group:财务", "everyone", "group:財務"]
# Columns the two paths set from their own clock or id generator.
OWN = {"id", "created_at", "updated_at", "blob_key"}


def _world(sessions: SessionFactory) -> tuple[str, str]:
    with transaction(sessions) as s:
        tenant = identity.create_tenant(s, f"cr-{uuid.uuid4().hex[:8]}")
        user = identity.create_user(s, tenant.id, "王芳")
    return tenant.id, user.id


def _fields(tenant_id: str, user_id: str, name: str) -> dict[str, object]:
    return {
        "tenant_id": tenant_id,
        "owner_id": user_id,
        "title": name.rsplit(".", 1)[0],
        "filename": name,
        "mime_type": "text/plain",
        "size_bytes": 42,
        "content_hash": uuid.uuid4().hex,
        "tags": ["合同", "合約", "contract"],
    }


def _row(sessions: SessionFactory, doc_id: str) -> dict[str, object]:
    with sessions() as s:
        doc = s.get(Document, doc_id)
        assert doc is not None
        row = {c.name: getattr(doc, c.key) for c in Document.__table__.columns}
        row["access"] = doc.access
        event = s.scalars(select(AuditEvent).where(AuditEvent.target_id == doc_id)).one()
        row["event"] = (event.action, event.actor_id, event.target_type, event.details)
    return row


def test_an_uploads_rows_are_the_ones_the_orm_wrote(sessions: SessionFactory) -> None:
    tenant_id, user_id = _world(sessions)
    for name in NAMES:
        fields = _fields(tenant_id, user_id, name)
        with transaction(sessions) as s:
            orm_doc = doc_queries.add_document(s, ACCESS, **fields, version=1, blob_key="k")
            s.flush()
            # What ``record_change`` wrote for an upload.
            record_event(
                s,
                tenant_id,
                user_id,
                "document.upload",
                "document",
                orm_doc.id,
                filename=orm_doc.filename,
                version=orm_doc.version,
                override=False,
                access=orm_doc.access,
            )
        row_doc = new_document(ACCESS, **fields, blob_key="k2")
        with transaction(sessions) as s:
            insert_documents(s, [row_doc], user_id, override=False)
        by_orm, by_rows = _row(sessions, orm_doc.id), _row(sessions, row_doc.id)
        assert {k: v for k, v in by_rows.items() if k not in OWN} == {
            k: v for k, v in by_orm.items() if k not in OWN
        }
        assert by_rows["access"] == sorted(ACCESS) == row_doc.access
        # What the upload answers with is what was written.
        assert by_rows["title"] == row_doc.title and by_rows["status"] == row_doc.status


def test_a_claim_reads_what_loading_the_document_gave(sessions: SessionFactory) -> None:
    tenant_id, user_id = _world(sessions)
    docs = [new_document(ACCESS, **_fields(tenant_id, user_id, n), blob_key="k") for n in NAMES]
    with transaction(sessions) as s:
        insert_documents(s, docs, user_id, override=False)
    ids = [(doc.id, 1) for doc in docs]
    with transaction(sessions) as s:
        token, claimed = claims.claim_documents(s, ids, timedelta(minutes=5))
        claims.enter_stage(s, list(claimed), DocumentStage.PARSING)
        job_ids = job_queries.start_jobs(s, list(claimed.values()), "parse", "w1")
    assert sorted(claimed) == sorted(doc.id for doc in docs)
    with sessions() as s:
        for doc_id, row in claimed.items():
            doc = s.get(Document, doc_id)
            assert doc is not None and doc.run_token == token
            assert doc.stage == DocumentStage.PARSING and row.stage == DocumentStage.STORED
            assert row.access == doc.access == sorted(ACCESS)
            assert (row.filename, row.title, row.tags) == (doc.filename, doc.title, doc.tags)
            assert (row.attempts, row.version, row.access_version) == (1, 1, 1)
            assert user_token(user_id) not in row.access  # the owner is added by the run
        jobs = s.scalars(select(IngestionJob).where(IngestionJob.id.in_(job_ids))).all()
        assert sorted(j.document_id for j in jobs) == sorted(claimed)
        assert {(j.stage, j.status, j.worker, j.tenant_id) for j in jobs} == {
            ("parse", "running", "w1", tenant_id)
        }
    # Held by a live run: a second claim takes nothing; the first run's jobs are left as
    # they are until a claim succeeds, then marked abandoned.
    with transaction(sessions) as s:
        _, again = claims.claim_documents(s, ids, timedelta(minutes=5))
    assert again == {}
    with transaction(sessions) as s:
        _, taken = claims.claim_documents(s, ids, timedelta(seconds=-1))
        job_queries.start_jobs(s, list(taken.values()), "parse", "w2")
    with sessions() as s:
        old = s.scalars(select(IngestionJob.status).where(IngestionJob.id.in_(job_ids))).all()
    assert set(old) == {"abandoned"} and {row.attempts for row in taken.values()} == {2}
