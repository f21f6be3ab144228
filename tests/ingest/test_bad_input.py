"""Bad files fail with a reason a person can act on, never with an empty result."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest

from api.reasons import localize
from api.web.i18n import CHINESE
from core.errors import InvalidInput, UnprocessableDocument
from core.settings import LimitsSettings
from core.settings_parsing import ParsingSettings
from ingest.parsing import parse_document
from ingest.unstructured_runtime import DEPTH_REFUSAL
from tests.files import encrypted_pdf, text_pdf, zip_bomb_docx
from tests.ingest.helpers import parse_bytes

UNSTRUCTURED = "unstructured-example-docs"


def test_empty_file() -> None:
    with pytest.raises(UnprocessableDocument, match="the file is empty"):
        parse_bytes(b"", "empty.txt")


def test_whitespace_only_text() -> None:
    with pytest.raises(UnprocessableDocument, match="no text found"):
        parse_bytes(b" \n\t \n", "blank.txt")


def test_corrupt_pdf(docs: Path) -> None:
    truncated = (docs / UNSTRUCTURED / "pdf" / "fake-memo.pdf").read_bytes()[:3000]
    with pytest.raises(UnprocessableDocument, match="corrupt PDF"):
        parse_bytes(truncated, "memo.pdf")


def test_password_protected_pdf(docs: Path) -> None:
    with pytest.raises(UnprocessableDocument, match="PDF is password-protected"):
        parse_bytes(encrypted_pdf(["Confidential figures"]), "locked.pdf")
    with pytest.raises(UnprocessableDocument, match="PDF is password-protected"):
        parse_bytes((docs / UNSTRUCTURED / "pdf" / "password.pdf").read_bytes(), "password.pdf")


def test_password_protected_office_file(docs: Path) -> None:
    data = (docs / UNSTRUCTURED / "password_protected.xlsx").read_bytes()
    with pytest.raises(UnprocessableDocument, match="Office file is password-protected"):
        parse_bytes(data, "password_protected.xlsx")


def test_encrypted_email(docs: Path) -> None:
    data = (docs / UNSTRUCTURED / "fake-encrypted.msg").read_bytes()
    with pytest.raises(UnprocessableDocument, match="may be encrypted"):
        parse_bytes(data, "fake-encrypted.msg")


def test_unsupported_type(docs: Path) -> None:
    with pytest.raises(UnprocessableDocument, match="unsupported type"):
        parse_bytes(b"MZ\x90\x00" + bytes(300), "安装程序.exe")


def test_file_that_lies_about_its_type(docs: Path) -> None:
    html = (docs / UNSTRUCTURED / "fake-html.html").read_bytes()
    with pytest.raises(UnprocessableDocument, match="not a PDF"):
        parse_bytes(html, "invoice.pdf")


def test_zip_bomb() -> None:
    with pytest.raises(UnprocessableDocument, match="zip bomb"):
        parse_bytes(zip_bomb_docx(unpacked_mb=40), "bomb.docx")


def test_corrupt_office_file() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<not-really-xml")
    with pytest.raises(UnprocessableDocument, match=r"could not parse broken\.docx as DOCX"):
        parse_bytes(out.getvalue(), "broken.docx")


def test_empty_workbook(docs: Path) -> None:
    with pytest.raises(UnprocessableDocument, match="no text found"):
        parse_bytes((docs / UNSTRUCTURED / "empty.xlsx").read_bytes(), "empty.xlsx")


def test_file_name_with_path_parts_is_sanitised() -> None:
    parsed = parse_bytes("第一段。\n\nSecond paragraph here.".encode(), "../../etc/notes.txt")
    assert "第一段。" in [element.text for element in parsed.elements]
    with pytest.raises(InvalidInput, match="unusable file name"):
        parse_bytes(b"hello", "../..")


def test_limits_on_size_and_pages() -> None:
    with pytest.raises(InvalidInput, match="limit"):
        parse_document(
            b"x" * 2048, "big.txt", ParsingSettings(), LimitsSettings(max_upload_bytes=1024)
        )
    one_page = text_pdf(["one"])
    with pytest.raises(UnprocessableDocument, match=r"1 pages \(limit 0\)"):
        parse_document(one_page, "a.pdf", ParsingSettings(max_pages=0), LimitsSettings())


def _deep_html(depth: int) -> str:
    return (
        "<html><body><p>Before the nesting.</p>"
        + "<div>" * depth
        + "Deep inside the nesting."
        + "</div>" * depth
        + "<p>After the nesting.</p></body></html>"
    )


def _deep_eml(depth: int) -> bytes:
    message = EmailMessage()
    message["Subject"] = "Deep"
    message["From"] = "a@example.com"
    message["To"] = "b@example.com"
    message.set_content(_deep_html(depth), subtype="html")
    return message.as_bytes()


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("page.html", lambda depth: _deep_html(depth).encode()),
        ("notes.md", lambda depth: ("> " * depth + "Deep quote.\n\nAfter the quote.\n").encode()),
        ("mail.eml", _deep_eml),
    ],
)
def test_a_page_nested_past_the_parsers_depth_fails_instead_of_losing_text(
    name: str, make: Callable[[int], bytes]
) -> None:
    # libxml2 stops reading at 256 nested elements and returns what it read so far: the
    # rest of the page (the text after the nesting too) was dropped without a word.
    kept = parse_bytes(make(200), name)
    assert any("Deep" in e.text for e in kept.elements)
    assert any("After" in e.text for e in kept.elements)
    with pytest.raises(UnprocessableDocument) as refused:
        parse_bytes(make(3000), name)
    assert str(refused.value) == DEPTH_REFUSAL
    chinese = localize(f"the file could not be parsed: {DEPTH_REFUSAL}", CHINESE)
    assert chinese == (
        "无法解析该文件：文档的元素嵌套超过 255 层（HTML 标签，或 Markdown 的引用和列表）："
        "超出该深度的文字无法读取"
    )
