"""What every document operation shares: a row's public shape, the row lock, the audit event
of a change and the owner-or-admin rule."""

from __future__ import annotations

from core.access import Principal
from core.db import access as access_queries
from core.db import documents as doc_queries
from core.db.document_inserts import NewDocument
from core.db.events import record_event
from core.db.models import Document, DocumentStatus
from core.db.session import Session
from core.errors import NotFound, PermissionDenied
from services.schemas.documents import AccessSpec, DocumentPublic, Progress


def to_public(doc: Document | NewDocument, reused_from_readable: bool = False) -> DocumentPublic:
    """The public shape; ``reused_from`` only when the caller may read that document (an id
    they cannot read would tell them that someone else uploaded the same bytes)."""
    total = doc.chunks_total or 0
    percent = (
        100.0
        if doc.status == DocumentStatus.READY
        else (round(100.0 * doc.chunks_done / total, 1) if total else 0.0)
    )
    return DocumentPublic(
        id=doc.id,
        title=doc.title,
        filename=doc.filename,
        mime_type=doc.mime_type,
        size_bytes=doc.size_bytes,
        content_hash=doc.content_hash,
        version=doc.version,
        owner_id=doc.owner_id,
        access=AccessSpec.from_tokens(doc.access),
        tags=list(doc.tags or []),
        status=doc.status,
        stage=doc.stage,
        progress=Progress(chunks_done=doc.chunks_done, chunks_total=total, percent=percent),
        error=doc.error,
        reused_from=doc.reused_from if reused_from_readable else None,
        created_at=doc.created_at,
        updated_at=doc.updated_at,
    )


def lock_and_read(session: Session, principal: Principal, doc_id: str) -> Document:
    """The document, row-locked until the transaction ends (so access changes, new versions
    and deletes of one document take turns); NotFound if gone or not readable."""
    if not access_queries.lock_document(session, doc_id):
        raise NotFound("document not found")
    return doc_queries.readable_document(session, principal, doc_id)


def public_many(
    session: Session, principal: Principal, docs: list[Document]
) -> list[DocumentPublic]:
    twins = access_queries.readable_ids(
        session, principal, [doc.reused_from for doc in docs if doc.reused_from]
    )
    return [to_public(doc, reused_from_readable=doc.reused_from in twins) for doc in docs]


def record_change(
    session: Session, principal: Principal, doc: Document, action: str, **details: object
) -> None:
    """One audit event for a change of ``doc``, in the transaction that makes the change."""
    record_event(
        session,
        doc.tenant_id,
        principal.user_id,
        action,
        "document",
        doc.id,
        filename=doc.filename,
        version=doc.version,
        override=principal.is_admin and doc.owner_id != principal.user_id,
        **details,
    )


def require_manager(principal: Principal, doc: Document) -> None:
    if not (principal.is_admin or doc.owner_id == principal.user_id):
        raise PermissionDenied("only the document's owner or a tenant admin may change it")
