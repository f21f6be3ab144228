"""Bytes → :class:`~ingest.types.ParsedDocument`: checks, the right partitioner, our elements.

Plain text is read by :mod:`ingest.plain_text` (no unstructured, no spaCy) unless
``ParsingSettings.plain_text`` asks for unstructured's ``partition_text``. Every other format goes
to its own unstructured partitioner with explicit arguments (never ``partition`` with ``auto``):
PDFs through :mod:`ingest.pdf`; images through :mod:`ingest.images` (OCR); legacy Office, WPS,
RTF, OpenDocument and EPUB converted first (:mod:`ingest.office_convert`). E-mail bodies go
through unstructured without their attachments (its ``process_attachments`` would parse any
attached type past our checks and limits); each attachment is parsed here like an upload and
appended under a section naming it (:mod:`ingest.attachments`). The first such call
imports unstructured and loads the spaCy model (~5 s); later calls reuse both. Safe to call
from several threads and from Celery prefork children.

Failures say what is wrong with the file: ``InvalidInput`` for the name or size the caller
sent, ``UnprocessableDocument`` for content that can never be parsed (empty, corrupt,
password-protected, unsupported, a zip bomb, no text at all), in plain words
(:mod:`ingest.parse_failures`); the library's own exception goes to the log, with the file's
name. Faults of the installation (missing spaCy model, missing tesseract) propagate unchanged:
retrying after a fix can succeed.
"""

from __future__ import annotations

import importlib
import io
import logging
import re
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from core.errors import InvalidInput, UnprocessableDocument
from core.settings import LimitsSettings
from core.settings_parsing import ParsingSettings
from ingest import unstructured_runtime
from ingest.attachments import (
    ATTACHMENT_SECTION,
    EMBEDDED_SECTION,
    PICTURE_SECTION,
    email_attachments,
    office_embeddings,
    office_pictures,
)
from ingest.elements import to_elements
from ingest.formats import check_archive_safety, detect_type, safe_filename
from ingest.furniture import keep_distinct_furniture
from ingest.images import IMAGE_FORMATS, images_to_pdf
from ingest.office_convert import CONVERTED_FORMATS, ROUND_TRIPS, ConvertLimits, convert
from ingest.office_extras import complete_office_text
from ingest.parse_failures import plain_reason
from ingest.pdf import OcrBudget, partition_pdf_pages
from ingest.plain_text import parse_plain_text
from ingest.sheet_limits import check_sheet_rows
from ingest.tables import csv_table
from ingest.text_decoding import decode_text
from ingest.types import Element, ParsedDocument

logger = logging.getLogger(__name__)

# Format key → (module, function, keyword arguments) of its partitioner.
_PARTITIONERS: dict[str, tuple[str, str, dict[str, object]]] = {
    "docx": ("unstructured.partition.docx", "partition_docx", {}),
    # Speaker notes are text a presenter wrote for the slide: often its real content.
    "pptx": ("unstructured.partition.pptx", "partition_pptx", {"include_slide_notes": True}),
    "xlsx": ("unstructured.partition.xlsx", "partition_xlsx", {}),
    "html": ("unstructured.partition.html", "partition_html", {}),
    "md": ("unstructured.partition.md", "partition_md", {}),
    "txt": ("unstructured.partition.text", "partition_text", {}),
    "csv": ("unstructured.partition.csv", "partition_csv", {}),
    "tsv": ("unstructured.partition.tsv", "partition_tsv", {}),
    "eml": ("unstructured.partition.email", "partition_email", {"process_attachments": False}),
    "msg": ("unstructured.partition.msg", "partition_msg", {"process_attachments": False}),
}
# An Office file with less text than this (a scan pasted into Word, a deck of screenshots) has
# its pictures OCR'd.
MIN_TEXT_BEFORE_PICTURES = 100
# Kinds that carry no content of their own.
_BOILERPLATE = frozenset({"header", "footer", "page_number", "image"})


def _installation_faults() -> tuple[type[BaseException], ...]:
    from unstructured_pytesseract import TesseractNotFoundError

    return (
        unstructured_runtime.SpacyModelError,
        TesseractNotFoundError,
        FileNotFoundError,
        MemoryError,
    )


def parse_document(
    data: bytes,
    filename: str,
    settings: ParsingSettings,
    limits: LimitsSettings,
    *,
    attachments: bool = True,
) -> ParsedDocument:
    started = time.monotonic()
    name = safe_filename(filename)
    if len(data) > limits.max_upload_bytes:
        raise InvalidInput(f"{name} is {len(data):,} bytes (limit {limits.max_upload_bytes:,})")
    file_format = detect_type(data, name)
    check_archive_safety(data, limits)
    facts: dict[str, object] = {"format": file_format}
    if file_format in CONVERTED_FORMATS:
        data, name, file_format = _converted(data, name, file_format, settings, facts)
        check_archive_safety(data, limits)
    if file_format == "xlsx":  # converted spreadsheets (xls, ods, et) too
        check_sheet_rows(data, settings.max_sheet_rows)
    if file_format == "txt" and settings.plain_text == "fast":
        text, facts["encoding"] = decode_text(data, name)
        elements = parse_plain_text(text)
        facts["strategy"] = "plain_text"
    else:
        elements = _partition(data, name, file_format, settings, started, facts)
        elements = complete_office_text(data, file_format, elements, settings)
    has_text = any(element.kind not in _BOILERPLATE for element in elements)
    if file_format in ("eml", "msg"):
        if attachments:  # signatures and encrypted payloads are not among them
            elements = elements + _attachment_elements(
                data, name, file_format, settings, limits, facts
            )
            has_text = any(element.kind not in _BOILERPLATE for element in elements)
        if not has_text:
            raise UnprocessableDocument("the e-mail has no readable body (it may be encrypted)")
    if file_format in ("docx", "xlsx", "pptx") and attachments:
        elements = elements + _attachment_elements(
            data, name, file_format, settings, limits, facts, embedded=True
        )
        own_text = sum(len(e.text) for e in elements if e.kind not in _BOILERPLATE)
        if own_text < MIN_TEXT_BEFORE_PICTURES:
            elements = elements + _attachment_elements(
                data, name, file_format, settings, limits, facts, pictures=True
            )
        has_text = any(e.kind not in _BOILERPLATE for e in elements)
    if not has_text:
        raise UnprocessableDocument(f"no text found in {name}")
    if file_format != "pdf" and file_format not in IMAGE_FORMATS:
        # A PDF's running heads were told from content by their repetition (ingest.pdf_elements).
        elements = keep_distinct_furniture(elements)
    facts["elements"] = len(elements)
    facts["parse_seconds"] = round(time.monotonic() - started, 3)
    return ParsedDocument(elements=elements, metadata=facts)


def _attachment_elements(
    data: bytes,
    name: str,
    file_format: str,
    settings: ParsingSettings,
    limits: LimitsSettings,
    facts: dict[str, object],
    *,
    embedded: bool = False,
    pictures: bool = False,
) -> list[Element]:
    """Each attached (or, with ``embedded``, embedded) file's elements under a section naming
    it; one that cannot be read is listed in ``facts["attachments_skipped"]`` with its reason,
    and the parent stands."""
    try:
        if pictures:
            found = office_pictures(data)
        elif embedded:
            found = office_embeddings(data)
        else:
            found = email_attachments(data, file_format)
    except Exception as exc:  # a malformed MIME tree or package: the parent was still read
        logger.warning("could not list what %s carries", name, exc_info=exc)
        facts["attachments_skipped"] = [["*", "the attached files could not be read"]]
        return []
    if not found:
        return []
    heading = PICTURE_SECTION if pictures else EMBEDDED_SECTION if embedded else ATTACHMENT_SECTION
    out: list[Element] = []
    skipped: list[list[str]] = []
    for attachment in found:
        try:
            attached_name = safe_filename(attachment.filename)
            parsed = parse_document(
                attachment.data, attached_name, settings, limits, attachments=False
            )
        except (InvalidInput, UnprocessableDocument) as exc:
            skipped.append([attachment.filename[:200], str(exc)[:300]])
            continue
        section = heading.format(name=attached_name)
        out.extend(
            replace(element, section_path=(section, *element.section_path), page=None)
            for element in parsed.elements
        )
    facts["attachments"] = len(found) - len(skipped)
    if skipped:
        facts["attachments_skipped"] = skipped
    return out


# Text formats unstructured would read as UTF-8 (or guess at): decoded by our own reader first
# (GBK/GB18030, Big5, UTF-16…; a Chinese CSV saved by Excel on Windows is GBK).
_DECODED_FIRST = frozenset({"csv", "tsv", "md", "html", "txt", "eml"})
_DECLARED_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*[\w-]+", re.I)


def _as_utf8(data: bytes, name: str, file_format: str, facts: dict[str, object]) -> bytes:
    """``data`` as UTF-8, from whatever encoding ``ingest.text_decoding`` finds. An HTML page
    that declares its charset is left to the HTML parser, which honours the declaration."""
    if file_format == "html" and _DECLARED_CHARSET.search(data[:4096]):
        return data
    text, encoding = decode_text(data, name)
    if file_format == "eml" and not encoding.startswith(("utf-16", "utf-32")):
        # An 8-bit message's parts declare their own charsets: the MIME parser honours them.
        return data
    facts["encoding"] = encoding
    return data if encoding in ("utf-8", "ascii") else text.encode("utf-8")


def _second_reading(
    data: bytes, name: str, file_format: str, settings: ParsingSettings, facts: dict[str, object]
) -> list[Element] | None:
    """Another way to read a file its partitioner failed on, or None: CSV whose rows do not
    all have the header's length (pandas refuses them; a person sees a table), and modern
    Office files in a dialect python-docx/-pptx/openpyxl cannot read (ISO Strict OOXML),
    saved again by LibreOffice."""
    try:
        if file_format in ("csv", "tsv"):
            facts["strategy"] = "csv_rows"
            return csv_table(data, name, "\t" if file_format == "tsv" else None)
        if file_format in ROUND_TRIPS:
            again = convert(data, name, file_format, _convert_limits(settings))
            raw = _partitioner(file_format)(
                file=io.BytesIO(again.data),
                metadata_filename=name,
                languages=[code for code in settings.ocr_languages.split("+") if code],
            )
            facts.update(strategy="native", converter=again.tool, converted_from=file_format)
            return to_elements(raw)
    except Exception as exc:  # the first reason stands
        logger.info("second reading of %s failed too: %r", name, exc)
    return None


def _convert_limits(settings: ParsingSettings) -> ConvertLimits:
    return ConvertLimits(
        timeout_s=min(settings.convert_timeout_s, settings.timeout_s),
        max_memory_mib=settings.convert_max_memory_mib,
        soffice=settings.soffice,
        pandoc=settings.pandoc,
    )


def _converted(
    data: bytes, name: str, file_format: str, settings: ParsingSettings, facts: dict[str, object]
) -> tuple[bytes, str, str]:
    """A legacy/office-suite file as the modern format it converts to, checked like an upload
    (a converted file can still be a zip bomb), named after the original."""
    started = time.monotonic()
    result = convert(data, name, file_format, _convert_limits(settings))
    facts.update(
        converted_from=file_format,
        converter=result.tool,
        convert_seconds=round(time.monotonic() - started, 3),
    )
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return result.data, f"{stem}.{result.file_format}", result.file_format


def _partition(
    data: bytes,
    name: str,
    file_format: str,
    settings: ParsingSettings,
    started: float,
    facts: dict[str, object],
) -> list[Element]:
    """The file through unstructured (PDFs through :mod:`ingest.pdf`), as our elements."""
    unstructured_runtime.configure()
    languages = [code for code in settings.ocr_languages.split("+") if code]
    try:
        if file_format in IMAGE_FORMATS:
            data, image_facts = images_to_pdf(
                data,
                name,
                dpi=settings.ocr_dpi,
                max_pixels=settings.max_ocr_page_pixels,
                max_pages=settings.max_pages,
                deadline=started + settings.timeout_s,
            )
            facts.update(image_facts)
            file_format = "pdf"
        if file_format == "pdf":
            deadline = started + settings.timeout_s
            raw, pdf_facts = partition_pdf_pages(
                data,
                name,
                languages,
                settings.max_pages,
                deadline,
                settings.pdf_text,
                OcrBudget.of(settings),
            )
            facts.update(pdf_facts)
        else:
            if file_format in _DECODED_FIRST:
                data = _as_utf8(data, name, file_format, facts)
            raw = _partitioner(file_format)(
                file=io.BytesIO(data), metadata_filename=name, languages=languages
            )
            facts["strategy"] = "native"
    except UnprocessableDocument as exc:
        if facts.get("image_pages") and str(exc).startswith("no text found in the PDF"):
            # The PDF was ours (ingest.images); the person uploaded an image.
            raise UnprocessableDocument("no text found in the image, even with OCR") from exc
        raise
    except _installation_faults():
        raise
    except Exception as exc:
        rescued = _second_reading(data, name, file_format, settings, facts)
        if rescued is not None:
            logger.info("read %s the second way after: %r", name, exc)
            return rescued
        # The library's words are for operators; the caller gets a plain reason.
        logger.warning("could not parse %s as %s", name, file_format, exc_info=exc)
        reason = plain_reason(exc, file_format)
        raise UnprocessableDocument(
            f"could not parse {name} as {file_format.upper()}: {reason}"
        ) from exc
    return to_elements(raw, email=file_format in ("eml", "msg"))


def warm_up() -> None:
    """Import unstructured and load the spaCy model now (e.g. in a worker's start-up hook),
    so that the first document does not pay for it."""
    unstructured_runtime.configure()
    unstructured_runtime.english_pipeline()
    for file_format in _PARTITIONERS:
        _partitioner(file_format)
    importlib.import_module("unstructured.partition.pdf")


_loaded: dict[str, Callable[..., list[Any]]] = {}


def _partitioner(file_format: str) -> Callable[..., list[Any]]:
    if file_format not in _loaded:
        module, function, defaults = _PARTITIONERS[file_format]
        partition = getattr(importlib.import_module(module), function)

        def call(**kwargs: Any) -> list[Any]:
            return partition(**defaults, **kwargs)

        _loaded[file_format] = call
    return _loaded[file_format]
