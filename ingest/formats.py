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

import io
import re
import unicodedata
import zipfile
from pathlib import PurePosixPath, PureWindowsPath

from core.errors import InvalidInput, UnprocessableDocument, UnsupportedFormat
from core.file_types import FORMAT_MIME_TYPES  # also imported from here by api/
from core.settings import LimitsSettings
from ingest.text_decoding import utf16_without_bom

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

# Reasons in plain words: zipfile's own messages ("Bad magic number for central directory")
# mean nothing to the person who uploaded the file.
_UNSUPPORTED_ZIP = (
    "unsupported zip container: the file needs a zip feature that cannot be read here (a newer "
    "zip version or an unusual compression); save it again with a standard program"
)
_CORRUPT_ZIP_CONTENT = "a corrupt zip archive"
_CORRUPT_ZIP = "corrupt zip container: the file is damaged or incomplete (it may be truncated)"
_OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)
# The sizes a BMP's DIB header may have (BITMAPCOREHEADER … BITMAPV5HEADER): "BM" alone would
# also start a text file ("BMW …").
_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})
_ZIP_MAGIC = b"PK\x03\x04"
# An archive with more members than this is refused before a parser walks it.
MAX_ARCHIVE_MEMBERS = 10_000
_MAX_NAME_BYTES = 200
_UNSAFE_NAME_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"|?*]')
_SURROGATES = re.compile("[\ud800-\udfff]")


def safe_filename(name: str) -> str:
    """The last path component of ``name``, without control characters.

    Directory parts (``/`` or ``\\``, drive letters, ``..``) are dropped, so the result can be
    joined to a folder safely. Raises ``InvalidInput`` when nothing usable remains.
    """
    # A lone surrogate cannot be stored or encoded: dropped like a control character.
    name = unicodedata.normalize("NFC", _SURROGATES.sub("", name or ""))
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


def detect_type(data: bytes, filename: str) -> str:
    """Our format key for ``data`` (see ``FORMAT_MIME_TYPES``), from content and extension.

    Raises ``UnprocessableDocument`` for empty, unsupported, password-protected or mislabelled
    files.
    """
    if not data:
        raise UnprocessableDocument("the file is empty")
    extension = PurePosixPath(filename.lower()).suffix
    content = _sniff(data)
    if content == "encrypted-office":
        raise UnprocessableDocument("the Office file is password-protected; remove the password")
    if extension in _UNSUPPORTED:
        raise UnsupportedFormat(f"unsupported type: {_UNSUPPORTED[extension]}")

    claimed = _EXTENSIONS.get(extension)
    if claimed is None:
        if content in FORMAT_MIME_TYPES:
            return content
        if content == "text":
            return _text_format_from_magic(data)
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
    if content == _CORRUPT_ZIP_CONTENT and claimed in (
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
    if not data.startswith(_ZIP_MAGIC):
        return
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except NotImplementedError as exc:  # e.g. "zip file version 9.9"
        raise UnsupportedFormat(_UNSUPPORTED_ZIP) from exc
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


def _sniff(data: bytes) -> str:
    """What the bytes are: a format key, 'text', 'encrypted-office', or a description.

    Never raises but ``UnsupportedFormat``: hostile bytes make the zip, OLE and libmagic
    readers raise all kinds of errors, and each only means "not a file we can read"."""
    try:
        return _sniff_content(data)
    except UnsupportedFormat:
        raise
    except Exception:
        return "unreadable data"


def _sniff_content(data: bytes) -> str:
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:5] == b"{\\rtf":
        return "rtf"
    for magic_bytes, image_format in _IMAGE_MAGIC:
        if data.startswith(magic_bytes):
            return image_format
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if _is_heif(data):
        return "heic"
    if (
        data[:2] == b"BM"
        and data[6:10] == b"\x00\x00\x00\x00"
        and int.from_bytes(data[14:18], "little") in _BMP_HEADER_SIZES
    ):
        return "bmp"
    if data.startswith(_ZIP_MAGIC):
        return _sniff_zip(data)
    if data.startswith(_OLE_MAGIC):
        return _sniff_ole(data)
    if _looks_like_text(data):
        return "text"
    import magic  # libmagic; imported late so that importing this module stays cheap

    return f"binary data ({magic.from_buffer(data[:65536], mime=True)})"


# An ISO base media file whose ``ftyp`` box names a HEIF image brand (HEVC-coded stills and
# sequences); ``mif1``/``msf1`` alone are also AVIF's, so they count only with ``heic`` listed.
_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx")


def _is_heif(data: bytes) -> bool:
    if data[4:8] != b"ftyp":
        return False
    box = data[8 : min(int.from_bytes(data[:4], "big"), 64)]
    major = box[:4]
    return major in _HEIF_BRANDS or (major in (b"mif1", b"msf1") and b"heic" in box[8:])


def _sniff_zip(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except NotImplementedError as exc:  # e.g. "zip file version 9.9"
        raise UnsupportedFormat(_UNSUPPORTED_ZIP) from exc
    except Exception:  # see _sniff
        return _CORRUPT_ZIP_CONTENT
    if "word/document.xml" in names:
        return "docx"
    if "ppt/presentation.xml" in names:
        return "pptx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "mimetype" in names:
        return _ODF_MIMETYPES.get(archive_mimetype(data), "an OpenDocument file")
    if "content.xml" in names:
        return "an OpenDocument file"
    return "a zip archive"


def _sniff_ole(data: bytes) -> str:
    import olefile

    try:
        with olefile.OleFileIO(data) as ole:
            streams = {"/".join(entry) for entry in ole.listdir(streams=True, storages=True)}
    except Exception:  # see _sniff
        return "a corrupt OLE container"
    if {"EncryptionInfo", "EncryptedPackage"} <= streams:
        return "encrypted-office"
    if any(stream.startswith("__substg1.0_") for stream in streams):
        return "msg"
    if "WordDocument" in streams:
        return "doc"
    if "PowerPoint Document" in streams:
        return "ppt"
    if "Workbook" in streams or "Book" in streams:
        return "xls"
    return "an OLE container"


_ODF_MIMETYPES = {
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.text-template": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/vnd.oasis.opendocument.spreadsheet-template": "ods",
    "application/vnd.oasis.opendocument.presentation": "odp",
    "application/vnd.oasis.opendocument.presentation-template": "odp",
    "application/epub+zip": "epub",
}


def archive_mimetype(data: bytes) -> str:
    """The ``mimetype`` member of an OpenDocument/EPUB zip (its first, stored member)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo("mimetype")
        if info.file_size > 200:
            return ""
        return archive.read(info).decode("ascii", "replace").strip()


def _looks_like_text(data: bytes) -> bool:
    """Decodable text: a Unicode BOM, valid UTF-8, or a legacy 8-bit encoding without NULs."""
    head = data[:65536]
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return True
    if b"\x00" in head:
        encoding = utf16_without_bom(head)
        if encoding is None:
            return False
        try:
            head[: len(head) // 2 * 2].decode(encoding)
        except UnicodeDecodeError:
            return False
        return True
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still UTF-8.
        if exc.start >= len(head) - 3 and len(data) > len(head):
            return True
    # Legacy encodings (cp1252, GBK): accept when control characters are rare.
    controls = sum(1 for byte in head if byte < 32 and byte not in b"\t\n\r\f\x1b")
    return controls < len(head) * 0.01


def _text_format_from_magic(data: bytes) -> str:
    import magic

    try:
        mime = magic.from_buffer(data[:65536], mime=True)
    except Exception:  # libmagic gave up on it: plain text is the safe reading
        return "txt"
    return {"text/html": "html", "message/rfc822": "eml", "text/csv": "csv"}.get(mime, "txt")


def _describe(content: str) -> str:
    return _CONTENT_NAMES.get(content, "text" if content == "text" else content)
