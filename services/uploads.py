"""Uploads: checking the access list and tags, unpacking archives, storing the originals and
handing the committed documents to the job queue."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath

from core.access import Principal, user_token
from core.blobs import BlobStore, original_key
from core.db import directory as directory_queries
from core.db.document_inserts import insert_documents, new_document
from core.db.models import Document, new_id
from core.db.session import SessionFactory, transaction
from core.dispatch import Dispatcher, QueuedDocument
from core.errors import Component, InvalidInput, UpstreamUnavailable, ZhikuError
from core.settings import LimitsSettings
from core.text_forms import stored_tags
from ingest.archives import is_archive, unpack
from ingest.formats import visible_text
from services.document_records import to_public
from services.schemas.documents import AccessSpec, DocumentPublic, UploadError, UploadResult

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


# A title made from an archive member's path stays readable in a list.
_MAX_TITLE_CHARS = 300


def split_tags(text: str) -> list[str]:
    """The tags of the upload's one text field, in any of the commas people type (split on
    the ASCII comma alone, "公开，内部、机密" was one tag), in their stored form
    (``core.text_forms.stored_tags``: full-width forms folded, each kept once)."""
    return clean_tags([text])


def clean_tags(tags: list[str]) -> list[str]:
    """The tags as stored (``stored_tags``), within the limits."""
    cleaned = stored_tags(tags)
    if len(cleaned) > MAX_TAGS or any(len(t) > MAX_TAG_CHARS for t in cleaned):
        raise InvalidInput(f"at most {MAX_TAGS} tags of at most {MAX_TAG_CHARS} characters")
    return cleaned


class DocumentUploads:
    """The uploading half of ``services.documents.DocumentService``, which sets the attributes
    below and checks each file (``check_file`` stays there: the reasons test names it)."""

    _sessions: SessionFactory
    _blobs: BlobStore
    _dispatcher: Dispatcher
    limits: LimitsSettings
    check_file: Callable[[IncomingFile], tuple[str, str]]
    check_name: Callable[[str], str]

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
            docs = []
            for incoming, clean, mime, title in checked:
                doc_id = new_id()
                doc = new_document(
                    access,
                    id=doc_id,
                    tenant_id=principal.tenant_id,
                    owner_id=principal.user_id,
                    title=title or PurePath(clean).stem.strip() or clean,
                    filename=clean,
                    mime_type=mime,
                    size_bytes=len(incoming.data),
                    content_hash=hashlib.sha256(incoming.data).hexdigest(),
                    tags=tags,
                    # A key we choose, never the uploader's name.
                    blob_key=original_key(principal.tenant_id, doc_id, 1),
                )
                docs.append(doc)
            # Each original is kept before the transaction that records it commits: a failed
            # write leaves no row behind (at worst a file without a row, which the orphan
            # clean-up removes).
            for doc, (incoming, *_) in zip(docs, checked, strict=True):
                self._blobs.put(doc.blob_key, incoming.data)
            with transaction(self._sessions) as session:
                insert_documents(session, docs, principal.user_id, principal.is_admin)
            accepted = [to_public(doc) for doc in docs]
        # One hand-over for the request: with a broker, a few messages in all.
        queued = [
            QueuedDocument(d.id, d.version, principal.tenant_id, d.size_bytes) for d in accepted
        ]
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
                # The archive's name titles its members: checked as any file's name is.
                shown = self.check_name(name)
                unpacked = unpack(incoming.data, shown, self.limits)
            except UploadRejected as exc:
                errors.append(
                    UploadError(filename=name, status_code=exc.status_code, detail=str(exc))
                )
                continue
            except ZhikuError as exc:
                errors.append(UploadError(filename=name, status_code=400, detail=str(exc)))
                continue
            if not unpacked.members and not unpacked.refused:
                errors.append(
                    UploadError(filename=name, status_code=400, detail="the archive is empty")
                )
            for member in unpacked.members:
                inside = visible_text(str(PurePath(member.path).with_suffix("")))
                title = f"{shown}/{inside}"[:_MAX_TITLE_CHARS]
                try:
                    filename = member.filename
                except ZhikuError as exc:
                    errors.append(
                        UploadError(
                            filename=f"{shown}/{member.path}", status_code=400, detail=str(exc)
                        )
                    )
                    continue
                out.append((IncomingFile(filename, member.data), title, f"{shown}/{member.path}"))
            errors.extend(
                UploadError(filename=f"{shown}/{path}", status_code=422, detail=reason)
                for path, reason in unpacked.refused
            )
        return out

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
        """Store a new version's bytes under a key we choose (never the uploader's name),
        inside the transaction that records them: a failed write leaves no row behind."""
        doc.blob_key = original_key(doc.tenant_id, doc.id, doc.version)
        self._blobs.put(doc.blob_key, incoming.data)
