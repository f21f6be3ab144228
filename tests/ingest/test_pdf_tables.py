"""Ruled tables in PDFs stay tables: each row keeps its cells together (a year, a rating and
an agency in one row), the paragraph after the table stays a paragraph, and a chunk of the
table repeats its header row. The PDFs are made by LibreOffice from documents the test
writes, in Chinese and English, as an office would make them."""

from __future__ import annotations

import io

import docx
import pytest

from ingest.chunking import Chunker
from tests.files import saved_by_libreoffice
from tests.ingest.helpers import parse_bytes

RATINGS = [
    ("年份", "主体信用评级", "评级机构"),
    ("2022 年", "AA+", "中诚信国际"),
    ("2023 年", "AAA", "联合资信"),
    ("2024 年", "AAA", "大公国际"),
]
PRICES = [
    ("Item", "Unit price", "Delivery"),
    ("Pump P-100", "3,200 CNY", "30 days"),
    ("Valve V-20", "480 CNY", "14 days"),
]


def _pdf_of(document: docx.Document) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return saved_by_libreoffice(out.getvalue(), ".docx", "pdf")


def _add_table(document: docx.Document, rows: list[tuple[str, ...]]) -> None:
    table = document.add_table(rows=len(rows), cols=len(rows[0]))
    table.style = "Table Grid"
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.cell(r, c).text = value


@pytest.fixture(scope="module")
def prospectus() -> bytes:
    document = docx.Document()
    document.add_heading("发行人主体信用评级情况", level=1)
    document.add_paragraph("根据评级机构出具的报告，发行人近三年的主体信用评级如下表所示。")
    _add_table(document, RATINGS)
    document.add_paragraph("评级展望为稳定。")
    document.add_heading("Price list", level=1)
    _add_table(document, PRICES)
    document.add_paragraph("Prices include VAT.")
    # A one-cell box is a frame, not a table: its text stays a paragraph.
    _add_table(document, [("注：本表数据未经审计。",)])
    return _pdf_of(document)


def test_rows_keep_their_cells_together(prospectus: bytes) -> None:
    parsed = parse_bytes(prospectus, "募集说明书.pdf")
    tables = [e for e in parsed.elements if e.kind == "table"]
    assert [t.text for t in tables] == [
        "\n".join(" | ".join(row) for row in RATINGS),
        "\n".join(" | ".join(row) for row in PRICES),
    ]
    assert parsed.metadata["ruled_tables"] == 2
    assert all(t.html and "<th>" in t.html for t in tables)
    texts = [e.text for e in parsed.elements if e.kind == "text"]
    # What follows a table is its own paragraph, not glued to the last row.
    assert "评级展望为稳定。" in texts
    assert "Prices include VAT." in texts
    assert "注：本表数据未经审计。" in texts


def test_a_table_chunk_answers_a_row_question(prospectus: bytes, chunker: Chunker) -> None:
    parsed = parse_bytes(prospectus, "募集说明书.pdf")
    chunks = chunker.chunk(parsed.elements)
    rating = next(c for c in chunks if c.kind == "table" and "中诚信国际" in c.text)
    assert "2022 年 | AA+ | 中诚信国际" in rating.text
    assert "年份 | 主体信用评级 | 评级机构" in rating.text
    assert rating.section_path == ("发行人主体信用评级情况",)
