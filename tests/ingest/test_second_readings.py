"""Files a person can read that the first parser refused: UTF-16 saved without a byte-order
mark, CSV whose rows are ragged, ISO Strict OOXML (saved again by LibreOffice), and an e-mail
whose only content is its attachment."""

from __future__ import annotations

import io
from email.message import EmailMessage
from pathlib import Path

import docx

from tests.ingest.helpers import parse_bytes


def _text(data: bytes, name: str) -> str:
    return "\n".join(e.text for e in parse_bytes(data, name).elements)


def test_utf16_without_a_byte_order_mark() -> None:
    text = "Quarterly report 季度报告: revenue grew 12%.\n"
    for encoding in ("utf-16-le", "utf-16-be"):
        assert "revenue grew 12%" in _text(text.encode(encoding), "report.txt")
        assert "季度报告" in _text(text.encode(encoding), "report.txt")


def test_ragged_csv_is_still_a_table() -> None:
    data = "年份,评级\n2022年,AA+,中诚信国际\n2023年\n".encode()
    parsed = parse_bytes(data, "评级.csv")
    assert parsed.metadata["strategy"] == "csv_rows"
    assert parsed.elements[0].kind == "table"
    assert "2022年 | AA+ | 中诚信国际" in parsed.elements[0].text


def test_strict_ooxml_is_saved_again_and_read(docs: Path) -> None:
    path = docs / "docling-test-data/docx/sources/Strict.docx"
    parsed = parse_bytes(path.read_bytes(), path.name)
    assert "Some text" in [e.text for e in parsed.elements]
    assert parsed.metadata["converter"] == "libreoffice"


def test_an_email_that_is_only_an_attachment() -> None:
    document = docx.Document()
    document.add_paragraph("附件：年度预算为三百万元。")
    out = io.BytesIO()
    document.save(out)
    message = EmailMessage()
    message["Subject"] = "预算"
    message["From"] = "a@example.com"
    message["To"] = "b@example.com"
    message.add_attachment(
        out.getvalue(),
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
        filename="预算.docx",
    )
    assert "附件：年度预算为三百万元。" in _text(message.as_bytes(), "预算.eml")
