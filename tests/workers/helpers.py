"""Helpers for the worker tests: a stored document, as an upload leaves it."""

from __future__ import annotations

from core.access import Principal
from core.blobs import original_key
from core.db import documents as doc_queries
from core.db.session import transaction
from workers.context import StageContext


def new_doc(svc: StageContext, principal: Principal, text: str) -> str:
    """A version-1 text document readable by its owner, its original in the blob store."""
    with transaction(svc.sessions) as s:
        doc = doc_queries.create_document(
            s,
            tenant_id=principal.tenant_id,
            owner_id=principal.user_id,
            title="t",
            filename="t.txt",
            mime_type="text/plain",
            size_bytes=len(text.encode()),
            content_hash=str(hash(text)),
            blob_key="",
        )
        doc.access = [f"user:{principal.user_id}"]
        doc.blob_key = original_key(principal.tenant_id, doc.id, 1)
        svc.blobs.put(doc.blob_key, text.encode())
        return doc.id
