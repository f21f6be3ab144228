"""Type detection, file names and zip-bomb checks, on real files and generated ones."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from api.reasons import localize
from api.web.i18n import CHINESE, TRADITIONAL
from core.errors import InvalidInput, UnprocessableDocument
from core.settings import LimitsSettings
from ingest.formats import check_archive_safety, detect_type, safe_filename
from tests.files import zip_bomb_docx

UNSTRUCTURED = "unstructured-example-docs"


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        (f"{UNSTRUCTURED}/pdf/layout-parser-paper-fast.pdf", "pdf"),
        ("docling-test-data/docx/sources/word_sample.docx", "docx"),
        ("docling-test-data/pptx/sources/powerpoint_sample.pptx", "pptx"),
        ("docling-test-data/xlsx/sources/xlsx_01.xlsx", "xlsx"),
        ("docling-test-data/xlsx/sources/xlsx_02_sample_sales_data.xlsm", "xlsx"),
        ("docling-test-data/html/sources/example_01.html", "html"),
        ("docling-test-data/md/sources/wiki.md", "md"),
        (f"{UNSTRUCTURED}/fake-text.txt", "txt"),
        (f"{UNSTRUCTURED}/fake-text-utf-16.txt", "txt"),
        ("docling-test-data/email/sources/eml_simple.eml", "eml"),
        (f"{UNSTRUCTURED}/fake-email.msg", "msg"),
        (f"{UNSTRUCTURED}/stanley-cups.csv", "csv"),
        (f"{UNSTRUCTURED}/stanley-cups.tsv", "tsv"),
        (f"{UNSTRUCTURED}/simple.doc", "doc"),
        (f"{UNSTRUCTURED}/fake-doc.rtf", "rtf"),
        (f"{UNSTRUCTURED}/simple.odt", "odt"),
        (f"{UNSTRUCTURED}/tests-example.xls", "xls"),
        (f"{UNSTRUCTURED}/fake-power-point.ppt", "ppt"),
        (f"{UNSTRUCTURED}/winter-sports.epub", "epub"),
    ],
)
def test_detects_real_files(docs: Path, relative: str, expected: str) -> None:
    path = docs / relative
    assert detect_type(path.read_bytes(), path.name) == expected


def test_sniffs_content_when_the_name_says_nothing(docs: Path) -> None:
    pdf = (docs / UNSTRUCTURED / "pdf" / "fake-memo.pdf").read_bytes()
    docx = (docs / "docling-test-data/docx/sources/lorem_ipsum.docx").read_bytes()
    html = (docs / UNSTRUCTURED / "fake-html.html").read_bytes()
    assert detect_type(pdf, "upload") == "pdf"
    assert detect_type(docx, "upload.bin") == "docx"
    assert detect_type(html, "page") == "html"
    assert detect_type("纯文本，没有扩展名。".encode(), "notes") == "txt"


def test_refuses_a_pdf_that_is_not_a_pdf(docs: Path) -> None:
    docx = (docs / "docling-test-data/docx/sources/lorem_ipsum.docx").read_bytes()
    with pytest.raises(UnprocessableDocument, match="not a PDF"):
        detect_type(docx, "report.pdf")
    with pytest.raises(UnprocessableDocument, match="not a PDF"):
        detect_type(b"Just some words, no PDF here.", "report.pdf")


def test_refuses_office_and_text_mismatches(docs: Path) -> None:
    pdf = (docs / UNSTRUCTURED / "pdf" / "fake-memo.pdf").read_bytes()
    with pytest.raises(UnprocessableDocument, match="not a DOCX file"):
        detect_type(pdf, "letter.docx")
    with pytest.raises(UnprocessableDocument, match="not a text file"):
        detect_type(pdf, "notes.txt")
    with pytest.raises(UnprocessableDocument, match="not an XLSX file"):
        detect_type((docs / UNSTRUCTURED / "fake.doc").read_bytes(), "sheet.xlsx")


def test_refuses_unsupported_and_empty(docs: Path) -> None:
    # (HEIC photos, the example here before, are read since issue 13: tests/ingest/test_heic.py.)
    with pytest.raises(UnprocessableDocument, match="unsupported type"):
        detect_type(b"MZ\x90\x00" + bytes(300), "setup.exe")
    with pytest.raises(UnprocessableDocument, match="empty"):
        detect_type(b"", "empty.txt")


def test_office_suite_files_are_known_by_content_and_extension(docs: Path) -> None:
    doc = (docs / UNSTRUCTURED / "simple.doc").read_bytes()
    xls = (docs / UNSTRUCTURED / "tests-example.xls").read_bytes()
    ppt = (docs / UNSTRUCTURED / "fake-power-point.ppt").read_bytes()
    rtf = (docs / UNSTRUCTURED / "fake-doc.rtf").read_bytes()
    # WPS Office writes the 97-2003 containers under its own extensions, kept as its formats.
    assert detect_type(doc, "合同.wps") == "wps"
    assert detect_type(xls, "预算.et") == "et"
    assert detect_type(ppt, "汇报.dps") == "dps"
    # Word saves RTF under .doc: read as what it is; no extension at all: by content.
    assert detect_type(rtf, "letter.doc") == "rtf"
    assert detect_type(doc, "upload") == "doc"
    assert detect_type(rtf, "upload") == "rtf"
    # A different family is still refused: a spreadsheet is not a Word document.
    with pytest.raises(UnprocessableDocument, match=r"not a Word 97-2003 \.doc file"):
        detect_type(xls, "report.doc")
    with pytest.raises(UnprocessableDocument, match=r"not an XLSX file: the content is a Word"):
        detect_type(doc, "sheet.xlsx")


def test_refuses_password_protected_office_file(docs: Path) -> None:
    data = (docs / UNSTRUCTURED / "password_protected.xlsx").read_bytes()
    with pytest.raises(UnprocessableDocument, match="password-protected"):
        detect_type(data, "password_protected.xlsx")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\win.ini", "win.ini"),
        ("C:\\Users\\me\\季度报告.docx", "季度报告.docx"),
        ("/abs/path/notes.txt", "notes.txt"),
        ("bad\x00name\n.txt", "badname.txt"),
        ("  .hidden.md ", "hidden.md"),
        # Bidi overrides (reads as "invoice_exe.pdf"), zero-width and other format characters.
        ("invoice_\u202efdp.exe", "invoice_fdp.exe"),
        ("\u2067报告\u2069\u200b.docx", "报告.docx"),
        ("a\ufeffb\u00ad.txt", "ab.txt"),
        ("e\u0301te\u0301.txt", "\u00e9t\u00e9.txt"),  # one name, one way (NFC)
        ("family\U0001f468\u200d\U0001f469\u200d\U0001f467.txt", "family👨\u200d👩\u200d👧.txt"),
    ],
)
def test_safe_filename_strips_path_parts(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


@pytest.mark.parametrize("name", ["", "..", "../", "a/b/", "\x00\x01", "..\\..", "\u202e\u200b"])
def test_safe_filename_refuses_names_without_a_file(name: str) -> None:
    with pytest.raises(InvalidInput):
        safe_filename(name)


def test_safe_filename_keeps_long_names_short() -> None:
    name = safe_filename("长" * 300 + ".pdf")
    assert name.endswith(".pdf")
    assert len(name.encode()) <= 200


def test_archive_safety_passes_real_office_files(docs: Path) -> None:
    for relative in (
        "docling-test-data/docx/sources/word_sample.docx",
        "docling-test-data/xlsx/sources/xlsx_01.xlsx",
        "docling-test-data/pptx/sources/powerpoint_sample.pptx",
    ):
        check_archive_safety((docs / relative).read_bytes(), LimitsSettings())
    check_archive_safety(b"%PDF-1.4 not a zip", LimitsSettings())  # not a zip: nothing to do


def test_archive_safety_refuses_zip_bombs() -> None:
    bomb = zip_bomb_docx(unpacked_mb=60)
    with pytest.raises(UnprocessableDocument, match="zip bomb"):
        check_archive_safety(bomb, LimitsSettings())
    # Over the absolute size limit even at a harmless ratio.
    with pytest.raises(UnprocessableDocument, match="unpacks to"):
        check_archive_safety(
            bomb, LimitsSettings(max_unpacked_bytes=10 << 20, max_unpacked_ratio=1e9)
        )


def test_archive_safety_refuses_too_many_members() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for index in range(10_001):
            archive.writestr(f"m{index}", b"")
    with pytest.raises(UnprocessableDocument, match="members"):
        check_archive_safety(out.getvalue(), LimitsSettings())


def _package(mimetype: str, members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), mimetype)  # stored, first
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


_ODF_MANIFEST = (
    '<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:'
    'xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="'
    'application/vnd.oasis.opendocument.text"/><manifest:file-entry manifest:full-path="content'
    '.xml" manifest:media-type="text/xml">{encryption}</manifest:file-entry></manifest:manifest>'
)
_ENCRYPTION_DATA = (
    '<manifest:encryption-data manifest:checksum-type="SHA1/1K" manifest:checksum="AAAA">'
    '<manifest:algorithm manifest:algorithm-name="Blowfish CFB" manifest:initialisation-vector='
    '"AAAA"/><manifest:key-derivation manifest:key-derivation-name="PBKDF2" manifest:iteration-'
    'count="1024" manifest:salt="AAAA"/></manifest:encryption-data>'
)
_EPUB_ENCRYPTION = (
    '<?xml version="1.0"?><encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
    'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData><enc:EncryptionMethod '
    'Algorithm="{algorithm}"/><enc:CipherData><enc:CipherReference URI="{uri}"/></enc:CipherData>'
    "</enc:EncryptedData></encryption>"
)


def _odt(encrypted: bool) -> bytes:
    manifest = _ODF_MANIFEST.format(encryption=_ENCRYPTION_DATA if encrypted else "")
    content = os.urandom(600) if encrypted else b"<office:document-content/>"
    return _package(
        "application/vnd.oasis.opendocument.text",
        {"META-INF/manifest.xml": manifest.encode(), "content.xml": content},
    )


def _epub(
    encrypted_uri: str | None, algorithm: str = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
) -> bytes:
    members = {"META-INF/container.xml": b"<container/>", "OEBPS/ch1.xhtml": b"<html/>"}
    if encrypted_uri is not None:
        xml = _EPUB_ENCRYPTION.format(algorithm=algorithm, uri=encrypted_uri)
        members["META-INF/encryption.xml"] = xml.encode()
    return _package("application/epub+zip", members)


def test_password_protected_opendocument_and_drm_epub_are_refused_by_name() -> None:
    # They went to LibreOffice or pandoc and failed as "damaged, password-protected or not
    # really a ODT file", after a conversion attempt.
    with pytest.raises(UnprocessableDocument, match="password-protected; remove the password"):
        detect_type(_odt(encrypted=True), "合同.odt")
    with pytest.raises(UnprocessableDocument) as refused:
        detect_type(_epub("OEBPS/ch1.xhtml"), "book.epub")
    reason = str(refused.value)
    assert reason == (
        "the EPUB book is DRM-protected (its text is encrypted); upload a copy without DRM"
    )
    assert localize(reason, CHINESE) == "EPUB 电子书受 DRM 保护（正文已加密），请上传无 DRM 的版本"
    assert (
        localize(reason, TRADITIONAL) == "EPUB 電子書受 DRM 保護（正文已加密），請上傳無 DRM 的版本"
    )


def test_plain_opendocument_and_epub_with_obfuscated_fonts_are_read() -> None:
    assert detect_type(_odt(encrypted=False), "plain.odt") == "odt"
    assert detect_type(_epub(None), "plain.epub") == "epub"
    font = _epub("OEBPS/fonts/serif.otf", algorithm="http://www.idpf.org/2008/embedding")
    assert detect_type(font, "fonts.epub") == "epub"
