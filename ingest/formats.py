"""Checks on an upload before any parser sees it: its name, its real type, zip bombs.

``detect_type`` trusts the bytes, not the name: it sniffs the content (magic numbers, zip and
OLE directories, libmagic) and compares it with the extension. A mismatch that would send the
file to the wrong parser is refused (a ``.pdf`` that is not a PDF); a harmless one is not (a
``.md`` file that libmagic calls HTML is still text). Office files are zips, so their members'
declared sizes are checked against ``LimitsSettings`` before a parser inflates them; Python's
``zipfile`` never inflates a member past its declared size, so the declared sizes bound the
work.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath, PureWindowsPath

from core.errors import InvalidInput, UnprocessableDocument, UnsupportedFormat
from core.file_types import FORMAT_MIME_TYPES  # also imported from here by api/
from core.settings import LimitsSettings
from ingest.content_sniffing import (
    CORRUPT_ZIP_CONTENT,
    ZIP_MAGIC,
    sniff,
    text_format_from_magic,
    zip_members,
)

TEXT_FORMATS = frozenset({"html", "md", "txt", "eml", "csv", "tsv"})

_EXTENSIONS = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".pptx": "pptx",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".md": "md",
    ".markdown": "md",
    ".txt": "txt",
    ".text": "txt",
    ".eml": "eml",
    ".msg": "msg",
    ".csv": "csv",
    ".tsv": "tsv",
    # Converted first (ingest.office_convert): Office 97-2003, WPS Office, RTF, OpenDocument.
    ".doc": "doc",
    ".dot": "doc",
    ".wps": "wps",
    ".wpt": "wps",
    ".rtf": "rtf",
    ".odt": "odt",
    ".ott": "odt",
    ".xls": "xls",
    ".xlt": "xls",
    ".et": "et",
    ".ett": "et",
    ".ods": "ods",
    ".ots": "ods",
    ".ppt": "ppt",
    ".pps": "ppt",
    ".pot": "ppt",
    ".dps": "dps",
    ".dpt": "dps",
    ".odp": "odp",
    ".otp": "odp",
    ".epub": "epub",
    # OCR'd (ingest.images): scans and photos, one page per frame.
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".jpe": "jpeg",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".bmp": "bmp",
    ".webp": "webp",
    ".heic": "heic",
    ".heif": "heic",
    ".hif": "heic",
}
# Known but refused, with the advice a user needs.
_UNSUPPORTED = {
    ".zip": "the .zip file is not a readable zip archive (damaged or incomplete)",
}
_CONTENT_NAMES = {
    "pdf": "a PDF",
    "docx": "a DOCX file",
    "pptx": "a PPTX file",
    "xlsx": "an XLSX file",
    "msg": "an Outlook MSG file",
    "doc": "a Word 97-2003 .doc file",
    "wps": "a WPS Writer file",
    "rtf": "an RTF file",
    "odt": "an OpenDocument text file",
    "xls": "an Excel 97-2003 .xls file",
    "et": "a WPS Spreadsheets file",
    "ods": "an OpenDocument spreadsheet",
    "ppt": "a PowerPoint 97-2003 .ppt file",
    "dps": "a WPS Presentation file",
    "odp": "an OpenDocument presentation",
    "epub": "an EPUB book",
    "png": "a PNG image",
    "jpeg": "a JPEG image",
    "tiff": "a TIFF image",
    "bmp": "a BMP image",
    "webp": "a WebP image",
    "heic": "a HEIC/HEIF photo",
}
# What a claimed (extension's) format may really contain and still be read, as what it is:
# WPS Office writes the Office 97-2003 containers under its own extensions, Word saves RTF
# under .doc, and "Excel exports" are often OOXML or RTF under the old extension.
_ALSO_READ_AS = {
    "doc": {"rtf", "docx", "odt"},
    "wps": {"doc", "rtf", "docx"},
    "rtf": {"doc", "docx"},
    "xls": {"xlsx", "ods"},
    "et": {"xls", "xlsx"},
    "ppt": {"pptx", "odp"},
    "dps": {"ppt", "pptx"},
}

_CORRUPT_ZIP = "corrupt zip container: the file is damaged or incomplete (it may be truncated)"
# An archive with more members than this is refused before a parser walks it.
MAX_ARCHIVE_MEMBERS = 10_000
_MAX_NAME_BYTES = 200
_UNSAFE_NAME_CHARS = re.compile(r'[<>:"|?*]')
# Kept of the format characters: the joiners that emoji sequences and some scripts are made of.
_JOINERS = frozenset("\u200c\u200d")


def visible_text(text: str) -> str:
    """``text`` without the characters a name shows wrongly or not at all: controls, lone
    surrogates (which cannot be stored or encoded) and format characters such as the bidi
    overrides that make ``\u202eexe.txt`` read as ``txt.exe`` and zero-width spaces that make
    two names look the same; NFC-normalised, so that one name is stored one way."""
    kept = "".join(
        ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Cs") or ch in _JOINERS
    )
    return unicodedata.normalize("NFC", kept)


def safe_filename(name: str) -> str:
    """The last path component of ``name``, without control or format characters.

    Directory parts (``/`` or ``\\``, drive letters, ``..``) are dropped, so the result can be
    joined to a folder safely. Raises ``InvalidInput`` when nothing usable remains.
    """
    name = visible_text(name or "")
    if name.rstrip().endswith(("/", "\\")):
        raise InvalidInput(f"a folder, not a file name: {name!r}")
    base = PureWindowsPath(PurePosixPath(name.replace("\\", "/")).name).name
    base = _UNSAFE_NAME_CHARS.sub("", base).strip().strip(".")
    if not base:
        raise InvalidInput(f"unusable file name: {name!r}")
    encoded = base.encode("utf-8")
    if len(encoded) > _MAX_NAME_BYTES:
        stem, dot, ext = base.rpartition(".")
        keep = ("." + ext) if dot and len(ext) <= 10 else ""
        budget = _MAX_NAME_BYTES - len(keep.encode("utf-8"))
        base = (stem if keep else base).encode("utf-8")[:budget].decode("utf-8", "ignore") + keep
    return base


def claimed_format(filename: str) -> str | None:
    """The document format a file's extension names (``docx`` for ``报告.docx``), or None:
    no extension, an archive's, or one we do not read."""
    return _EXTENSIONS.get(PurePosixPath(filename.lower()).suffix)


def detect_type(data: bytes, filename: str) -> str:
    """Our format key for ``data`` (see ``FORMAT_MIME_TYPES``), from content and extension.

    Raises ``UnprocessableDocument`` for empty, unsupported, password-protected or mislabelled
    files.
    """
    if not data:
        raise UnprocessableDocument("the file is empty")
    extension = PurePosixPath(filename.lower()).suffix
    content = sniff(data)
    if content == "encrypted-office":
        if extension == ".epub":
            raise UnprocessableDocument(
                "the EPUB book is DRM-protected (its text is encrypted); upload a copy without DRM"
            )
        raise UnprocessableDocument("the Office file is password-protected; remove the password")
    if extension in _UNSUPPORTED:
        raise UnsupportedFormat(f"unsupported type: {_UNSUPPORTED[extension]}")

    claimed = _EXTENSIONS.get(extension)
    if claimed is None:
        if content in FORMAT_MIME_TYPES:
            return content
        if content == "text":
            return text_format_from_magic(data)
        raise UnsupportedFormat(
            f"unsupported type: {extension or 'no extension'} ({_describe(content)})"
        )
    if claimed in TEXT_FORMATS:
        if content != "text":
            raise UnprocessableDocument(
                f"not a text file: {extension} but the content is {_describe(content)}"
            )
        return claimed
    if content != claimed and content in _ALSO_READ_AS.get(claimed, ()):
        # The same family under another extension: read it as what it really is, except
        # WPS's own extensions, which keep their name (the same converter reads both).
        return claimed if claimed in ("wps", "et", "dps") else content
    if content == CORRUPT_ZIP_CONTENT and claimed in (
        "docx",
        "pptx",
        "xlsx",
        "odt",
        "ods",
        "odp",
        "epub",
    ):
        raise UnprocessableDocument(
            f"corrupt {claimed.upper()} file: the file is damaged or incomplete (it may have "
            "been truncated)"
        )
    if content != claimed:
        raise UnprocessableDocument(
            f"not {_CONTENT_NAMES[claimed]}: the content is {_describe(content)}"
        )
    return claimed


def check_archive_safety(data: bytes, limits: LimitsSettings) -> None:
    """Refuse zip bombs: too many members, too many bytes unpacked, or too high a ratio.

    Does nothing for data that is not a zip archive.
    """
    if not data.startswith(ZIP_MAGIC):
        return
    try:
        members = zip_members(data)
    except UnsupportedFormat:
        raise
    # zipfile raises more than BadZipFile on hostile bytes (struct.error, EOFError,
    # OverflowError, UnicodeDecodeError…): whatever it raises, the file is corrupt.
    except Exception as exc:
        raise UnprocessableDocument(_CORRUPT_ZIP) from exc
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise UnprocessableDocument(
            f"the archive holds {len(members)} members (limit {MAX_ARCHIVE_MEMBERS})"
        )
    unpacked = sum(member.file_size for member in members)
    if unpacked > limits.max_unpacked_bytes:
        raise UnprocessableDocument(
            f"the file unpacks to {unpacked:,} bytes (limit {limits.max_unpacked_bytes:,}): "
            "refused as a possible zip bomb"
        )
    ratio = unpacked / len(data)
    if ratio > limits.max_unpacked_ratio:
        raise UnprocessableDocument(
            f"the file unpacks to {ratio:.0f} times its size (limit "
            f"{limits.max_unpacked_ratio:.0f}): refused as a possible zip bomb"
        )


def _describe(content: str) -> str:
    return _CONTENT_NAMES.get(content, "text" if content == "text" else content)
