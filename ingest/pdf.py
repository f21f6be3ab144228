"""PDF parsing: the text layer where it holds text, OCR for the pages where it does not.

unstructured's ``partition_pdf`` is never left to choose: ``auto`` and ``hi_res`` fetch a
layout model from a hub and fail offline. We call ``fast`` (pdfminer, the text layer) and
``ocr_only`` (tesseract) explicitly and decide between them per page:

1. pdfium opens the file first. It tells a password-protected PDF from a corrupt one (``fast``
   swallows both and returns nothing), counts pages against ``ParsingSettings.max_pages``, and
   reports per page whether there is a text layer and whether there is anything (an image) to
   OCR.
2. ``fast`` runs when any page has a text layer. It also returns nothing, silently, when its
   own "too complex" check trips (vector-heavy pages) or pdfminer fails.
3. Every page where ``fast`` found fewer than ``MIN_PAGE_CHARS`` characters and pdfium sees an
   image or a text layer that ``fast`` missed is OCR'd (``ocr_only``), in batches, with the
   parse deadline checked between batches. OCR costs about 1–2 s a page.
4. A PDF with no text after all that is an ``UnprocessableDocument``, never an empty result.
"""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from core.errors import UnprocessableDocument

MIN_PAGE_CHARS = 20
OCR_BATCH_PAGES = 4
# pdfium is not thread-safe; unstructured renders with poppler, so only our calls need this.
_PDFIUM_LOCK = threading.Lock()


@dataclass(frozen=True)
class PdfLayout:
    page_count: int
    # Per page, 1-based page number → characters in the text layer / has an image object.
    text_chars: dict[int, int]
    has_image: dict[int, bool]


def inspect_pdf(data: bytes, max_pages: int) -> PdfLayout:
    with _PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
                raise UnprocessableDocument(
                    "the PDF is password-protected; remove the password"
                ) from exc
            raise UnprocessableDocument(f"corrupt PDF: {exc}") from exc
        try:
            count = len(document)
            if count == 0:
                raise UnprocessableDocument("the PDF has no pages")
            if count > max_pages:
                raise UnprocessableDocument(f"the PDF has {count} pages (limit {max_pages})")
            text_chars, has_image = {}, {}
            for index in range(count):
                page = document[index]
                text_chars[index + 1] = page.get_textpage().count_chars()
                has_image[index + 1] = any(
                    True
                    for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=3)
                )
        finally:
            document.close()
    return PdfLayout(count, text_chars, has_image)


def partition_pdf_pages(
    data: bytes, filename: str, languages: list[str], max_pages: int, deadline: float
) -> tuple[list[Any], dict[str, object]]:
    """unstructured elements for the whole PDF, in page order, and facts about the parse."""
    from unstructured.partition.pdf import partition_pdf

    layout = inspect_pdf(data, max_pages)
    elements: list[Any] = []
    if any(layout.text_chars.values()):
        elements = partition_pdf(
            file=io.BytesIO(data),
            metadata_filename=filename,
            strategy="fast",
            languages=languages,
        )
    found = Counter[int]()
    for element in elements:
        found[element.metadata.page_number or 1] += len(element.text.strip())
    to_ocr = [
        page
        for page in range(1, layout.page_count + 1)
        if found[page] < MIN_PAGE_CHARS
        and (layout.has_image[page] or layout.text_chars[page] >= MIN_PAGE_CHARS)
    ]
    if to_ocr:
        ocr_set = set(to_ocr)
        kept = [e for e in elements if (e.metadata.page_number or 1) not in ocr_set]
        ocr = _ocr_pages(data, filename, to_ocr, languages, deadline, layout.page_count)
        # Stable sort: each page's elements keep their reading order.
        elements = sorted(kept + ocr, key=lambda e: e.metadata.page_number or 1)
    if not any(element.text.strip() for element in elements):
        reason = "no text found in the PDF"
        raise UnprocessableDocument(reason + (", even with OCR" if to_ocr else ""))
    strategy = "ocr_only" if len(to_ocr) == layout.page_count else "fast"
    if to_ocr and strategy == "fast":
        strategy = "fast+ocr_only"
    return elements, {"pages": layout.page_count, "strategy": strategy, "ocr_pages": len(to_ocr)}


def _ocr_pages(
    data: bytes,
    filename: str,
    pages: list[int],
    languages: list[str],
    deadline: float,
    page_count: int,
) -> list[Any]:
    from unstructured.partition.pdf import partition_pdf

    out: list[Any] = []
    for start in range(0, len(pages), OCR_BATCH_PAGES):
        if time.monotonic() > deadline:
            raise UnprocessableDocument(
                f"parsing ran out of time after OCR of {start} of {len(pages)} pages "
                f"({page_count} in the PDF)"
            )
        batch = pages[start : start + OCR_BATCH_PAGES]
        for element in partition_pdf(
            file=io.BytesIO(_extract_pages(data, batch)),
            metadata_filename=filename,
            strategy="ocr_only",
            languages=languages,
        ):
            # Page numbers come back relative to the extract.
            element.metadata.page_number = batch[(element.metadata.page_number or 1) - 1]
            out.append(element)
    return out


def _extract_pages(data: bytes, pages: list[int]) -> bytes:
    with _PDFIUM_LOCK:
        source = pdfium.PdfDocument(data)
        target = pdfium.PdfDocument.new()
        try:
            target.import_pages(source, [page - 1 for page in pages])
            buffer = io.BytesIO()
            target.save(buffer)
        finally:
            target.close()
            source.close()
    return buffer.getvalue()
