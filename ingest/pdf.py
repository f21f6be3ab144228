"""PDF parsing: the text layer where it holds text, OCR for the pages where it does not.

unstructured's ``partition_pdf`` is never left to choose: ``auto`` and ``hi_res`` fetch a
layout model from a hub and fail offline. We read the text layer ourselves and call
``ocr_only`` (tesseract) explicitly, deciding per page:

1. pdfium opens the file. It tells a password-protected PDF from a corrupt one, counts pages
   against ``ParsingSettings.max_pages``, and reports per page whether there is a text layer
   and whether there is anything (an image) to OCR.
2. The text layer is read in the same pass (:mod:`ingest.pdf_text`, strategy ``pdfium``), or,
   with ``ParsingSettings.pdf_text = "pdfminer"``, by unstructured's ``fast`` strategy. ``fast``
   returns nothing, silently, for a password or a corrupt file, when its "too complex" check
   trips (vector-heavy pages) or when pdfminer fails.
3. Every page where the text layer gave fewer than ``MIN_PAGE_CHARS`` characters and pdfium
   sees an image or text that was missed is OCR'd (``ocr_only``), in batches, with the parse
   deadline checked between batches. OCR costs about 1–2 s a page. Pages are rendered at
   ``ParsingSettings.ocr_dpi``, lower for a page that would exceed
   ``ParsingSettings.max_ocr_page_pixels`` (a PDF may declare a page of 200 × 200 inches: 4.9
   gigapixels at 350 dpi); one that needs less than ``ParsingSettings.min_ocr_dpi`` to fit is
   refused before anything is rendered.
4. A PDF with no text after all that is an ``UnprocessableDocument``, never an empty result.
"""

from __future__ import annotations

import io
import logging
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from core.errors import UnprocessableDocument
from core.settings_parsing import ParsingSettings
from ingest.pdf_elements import to_unstructured
from ingest.pdf_tables import MIN_RULES, PdfTable, find_tables
from ingest.pdf_text import PageText, read_page

MIN_PAGE_CHARS = 20
OCR_BATCH_PAGES = 4
_POINTS_PER_INCH = 72.0
logger = logging.getLogger(__name__)
# pdfium is not thread-safe; unstructured renders with poppler, so only our calls need this.
_PDFIUM_LOCK = threading.Lock()


@dataclass(frozen=True)
class OcrBudget:
    """How finely OCR renders a page (the ``ParsingSettings`` fields of the same names)."""

    ocr_dpi: int
    max_ocr_page_pixels: int
    min_ocr_dpi: int

    @classmethod
    def of(cls, settings: ParsingSettings) -> OcrBudget:
        return cls(settings.ocr_dpi, settings.max_ocr_page_pixels, settings.min_ocr_dpi)


DEFAULT_OCR_BUDGET = OcrBudget.of(ParsingSettings())


@dataclass(frozen=True)
class PdfLayout:
    page_count: int
    # Per page, 1-based page number → characters in the text layer / has an image object.
    text_chars: dict[int, int]
    has_image: dict[int, bool]
    # The text layer, when it was read in the same pass.
    pages: list[PageText] | None = None
    # Per page, its size in points (1/72 inch), as declared: what rendering it would cost.
    sizes: dict[int, tuple[float, float]] = field(default_factory=dict)
    # Pages drawing enough straight paths to hold a ruled table (ingest.pdf_tables).
    ruled: frozenset[int] = frozenset()


def inspect_pdf(data: bytes, max_pages: int, read_text: bool = False) -> PdfLayout:
    with _PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
                raise UnprocessableDocument(
                    "the PDF is password-protected; remove the password"
                ) from exc
            # pdfium's message ("Data format error") is for operators, not for the caller.
            logger.warning("pdfium could not open a PDF", exc_info=exc)
            raise UnprocessableDocument(
                "corrupt PDF: the file is damaged or incomplete (it may have been truncated)"
            ) from exc
        try:
            count = len(document)
            if count == 0:
                raise UnprocessableDocument("the PDF has no pages")
            if count > max_pages:
                raise UnprocessableDocument(f"the PDF has {count} pages (limit {max_pages})")
            text_chars, has_image = {}, {}
            sizes: dict[int, tuple[float, float]] = {}
            ruled: set[int] = set()
            pages: list[PageText] = []
            for index in range(count):
                page = document[index]
                sizes[index + 1] = page.get_size()
                textpage = page.get_textpage()
                try:
                    text_chars[index + 1] = textpage.count_chars()
                    has_image[index + 1] = any(
                        True
                        for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=3)
                    )
                    if read_text:
                        pages.append(read_page(page, textpage, index + 1))
                        paths = page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_PATH], max_depth=3)
                        if sum(1 for _ in islice(paths, MIN_RULES)) >= MIN_RULES:
                            ruled.add(index + 1)
                finally:
                    textpage.close()
                    page.close()
        finally:
            document.close()
    return PdfLayout(
        count, text_chars, has_image, pages if read_text else None, sizes, frozenset(ruled)
    )


def ocr_dpi(
    size_points: tuple[float, float], page: int, budget: OcrBudget = DEFAULT_OCR_BUDGET
) -> int:
    """The resolution to render a page of ``size_points`` at for OCR: ``budget.ocr_dpi``, or
    less so that it stays within ``budget.max_ocr_page_pixels``; a page that would need under
    ``budget.min_ocr_dpi`` is refused (``UnprocessableDocument``) without being rendered."""
    max_pixels, min_dpi = budget.max_ocr_page_pixels, budget.min_ocr_dpi
    width_in, height_in = (max(side, 1.0) / _POINTS_PER_INCH for side in size_points)
    fitting = math.floor(math.sqrt(max_pixels / (width_in * height_in)))
    if fitting < min_dpi:
        raise UnprocessableDocument(
            f"page {page} is {width_in:.0f} × {height_in:.0f} inches: reading it with OCR "
            f"would render more than {max_pixels / 1e6:.0f} megapixels even at {min_dpi} dpi"
        )
    return min(budget.ocr_dpi, fitting)


def partition_pdf_pages(
    data: bytes,
    filename: str,
    languages: list[str],
    max_pages: int,
    deadline: float,
    text_reader: str = "pdfium",
    budget: OcrBudget = DEFAULT_OCR_BUDGET,
) -> tuple[list[Any], dict[str, object]]:
    """unstructured elements for the whole PDF, in page order, and facts about the parse."""
    from unstructured.partition.pdf import partition_pdf

    layout = inspect_pdf(data, max_pages, read_text=text_reader == "pdfium")
    elements: list[Any] = []
    text_strategy = "fast"
    tables: dict[int, list[PdfTable]] = {}
    if layout.pages is not None:
        tables = find_tables(data, sorted(layout.ruled))
        elements = to_unstructured(layout.pages, filename, tables)
        text_strategy = "pdfium"
    elif any(layout.text_chars.values()):
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
        # Checked before any OCR: a refused page fails the document before minutes of work.
        dpi = {page: ocr_dpi(layout.sizes[page], page, budget) for page in to_ocr}
        ocr = _ocr_pages(data, filename, to_ocr, languages, deadline, layout.page_count, dpi)
        # Stable sort: each page's elements keep their reading order.
        elements = sorted(kept + ocr, key=lambda e: e.metadata.page_number or 1)
    if not any(element.text.strip() for element in elements):
        reason = "no text found in the PDF"
        raise UnprocessableDocument(reason + (", even with OCR" if to_ocr else ""))
    strategy = "ocr_only" if len(to_ocr) == layout.page_count else text_strategy
    if to_ocr and strategy == text_strategy:
        strategy = f"{text_strategy}+ocr_only"
    facts: dict[str, object] = {
        "pages": layout.page_count,
        "strategy": strategy,
        "ocr_pages": len(to_ocr),
    }
    if tables:
        facts["ruled_tables"] = sum(len(found) for found in tables.values())
    return elements, facts


def _ocr_pages(
    data: bytes,
    filename: str,
    pages: list[int],
    languages: list[str],
    deadline: float,
    page_count: int,
    dpi: dict[int, int],
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
            # One resolution per batch: the lowest any of its pages needs.
            pdf_image_dpi=min(dpi[page] for page in batch),
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
