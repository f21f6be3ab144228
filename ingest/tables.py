"""Tables as rows of cell texts: parsed from unstructured's HTML, rendered as text lines."""

from __future__ import annotations

import csv
import html as html_lib
import io

from lxml import html as lxml_html

from core.errors import UnprocessableDocument
from ingest.text_decoding import decode_text
from ingest.types import Element

CELL_SEPARATOR = " | "


def table_rows(table_html: str) -> list[list[str]]:
    """Cell texts row by row (``thead`` first), whitespace collapsed. Empty when unparsable."""
    try:
        root = lxml_html.fragment_fromstring(table_html, create_parent="div")
    except (ValueError, TypeError):
        return []
    rows = []
    for row in root.iter("tr"):
        cells = [" ".join(cell.text_content().split()) for cell in row if cell.tag in ("td", "th")]
        if any(cells):
            rows.append(cells)
    return rows


def render_row(cells: list[str]) -> str:
    # Trailing empty cells (spreadsheet padding) carry nothing.
    while cells and not cells[-1]:
        cells = cells[:-1]
    return CELL_SEPARATOR.join(cells)


def render_rows(rows: list[list[str]]) -> str:
    """One line per row, cells joined by `` | ``: keeps rows apart for the reader and the model,
    where unstructured's own text runs every cell into one line."""
    return "\n".join(line for line in (render_row(row) for row in rows) if line)


def rows_to_html(rows: list[list[str]]) -> str:
    body = "".join(
        "<tr>" + "".join(f"<td>{html_lib.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table>{body}</table>"


def csv_table(data: bytes, name: str, delimiter: str | None) -> list[Element]:
    """A CSV/TSV file as one table element, rows padded to the widest (pandas refuses ragged
    rows; a person still sees a table). ``delimiter`` None: sniffed."""
    text, _ = decode_text(data, name)
    sample = text[:8192]
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    rows = [
        [cell.strip() for cell in row] for row in csv.reader(io.StringIO(text), delimiter=delimiter)
    ]
    rows = [row for row in rows if any(row)]
    if not rows:
        raise UnprocessableDocument(f"no text found in {name}")
    width = max(len(row) for row in rows)
    rows = [row + [""] * (width - len(row)) for row in rows]
    body = "".join(
        "<tr>" + "".join(f"<td>{html_lib.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    table_text = "\n".join(" | ".join(row) for row in rows)
    return [Element(table_text, "table", None, (), f"<table>{body}</table>")]
