"""A PDF's text blocks (:mod:`ingest.pdf_text`) → unstructured elements.

A short block set larger than the body text, or bold where the body is not, is a ``Title``,
with ``category_depth`` from its size rank among the document's heading sizes (so section
paths nest), except a cover page's giant type; a block that starts with a bullet or a list
number is a ``ListItem``; a number alone in the top or bottom margin is a ``PageNumber``; the
same text in the margin of several pages is a ``Header`` or ``Footer`` (kept out of chunks);
everything else is ``NarrativeText``.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from ingest.pdf_tables import PdfTable, place_tables
from ingest.pdf_text import BULLET, Block, Line, PageText, half_point

_PAGE_NUMBER = re.compile(
    r"^(?:page\s+)?[-–]?\s*(?:\d{1,5}|[ivxlc]{1,6})\s*[-–]?(?:\s*(?:/|of)\s*\d{1,5})?$", re.I
)
_BULLET_GLYPH = re.compile(r"^[•●▪◦‣∙·○■□➢►✓]\s*")

# A heading is at least this much larger than the body text (or bold where the body is not).
TITLE_SIZE_RATIO = 1.12
MAX_TITLE_CHARS = 200
MAX_TITLE_LINES = 3
# Lines at least this long are running text, where the body style is measured (when there
# are at least MIN_RUNNING_CHARS of them).
BODY_LINE_CHARS = 25
MIN_RUNNING_CHARS = 100
# Top and bottom share of the page where running headers, footers and page numbers live.
MARGIN_SHARE = 0.08


def to_unstructured(
    pages: list[PageText], filename: str, tables: dict[int, list[PdfTable]] | None = None
) -> list[Any]:
    """unstructured elements for the pages' blocks, in reading order; ``tables`` (by 1-based
    page) replace the lines they hold (:mod:`ingest.pdf_tables`)."""
    from unstructured.documents.elements import (
        ElementMetadata,
        Footer,
        Header,
        ListItem,
        NarrativeText,
        PageNumber,
        Table,
        Title,
    )

    laid_out = [
        place_tables(page, tables[number]) if tables and number in tables else list(page.blocks)
        for number, page in enumerate(pages, 1)
    ]
    # Styles, headings and running heads are measured on text outside tables only.
    pages = [
        PageText(page.bottom, page.top, [b for b in items if isinstance(b, Block)])
        for page, items in zip(pages, laid_out, strict=True)
    ]
    blocks = [block for page in pages for block in page.blocks]
    body_size, body_bold = _body_style(blocks)
    running = _running_texts(pages)
    headings = [b for b in blocks if _is_heading(b, body_size, body_bold)]
    cover = _cover_sizes(blocks, headings, body_size)
    headings = [b for b in headings if _size_key(b.first.size, body_size) not in cover]
    depths = _heading_depths(headings, body_size)
    depth_of = {id(b): depths[_size_key(b.first.size, body_size)] for b in headings}
    out: list[Any] = []
    for page, items in zip(pages, laid_out, strict=True):
        for block in items:
            if isinstance(block, PdfTable):
                metadata = ElementMetadata(filename=filename, page_number=block.page)
                metadata.text_as_html = block.html()
                text = "\n".join(" | ".join(row) for row in block.rows)
                out.append(Table(text=text, metadata=metadata))
                continue
            text = block.text().replace("\x02", "").strip()
            if not text:
                continue
            metadata = ElementMetadata(filename=filename, page_number=block.first.page)
            margin = _in_margin(block, page)
            if margin and _PAGE_NUMBER.match(text):
                out.append(PageNumber(text=text, metadata=metadata))
            elif margin and _running_key(text) in running:
                kind = Header if margin == "top" else Footer
                out.append(kind(text=text, metadata=metadata))
            elif id(block) in depth_of:
                metadata.category_depth = depth_of[id(block)]
                out.append(Title(text=text, metadata=metadata))
            elif BULLET.match(text):
                out.append(ListItem(text=_BULLET_GLYPH.sub("", text), metadata=metadata))
            else:
                out.append(NarrativeText(text=text, metadata=metadata))
    return out


def _body_style(blocks: list[Block]) -> tuple[float, bool]:
    """The size and weight of the running text.

    Running text is measured two ways: lines in paragraphs of two lines or more, and lines of
    some length. Each gives the size most of its characters are set in, and the larger of the
    two wins. Diagrams fool each measure in turn (small labels stacked in a box make
    paragraphs; a row of labels, which pdfium joins into one line, makes a long line), and a
    body size taken too small turns every larger line into a heading, which is the worse
    mistake: too large only misses some headings."""
    lines = [line for block in blocks for line in block.lines]
    measures = [
        [line for block in blocks if len(block.lines) > 1 for line in block.lines],
        [line for line in lines if len(line.text) >= BODY_LINE_CHARS],
    ]
    modes = [_mode_size(m) for m in measures if sum(len(x.text) for x in m) >= MIN_RUNNING_CHARS]
    size = max(modes) if modes else _mode_size(lines)
    if size is None:
        return 1.0, False
    at_size = [line for line in lines if half_point(line.size) == size]
    bold_chars = sum(len(line.text) for line in at_size if line.bold)
    return size, bold_chars * 2 > sum(len(line.text) for line in at_size)


def _mode_size(lines: list[Line]) -> float | None:
    """The font size (to half a point) that most characters of ``lines`` are set in."""
    sizes: Counter[float] = Counter()
    for line in lines:
        sizes[half_point(line.size)] += len(line.text)
    return sizes.most_common(1)[0][0] if sizes else None


def _is_heading(block: Block, body_size: float, body_bold: bool) -> bool:
    first = block.first
    if first.rotated or len(block.lines) > MAX_TITLE_LINES:
        return False
    text = block.text()
    if len(text) > MAX_TITLE_CHARS or _PAGE_NUMBER.match(text):
        return False
    letters = sum(ch.isalpha() for ch in text)
    if letters < 2 or letters < sum(ch.isdigit() for ch in text):
        return False  # a figure in large type ("67,845 crore"), not a heading
    if first.size >= body_size * TITLE_SIZE_RATIO:
        return True
    short_phrase = len(text) <= 120 and not text.rstrip().endswith((".", ",", ";", "。"))
    return first.bold and not body_bold and first.size >= body_size * 0.95 and short_phrase


def _size_key(size: float, body_size: float) -> float:
    """Heading sizes within 4% of each other are one level."""
    return round(size / body_size / 0.04) * 0.04


def _cover_sizes(blocks: list[Block], headings: list[Block], body_size: float) -> set[float]:
    """Heading sizes of a cover page: used only on a first page that has hardly any running
    text, and larger than every heading after it ("ibm.com/redbooks", a report's name in 43
    points). As headings they would open every section path of the document and head every
    chunk; they stay text of the first page instead. A title above body text on the first
    page (a paper, a memo) stays a heading."""
    later = [_size_key(b.first.size, body_size) for b in headings if b.first.page > 1]
    heading_ids = {id(b) for b in headings}
    first_page_text = sum(
        len(b.text()) for b in blocks if b.first.page == 1 and id(b) not in heading_ids
    )
    if not later or first_page_text >= 2 * MIN_RUNNING_CHARS:
        return set()
    first = {_size_key(b.first.size, body_size) for b in headings if b.first.page == 1}
    return {key for key in first if key > max(later)}


def _heading_depths(headings: list[Block], body_size: float) -> dict[float, int]:
    keys = sorted({_size_key(b.first.size, body_size) for b in headings}, reverse=True)
    return {key: depth for depth, key in enumerate(keys)}


def _in_margin(block: Block, page: PageText) -> str | None:
    if block.first.rotated:
        return None
    band = (page.top - page.bottom) * MARGIN_SHARE
    if block.first.y > page.top - band:
        return "top"
    if block.lines[-1].y_last < page.bottom + band:
        return "bottom"
    return None


def _running_key(text: str) -> str:
    return re.sub(r"\b(?:\d+|[ivxlc]+)\b", "#", text.lower()).strip()


def _running_texts(pages: list[PageText]) -> set[str]:
    """Margin texts repeated on at least two pages and on a third of them (digits ignored)."""
    if len(pages) < 2:
        return set()
    seen: Counter[str] = Counter()
    for page in pages:
        seen.update({_running_key(b.text()) for b in page.blocks if _in_margin(b, page)})
    needed = max(2, len(pages) // 3)
    return {key for key, count in seen.items() if count >= needed}
