"""The files attached to an e-mail (EML or Outlook MSG), to be parsed as part of it.

Each attachment goes through the same checks and parser as an upload (type sniffing, zip-bomb
limits, the converter for legacy files), and its elements are appended to the message's under
a section naming it ("附件 Attachment: 报价单.xlsx"), so every chunk says where it came from.
Attachments are not unpacked further (an attachment of an attached e-mail is left alone), and
what cannot be read is recorded in the parse facts instead of failing the message. A forwarded
message and each message of a MIME digest are attachments too, read as EML files.
"""

from __future__ import annotations

import contextlib
import email
import email.message
import email.policy
import re
from dataclasses import dataclass

ATTACHMENT_SECTION = "附件 Attachment: {name}"
EMBEDDED_SECTION = "嵌入 Embedded: {name}"
PICTURE_SECTION = "图片 Picture: {name}"
_MEDIA_FOLDERS = ("word/media/", "xl/media/", "ppt/media/")
_PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
# Pictures smaller than this are icons and bullets, not pages.
_MIN_PICTURE_BYTES = 2_000
# Where Office files keep the documents embedded in them (a worksheet in a report, a deck in a
# workbook); OLE packages (``oleObject1.bin``) wrap other programs' data and are left alone.
_EMBEDDING_FOLDERS = ("word/embeddings/", "xl/embeddings/", "ppt/embeddings/")
MAX_ATTACHMENTS = 50
# Signatures, keys and encrypted payloads travel as attachments: nothing to read in them.
_CRYPTO_SUFFIXES = (".p7m", ".p7s", ".p7c", ".pgp-encrypted", ".asc", ".sig", ".gpg", ".pgp")


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes


def email_attachments(data: bytes, file_format: str) -> list[Attachment]:
    """The message's attached files (inline images and signatures included only when they
    have a file name), at most ``MAX_ATTACHMENTS``."""
    found = _eml(data) if file_format == "eml" else _msg(data)
    readable = [
        a
        for a in found
        if a.data
        and not a.filename.lower().endswith(_CRYPTO_SUFFIXES)
        and not a.data.lstrip()[:30].startswith(b"-----BEGIN PGP")
    ]
    return readable[:MAX_ATTACHMENTS]


def _eml(data: bytes) -> list[Attachment]:
    message = email.message_from_bytes(data, policy=email.policy.default)
    out: list[Attachment] = []
    for part in message.walk():
        if part is not message and part.get_content_type() == "message/rfc822":
            # A forwarded message, or one of a MIME digest's (multipart/digest): read as an
            # EML of its own; the files attached to it are still found by this walk.
            inner = part.get_payload()
            if isinstance(inner, list) and inner:
                with contextlib.suppress(Exception):  # one that cannot be written back is skipped
                    name = _message_filename(inner[0], part, len(out))
                    out.append(Attachment(name, inner[0].as_bytes()))
            continue
        if part.is_multipart():
            continue
        filename = part.get_filename()
        if not filename or part.get_content_disposition() not in ("attachment", "inline"):
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            out.append(Attachment(str(filename), payload))
    return out


def _message_filename(inner: email.message.Message, part: email.message.Message, index: int) -> str:
    named = part.get_filename()
    if named:
        return str(named) if str(named).lower().endswith(".eml") else f"{named}.eml"
    subject = re.sub(r'[\x00-\x1f\x7f<>:"/\\|?*]+', " ", str(inner.get("subject", "") or ""))
    return f"{subject.strip(' .')[:60].strip() or f'message {index + 1}'}.eml"


def _msg(data: bytes) -> list[Attachment]:
    import io

    from oxmsg import Message

    message = Message.load(io.BytesIO(data))
    out: list[Attachment] = []
    for attachment in message.attachments:
        name = attachment.file_name
        payload = attachment.file_bytes
        if name and payload:
            out.append(Attachment(name, payload))
    return out


def office_embeddings(data: bytes) -> list[Attachment]:
    """Documents embedded in a DOCX, XLSX or PPTX (stored whole in its embeddings folder)."""
    import io
    import zipfile

    out: list[Attachment] = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            name = info.filename
            if not name.startswith(_EMBEDDING_FOLDERS) or name.lower().endswith(".bin"):
                continue
            out.append(Attachment(name.rsplit("/", 1)[-1], archive.read(info)))
            if len(out) >= MAX_ATTACHMENTS:
                break
    return out


def office_pictures(data: bytes, limit: int = 20) -> list[Attachment]:
    """The pictures of a DOCX, XLSX or PPTX (largest first, at most ``limit``): read by OCR
    when the file has next to no text of its own (a scan pasted into Word, a deck of
    screenshots)."""
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        found = [
            info
            for info in archive.infolist()
            if info.filename.startswith(_MEDIA_FOLDERS)
            and info.filename.lower().endswith(_PICTURE_SUFFIXES)
            and info.file_size >= _MIN_PICTURE_BYTES
        ]
        found.sort(key=lambda info: -info.file_size)
        return [
            Attachment(info.filename.rsplit("/", 1)[-1], archive.read(info))
            for info in found[:limit]
        ]
