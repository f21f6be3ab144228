"""Documents: the service, and a document's lifecycle: new version, retry, change access,
delete. Reading is ``services.document_reads``, uploading ``services.uploads``.

Each write to the vector store happens inside the database transaction that records it, so a
store failure rolls the row back and the two never disagree for long. An access change also
re-applies the committed list after its commit, so a worker that wrote chunks with an older
list meanwhile cannot win (``core.db.access`` states the invariant). Every change is recorded
as an audit event in its own transaction; an admin acting on a document they do not own is
marked ``override``. The owner always reads and manages its document, whatever its list.
"""

from __future__ import annotations

import hashlib
import json
import logging
import unicodedata
from dataclasses import dataclass

from core.access import Principal
from core.blobs import BlobStore, about_key, document_prefix, version_prefix
from core.db import access as access_queries
from core.db import documents as doc_queries
from core.db.models import Document, DocumentStatus
from core.db.session import SessionFactory, transaction
from core.dispatch import Dispatcher, QueuedDocument
from core.errors import Conflict, UnsupportedFormat, ZhikuError
from core.resources import Resource
from core.settings import LimitsSettings
from index.store import VectorStore
from ingest.archives import is_archive
from ingest.formats import FORMAT_MIME_TYPES, check_archive_safety, detect_type, safe_filename
from services.document_reads import DocumentReads
from services.document_records import (
    lock_and_read,
    public_many,
    record_change,
    require_manager,
    to_public,
)
from services.schemas.documents import AccessSpec, DocumentPublic
from services.uploads import DocumentUploads, IncomingFile, UploadRejected

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccessChange:
    """A committed access change; ``in_force``: the store (so search) applies it already."""

    document: DocumentPublic
    in_force: bool


class DocumentService(DocumentReads, DocumentUploads):
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

    def check_name(self, name: str) -> str:
        """The name an uploaded file (an archive too) is stored and shown under, or
        UploadRejected."""
        if not name.strip():
            raise UploadRejected(400, "the file has no name")
        if "/" in name or "\\" in name:
            raise UploadRejected(400, f"file name {name!r} must not contain path separators")
        # Refused rather than dropped (as the invisible format characters are): a name that
        # holds a NUL or a line break was made by a program, not typed, and the sender should
        # learn what is wrong with it rather than find a file under another name.
        if any(unicodedata.category(ch) == "Cc" for ch in name):
            raise UploadRejected(
                400, f"file name {name!r} must not contain control characters (NUL, line breaks)"
            )
        if name.strip() in (".", ".."):
            raise UploadRejected(400, f"unusable file name: {name!r}")
        try:
            return safe_filename(name)
        except ZhikuError as exc:
            raise UploadRejected(400, str(exc)) from exc

    def check_file(self, incoming: IncomingFile) -> tuple[str, str]:
        """Validate one file; returns (clean filename, MIME type) or raises UploadRejected."""
        clean = self.check_name(incoming.filename or "")
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

    # --- the lifecycle

    def new_version(
        self, principal: Principal, doc_id: str, incoming: IncomingFile
    ) -> DocumentPublic:
        """Replace a document's content. The previous version stays searchable until the new
        one is ready (its chunks are removed then), so a re-upload never leaves a gap."""
        # An upload unpacks an archive into documents; a version is one document. Without
        # this, a sound zip was refused as "not a readable zip archive (damaged or incomplete)".
        if is_archive(incoming.data, incoming.filename or ""):
            raise UploadRejected(
                415,
                "a new version must be one document, not an archive or a mailbox: upload the"
                " files inside it as documents of their own",
            )
        clean, mime = self.check_file(incoming)
        with transaction(self._sessions) as session:
            doc = lock_and_read(session, principal, doc_id)
            require_manager(principal, doc)
            replaced, served = doc.version, doc.status == DocumentStatus.READY
            if served:
                self._describe_replaced(doc)
            else:
                # Never ready (failed, or still being ingested), it was never served and never
                # will be: what its runs wrote goes now. Left there, a failed version's
                # vectors were served beside the ready one once it was no longer the current
                # version (core.db.served admits every earlier one), and its chunk pages stood
                # in for the ready version's (SourceService._in_previous).
                self._store.get().delete_version(doc.tenant_id, doc.id, replaced)
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
            record_change(session, principal, doc, "document.version")
            public = to_public(doc)
        if not served:
            self._blobs.delete_prefix(version_prefix(principal.tenant_id, doc_id, replaced))
        self._hand_over(
            [QueuedDocument(public.id, public.version, principal.tenant_id, public.size_bytes)]
        )
        return public

    def _describe_replaced(self, doc: Document) -> None:
        """Keep the name and type of the version being replaced: its passages (and so its
        original file) are still cited until the new one is ready (``SourceService``)."""
        about = {"filename": doc.filename, "mime_type": doc.mime_type}
        self._blobs.put(
            about_key(doc.tenant_id, doc.id, doc.version), json.dumps(about).encode("utf-8")
        )

    def retry(self, principal: Principal, doc_id: str) -> DocumentPublic:
        """Process a failed document again from its stored file (owner or admin); Conflict
        when it has not failed."""
        with transaction(self._sessions) as session:
            doc = lock_and_read(session, principal, doc_id)
            require_manager(principal, doc)
            if doc.status != DocumentStatus.FAILED:
                raise Conflict(f"only a failed document can be retried; this one is {doc.status}")
            reason = doc.error
            doc_queries.requeue_failed(session, doc)
            record_change(session, principal, doc, "document.retry", reason=reason)
            public = public_many(session, principal, [doc])[0]
        self._hand_over(
            [QueuedDocument(public.id, public.version, principal.tenant_id, public.size_bytes)]
        )
        return public

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
            doc = lock_and_read(session, principal, doc_id)
            require_manager(principal, doc)
            before = doc.access
            doc_queries.set_access(session, doc, tokens)
            record_change(
                session, principal, doc, "document.access", before=before, after=doc.access
            )
            public = public_many(session, principal, [doc])[0]
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
            doc = lock_and_read(session, principal, doc_id)
            require_manager(principal, doc)
            tenant_id = doc.tenant_id
            record_change(session, principal, doc, "document.delete")
            doc_queries.delete_document(session, doc)
            self._store.get().delete_document(tenant_id, doc_id)
        # A parse still running writes its chunk list before it finds its claim gone, and
        # then removes the prefix itself (workers.runs): nothing is left behind either way.
        self._blobs.delete_prefix(document_prefix(tenant_id, doc_id))
