"""Document operations behind the routes: upload, change access, delete.

Each write to the vector store happens inside the database transaction that records it, so a
store failure rolls the row back and the two never disagree for long.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import PurePath

from api.schemas import AccessSpec, DocumentPublic, Progress
from api.state import AppState
from core.access import Principal, user_token
from core.db import documents as doc_queries
from core.db import identity
from core.db.models import Document, DocumentStatus
from core.db.session import transaction
from core.errors import InvalidInput, PermissionDenied, UnsupportedFormat, ZhikuError
from ingest.formats import FORMAT_MIME_TYPES, check_archive_safety, detect_type, safe_filename
from workers.services import original_key


class UploadRejected(ZhikuError):
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


def resolve_access(state: AppState, principal: Principal, spec: AccessSpec | None) -> list[str]:
    """The tokens to store. No access list means private to the uploader."""
    if spec is None:
        return [user_token(principal.user_id)]
    acl = spec.to_access_list()
    if acl.is_empty():
        raise InvalidInput("the access list is empty: name users, groups, or everyone")
    with transaction(state.services.sessions) as session:
        identity.existing_ids(session, principal.tenant_id, set(acl.users), set(acl.groups))
    return acl.tokens()


def check_file(state: AppState, incoming: IncomingFile) -> tuple[str, str]:
    """Validate one file; returns (clean filename, MIME type) or raises UploadRejected."""
    limits = state.settings.limits
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
    if len(incoming.data) > limits.max_upload_bytes:
        raise UploadRejected(
            413, f"{clean} is larger than the {limits.max_upload_bytes} byte limit"
        )
    try:
        mime = FORMAT_MIME_TYPES[detect_type(incoming.data, clean)]
        check_archive_safety(incoming.data, limits)
    except UnsupportedFormat as exc:
        raise UploadRejected(415, str(exc)) from exc
    except ZhikuError as exc:
        raise UploadRejected(400, str(exc)) from exc
    return clean, mime


def store_upload(
    state: AppState,
    principal: Principal,
    incoming: IncomingFile,
    clean_name: str,
    mime: str,
    access: list[str],
    tags: list[str],
) -> DocumentPublic:
    with transaction(state.services.sessions) as session:
        doc = doc_queries.create_document(
            session,
            tenant_id=principal.tenant_id,
            owner_id=principal.user_id,
            title=PurePath(clean_name).stem or clean_name,
            filename=clean_name,
            mime_type=mime,
            size_bytes=len(incoming.data),
            content_hash=hashlib.sha256(incoming.data).hexdigest(),
            version=1,
            tags=tags,
            blob_key="",
        )
        doc.access = access
        _keep_original(state, doc, incoming)
        session.flush()
        public = to_public(doc)
    state.dispatcher.parse(public.id, public.version)
    return public


def _keep_original(state: AppState, doc: Document, incoming: IncomingFile) -> None:
    """Store the bytes under a key we choose (never the uploader's name), inside the
    transaction that records them: a failed write leaves no row behind."""
    doc.blob_key = original_key(doc.tenant_id, doc.id, doc.version)
    state.services.blobs.put(doc.blob_key, incoming.data)


def new_version(
    state: AppState, principal: Principal, doc_id: str, incoming: IncomingFile
) -> DocumentPublic:
    """Replace a document's content. The previous version stays searchable until the new one
    is ready (its chunks are removed then), so a re-upload never leaves a gap."""
    clean, mime = check_file(state, incoming)
    with transaction(state.services.sessions) as session:
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
        _keep_original(state, doc, incoming)
        session.flush()
        public = to_public(doc)
    state.dispatcher.parse(public.id, public.version)
    return public


def change_access(
    state: AppState, principal: Principal, doc_id: str, spec: AccessSpec
) -> DocumentPublic:
    tokens = resolve_access(state, principal, spec)
    with transaction(state.services.sessions) as session:
        doc = doc_queries.readable_document(session, principal, doc_id)
        _require_manager(principal, doc)
        doc_queries.set_access(session, doc, tokens)
        # Inside the transaction: if the store refuses, the row keeps its old list.
        state.services.store.set_document_access(doc.tenant_id, doc.id, tokens)
        return to_public(doc)


def delete(state: AppState, principal: Principal, doc_id: str) -> None:
    with transaction(state.services.sessions) as session:
        doc = doc_queries.readable_document(session, principal, doc_id)
        _require_manager(principal, doc)
        tenant_id = doc.tenant_id
        doc_queries.delete_document(session, doc)
        state.services.store.delete_document(tenant_id, doc_id)
    state.services.blobs.delete_prefix(f"{tenant_id}/{doc_id}")


def _require_manager(principal: Principal, doc: Document) -> None:
    if not (principal.is_admin or doc.owner_id == principal.user_id):
        raise PermissionDenied("only the document's owner or a tenant admin may change it")
