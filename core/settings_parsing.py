"""How documents are parsed and converted (``Settings.parsing``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ParsingSettings(BaseModel):
    # Tesseract languages. With both Chinese models each page is read in the script it is
    # written in (``ingest.ocr``: a Traditional scan read with chi_sim came out Simplified).
    ocr_languages: str = "eng+chi_sim+chi_tra"
    # Seconds a single document may spend being parsed before it is failed.
    timeout_s: float = 600.0
    max_pages: int = 2000
    # Rows of a spreadsheet (all its sheets), counted before it is read (ingest.sheet_limits):
    # unstructured takes a few ms a row, so a million-row sheet would run into timeout_s.
    # 0: no limit.
    max_sheet_rows: int = Field(default=100_000, ge=0)
    # Chunks one document may have once parsed: past it the document fails with the reason
    # instead of holding an embed worker for hours (50,000 chunks is ~25 MB of text, a few
    # hours of embedding on a small CPU machine). 0: no limit.
    max_chunks_per_document: int = Field(default=50_000, ge=0)
    # Who reads a PDF's text layer: pdfium (C++, headings by font size; see ingest.pdf_text)
    # or unstructured's "fast" strategy (pdfminer, pure Python, several times slower).
    pdf_text: Literal["pdfium", "pdfminer"] = "pdfium"
    # Who reads .txt files: our own parser (ingest.plain_text: paragraphs, numbered and Chinese
    # headings, lists; ~1 ms a small file) or unstructured's partition_text (spaCy tags every
    # paragraph to tell titles from text: ~6 CPU s per 1,000 small files).
    plain_text: Literal["fast", "unstructured"] = "fast"
    # OCR of PDF pages without a text layer (ingest.pdf): the resolution pages are rendered at
    # (unstructured's default), the most pixels one page may become (an A4 page at 350 dpi is
    # 11.8 MP; 50 MP of RGB is 150 MB before tesseract's copies; a PDF may declare a page of
    # 200 x 200 inches, 4.9 GP at 350 dpi), and the resolution under which text is too small
    # to read anyway: a page is rendered at less than ocr_dpi to fit the pixel budget, and
    # refused before rendering when even min_ocr_dpi would not fit.
    ocr_dpi: int = Field(default=350, ge=72, le=1200)
    max_ocr_page_pixels: int = Field(default=50_000_000, ge=1_000_000)
    min_ocr_dpi: int = Field(default=50, ge=10)
    # Parse child processes of the embedded default (each ~0.9 GB); 0: one per four cores.
    workers: int = 0
    # The embedded default's small-file lane (workers.small_file_lane): once every parse
    # child has been on a large file (over 64 KiB; a large PDF or office file may take
    # minutes) for 5 s, one more child starts and parses the small files uploaded meanwhile;
    # it stops 30 s after the large parses end. Off: small files wait for the large parse,
    # and there is never a second child's memory (~0.6-0.9 GB) to find.
    small_file_lane: bool = True
    # Legacy Office, WPS, RTF and OpenDocument files are converted by LibreOffice headless
    # (EPUB by pandoc) before parsing (ingest.office_convert): the most one conversion may
    # take, in seconds and in address space (LibreOffice maps ~1 GiB before reading a byte).
    convert_timeout_s: float = Field(default=120.0, gt=0)
    convert_max_memory_mib: int = Field(default=3072, ge=0)
    soffice: str = "soffice"
    pandoc: str = "pandoc"
    # Office text the author did not put on the page, indexed only when asked
    # (ingest.office_extras): Word comments, tracked changes (inserted and deleted text),
    # hidden worksheets, charts' titles.
    office_comments: bool = False
    office_tracked_changes: bool = False
    office_hidden_sheets: bool = False
    office_chart_titles: bool = False
