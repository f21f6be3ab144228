"""The PDF text layer read by pdfium (ingest.pdf_text): blocks, headings by size, nesting,
running headers, hyphenation, and the same results on real PDFs."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import LimitsSettings
from core.settings_parsing import ParsingSettings
from ingest.parsing import parse_document
from ingest.pdf_text import _join
from tests.files import TextRun, styled_pdf
from tests.ingest.helpers import Ingest, parse_bytes

DOCLING = "docling-test-data/pdf/sources"
UNSTRUCTURED = "unstructured-example-docs/pdf"


def _report_page(number: int, body: list[TextRun]) -> list[TextRun]:
    """A page with a running header, a page number in the bottom margin and ``body``."""
    return [
        (False, 9, 72, 760, "Annual Report of the Pump Station Authority"),
        *body,
        (False, 9, 300, 40, str(number)),
    ]


def _report(unit_font: bool = True) -> bytes:
    page_one = [
        (True, 20, 72, 700, "Pump Station Annual Report"),
        (True, 14, 72, 660, "Maintenance"),
        (False, 11, 72, 635, "The north pump was overhauled in March after the bear-"),
        (False, 11, 72, 621, "ings failed during the spring floods of the river basin."),
        (False, 11, 72, 607, "It ran without faults for the rest of the year."),
        (True, 11, 72, 575, "Spare parts"),
        (False, 11, 72, 552, "Two spare impellers are kept in the store room."),
        (False, 11, 80, 530, "\x95 Impeller, stainless steel, 300 mm"),
        (False, 11, 80, 514, "\x95 Seal kit for the north pump"),
    ]
    page_two = [
        (True, 14, 72, 700, "Finances"),
        (False, 11, 72, 675, "Electricity cost 41,000 euros, down from 48,000 euros."),
        (False, 11, 72, 661, "The drop came from the new variable-speed drives."),
        (False, 11, 72, 630, "A second paragraph starts after a wider gap between lines."),
    ]
    return styled_pdf([_report_page(1, page_one), _report_page(2, page_two)], unit_font=unit_font)


@pytest.mark.parametrize("unit_font", [True, False], ids=["size-in-matrix", "size-in-font"])
def test_headings_nest_by_size_and_margins_are_not_content(unit_font: bool) -> None:
    parsed = parse_bytes(_report(unit_font), "report.pdf")
    assert parsed.metadata["strategy"] == "pdfium"
    kinds = [(element.kind, element.text, element.section_path) for element in parsed.elements]
    title = "Pump Station Annual Report"
    assert ("title", title, ()) in kinds
    assert ("title", "Maintenance", (title,)) in kinds
    assert ("title", "Spare parts", (title, "Maintenance")) in kinds
    # A larger heading after a smaller one closes it.
    assert ("title", "Finances", (title,)) in kinds
    by_text = {element.text: element for element in parsed.elements}
    overhaul = next(text for text in by_text if text.startswith("The north pump"))
    # Three lines, one paragraph; the word split across lines is whole again.
    assert "bearings failed" in overhaul and overhaul.endswith("rest of the year.")
    assert by_text[overhaul].section_path == (title, "Maintenance")
    assert by_text[overhaul].page == 1
    items = [e.text for e in parsed.elements if e.kind == "list_item"]
    assert items == ["Impeller, stainless steel, 300 mm", "Seal kit for the north pump"]
    finances = [
        e.text
        for e in parsed.elements
        if e.section_path == (title, "Finances") and e.kind == "text"
    ]
    assert finances == [
        "Electricity cost 41,000 euros, down from 48,000 euros. "
        "The drop came from the new variable-speed drives.",
        "A second paragraph starts after a wider gap between lines.",
    ]
    assert all(e.page == 2 for e in parsed.elements if e.text in finances)
    margins = {e.text: e.kind for e in parsed.elements if e.kind in ("header", "page_number")}
    assert margins == {
        "Annual Report of the Pump Station Authority": "header",
        "1": "page_number",
        "2": "page_number",
    }


def test_a_page_drawn_sideways_is_read_in_its_own_direction() -> None:
    """Landscape content drawn a quarter turn on a portrait page (with ``/Rotate 90``): the
    same blocks, headings and margins as upright text; a line written across it stays alone."""
    page = [
        (False, 9, 72, 580, "Quarterly Operations Review"),
        (True, 18, 72, 520, "Network Outages"),
        (False, 11, 72, 495, "Three outages hit the northern region in the second"),
        (False, 11, 72, 481, "quarter, each shorter than forty minutes."),
        (True, 14, 72, 440, "Causes"),
        (False, 11, 72, 415, "Two were caused by a faulty firmware update."),
        (False, 9, 390, 30, "7"),
    ]
    data = styled_pdf([page], turned=True)
    with_stamp = data.replace(
        b"endstream", b"\nBT /F1 1 Tf 8 0 0 8 20 20 Tm (DRAFT COPY) Tj ET\nendstream", 1
    )
    for pdf in (data, with_stamp):
        parsed = parse_bytes(pdf, "review.pdf")
        kinds = [(e.kind, e.text, e.section_path) for e in parsed.elements]
        assert ("title", "Network Outages", ()) in kinds
        assert ("title", "Causes", ("Network Outages",)) in kinds
        assert (
            "text",
            "Three outages hit the northern region in the second quarter, each shorter than "
            "forty minutes.",
            ("Network Outages",),
        ) in kinds
        assert ("page_number", "7", ("Network Outages", "Causes")) in kinds
    stamp = next(e for e in parse_bytes(with_stamp, "review.pdf").elements if "DRAFT" in e.text)
    assert stamp.kind == "text" and stamp.text == "DRAFT COPY"


def test_body_size_comes_from_running_text_not_diagram_labels() -> None:
    """A diagram with many tiny labels must not become "the body text", or every line of
    the report would be larger than it and turn into a heading. Figures in large type are
    not headings either."""
    labels = [(False, 5, 72 + 60 * (i % 8), 300 + 12 * (i // 8), f"Node {i}") for i in range(80)]
    body = [
        (True, 16, 72, 700, "Network Topology"),
        (False, 11, 72, 675, "The plant network connects every pump station to the control"),
        (False, 11, 72, 661, "room over two independent fibre rings, shown in the diagram below."),
        (False, 11, 72, 640, "Each ring carries the full load when the other one is cut,"),
        (False, 11, 72, 626, "and both rings are tested for a failover every single month."),
        (False, 24, 72, 600, "99.98 %"),
        (False, 11, 72, 580, "Availability of the control network over the last twelve months."),
    ]
    parsed = parse_bytes(styled_pdf([body + labels]), "topology.pdf")
    titles = [e.text for e in parsed.elements if e.kind == "title"]
    assert titles == ["Network Topology"]


def test_running_header_and_page_numbers_stay_out_of_chunks(ingest: Ingest, tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(_report())
    _parsed, chunks = ingest(path)
    text = "\n".join(chunk.text for chunk in chunks)
    assert "Pump Station Authority" not in text
    assert "Seal kit for the north pump" in text


def test_line_joining() -> None:
    assert _join("the bear-", "ings failed") == "the bearings failed"
    assert _join("state-of-the-", "Art") == "state-of-the- Art"  # a capital: not a split word
    assert _join("soft\x02", "ware") == "software"
    assert _join("自然语言", "处理") == "自然语言处理"
    assert _join("ends here.", "Next") == "ends here. Next"


def test_real_pdf_headings_and_lists(docs: Path) -> None:
    parsed = parse_bytes((docs / DOCLING / "multi_page.pdf").read_bytes(), "multi_page.pdf")
    titles = [e.text for e in parsed.elements if e.kind == "title"]
    assert titles[:4] == [
        "The Evolution of the Word Processor",
        "Pre-Digital Era (19th - Early 20th Century)",
        "The Birth of Word Processing (1960s - 1970s)",
        "The Rise of Personal Computers (1980s)",
    ]
    assert len(titles) == 11
    items = [e for e in parsed.elements if e.kind == "list_item"]
    assert items[0].text.startswith("IBM MT/ST (Magnetic Tape/Selectric Typewriter)")
    assert items[0].text.endswith("an early example of digital text storage.")
    assert items[0].section_path[-1] == "The Birth of Word Processing (1960s - 1970s)"


def test_real_paper_paragraphs_survive_a_glyph_without_unicode(docs: Path) -> None:
    """The paper's author line has an icon with no Unicode value; pdfium leaves it out of the
    page text, which would shift every later character's position if not accounted for."""
    name = "layout-parser-paper-fast.pdf"
    parsed = parse_bytes((docs / UNSTRUCTURED / name).read_bytes(), name)
    abstract = next(e for e in parsed.elements if e.text.startswith("Abstract."))
    assert abstract.text.endswith("publicly available at https://layout-parser.github.io.")
    assert "primarily driven by the application of neural networks" in abstract.text
    titles = [e.text for e in parsed.elements if e.kind == "title"]
    assert "1 Introduction" in titles
    assert not any("arXiv" in title for title in titles)  # the rotated side stamp


def test_real_report_nests_sections_and_drops_running_footers(docs: Path, ingest: Ingest) -> None:
    _parsed, chunks = ingest(docs / DOCLING / "redp5110_sampled.pdf")
    fundamentals = next(c for c in chunks if "two fundamental steps in securing" in c.text)
    # The cover's giant type ("ibm.com/redbooks Redpaper", the title in 43 points) does not
    # open every section path.
    assert fundamentals.section_path == (
        "Chapter 1. Securing and protecting IBM DB2 data",
        "1.1 Security fundamentals",
    )
    text = "\n".join(chunk.text for chunk in chunks)
    assert "2 Row and Column Access Control Support in IBM DB2 for i" not in text


def test_pdfminer_reader_is_still_available(docs: Path) -> None:
    data = (docs / DOCLING / "multi_page.pdf").read_bytes()
    settings = ParsingSettings(pdf_text="pdfminer")
    parsed = parse_document(data, "multi_page.pdf", settings, LimitsSettings())
    assert parsed.metadata["strategy"] == "fast"
    assert any("WordStar" in element.text for element in parsed.elements)


def test_text_layer_that_pdfminer_missed_is_read_without_ocr(docs: Path) -> None:
    name = "amt_handbook_sample.pdf"
    parsed = parse_bytes((docs / DOCLING / name).read_bytes(), name)
    assert parsed.metadata["strategy"] == "pdfium"
    assert parsed.metadata["ocr_pages"] == 0
    assert any("Figure 7-26" in element.text for element in parsed.elements)
