"""What an upload's bytes really are, whatever its name says: magic numbers, zip and OLE
directories, a text check, libmagic. :func:`ingest.formats.detect_type` compares the answer
with the extension."""

from __future__ import annotations

import io
import re
import zipfile

from core.errors import UnsupportedFormat
from ingest.text_decoding import utf16_chinese_without_bom, utf16_without_bom

# Reasons in plain words: zipfile's own messages ("Bad magic number for central directory")
# mean nothing to the person who uploaded the file.
_UNSUPPORTED_ZIP = (
    "unsupported zip container: the file needs a zip feature that cannot be read here (a newer "
    "zip version or an unusual compression); save it again with a standard program"
)
CORRUPT_ZIP_CONTENT = "a corrupt zip archive"
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
ZIP_MAGIC = b"PK\x03\x04"


def sniff(data: bytes) -> str:
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
    if data.startswith(ZIP_MAGIC):
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


def zip_members(data: bytes) -> list[zipfile.ZipInfo]:
    """The zip's directory. ``UnsupportedFormat`` for a zip feature zipfile lacks; anything
    else it raises (hostile bytes raise all kinds) means a corrupt archive."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.infolist()
    except NotImplementedError as exc:  # e.g. "zip file version 9.9"
        raise UnsupportedFormat(_UNSUPPORTED_ZIP) from exc


def _sniff_zip(data: bytes) -> str:
    try:
        names = {member.filename for member in zip_members(data)}
    except UnsupportedFormat:
        raise
    except Exception:  # see sniff
        return CORRUPT_ZIP_CONTENT
    if "word/document.xml" in names:
        return "docx"
    if "ppt/presentation.xml" in names:
        return "pptx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "mimetype" in names:
        if _encrypted_package(data, names):
            return "encrypted-office"
        return _ODF_MIMETYPES.get(archive_mimetype(data), "an OpenDocument file")
    if "content.xml" in names:
        return "an OpenDocument file"
    return "a zip archive"


# A password-protected OpenDocument file lists how each encrypted member was encrypted in its
# manifest; a DRM-protected EPUB lists its encrypted chapters in META-INF/encryption.xml (which
# also lists fonts obfuscated under the IDPF/Adobe schemes: those alone are no protection).
_ODF_ENCRYPTED = re.compile(rb"<(?:\w+:)?encryption-data\b")
_EPUB_ENCRYPTED_TEXT = re.compile(rb'URI="[^"]+\.(?:x?html?|xml|opf|ncx)"', re.I)
_MAX_MANIFEST_BYTES = 4 * 1024 * 1024


def _encrypted_package(data: bytes, names: set[str]) -> bool:
    """An OpenDocument file with a password, or an EPUB whose text is encrypted (DRM)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name, encrypted in (
            ("META-INF/manifest.xml", _ODF_ENCRYPTED),
            ("META-INF/encryption.xml", _EPUB_ENCRYPTED_TEXT),
        ):
            if (
                name in names
                and archive.getinfo(name).file_size <= _MAX_MANIFEST_BYTES
                and encrypted.search(archive.read(name))
            ):
                return True
    return False


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
    """Decodable text: a Unicode BOM, valid UTF-8, UTF-16 without a BOM, or a legacy 8-bit
    encoding without NULs."""
    head = data[:65536]
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return True
    if b"\x00" in head:
        encoding = utf16_without_bom(head)
        if encoding is None:
            # Chinese UTF-16: its NULs (ASCII spaces, digits) are too few to tell it by.
            return utf16_chinese_without_bom(head) is not None
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
    if utf16_chinese_without_bom(head) is not None:  # Chinese UTF-16 without any NUL
        return True
    # Legacy encodings (cp1252, GBK): accept when control characters are rare.
    controls = sum(1 for byte in head if byte < 32 and byte not in b"\t\n\r\f\x1b")
    return controls < len(head) * 0.01


def text_format_from_magic(data: bytes) -> str:
    import magic

    try:
        mime = magic.from_buffer(data[:65536], mime=True)
    except Exception:  # libmagic gave up on it: plain text is the safe reading
        return "txt"
    return {"text/html": "html", "message/rfc822": "eml", "text/csv": "csv"}.get(mime, "txt")
