"""Text in DOCX, XLSX and PPTX files that unstructured's readers leave out, read from the
package's XML.

Always, since a reader sees it: Japanese/Chinese ruby (python-docx reads no run inside
``w:ruby``, so a paragraph of annotated kanji came out empty; the base text is kept with its
reading in parentheses, "漢字(かんじ)"), text inserted as a tracked change (python-docx reads
no run inside ``w:ins`` either: such a paragraph is completed where the reader left it, as
Word shows it, changes accepted) and text boxes and shapes on worksheets (xlsx drawings). As
options (``ParsingSettings``, off by default: what the author did not put on the page): Word
comments, tracked changes listed as such (deleted text, and inserted text the body lacks,
"修订 Tracked changes", by author), charts' titles, axis titles, series names and data
(:mod:`ingest.office_charts`), and hidden worksheets (unstructured reads every sheet; without
the option, the hidden ones are dropped). Text already found by the main reader is not
added twice. Sizes were bounded before this (``check_archive_safety``).
"""

from __future__ import annotations

import dataclasses
import io
import logging
import re
import zipfile
from collections.abc import Iterator
from typing import Any

from core.settings_parsing import ParsingSettings
from ingest.office_charts import WorkbookCells, chart_texts
from ingest.types import Element

logger = logging.getLogger(__name__)
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
_C = "{http://schemas.openxmlformats.org/drawingml/2006/chart}"
_S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
COMMENTS_SECTION = "批注 Comments"
TRACKED_SECTION = "修订 Tracked changes"
TEXT_BOX_SECTION = "文本框 Text box"
CHART_SECTION = "图表 Chart"
_SPACE = re.compile(r"\s+")
_CHARTS = re.compile(r"^(word|xl|ppt)/charts/chart\d+\.xml$")
_DRAWINGS = re.compile(r"^xl/drawings/drawing\d+\.xml$")


def complete_office_text(
    data: bytes, file_format: str, elements: list[Element], settings: ParsingSettings
) -> list[Element]:
    """``elements`` with the text the reader missed added at the end (each under a section
    saying what it is) and, for a workbook, its hidden sheets dropped unless asked for."""
    if file_format not in ("docx", "xlsx", "pptx"):
        return elements
    try:
        return _complete(data, file_format, elements, settings)
    except Exception as exc:  # malformed XML in a part the main reader did not need
        logger.warning("could not read the extra Office text", exc_info=exc)
        return elements


def _complete(
    data: bytes, file_format: str, elements: list[Element], settings: ParsingSettings
) -> list[Element]:
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        names = set(package.namelist())
        if file_format == "xlsx" and not settings.office_hidden_sheets:
            hidden = _hidden_sheets(package, names)
            elements = [
                e for e in elements if not (e.section_path[:1] and e.section_path[0] in hidden)
            ]
        seen = _SPACE.sub("", "".join(e.text for e in elements))
        extra: list[Element] = []

        def add(text: str, section: tuple[str, ...]) -> None:
            nonlocal seen
            flat = _SPACE.sub("", text)
            if flat and flat not in seen:
                extra.append(Element(text, "text", None, section))
                seen += flat

        docx = file_format == "docx" and "word/document.xml" in names
        raw = package.read("word/document.xml") if docx else b""
        # Parsed only when there is something to find: most documents have neither.
        if raw and (b":ruby" in raw or b":ins " in raw or b":del " in raw):
            body = _xml(raw)
            for paragraph in body.iter(f"{_W}p"):
                if paragraph.find(f".//{_W}ruby") is not None or _inserts_text(paragraph):
                    whole = _paragraph_text(paragraph)
                    # The reader's own copy of the paragraph lacks the inserted runs: it is
                    # completed where it stands instead of the whole paragraph added again.
                    at = _reader_copy(elements, _SPACE.sub("", _reader_text(paragraph)))
                    if at is not None and _SPACE.sub("", whole) not in seen:
                        seen += _SPACE.sub("", whole)
                        elements = list(elements)
                        elements[at] = dataclasses.replace(elements[at], text=whole)
                    else:
                        add(whole, ())
            if settings.office_tracked_changes:
                # Inserted text is already in the body (as Word shows it): listed here only
                # where the body lacks it, so that no text is indexed twice. Deleted text is
                # nowhere else. Each under its author, when the change names one.
                for kind, label in (("ins", "插入 Inserted"), ("del", "删除 Deleted")):
                    for change in body.iter(f"{_W}{kind}"):
                        text = _word_text(change)
                        author = change.get(f"{_W}author") or ""
                        section = (TRACKED_SECTION, label, *([author] if author else []))
                        if kind == "ins":
                            add(text, section)
                        elif text:
                            extra.append(Element(text, "text", None, section))
            if settings.office_comments and "word/comments.xml" in names:
                for comment in _xml(package.read("word/comments.xml")).iter(f"{_W}comment"):
                    author = comment.get(f"{_W}author") or ""
                    text = "\n".join(_word_text(p) for p in comment.iter(f"{_W}p")).strip()
                    if text:
                        section = (COMMENTS_SECTION, author) if author else (COMMENTS_SECTION,)
                        extra.append(Element(text, "text", None, section))
        # An XLSX chart written without caches (openpyxl's) names its cells: read from the sheets.
        cells = WorkbookCells(package, names, _xml) if file_format == "xlsx" else None
        for name in sorted(names):
            if _DRAWINGS.match(name):
                for box in _xml(package.read(name)).iter("{*}txBody"):  # xdr: in sheets
                    add(_drawing_text(box), (TEXT_BOX_SECTION,))
            elif settings.office_chart_titles and _CHARTS.match(name):
                for text in chart_texts(_xml(package.read(name)), cells):
                    add(text, (CHART_SECTION,))
    return elements + extra


def _xml(raw: bytes) -> Any:
    from lxml import etree

    # No entities, no network, no DTD: the package is untrusted.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(raw, parser)


def _hidden_sheets(package: zipfile.ZipFile, names: set[str]) -> set[str]:
    if "xl/workbook.xml" not in names:
        return set()
    workbook = _xml(package.read("xl/workbook.xml"))
    return {
        sheet.get("name", "")
        for sheet in workbook.iter(f"{_S}sheet")
        if sheet.get("state") in ("hidden", "veryHidden")
    }


def _reader_text(paragraph: Any) -> str:
    """The paragraph as python-docx (unstructured's reader) reads it: its runs' text, none
    inside a tracked change or a ruby."""
    skipped = (f"{_W}ins", f"{_W}del", f"{_W}ruby", f"{_W}moveFrom", f"{_W}moveTo")
    parts = []
    for text in paragraph.iter(f"{_W}t"):
        node = text.getparent()
        while node is not None and node is not paragraph and node.tag not in skipped:
            node = node.getparent()
        if node is paragraph:
            parts.append(text.text or "")
    return "".join(parts)


def _reader_copy(elements: list[Element], flat: str) -> int | None:
    """Where the reader's copy of a paragraph (``flat``: its text without white space) is."""
    if not flat:
        return None
    for index, element in enumerate(elements):
        if element.kind != "table" and _SPACE.sub("", element.text) == flat:
            return index
    return None


def _inserts_text(paragraph: Any) -> bool:
    return any(change.find(f".//{_W}t") is not None for change in paragraph.iter(f"{_W}ins"))


def _paragraph_text(paragraph: Any) -> str:
    """The paragraph as Word shows it with its changes accepted: inserted runs in, deleted
    ones out, ruby as base(reading)."""
    return "".join(_ruby_parts(paragraph)).strip()


def _ruby_parts(node: Any) -> Iterator[str]:
    for child in node:
        if child.tag == f"{_W}ruby":
            base = "".join(t.text or "" for t in child.iter(f"{_W}t") if _in_base(t, child))
            reading = "".join(
                t.text or "" for rt in child.iter(f"{_W}rt") for t in rt.iter(f"{_W}t")
            )
            yield f"{base}({reading})" if reading else base
        elif child.tag == f"{_W}t":
            yield child.text or ""
        elif child.tag == f"{_W}tab":
            yield "\t"
        elif child.tag not in (f"{_W}del", f"{_W}rPr", f"{_W}pPr"):
            yield from _ruby_parts(child)


def _in_base(text: Any, ruby: Any) -> bool:
    node = text.getparent()
    while node is not None and node is not ruby:
        if node.tag == f"{_W}rt":
            return False
        node = node.getparent()
    return True


def _word_text(node: Any) -> str:
    return "".join(t.text or "" for t in node.iter(f"{_W}t", f"{_W}delText")).strip()


def _drawing_text(body: Any) -> str:
    lines = ["".join(t.text or "" for t in p.iter(f"{_A}t")) for p in body.iter(f"{_A}p")]
    return "\n".join(line for line in lines if line.strip()).strip()
