"""Listing and reading documents, and the directory of whom they can be shared with."""

from __future__ import annotations

from core.access import Principal
from core.db import directory as directory_queries
from core.db import documents as doc_queries
from core.db.models import DocumentStatus
from core.db.session import SessionFactory, transaction
from core.errors import NotFound
from ingest.formats import FORMAT_MIME_TYPES
from services.document_records import public_many
from services.schemas.documents import (
    DirectoryEntry,
    DirectoryPublic,
    DocumentPublic,
    DocumentsPublic,
)


class DocumentReads:
    """The reading half of ``services.documents.DocumentService``, which sets ``_sessions``."""

    _sessions: SessionFactory

    def list(
        self,
        principal: Principal,
        status: DocumentStatus | None = None,
        offset: int = 0,
        limit: int = 50,
        *,
        name: str | None = None,
        tag: str | None = None,
        file_type: str | None = None,
        ids: list[str] | None = None,
    ) -> DocumentsPublic:
        """A page of the documents the caller may read; ``file_type`` is a format key
        (``pdf``) or a MIME type."""
        mime_type = FORMAT_MIME_TYPES.get(file_type, file_type) if file_type else None
        with transaction(self._sessions) as session:
            rows, total = doc_queries.list_documents(
                session,
                principal,
                status=status,
                name=(name or "").strip() or None,
                tag=(tag or "").strip() or None,
                mime_type=mime_type,
                ids=ids or (),
                offset=offset,
                limit=limit,
            )
            data = public_many(session, principal, rows)
        return DocumentsPublic(data=data, count=total, offset=offset, limit=limit)

    def get(self, principal: Principal, doc_id: str) -> DocumentPublic:
        return self.get_many(principal, [doc_id])[0]

    def get_many(self, principal: Principal, doc_ids: list[str]) -> list[DocumentPublic]:
        """Several documents in one transaction (a progress display polls them all)."""
        with transaction(self._sessions) as session:
            docs = [doc_queries.readable_document(session, principal, doc_id) for doc_id in doc_ids]
            if principal.key_scope == "upload" and any(
                d.owner_id != principal.user_id for d in docs
            ):
                # An upload key follows its user's uploads only (``api.scopes``).
                raise NotFound("no such document")
            return public_many(session, principal, docs)

    def directory(
        self,
        principal: Principal,
        name: str = "",
        user_ids: list[str] | None = None,
        group_ids: list[str] | None = None,
        limit: int = 20,
    ) -> DirectoryPublic:
        """Users and groups of the caller's tenant whose name holds ``name``, or these ids:
        whom a document can be shared with, and the names of an access list."""
        with transaction(self._sessions) as session:
            users, groups = directory_queries.directory(
                session,
                principal.tenant_id,
                name=name.strip(),
                user_ids=user_ids or (),
                group_ids=group_ids or (),
                limit=limit,
            )
        return DirectoryPublic(
            users=[DirectoryEntry(id=i, name=n) for i, n in users],
            groups=[DirectoryEntry(id=i, name=n) for i, n in groups],
        )
