"""E-mail attachments are read as part of their message, each under a section naming it;
an attachment that cannot be read is listed with its reason and the message still stands."""

from __future__ import annotations

import io
from email.message import EmailMessage
from pathlib import Path

import docx

from tests.ingest.helpers import parse_bytes

DOCLING_EMAIL = "docling-test-data/email/sources"


def _docx(text: str) -> bytes:
    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _message() -> bytes:
    message = EmailMessage()
    message["Subject"] = "报价单 Quotation"
    message["From"] = "sales@example.com"
    message["To"] = "buyer@example.com"
    message.set_content("您好，报价单见附件。Please find the quotation attached.")
    message.add_attachment(
        _docx("单价为每台三千二百元，含税。"),
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
        filename="报价单.docx",
    )
    message.add_attachment(
        "交货期：签约后三十天。".encode("gbk"),
        maintype="text",
        subtype="plain",
        filename="交货.txt",
    )
    message.add_attachment(
        b"%PDF-1.4 broken", maintype="application", subtype="pdf", filename="坏.pdf"
    )
    message.add_attachment(
        b"MZ\x90\x00" + bytes(300),
        maintype="application",
        subtype="octet-stream",
        filename="setup.exe",
    )
    return message.as_bytes()


def test_attachments_are_indexed_under_their_names() -> None:
    parsed = parse_bytes(_message(), "报价.eml")
    by_section: dict[tuple[str, ...], str] = {}
    for element in parsed.elements:
        key = element.section_path[:1]
        by_section[key] = by_section.get(key, "") + element.text
    assert "单价为每台三千二百元，含税。" in by_section[("附件 Attachment: 报价单.docx",)]
    assert "交货期：签约后三十天。" in by_section[("附件 Attachment: 交货.txt",)]
    body = "".join(
        e.text
        for e in parsed.elements
        if not (e.section_path and e.section_path[0].startswith("附件"))
    )
    assert "报价单见附件" in body
    assert parsed.metadata["attachments"] == 2
    skipped = dict(parsed.metadata["attachments_skipped"])  # type: ignore[arg-type]
    assert set(skipped) == {"坏.pdf", "setup.exe"}
    assert "PDF" in skipped["坏.pdf"] and "unsupported" in skipped["setup.exe"]


def test_real_messages_with_attachments(docs: Path) -> None:
    for name in ("eml_with_attachment.eml", "msg_with_attachment.msg"):
        parsed = parse_bytes((docs / DOCLING_EMAIL / name).read_bytes(), name)
        sections = {e.section_path[0] for e in parsed.elements if e.section_path}
        assert "附件 Attachment: test.txt" in sections, (name, parsed.metadata)


def _with_embedded_workbook(document: bytes) -> bytes:
    """A DOCX carrying a worksheet in ``word/embeddings/``, as Word stores an embedded
    Excel object (its drawing and relationship parts are not needed to read it)."""
    import zipfile

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["项目 Item", "预算 Budget"])
    sheet.append(["服务器采购", "120万元"])
    workbook = io.BytesIO()
    book.save(workbook)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(document)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        target.writestr("word/embeddings/Microsoft_Excel_Worksheet.xlsx", workbook.getvalue())
        target.writestr("word/embeddings/oleObject1.bin", b"\xd0\xcf\x11\xe0 opaque")
    return out.getvalue()


def test_a_workbook_embedded_in_a_report_is_read_with_it() -> None:
    parsed = parse_bytes(_with_embedded_workbook(_docx("预算见下表。")), "预算报告.docx")
    embedded = [
        e
        for e in parsed.elements
        if e.section_path[:1] == ("嵌入 Embedded: Microsoft_Excel_Worksheet.xlsx",)
    ]
    assert any("服务器采购 | 120万元" in e.text for e in embedded), parsed.elements
    assert "预算见下表。" in [e.text for e in parsed.elements if not e.section_path]


def _scan_png(lines: list[str]) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 40)
    image = Image.new("RGB", (1300, 100 + 80 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        draw.text((50, 50 + row * 80), line, fill="black", font=font)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_a_scan_pasted_into_word_is_read_by_ocr() -> None:
    from docx.shared import Inches

    scan = _scan_png(
        ["租赁合同第五条", "租金为每月人民币九万元整", "The rent is due on the first day."]
    )
    pasted = docx.Document()
    pasted.add_picture(io.BytesIO(scan), width=Inches(6))
    out = io.BytesIO()
    pasted.save(out)
    parsed = parse_bytes(out.getvalue(), "租赁合同扫描.docx")
    pictures = [
        e
        for e in parsed.elements
        if e.section_path and e.section_path[0].startswith("图片 Picture:")
    ]
    assert "租金为每月人民币九万元整" in "".join("".join(e.text for e in pictures).split())
    # A document with text of its own keeps its pictures as pictures: no OCR.
    report = docx.Document()
    report.add_paragraph("本报告说明第三季度的经营情况，详见下图。" * 5)
    report.add_picture(io.BytesIO(scan), width=Inches(6))
    out = io.BytesIO()
    report.save(out)
    assert not any(e.section_path for e in parse_bytes(out.getvalue(), "报告.docx").elements)
