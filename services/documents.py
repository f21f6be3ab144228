"""Documents: upload, new version, change access, delete, read.

Each write to the vector store happens inside the database transaction that records it, so a
store failure rolls the row back and the two never disagree for long. An access change also
re-applies the committed list after its commit, so a worker that wrote chunks with an older
list meanwhile cannot win (``core.db.access`` states the invariant). Every change is recorded
as an audit event in its own transaction; an admin acting on a document they do not own is
marked ``override``. The owner always reads and manages its document, whatever its list.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import PurePath

from core.access import Principal, user_token
from core.blobs import BlobStore, document_prefix, original_key
from core.db import access as access_queries
from core.db import directory as directory_queries
from core.db import documents as doc_queries
from core.db.events import record_event
from core.db.models import Document, DocumentStatus
from core.db.session import Session, SessionFactory, transaction
from core.dispatch import Dispatcher, QueuedDocument
from core.errors import (
    Component,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    UnsupportedFormat,
    UpstreamUnavailable,
    ZhikuError,
)
from core.resources import Resource
from core.settings import LimitsSettings
from index.store import VectorStore
from ingest.archives import is_archive, unpack
from ingest.formats import FORMAT_MIME_TYPES, check_archive_safety, detect_type, safe_filename
from services.schemas.documents import (
    AccessSpec,
    DirectoryEntry,
    DirectoryPublic,
    DocumentPublic,
    DocumentsPublic,
    Progress,
    UploadError,
    UploadResult,
)

log = logging.getLogger(__name__)

MAX_TAGS = 50
QUEUE_DOWN_NOTICE = (
    "The files are saved, but processing is delayed: the job queue is unavailable right now."
    " They show as queued and will be processed automatically once it is back; do not upload"
    " them again."
)
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


@dataclass(frozen=True)
class AccessChange:
    """A committed access change; ``in_force``: the store (so search) applies it already."""

    document: DocumentPublic
    in_force: bool


# A title made from an archive member's path stays readable in a list.
_MAX_TITLE_CHARS = 300


def to_public(doc: Document, reused_from_readable: bool = False) -> DocumentPublic:
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
            data = _public_many(session, principal, rows)
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
            return _public_many(session, principal, docs)

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

    # --- uploading

    def resolve_access(self, principal: Principal, spec: AccessSpec | None) -> list[str]:
        """The tokens to store. No access list means private to the uploader."""
        if spec is None:
            return [user_token(principal.user_id)]
        acl = spec.to_access_list()
        if acl.is_empty():
            raise InvalidInput("the access list is empty: name users, groups, or everyone")
        with transaction(self._sessions) as session:
            directory_queries.existing_ids(
                session, principal.tenant_id, set(acl.users), set(acl.groups)
            )
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
        checked: list[tuple[IncomingFile, str, str, str | None]] = []
        errors: list[UploadError] = []
        for incoming, title, label in self._unpacked(files, errors):
            try:
                checked.append((incoming, *self.check_file(incoming), title))
            except UploadRejected as exc:
                errors.append(
                    UploadError(
                        filename=label,
                        status_code=exc.status_code,
                        detail=str(exc),
                    )
                )
        accepted: list[DocumentPublic] = []
        if checked:
            with transaction(self._sessions) as session:
                docs = []
                for incoming, clean, mime, title in checked:
                    # Added, not flushed: one flush below writes the request's rows together.
                    doc = doc_queries.add_document(
                        session,
                        access,
                        tenant_id=principal.tenant_id,
                        owner_id=principal.user_id,
                        title=title or PurePath(clean).stem or clean,
                        filename=clean,
                        mime_type=mime,
                        size_bytes=len(incoming.data),
                        content_hash=hashlib.sha256(incoming.data).hexdigest(),
                        version=1,
                        tags=tags,
                        blob_key="",
                    )
                    self._keep_original(doc, incoming)
                    docs.append(doc)
                session.flush()
                for doc in docs:
                    _record(session, principal, doc, "document.upload", access=doc.access)
                accepted = [to_public(doc) for doc in docs]
        # One hand-over for the request: with a broker, a few messages in all.
        queued = [QueuedDocument(d.id, d.version, principal.tenant_id) for d in accepted]
        notice = None if not queued or self._hand_over(queued) else QUEUE_DOWN_NOTICE
        return UploadResult(data=accepted, errors=errors, notice=notice)

    def _unpacked(
        self, files: list[IncomingFile], errors: list[UploadError]
    ) -> list[tuple[IncomingFile, str | None, str]]:
        """The upload's files with each zip archive replaced by its members: (file, title,
        the name errors give it). A member is titled by its path in the archive
        ("资料.zip/2024/季度报告"); an archive or member that cannot be taken out is reported
        in ``errors`` (the rest of the upload goes on)."""
        out: list[tuple[IncomingFile, str | None, str]] = []
        for incoming in files:
            name = incoming.filename or ""
            if not is_archive(incoming.data, name):
                out.append((incoming, None, name))
                continue
            try:
                unpacked = unpack(incoming.data, name, self.limits)
            except ZhikuError as exc:
                errors.append(UploadError(filename=name, status_code=400, detail=str(exc)))
                continue
            if not unpacked.members and not unpacked.refused:
                errors.append(
                    UploadError(filename=name, status_code=400, detail="the archive is empty")
                )
            for member in unpacked.members:
                title = f"{name}/{PurePath(member.path).with_suffix('')}"[:_MAX_TITLE_CHARS]
                try:
                    filename = member.filename
                except ZhikuError as exc:
                    errors.append(
                        UploadError(
                            filename=f"{name}/{member.path}", status_code=400, detail=str(exc)
                        )
                    )
                    continue
                out.append((IncomingFile(filename, member.data), title, f"{name}/{member.path}"))
            errors.extend(
                UploadError(filename=f"{name}/{path}", status_code=422, detail=reason)
                for path, reason in unpacked.refused
            )
        return out

    def new_version(
        self, principal: Principal, doc_id: str, incoming: IncomingFile
    ) -> DocumentPublic:
        """Replace a document's content. The previous version stays searchable until the new
        one is ready (its chunks are removed then), so a re-upload never leaves a gap."""
        clean, mime = self.check_file(incoming)
        with transaction(self._sessions) as session:
            doc = _lock_and_read(session, principal, doc_id)
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
            _record(session, principal, doc, "document.version")
            public = to_public(doc)
        self._hand_over([QueuedDocument(public.id, public.version, principal.tenant_id)])
        return public

    def retry(self, principal: Principal, doc_id: str) -> DocumentPublic:
        """Process a failed document again from its stored file (owner or admin); Conflict
        when it has not failed."""
        with transaction(self._sessions) as session:
            doc = _lock_and_read(session, principal, doc_id)
            _require_manager(principal, doc)
            if doc.status != DocumentStatus.FAILED:
                raise Conflict(f"only a failed document can be retried; this one is {doc.status}")
            reason = doc.error
            doc_queries.requeue_failed(session, doc)
            _record(session, principal, doc, "document.retry", reason=reason)
            public = _public_many(session, principal, [doc])[0]
        self._hand_over([QueuedDocument(public.id, public.version, principal.tenant_id)])
        return public

    def _hand_over(self, queued: list[QueuedDocument]) -> bool:
        """Queue committed documents for parsing; False when the job queue is down. The
        upload is not refused then: its rows and files are committed (a 503 would invite the
        client to send it twice), the documents stay "queued", and the worker's sweeper queues
        them once the broker is back."""
        try:
            self._dispatcher.parse_many(queued)
        except UpstreamUnavailable as exc:
            if exc.component is not Component.JOB_QUEUE:
                raise
            log.warning("job queue down: %d document(s) saved, left queued: %s", len(queued), exc)
            return False
        return True

    def _keep_original(self, doc: Document, incoming: IncomingFile) -> None:
        """Store the bytes under a key we choose (never the uploader's name), inside the
        transaction that records them: a failed write leaves no row behind."""
        doc.blob_key = original_key(doc.tenant_id, doc.id, doc.version)
        self._blobs.put(doc.blob_key, incoming.data)

    # --- managing

    def change_access(self, principal: Principal, doc_id: str, spec: AccessSpec) -> AccessChange:
        """Commit the new list (its version bumped, under the row lock), then write the newest
        committed list to the store (``apply_latest``), which beats any chunk written
        meanwhile with an old one.

        The database is the record: once the commit is done the change is made (listed,
        audited). When the store then refuses the write (down, restarting), the change is
        returned with ``in_force`` False (the API answers 202, not 200): search still applies
        the previous list until the sweeper, or the next start of a process, writes the
        committed one (``core.db.access``, rule 5). A crash after the commit ends the same way.
        """
        tokens = self.resolve_access(principal, spec)
        with transaction(self._sessions) as session:
            doc = _lock_and_read(session, principal, doc_id)
            _require_manager(principal, doc)
            before = doc.access
            doc_queries.set_access(session, doc, tokens)
            _record(session, principal, doc, "document.access", before=before, after=doc.access)
            public = _public_many(session, principal, [doc])[0]
        try:
            write = self._store.get().set_document_access
            access_queries.apply_latest(self._sessions, [doc_id], write)
        except Exception:
            log.warning(
                "access list of %s committed; the store will be brought in line by the sweeper",
                doc_id,
                exc_info=True,
            )
            return AccessChange(public, in_force=False)
        return AccessChange(public, in_force=True)

    def delete(self, principal: Principal, doc_id: str) -> None:
        with transaction(self._sessions) as session:
            doc = _lock_and_read(session, principal, doc_id)
            _require_manager(principal, doc)
            tenant_id = doc.tenant_id
            _record(session, principal, doc, "document.delete")
            doc_queries.delete_document(session, doc)
            self._store.get().delete_document(tenant_id, doc_id)
        # A parse still running writes its chunk list before it finds its claim gone, and
        # then removes the prefix itself (workers.runs): nothing is left behind either way.
        self._blobs.delete_prefix(document_prefix(tenant_id, doc_id))


def _lock_and_read(session: Session, principal: Principal, doc_id: str) -> Document:
    """The document, row-locked until the transaction ends (so access changes, new versions
    and deletes of one document take turns); NotFound if gone or not readable."""
    if not access_queries.lock_document(session, doc_id):
        raise NotFound("document not found")
    return doc_queries.readable_document(session, principal, doc_id)


def _public_many(
    session: Session, principal: Principal, docs: list[Document]
) -> list[DocumentPublic]:
    twins = access_queries.readable_ids(
        session, principal, [doc.reused_from for doc in docs if doc.reused_from]
    )
    return [to_public(doc, reused_from_readable=doc.reused_from in twins) for doc in docs]


def _record(
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


def _require_manager(principal: Principal, doc: Document) -> None:
    if not (principal.is_admin or doc.owner_id == principal.user_id):
        raise PermissionDenied("only the document's owner or a tenant admin may change it")
