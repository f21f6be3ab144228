"""PDFs without a text layer go through OCR (English and Chinese), page by page; a PDF with no
text even after OCR fails with a reason. Each OCR'd page costs 1–4 s: keep them few."""

from __future__ import annotations

import io
from pathlib import Path

import pikepdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from core.errors import UnprocessableDocument
from tests.files import text_pdf
from tests.ingest.helpers import Ingest, parse_bytes

SCANNED_LINES = [
    "Quarterly Maintenance Report",
    "The hydraulic pump was inspected on Tuesday.",
    "All seals were replaced and the pressure test passed.",
]


def _image_pdf(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, format="PDF", resolution=150)
    return out.getvalue()


def _scanned_english_page() -> bytes:
    page = Image.new("RGB", (1240, 1754), "white")
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=36)
    for index, line in enumerate(SCANNED_LINES):
        draw.text((120, 150 + 70 * index), line, fill="black", font=font)
    return _image_pdf(page)


def _concatenate(*pdfs: bytes) -> bytes:
    merged = pikepdf.new()
    for data in pdfs:
        merged.pages.extend(pikepdf.open(io.BytesIO(data)).pages)
    out = io.BytesIO()
    merged.save(out)
    return out.getvalue()


def test_text_pages_are_read_and_scanned_pages_ocr_d() -> None:
    data = _concatenate(
        text_pdf(["Operating manual for the pump station."]), _scanned_english_page()
    )
    parsed = parse_bytes(data, "manual.pdf")
    assert parsed.metadata["strategy"] == "pdfium+ocr_only"
    assert parsed.metadata["ocr_pages"] == 1
    by_page = {element.page: element.text for element in reversed(parsed.elements)}
    assert "Operating manual" in by_page[1]
    text = " ".join(element.text for element in parsed.elements if element.page == 2)
    for line in SCANNED_LINES:
        assert line in text


@pytest.mark.slow
def test_chinese_scan_is_ocr_d_without_spaces_between_characters(
    docs: Path, ingest: Ingest
) -> None:
    image = Image.open(docs / "unstructured-example-docs" / "img" / "chi_sim_image.jpeg")
    path_data = _image_pdf(image)
    parsed = parse_bytes(path_data, "扫描件.pdf")
    assert parsed.metadata["strategy"] == "ocr_only"
    text = "".join(element.text for element in parsed.elements)
    # Tesseract's reading of the image, checked on phrases it reads reliably.
    for phrase in ("甘草黄酮", "肌肤代谢物", "适用人群", "希望美白的皮肤"):
        assert phrase in text, phrase
    assert "甘 草" not in text


@pytest.mark.slow
def test_real_scanned_pdf(docs: Path, ingest: Ingest) -> None:
    parsed, chunks = ingest(docs / "unstructured-example-docs" / "pdf" / "loremipsum-flat.pdf")
    assert parsed.metadata["strategy"] == "ocr_only"
    assert "Lorem ipsum dolor sit amet" in chunks[0].text


def test_pdf_without_any_text_fails_with_a_reason() -> None:
    blank_scan = _image_pdf(Image.new("RGB", (600, 800), "white"))
    with pytest.raises(UnprocessableDocument, match="no text found in the PDF, even with OCR"):
        parse_bytes(blank_scan, "blank.pdf")
