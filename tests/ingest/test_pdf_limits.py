"""A PDF page is checked against a pixel budget before OCR renders it: a page declared huge
(a PDF may claim 200 × 200 inches) is rendered at a lower resolution, or refused before any
rendering when even ``MIN_OCR_DPI`` would not fit."""

from __future__ import annotations

import io
import time

import pypdfium2 as pdfium
import pytest
from PIL import Image

from core.errors import UnprocessableDocument
from ingest.pdf import MAX_PAGE_PIXELS, MIN_OCR_DPI, OCR_DPI, ocr_dpi
from tests.ingest.helpers import parse_bytes

A4 = (595.0, 842.0)
INCH = 72.0


def image_only_pdf(width_pt: float, height_pt: float) -> bytes:
    """One page of the given size holding only a small image: nothing in a text layer, so
    the parser must OCR it."""
    document = pdfium.PdfDocument.new()
    page = document.new_page(width_pt, height_pt)
    image = pdfium.PdfImage.new(document)
    image.set_bitmap(pdfium.PdfBitmap.from_pil(Image.new("RGB", (64, 64), "white")))
    image.set_matrix(pdfium.PdfMatrix().scale(width_pt, height_pt))
    page.insert_obj(image)
    page.gen_content()
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_ordinary_pages_keep_the_full_resolution() -> None:
    assert ocr_dpi(A4, 1) == OCR_DPI


def test_a_large_page_is_rendered_smaller_within_the_budget() -> None:
    poster = (40 * INCH, 40 * INCH)  # 40 × 40 in: 196 MP at 350 dpi
    dpi = ocr_dpi(poster, 1)
    assert MIN_OCR_DPI <= dpi < OCR_DPI
    assert (40 * dpi) ** 2 <= MAX_PAGE_PIXELS


def test_a_page_too_large_even_at_the_lowest_resolution_is_refused() -> None:
    with pytest.raises(UnprocessableDocument, match=r"page 3 is 200 × 200 inches"):
        ocr_dpi((200 * INCH, 200 * INCH), 3)


def test_a_pdf_with_a_giant_page_fails_before_rendering_in_english_and_chinese_names() -> None:
    data = image_only_pdf(200 * INCH, 200 * INCH)  # 4.9 GP at 350 dpi: ~14 GB as RGB
    parse_bytes(b"Warm up: the first parse imports unstructured.", "warm.txt")
    for name in ("giant.pdf", "巨型页面.pdf"):
        started = time.monotonic()
        with pytest.raises(UnprocessableDocument, match="megapixels"):
            parse_bytes(data, name)
        assert time.monotonic() - started < 10  # refused up front, nothing rendered
