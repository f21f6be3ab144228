"""Text a person sees is indexed even where it is not body text: speaker notes, text boxes,
headers and footers that carry content (once, not once per page), in Chinese and English."""

from __future__ import annotations

import io

import docx
import pptx
from pptx.util import Inches

from ingest.chunking import SKIPPED_KINDS
from ingest.furniture import keep_distinct_furniture
from ingest.types import Element
from tests.ingest.helpers import parse_bytes


def _indexed(elements: list[Element]) -> list[str]:
    return [e.text for e in elements if e.kind not in SKIPPED_KINDS]


def test_speaker_notes_and_text_boxes_of_slides() -> None:
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "第三季度经营情况"
    slide.placeholders[1].text = "Revenue grew in the east"
    slide.notes_slide.notes_text_frame.text = "演讲者备注：华东区增长主要来自新客户 new accounts"
    box = slide.shapes.add_textbox(Inches(1), Inches(5), Inches(4), Inches(1))
    box.text_frame.text = "文本框：数据截至九月 as of September"
    out = io.BytesIO()
    deck.save(out)
    texts = _indexed(parse_bytes(out.getvalue(), "汇报.pptx").elements)
    assert "演讲者备注：华东区增长主要来自新客户 new accounts" in texts
    assert "文本框：数据截至九月 as of September" in texts


def test_headers_and_footers_with_content_are_indexed_once() -> None:
    document = docx.Document()
    document.add_paragraph("正文：付款条件见附件。Payment terms are attached.")
    section = document.sections[0]
    section.header.paragraphs[0].text = "机密：仅限内部使用 Confidential"
    section.footer.paragraphs[0].text = "合同编号 HT-2026-0042"
    out = io.BytesIO()
    document.save(out)
    texts = _indexed(parse_bytes(out.getvalue(), "合同.docx").elements)
    assert "机密：仅限内部使用 Confidential" in texts
    assert "合同编号 HT-2026-0042" in texts


def test_running_heads_and_page_labels_stay_out() -> None:
    pages = [Element("Annual report 2025 年度报告", "header", page=n) for n in (1, 2, 3)] + [
        Element(label, "footer", page=n)
        for n, label in enumerate(["Page 1 of 3", "第 2 页", "— 3 —"], 1)
    ]
    pages.append(Element("Chapter 1 of the report", "footer", page=3))
    pages.append(Element("Chapter 2 of the report", "footer", page=3))  # the same, but a number
    texts = _indexed(keep_distinct_furniture(pages))
    assert texts == ["Annual report 2025 年度报告", "Chapter 1 of the report"]
