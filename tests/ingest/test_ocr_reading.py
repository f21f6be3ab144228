"""OCR'd Chinese reads as text, not fragments: a page rendered from a text PDF (the text layer
is the truth) is OCR'd into lines and paragraphs in reading order, with few single-character
pieces, and its characters match the text layer's."""

from __future__ import annotations

import io

import docx
import pypdfium2 as pdfium
import pytest
from rapidfuzz.distance import Levenshtein

from tests.files import saved_by_libreoffice
from tests.ingest.helpers import parse_bytes

PARAGRAPHS = [
    "本公司是依法设立并有效存续的股份有限公司，注册资本为人民币五亿元。",
    "报告期内，发行人主营业务收入分别为十二亿元、十五亿元和十八亿元，保持稳定增长。",
    "The issuer has maintained stable growth in revenue over the reporting period.",
]


def _rendered_scan() -> tuple[bytes, str]:
    """A page as a scanner gives it (PNG at 200 dpi, no text layer) and the text it shows."""
    document = docx.Document()
    document.add_heading("发行人基本情况", level=1)
    for text in PARAGRAPHS:
        document.add_paragraph(text)
    source = io.BytesIO()
    document.save(source)
    pdf = pdfium.PdfDocument(saved_by_libreoffice(source.getvalue(), ".docx", "pdf"))
    page = pdf[0]
    truth = page.get_textpage().get_text_range()
    scan = io.BytesIO()
    page.render(scale=200 / 72).to_pil().save(scan, "PNG")
    return scan.getvalue(), truth


def _chars(text: str) -> str:
    return "".join(text.split())


@pytest.fixture(scope="module")
def scan() -> tuple[bytes, str]:
    return _rendered_scan()


def test_ocr_reads_lines_not_fragments(scan: tuple[bytes, str]) -> None:
    image, truth = scan
    parsed = parse_bytes(image, "扫描件.png")
    texts = [e.text for e in parsed.elements]
    # Whole sentences come back in one piece, in reading order.
    joined = _chars("".join(texts))
    for sentence in PARAGRAPHS[:2]:
        assert _chars(sentence)[:12] in joined
    fragments = [t for t in texts if len(_chars(t)) <= 2]
    assert len(fragments) <= 1, texts
    assert joined.index(_chars(PARAGRAPHS[0])[:8]) < joined.index(_chars(PARAGRAPHS[1])[:8])
    # Character accuracy against the text layer (1 - edit distance / length).
    accuracy = 1 - Levenshtein.distance(joined, _chars(truth)) / len(_chars(truth))
    assert accuracy >= 0.9, (accuracy, joined, truth)
