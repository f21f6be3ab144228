"""A PDF page is checked against a pixel budget before OCR renders it: a page declared huge
(a PDF may claim 200 × 200 inches) is rendered at a lower resolution, or refused before any
rendering when even ``ParsingSettings.min_ocr_dpi`` would not fit."""

from __future__ import annotations

import io
import time

import pypdfium2 as pdfium
import pytest
from PIL import Image

from core.errors import UnprocessableDocument
from core.settings import LimitsSettings
from core.settings_parsing import ParsingSettings
from ingest.parsing import parse_document, warm_up
from ingest.pdf import OcrBudget, ocr_dpi
from tests.ingest.helpers import parse_bytes

DEFAULTS = ParsingSettings()

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
    assert ocr_dpi(A4, 1) == DEFAULTS.ocr_dpi == 350


def test_a_large_page_is_rendered_smaller_within_the_budget() -> None:
    poster = (40 * INCH, 40 * INCH)  # 40 × 40 in: 196 MP at 350 dpi
    dpi = ocr_dpi(poster, 1)
    assert DEFAULTS.min_ocr_dpi <= dpi < DEFAULTS.ocr_dpi
    assert (40 * dpi) ** 2 <= DEFAULTS.max_ocr_page_pixels


def test_a_page_too_large_even_at_the_lowest_resolution_is_refused() -> None:
    with pytest.raises(UnprocessableDocument, match=r"page 3 is 200 × 200 inches"):
        ocr_dpi((200 * INCH, 200 * INCH), 3)


def test_a_pdf_with_a_giant_page_fails_before_rendering_in_english_and_chinese_names() -> None:
    data = image_only_pdf(200 * INCH, 200 * INCH)  # 4.9 GP at 350 dpi: ~14 GB as RGB
    warm_up()  # imports unstructured (plain text no longer does)
    for name in ("giant.pdf", "巨型页面.pdf"):
        started = time.monotonic()
        with pytest.raises(UnprocessableDocument, match="megapixels"):
            parse_bytes(data, name)
        assert time.monotonic() - started < 10  # refused up front, nothing rendered


def test_the_budget_comes_from_the_parsing_settings() -> None:
    # 1 MP at no less than 300 dpi: even an A4 page (8.3 × 11.7 in) does not fit.
    strict = ParsingSettings(max_ocr_page_pixels=1_000_000, min_ocr_dpi=300)
    assert ocr_dpi(A4, 1, OcrBudget.of(ParsingSettings(ocr_dpi=200))) == 200
    with pytest.raises(UnprocessableDocument, match=r"page 1 is 8 × 12 inches"):
        ocr_dpi(A4, 1, OcrBudget.of(strict))
    with pytest.raises(UnprocessableDocument, match="megapixels"):
        parse_document(image_only_pdf(*A4), "scan.pdf", strict, LimitsSettings())
