"""Documents: upload, new version, change access, delete, read.

Each write to the vector store happens inside the database transaction that records it, so a
store failure rolls the row back and the two never disagree for long.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import PurePath

from core.access import Principal, user_token
from core.blobs import BlobStore, document_prefix, original_key
from core.db import documents as doc_queries
from core.db import identity
from core.db.models import Document, DocumentStatus
from core.db.session import SessionFactory, transaction
from core.dispatch import Dispatcher
from core.errors import InvalidInput, PermissionDenied, UnsupportedFormat, ZhikuError
from core.resources import Resource
from core.settings import LimitsSettings
from index.store import VectorStore
from ingest.formats import FORMAT_MIME_TYPES, check_archive_safety, detect_type, safe_filename
from services.schemas.documents import (
    AccessSpec,
    DocumentPublic,
    DocumentsPublic,
    Progress,
    UploadError,
    UploadResult,
)

MAX_TAGS = 50
MAX_TAG_CHARS = 100


class UploadRejected(ZhikuError):
    """One file of an upload refused, with the HTTP status that says why; the others go on."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code


@dataclass
class IncomingFile:
    filename: str
    data: bytes


def to_public(doc: Document) -> DocumentPublic:
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
        reused_from=doc.reused_from,
        created_at=doc.created_at,
        updated_at=doc.updated_at,
    )


def clean_tags(tags: list[str]) -> list[str]:
    cleaned = [t.strip() for t in tags if t.strip()]
    if len(cleaned) > MAX_TAGS or any(len(t) > MAX_TAG_CHARS for t in cleaned):
        raise InvalidInput(f"at most {MAX_TAGS} tags of at most {MAX_TAG_CHARS} characters")
    return cleaned


class DocumentService:
    def __init__(
        self,
        sessions: SessionFactory,
        blobs: BlobStore,
        store: Resource[VectorStore],
        dispatcher: Dispatcher,
        limits: LimitsSettings,
    ) -> None:
        self._sessions = sessions
        self._blobs = blobs
        self._store = store
        self._dispatcher = dispatcher
        self.limits = limits

    # --- reading

    def list(
        self,
        principal: Principal,
        status: DocumentStatus | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> DocumentsPublic:
        with transaction(self._sessions) as session:
            rows, total = doc_queries.list_documents(
                session, principal, status=status, offset=offset, limit=limit
            )
            data = [to_public(d) for d in rows]
        return DocumentsPublic(data=data, count=total, offset=offset, limit=limit)

    def get(self, principal: Principal, doc_id: str) -> DocumentPublic:
        return self.get_many(principal, [doc_id])[0]

    def get_many(self, principal: Principal, doc_ids: list[str]) -> list[DocumentPublic]:
        """Several documents in one transaction (a progress display polls them all)."""
        with transaction(self._sessions) as session:
            return [
                to_public(doc_queries.readable_document(session, principal, doc_id))
                for doc_id in doc_ids
            ]

    # --- uploading

    def resolve_access(self, principal: Principal, spec: AccessSpec | None) -> list[str]:
        """The tokens to store. No access list means private to the uploader."""
        if spec is None:
            return [user_token(principal.user_id)]
        acl = spec.to_access_list()
        if acl.is_empty():
            raise InvalidInput("the access list is empty: name users, groups, or everyone")
        with transaction(self._sessions) as session:
            identity.existing_ids(session, principal.tenant_id, set(acl.users), set(acl.groups))
        return acl.tokens()

    def check_file(self, incoming: IncomingFile) -> tuple[str, str]:
        """Validate one file; returns (clean filename, MIME type) or raises UploadRejected."""
        name = incoming.filename or ""
        if not name.strip():
            raise UploadRejected(400, "the file has no name")
        if "/" in name or "\\" in name or name in (".", "..") or "\x00" in name:
            raise UploadRejected(400, f"file name {name!r} must not contain path separators")
        try:
            clean = safe_filename(name)
        except ZhikuError as exc:
            raise UploadRejected(400, str(exc)) from exc
        if len(incoming.data) == 0:
            raise UploadRejected(400, f"{clean} is empty")
        if len(incoming.data) > self.limits.max_upload_bytes:
            raise UploadRejected(
                413, f"{clean} is larger than the {self.limits.max_upload_bytes} byte limit"
            )
        try:
            mime = FORMAT_MIME_TYPES[detect_type(incoming.data, clean)]
            check_archive_safety(incoming.data, self.limits)
        except UnsupportedFormat as exc:
            raise UploadRejected(415, str(exc)) from exc
        except ZhikuError as exc:
            raise UploadRejected(400, str(exc)) from exc
        return clean, mime

    def upload(
        self,
        principal: Principal,
        files: list[IncomingFile],
        access: list[str],
        tags: list[str],
    ) -> UploadResult:
        """Check, store and queue files (``access`` from :meth:`resolve_access`). A file that
        is refused is reported with its reason; the others are accepted, in one transaction."""
        if len(files) > self.limits.max_files_per_upload:
            raise InvalidInput(f"at most {self.limits.max_files_per_upload} files per upload")
        checked: list[tuple[IncomingFile, str, str]] = []
        errors: list[UploadError] = []
        for incoming in files:
            try:
                checked.append((incoming, *self.check_file(incoming)))
            except UploadRejected as exc:
                errors.append(
                    UploadError(
                        filename=incoming.filename, status_code=exc.status_code, detail=str(exc)
                    )
                )
        accepted: list[DocumentPublic] = []
        if checked:
            with transaction(self._sessions) as session:
                docs = []
                for incoming, clean, mime in checked:
                    doc = doc_queries.create_document(
                        session,
                        tenant_id=principal.tenant_id,
                        owner_id=principal.user_id,
                        title=PurePath(clean).stem or clean,
                        filename=clean,
                        mime_type=mime,
                        size_bytes=len(incoming.data),
                        content_hash=hashlib.sha256(incoming.data).hexdigest(),
                        version=1,
                        tags=tags,
                        blob_key="",
                    )
                    doc.access = access
                    self._keep_original(doc, incoming)
                    docs.append(doc)
                session.flush()
                accepted = [to_public(doc) for doc in docs]
        for public in accepted:
            self._dispatcher.parse(public.id, public.version)
        return UploadResult(data=accepted, errors=errors)

    def new_version(
        self, principal: Principal, doc_id: str, incoming: IncomingFile
    ) -> DocumentPublic:
        """Replace a document's content. The previous version stays searchable until the new
        one is ready (its chunks are removed then), so a re-upload never leaves a gap."""
        clean, mime = self.check_file(incoming)
        with transaction(self._sessions) as session:
            doc = doc_queries.readable_document(session, principal, doc_id)
            _require_manager(principal, doc)
            doc_queries.start_new_version(
                session,
                doc,
                filename=clean,
                mime_type=mime,
                size_bytes=len(incoming.data),
                content_hash=hashlib.sha256(incoming.data).hexdigest(),
            )
            self._keep_original(doc, incoming)
            session.flush()
            public = to_public(doc)
        self._dispatcher.parse(public.id, public.version)
        return public

    def _keep_original(self, doc: Document, incoming: IncomingFile) -> None:
        """Store the bytes under a key we choose (never the uploader's name), inside the
        transaction that records them: a failed write leaves no row behind."""
        doc.blob_key = original_key(doc.tenant_id, doc.id, doc.version)
        self._blobs.put(doc.blob_key, incoming.data)

    # --- managing

    def change_access(self, principal: Principal, doc_id: str, spec: AccessSpec) -> DocumentPublic:
        tokens = self.resolve_access(principal, spec)
        with transaction(self._sessions) as session:
            doc = doc_queries.readable_document(session, principal, doc_id)
            _require_manager(principal, doc)
            doc_queries.set_access(session, doc, tokens)
            # Inside the transaction: if the store refuses, the row keeps its old list.
            self._store.get().set_document_access(doc.tenant_id, doc.id, tokens)
            return to_public(doc)

    def delete(self, principal: Principal, doc_id: str) -> None:
        with transaction(self._sessions) as session:
            doc = doc_queries.readable_document(session, principal, doc_id)
            _require_manager(principal, doc)
            tenant_id = doc.tenant_id
            doc_queries.delete_document(session, doc)
            self._store.get().delete_document(tenant_id, doc_id)
        self._blobs.delete_prefix(document_prefix(tenant_id, doc_id))


def _require_manager(principal: Principal, doc: Document) -> None:
    if not (principal.is_admin or doc.owner_id == principal.user_id):
        raise PermissionDenied("only the document's owner or a tenant admin may change it")
