"""The sources behind an answer: a cited passage in its surroundings, and the original file.

Every read is filtered like a search: a document the caller may not read is not found, exactly
as one that does not exist; an admin, who sees every document's metadata, reads its text only
where its access list names them (403 saying so; ``core.db.access.text_readable_document``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath

from core.access import Principal
from core.blobs import BlobStore, about_key, original_key
from core.chunk_pages import kept_count, read_chunks
from core.db import access as access_queries
from core.db import events as event_queries
from core.db.models import DocumentStatus
from core.db.session import SessionFactory, transaction
from core.errors import NotFound, ZhikuError
from core.file_types import FORMAT_MIME_TYPES
from index.types import chunk_id
from ingest.formats import detect_type
from services.pii import PiiPolicy
from services.schemas.chat import MAX_SURROUNDING_CHARS, PassagePublic


@dataclass(frozen=True)
class OriginalFile:
    data: bytes
    filename: str
    mime_type: str


class SourceService:
    def __init__(
        self, sessions: SessionFactory, blobs: BlobStore, pii: PiiPolicy | None = None
    ) -> None:
        self._sessions = sessions
        self._blobs = blobs
        self._pii = pii  # personal data masked in a passage, where the tenant chose so

    def passage(self, principal: Principal, doc_id: str, wanted: str) -> PassagePublic:
        """The chunk ``wanted`` of the version search answers with (the current one; while a
        new version is ingested, or after it failed, the one before it), with the end of the
        chunk before it and the start of the one after. NotFound for a document the caller may
        not read, and for a chunk no such version holds (replaced by a newer ready version)."""
        with transaction(self._sessions) as session:
            doc = access_queries.text_readable_document(session, principal, doc_id)
            tenant_id, version = doc.tenant_id, doc.version
            current = version
            title, filename, mime_type = doc.title, doc.filename, doc.mime_type
            total = doc.chunks_total
            ready = doc.status == DocumentStatus.READY
        file_url: str | None = f"/v1/documents/{doc_id}/file"
        position = _position(tenant_id, doc_id, version, total, wanted)
        if position is None and not ready:
            version, position = self._in_previous(tenant_id, doc_id, version, wanted)
        if position is None:
            raise NotFound("passage not found")
        start = max(0, position - 1)
        try:
            chunks = read_chunks(self._blobs, tenant_id, doc_id, version, start, position + 2)
        except NotFound as exc:  # not parsed yet, or its chunks are gone
            raise NotFound("passage not found") from exc
        by_position = {int(c["position"]): c for c in chunks}
        if position not in by_position:
            raise NotFound("passage not found")
        chunk = by_position[position]
        before = by_position.get(position - 1)
        after = by_position.get(position + 1)
        mask = self._pii.served(tenant_id) if self._pii else None
        if mask is not None:
            chunk, before, after = (
                {**c, "text": mask.redact(c["text"])} if c else c for c in (chunk, before, after)
            )
        if version != current:
            filename, mime_type, file_url = self._replaced_file(tenant_id, doc_id, version)
        return PassagePublic(
            document_id=doc_id,
            version=version,
            title=title,
            filename=filename,
            mime_type=mime_type,
            chunk_id=wanted,
            position=position,
            page=chunk.get("page"),
            page_end=chunk.get("page_end"),
            section=list(chunk.get("section_path") or []),
            text=chunk["text"],
            before=_tail(before["text"]) if before else "",
            after=_head(after["text"]) if after else "",
            file_url=file_url,
        )

    def _in_previous(
        self, tenant_id: str, doc_id: str, current: int, wanted: str
    ) -> tuple[int, int | None]:
        """(version, position) of ``wanted`` in the earlier version that holds it, while its
        chunks are kept: search and answers cite the last ready version until the current one
        is ready (core.db.served), and its chunks are removed only then, so its citations must
        open meanwhile too. A chunk id names its version, so the version is the one whose ids
        match: not merely the newest with kept chunks, which after two failed re-uploads could
        be a failed version that kept the chunks of its parse."""
        for older in range(current - 1, 0, -1):
            kept = kept_count(self._blobs, tenant_id, doc_id, older)
            position = _position(tenant_id, doc_id, older, kept, wanted) if kept else None
            if position is not None:
                return older, position
        return current, None

    def _replaced_file(
        self, tenant_id: str, doc_id: str, version: int
    ) -> tuple[str | None, str, str | None]:
        """(filename, mime type, file URL) of an earlier version a passage is read from: its
        own original, never the current version's (after a failed re-upload that was another
        file); no URL when its bytes are no longer kept."""
        filename, mime_type = self._about(tenant_id, doc_id, version)
        if not self._blobs.exists(original_key(tenant_id, doc_id, version)):
            return filename, mime_type, None
        return filename, mime_type, f"/v1/documents/{doc_id}/file?version={version}"

    def _about(self, tenant_id: str, doc_id: str, version: int) -> tuple[str | None, str]:
        """(file name, MIME type) of a replaced version: as kept beside its bytes when it was
        replaced, or else recovered (``_recover_about``); the name None where nothing
        recorded it."""
        try:
            about = json.loads(self._blobs.get(about_key(tenant_id, doc_id, version)))
        except NotFound:
            return self._recover_about(tenant_id, doc_id, version)
        name = about.get("filename")
        return (str(name) if name is not None else None), str(about["mime_type"])

    def _recover_about(self, tenant_id: str, doc_id: str, version: int) -> tuple[str | None, str]:
        """A version replaced before about.json was written: its name from the audit trail
        (every upload and new version records it), its type from its own bytes. Kept as its
        about.json once recovered (a lazy backfill: the blobs are out of a database migration's
        reach, and only versions still cited, a handful, ever need it), so neither the audit
        trail nor the bytes are read again. No name is made up where none was recorded: it is
        kept as null, the passage says None, and the download is labelled with the title and
        the version (``original``)."""
        with transaction(self._sessions) as session:
            name = event_queries.recorded_filename(session, tenant_id, doc_id, version)
        mime = self._sniffed_type(tenant_id, doc_id, version, name)
        about = json.dumps({"filename": name, "mime_type": mime}).encode("utf-8")
        self._blobs.put(about_key(tenant_id, doc_id, version), about)
        return name, mime

    def _sniffed_type(self, tenant_id: str, doc_id: str, version: int, name: str | None) -> str:
        """The MIME type an upload of these bytes under ``name`` is given (as
        ``DocumentService.check_file`` does); by the name's extension when the bytes are gone
        or unreadable."""
        extension = PurePosixPath((name or "").lower()).suffix.lstrip(".")
        try:
            data = self._blobs.get(original_key(tenant_id, doc_id, version))
            return FORMAT_MIME_TYPES[detect_type(data, name or "")]
        except (NotFound, ZhikuError):
            return FORMAT_MIME_TYPES.get(extension, "application/octet-stream")

    def original(
        self, principal: Principal, doc_id: str, version: int | None = None
    ) -> OriginalFile:
        """The uploaded bytes of the document's current version, or of an earlier ``version``
        whose passages are still cited (kept until a newer version is ready). The same access
        check either way; NotFound saying so when that version's file is no longer kept."""
        with transaction(self._sessions) as session:
            doc = access_queries.text_readable_document(session, principal, doc_id)
            key, filename, mime_type = doc.blob_key, doc.filename, doc.mime_type
            title = doc.title
            tenant_id, current = doc.tenant_id, doc.version
        if version is not None and version != current:
            if version > current or not self._blobs.exists(
                original_key(tenant_id, doc_id, version)
            ):
                raise NotFound("this version's original file is no longer kept")
            key = original_key(tenant_id, doc_id, version)
            known, mime_type = self._about(tenant_id, doc_id, version)
            filename = known or _labelled(title, version, mime_type)
        try:
            data = self._blobs.get(key)
        except NotFound as exc:
            raise NotFound("document not found") from exc
        return OriginalFile(data, filename, mime_type)


def _position(tenant_id: str, doc_id: str, version: int, total: int, wanted: str) -> int | None:
    """Where the chunk ``wanted`` is in a version of ``total`` chunks: chunk ids are derived
    from positions, so the position is found without reading a page."""
    return next(
        (p for p in range(total) if chunk_id(tenant_id, doc_id, version, p) == wanted), None
    )


def _labelled(title: str, version: int, mime_type: str) -> str:
    """A download name for a version whose own name was never recorded: the document's title
    and the version, with the extension of its type; plainly a label, not a file name."""
    extension = next(
        (f".{key}" for key, mime in FORMAT_MIME_TYPES.items() if mime == mime_type), ""
    )
    return f"{title} (v{version}){extension}"


def _tail(text: str) -> str:
    return text if len(text) <= MAX_SURROUNDING_CHARS else "…" + text[-MAX_SURROUNDING_CHARS:]


def _head(text: str) -> str:
    return text if len(text) <= MAX_SURROUNDING_CHARS else text[:MAX_SURROUNDING_CHARS] + "…"
