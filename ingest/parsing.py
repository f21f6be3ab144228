"""Bytes → :class:`~ingest.types.ParsedDocument`: checks, the right partitioner, our elements.

Plain text is read by :mod:`ingest.plain_text` (no unstructured, no spaCy) unless
``ParsingSettings.plain_text`` asks for unstructured's ``partition_text``. Every other format goes
to its own unstructured partitioner with explicit arguments (never ``partition`` with ``auto``):
PDFs through :mod:`ingest.pdf`; e-mail without attachments (``process_attachments`` defaults to
on and would parse any attached file type, past our checks and limits). The first such call
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
import time
from collections.abc import Callable
from typing import Any

from core.errors import InvalidInput, UnprocessableDocument
from core.settings import LimitsSettings, ParsingSettings
from ingest import unstructured_runtime
from ingest.elements import to_elements
from ingest.formats import check_archive_safety, detect_type, safe_filename
from ingest.parse_failures import plain_reason
from ingest.pdf import OcrBudget, partition_pdf_pages
from ingest.plain_text import parse_plain_text
from ingest.text_decoding import decode_text
from ingest.types import Element, ParsedDocument

logger = logging.getLogger(__name__)

# Format key → (module, function, keyword arguments) of its partitioner.
_PARTITIONERS: dict[str, tuple[str, str, dict[str, object]]] = {
    "docx": ("unstructured.partition.docx", "partition_docx", {}),
    "pptx": ("unstructured.partition.pptx", "partition_pptx", {}),
    "xlsx": ("unstructured.partition.xlsx", "partition_xlsx", {}),
    "html": ("unstructured.partition.html", "partition_html", {}),
    "md": ("unstructured.partition.md", "partition_md", {}),
    "txt": ("unstructured.partition.text", "partition_text", {}),
    "csv": ("unstructured.partition.csv", "partition_csv", {}),
    "tsv": ("unstructured.partition.tsv", "partition_tsv", {}),
    "eml": ("unstructured.partition.email", "partition_email", {"process_attachments": False}),
    "msg": ("unstructured.partition.msg", "partition_msg", {"process_attachments": False}),
}
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
    data: bytes, filename: str, settings: ParsingSettings, limits: LimitsSettings
) -> ParsedDocument:
    started = time.monotonic()
    name = safe_filename(filename)
    if len(data) > limits.max_upload_bytes:
        raise InvalidInput(f"{name} is {len(data):,} bytes (limit {limits.max_upload_bytes:,})")
    file_format = detect_type(data, name)
    check_archive_safety(data, limits)
    facts: dict[str, object] = {"format": file_format}
    if file_format == "txt" and settings.plain_text == "fast":
        text, facts["encoding"] = decode_text(data, name)
        elements = parse_plain_text(text)
        facts["strategy"] = "plain_text"
    else:
        elements = _partition(data, name, file_format, settings, started, facts)
    if not any(element.kind not in _BOILERPLATE for element in elements):
        if file_format in ("eml", "msg"):
            raise UnprocessableDocument("the e-mail has no readable body (it may be encrypted)")
        raise UnprocessableDocument(f"no text found in {name}")
    facts["elements"] = len(elements)
    facts["parse_seconds"] = round(time.monotonic() - started, 3)
    return ParsedDocument(elements=elements, metadata=facts)


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
            raw = _partitioner(file_format)(
                file=io.BytesIO(data), metadata_filename=name, languages=languages
            )
            facts["strategy"] = "native"
    except (UnprocessableDocument, *_installation_faults()):
        raise
    except Exception as exc:
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
