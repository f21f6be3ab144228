"""Ruled tables in a PDF's text layer, kept as tables.

pdfium reads a table's cells as loose lines, and the block grouping then runs them together
with the paragraph below ("年份主体信用评级评级机构 2022 年 AA+ 中诚信国际 …"): no chunk holds a
row, so "2022 年主体信用评级" cannot be answered. Tables drawn with ruling lines (almost every
table in a prospectus, a contract's schedule, a financial statement) are found by pdfplumber's
line strategy on the pages whose content has enough straight path objects to draw one; the
text lines inside a table are taken out of the page's blocks and the table, row by row, goes in
their place. Tables without rules stay text: guessing columns from whitespace breaks far more
paragraphs than it saves tables.
"""

from __future__ import annotations

import html
import io
import logging
from dataclasses import dataclass

from ingest.cjk import join_words
from ingest.pdf_text import Block, Line, PageText

logger = logging.getLogger(__name__)

# Path objects a page needs before it is searched (a 2 × 2 ruled table draws at least 4).
MIN_RULES = 4
_SLACK = 2.0  # points: a glyph's baseline may sit on the cell's border
_SETTINGS = {"vertical_strategy": "lines", "horizontal_strategy": "lines"}


@dataclass(frozen=True)
class PdfTable:
    """A table's cells, and where it is in PDF user space (y grows upwards, as pdfium's)."""

    page: int
    x0: float
    x1: float
    y_bottom: float
    y_top: float
    rows: list[list[str]]

    def holds(self, line: Line) -> bool:
        return (
            line.turn == 0
            and not line.rotated
            and line.x0 >= self.x0 - _SLACK
            and line.x1 <= self.x1 + _SLACK
            and self.y_bottom - _SLACK <= line.y <= self.y_top + _SLACK
        )

    def html(self) -> str:
        head, *body = self.rows
        cells = "".join(f"<th>{html.escape(c)}</th>" for c in head)
        out = [f"<table><thead><tr>{cells}</tr></thead><tbody>"]
        for row in body:
            out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
        out.append("</tbody></table>")
        return "".join(out)


def find_tables(data: bytes, pages: list[int]) -> dict[int, list[PdfTable]]:
    """Ruled tables of at least two rows and two columns on ``pages`` (1-based). A page
    pdfplumber cannot read keeps its text as it was."""
    if not pages:
        return {}
    import pdfplumber

    out: dict[int, list[PdfTable]] = {}
    try:
        with pdfplumber.open(io.BytesIO(data), pages=pages) as pdf:
            for page in pdf.pages:
                try:
                    found = page.find_tables(_SETTINGS)
                    # pdfplumber measures from the top of the media box, pdfium from its bottom.
                    top = float(page.mediabox[3])
                    tables = [_table(page.page_number, t, top) for t in found]
                except Exception as exc:
                    logger.warning("table search failed on page %s", page.page_number, exc_info=exc)
                    continue
                kept = [t for t in tables if t is not None]
                if kept:
                    out[page.page_number] = kept
    except Exception as exc:  # pdfminer could not open what pdfium could: no tables, text stays
        logger.warning("table search could not read the PDF", exc_info=exc)
        return {}
    return out


def _table(page: int, found: object, top: float) -> PdfTable | None:
    rows = [[_cell(c) for c in row] for row in found.extract()]  # type: ignore[attr-defined]
    rows = [row for row in rows if any(row)]
    if len(rows) < 2 or max(len(row) for row in rows) < 2:
        return None
    x0, y0, x1, y1 = found.bbox  # type: ignore[attr-defined]
    return PdfTable(page, x0, x1, top - y1, top - y0, rows)


def _cell(value: str | None) -> str:
    # A cell's own line breaks are wrapping; between Chinese characters they join without a space.
    text = ""
    for part in (value or "").splitlines():
        if part.strip():
            text = join_words(text, part.strip())
    return text


def place_tables(page: PageText, tables: list[PdfTable]) -> list[Block | PdfTable]:
    """The page's blocks with the lines inside ``tables`` taken out (a block cut by a table
    becomes the part above and the part below) and each table where its first line was."""
    out: list[Block | PdfTable] = []
    placed: set[int] = set()
    for block in page.blocks:
        current = Block()
        for line in block.lines:
            table = next((t for t in tables if t.holds(line)), None)
            if table is None:
                current.lines.append(line)
                continue
            if current.lines:
                out.append(current)
                current = Block()
            if id(table) not in placed:
                placed.add(id(table))
                out.append(table)
        if current.lines:
            out.append(current)
    # A table whose text pdfium did not report as lines (an image of text inside rules).
    out.extend(t for t in tables if id(t) not in placed)
    return out
