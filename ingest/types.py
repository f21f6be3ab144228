"""What parsing and chunking produce."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Element:
    """One structural piece of a parsed document, in reading order."""

    text: str
    # "title", "text", "list_item", "table", "code", "caption", "formula", "header", "footer",
    # "page_number", "image" (from unstructured's category; see ingest.elements).
    kind: str
    page: int | None = None
    # Titles enclosing this element, outermost first.
    section_path: tuple[str, ...] = ()
    # For tables: an HTML rendering when the parser gave one (kept for display, not embedded).
    html: str | None = None


@dataclass(frozen=True)
class ParsedDocument:
    elements: list[Element]
    # Parser facts worth recording on the document: strategy, page count, OCR used, language.
    metadata: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A passage ready to embed. ``position`` is its 0-based index in the document."""

    text: str
    position: int
    page: int | None
    section_path: tuple[str, ...]
    # "text" or "table"
    kind: str = "text"
    # Last page the chunk reaches when it spans several.
    page_end: int | None = None
    # For table chunks: the HTML of the rows in this chunk (for display, not embedded).
    html: str | None = None
