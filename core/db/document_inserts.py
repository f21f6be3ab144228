"""The rows of an upload: its new documents, their access lists and their audit events, in one
statement each however many files the request carries.

Added as ORM objects, each file cost an object, one per access token, one per audit event, and
the unit of work's flush of all of them: on short files that was about half the upload
service's CPU (docs/benchmarks.md, issue 12, session 20). The rows written are the ones the
ORM wrote: the model's defaults (``NEW_DOCUMENT``; ``tests/core/test_claim_rows.py``
checks them against the ORM's), the access tokens sorted, one ``document.upload`` event each.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import insert
from sqlalchemy.orm import Session

from core.db.events import record_events
from core.db.models import (
    Document,
    DocumentAccess,
    DocumentStage,
    DocumentStatus,
    new_id,
    utcnow,
)

# What a new document starts as, besides what the upload says (the model's defaults).
NEW_DOCUMENT: dict[str, Any] = {
    "version": 1,
    "access_version": 1,
    "store_access_version": 1,
    "status": DocumentStatus.QUEUED,
    "stage": DocumentStage.STORED,
    "chunks_done": 0,
    "chunks_total": 0,
    "chunks_indexed": 0,
    "error": None,
    "parse_info": {},
    "run_token": None,
    "heartbeat_at": None,
    "attempts": 0,
    "reused_from": None,
}


class NewDocument(NamedTuple):
    """A document row as inserted, with its access tokens: what ``to_public`` reads."""

    id: str
    tenant_id: str
    owner_id: str | None
    title: str
    filename: str
    mime_type: str
    size_bytes: int
    content_hash: str
    tags: list[str]
    blob_key: str
    access: list[str]
    created_at: datetime
    updated_at: datetime
    version: int
    access_version: int
    store_access_version: int
    status: str
    stage: str
    chunks_done: int
    chunks_total: int
    chunks_indexed: int
    error: str | None
    parse_info: dict
    run_token: str | None
    heartbeat_at: datetime | None
    attempts: int
    reused_from: str | None


def new_document(access: Sequence[str], **fields: Any) -> NewDocument:
    """A new document's row (not written yet): ``fields`` as the upload gives them (tenant,
    owner, names, size, hash, tags, blob key), its id (unless given) and the defaults."""
    now = utcnow()
    return NewDocument(
        **{
            **NEW_DOCUMENT,
            "id": fields.pop("id", None) or new_id(),
            "created_at": now,
            "updated_at": now,
            **fields,
            "tags": list(fields.get("tags") or []),
            "parse_info": {},
            "access": sorted(set(access)),
        }
    )


def insert_documents(
    session: Session, docs: Sequence[NewDocument], actor_id: str | None, override: bool
) -> None:
    """Insert ``docs``, their access rows and one ``document.upload`` audit event each (with
    the details ``services.document_records.record_change`` gives one), in three statements."""
    if not docs:
        return
    conn = session.connection()
    conn.execute(
        insert(Document.__table__),
        [{k: v for k, v in doc._asdict().items() if k != "access"} for doc in docs],
    )
    access = [{"document_id": doc.id, "token": token} for doc in docs for token in doc.access]
    if access:
        conn.execute(insert(DocumentAccess.__table__), access)
    record_events(
        session,
        [
            {
                "tenant_id": doc.tenant_id,
                "actor_id": actor_id,
                "action": "document.upload",
                "target_type": "document",
                "target_id": doc.id,
                "details": {
                    "filename": doc.filename,
                    "version": doc.version,
                    "override": override and doc.owner_id != actor_id,
                    "access": doc.access,
                },
                "created_at": doc.created_at,
            }
            for doc in docs
        ],
    )
