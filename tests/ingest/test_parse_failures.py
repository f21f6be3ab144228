"""Broken files fail with a plain reason: no Python exception names, no library messages (the
full exception goes to the log, with the file's name, for operators)."""

from __future__ import annotations

import io
import logging
import os
import re
import zipfile

import pytest

from core.errors import UnprocessableDocument, UnsupportedFormat
from ingest.parse_failures import DAMAGED, ENCRYPTED, UNSUPPORTED_VARIANT, plain_reason
from tests.files import text_pdf
from tests.ingest.helpers import parse_bytes

# What library internals look like in a message: an exception class or a module path.
_INTERNALS = re.compile(
    r"\b\w*(Error|Exception|BadZipFile|Warning)\b|Traceback|\w+\.\w+\(|zipfile|lxml|openpyxl|"
    r"docx\.|pdfium|Data format error|Bad magic|word/document\.xml"
)


def _docx(paragraph: str = "Quarterly report 季度报告") -> bytes:
    body = (
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body>{f'<w:p><w:r><w:t>{paragraph}</w:t></w:r></w:p>' * 20}</w:body></w:document>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        archive.writestr(
            "_rels/.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Target="word/document.xml" Type="http://schemas.'
            'openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
            "</Relationships>",
        )
        archive.writestr("word/document.xml", body)
    return out.getvalue()


def _patch_members(data: bytes, offset_local: int, offset_central: int, value: int) -> bytes:
    """Overwrite a 2-byte field in every local and central zip header."""
    patched = bytearray(data)
    for magic, offset in ((b"PK\x03\x04", offset_local), (b"PK\x01\x02", offset_central)):
        at = 0
        while (at := patched.find(magic, at)) != -1:
            patched[at + offset : at + offset + 2] = value.to_bytes(2, "little")
            at += 4
    return bytes(patched)


def _refusal(data: bytes, name: str) -> str:
    with pytest.raises(UnprocessableDocument) as refused:
        parse_bytes(data, name)
    reason = str(refused.value)
    assert not _INTERNALS.search(reason), reason
    return reason


def test_a_good_docx_parses() -> None:
    parsed = parse_bytes(_docx(), "report.docx")
    assert "Quarterly report 季度报告" in [element.text for element in parsed.elements]


def test_truncated_docx(caplog: pytest.LogCaptureFixture) -> None:
    data = _docx()
    for cut in (len(data) // 2, len(data) - 30):
        reason = _refusal(data[:cut], "季度报告.docx")
        assert "damaged or incomplete" in reason, reason


def test_docx_with_a_corrupt_member_logs_the_library_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = bytearray(_docx())
    start = data.find(b"word/document.xml") + len("word/document.xml")
    data[start + 20 : start + 60] = os.urandom(40)  # inside the deflated stream
    with caplog.at_level(logging.WARNING, logger="ingest.parsing"):
        reason = _refusal(bytes(data), "report.docx")
    assert reason.startswith("could not parse report.docx as DOCX: ")
    assert DAMAGED in reason
    logged = [r for r in caplog.records if "report.docx" in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the operator sees what really failed


def test_unsupported_compression_method() -> None:
    data = _patch_members(_docx(), 8, 10, 99)  # compression method 99 (AES), unreadable here
    with pytest.raises((UnprocessableDocument, UnsupportedFormat)) as refused:
        parse_bytes(data, "report.docx")
    reason = str(refused.value)
    assert not _INTERNALS.search(reason), reason
    assert "not supported" in reason or "unsupported" in reason


def test_unsupported_zip_version() -> None:
    data = _patch_members(_docx(), 4, 6, 99)  # "version needed to extract" 9.9
    with pytest.raises(UnsupportedFormat) as refused:
        parse_bytes(data, "report.docx")
    reason = str(refused.value)
    assert "zip" in reason and not _INTERNALS.search(reason), reason


def test_encrypted_zip_member() -> None:
    data = _patch_members(_docx(), 6, 8, 1)  # general purpose flag bit 0: encrypted
    reason = _refusal(data, "report.docx")
    assert ENCRYPTED in reason or "password" in reason, reason


@pytest.mark.parametrize("name", ["scan.pdf", "report.docx", "figures.xlsx", "报告.docx"])
def test_random_bytes_with_an_office_or_pdf_name(name: str) -> None:
    reason = _refusal(os.urandom(8192), name)
    assert reason.startswith("not a") or "not really" in reason, reason


def test_truncated_and_corrupt_pdf() -> None:
    data = text_pdf(["A report about pumps.", "The north pump is overhauled yearly."])
    reason = _refusal(data[: len(data) // 3], "pumps.pdf")
    assert reason.startswith("corrupt PDF: the file is damaged or incomplete"), reason
    reason = _refusal(b"%PDF-1.7\n" + bytes(range(256)) * 40, "noise.pdf")
    assert "corrupt PDF" in reason or "no text found" in reason, reason


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (NotImplementedError("That compression method is not supported"), "not supported"),
        (RuntimeError("File 'a.xml' is encrypted, password required"), "password-protected"),
        (zipfile.BadZipFile("Bad magic number for file header"), "damaged or incomplete"),
        (KeyError("There is no item named 'word/document.xml' in the archive"), "damaged"),
        (ValueError("File is not a zip file"), "not really a DOCX file"),
        (RecursionError("maximum recursion depth exceeded"), "too large or too complex"),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), "UTF-8"),
        (TypeError("'NoneType' object is not subscriptable"), "could not be read"),
    ],
)
def test_each_class_of_failure_has_its_plain_reason(exc: BaseException, expected: str) -> None:
    reason = plain_reason(exc, "docx")
    assert expected in reason
    assert not _INTERNALS.search(reason), reason
    assert UNSUPPORTED_VARIANT.format(format="DOCX").startswith("the file uses a variant")
