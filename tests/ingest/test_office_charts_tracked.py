"""Charts' data (category names and values, typed-in data labels) in XLSX, PPTX and DOCX charts
when the chart option is on, from the chart's caches or, for a chart that keeps only cell
references, from the sheet; and tracked insertions indexed once, in place, with the
tracked-changes option on or off. Chinese and English throughout."""

from __future__ import annotations

import io

import docx
import openpyxl
import pptx
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.opc.packuri import PackURI
from docx.opc.part import Part
from docx.oxml import parse_xml
from openpyxl.chart import BarChart, Reference
from pptx.chart.data import CategoryChartData
from pptx.chart.xmlwriter import ChartXmlWriter
from pptx.enum.chart import XL_CHART_TYPE
from pptx.util import Inches

from core.settings import LimitsSettings
from core.settings_parsing import ParsingSettings
from ingest.office_extras import CHART_SECTION, TRACKED_SECTION
from ingest.parsing import parse_document
from ingest.types import Element

_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
_CHART_TYPE = "application/vnd.openxmlformats-officedocument.drawingml.chart+xml"


def _parse(data: bytes, name: str, **options: bool) -> list[Element]:
    return parse_document(data, name, ParsingSettings(**options), LimitsSettings()).elements


def _charts(elements: list[Element]) -> list[str]:
    return [e.text for e in elements if e.section_path == (CHART_SECTION,)]


def _chart_data() -> CategoryChartData:
    data = CategoryChartData()
    data.categories = ["华东 East", "华南 South", "華北 North"]
    data.add_series("2024 年销量 Units", (120, 135.5, 98))
    data.add_series("2025 年销量 Units", (150, 140, 101))
    return data


def test_xlsx_chart_data_read_from_its_cells() -> None:
    """openpyxl writes no caches: the chart's series name, categories and values are read
    from the cells its references name."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "销售 Sales"
    sheet.append(["季度 Quarter", "收入 Revenue"])
    for row in (["一季度 Q1", 120], ["二季度 Q2", 135], ["三季度 Q3", 150.25]):
        sheet.append(row)
    chart = BarChart()
    chart.title = "季度收入 Revenue by quarter"
    chart.add_data(Reference(sheet, min_col=2, min_row=1, max_row=4), titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=4))
    sheet.add_chart(chart, "D2")
    out = io.BytesIO()
    book.save(out)
    assert _charts(_parse(out.getvalue(), "sales.xlsx")) == []  # only when asked
    assert _charts(_parse(out.getvalue(), "sales.xlsx", office_chart_titles=True)) == [
        "季度收入 Revenue by quarter",
        "收入 Revenue: 一季度 Q1 120; 二季度 Q2 135; 三季度 Q3 150.25",
    ]


def test_pptx_chart_categories_values_and_typed_data_labels() -> None:
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "区域销量 Regional units"
    frame = slide.shapes.add_chart(
        XL_CHART_TYPE.COLUMN_CLUSTERED, Inches(1), Inches(2), Inches(6), Inches(4), _chart_data()
    )
    label = frame.chart.plots[0].series[1].points[0].data_label
    label.text_frame.text = "创纪录 Record high"
    out = io.BytesIO()
    deck.save(out)
    charts = _charts(_parse(out.getvalue(), "units.pptx", office_chart_titles=True))
    assert charts == [
        "2024 年销量 Units: 华东 East 120; 华南 South 135.5; 華北 North 98",
        "2025 年销量 Units: 华东 East 150; 华南 South 140; 華北 North 101",
        "创纪录 Record high",
    ]


def test_docx_chart_data_from_its_caches() -> None:
    """A Word chart: its part (``word/charts/chart1.xml``, with caches as Word writes them)
    related to the document and drawn inline in a paragraph."""
    document = docx.Document()
    document.add_paragraph("各区域销量见下图。Units by region below.")
    xml = ChartXmlWriter(XL_CHART_TYPE.PIE, _chart_data()).xml.encode()
    part = Part(PackURI("/word/charts/chart1.xml"), _CHART_TYPE, xml, document.part.package)
    rid = document.part.relate_to(part, RELATIONSHIP_TYPE.CHART)
    drawing = (
        f'<w:r {_W}><w:drawing><wp:inline xmlns:wp="http://schemas.openxmlformats.org/'
        'drawingml/2006/wordprocessingDrawing"><wp:extent cx="5486400" cy="3200400"/>'
        '<wp:docPr id="1" name="Chart 1"/><a:graphic xmlns:a="http://schemas.openxmlformats'
        '.org/drawingml/2006/main"><a:graphicData uri="http://schemas.openxmlformats.org/'
        'drawingml/2006/chart"><c:chart xmlns:c="http://schemas.openxmlformats.org/drawingml/'
        '2006/chart" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
        f'relationships" r:id="{rid}"/></a:graphicData></a:graphic></wp:inline></w:drawing></w:r>'
    )
    document.add_paragraph()._p.append(parse_xml(drawing))
    out = io.BytesIO()
    document.save(out)
    charts = _charts(_parse(out.getvalue(), "report.docx", office_chart_titles=True))
    # A pie shows its first series.
    assert charts == ["2024 年销量 Units: 华东 East 120; 华南 South 135.5; 華北 North 98"]


def _contract() -> bytes:
    document = docx.Document()
    document.add_paragraph("合同修订稿 Contract revision.")
    changed = document.add_paragraph("付款条件 Payment: ")
    changed._p.append(
        parse_xml(
            f'<w:ins {_W} w:id="1" w:author="李明"><w:r><w:t>验收后三十日内付清 within 30 days'
            "</w:t></w:r></w:ins>"
        )
    )
    changed._p.append(
        parse_xml(
            f'<w:del {_W} w:id="2" w:author="王芳"><w:r><w:delText>预付百分之五十</w:delText>'
            "</w:r></w:del>"
        )
    )
    document.add_paragraph("交货地点：上海。Delivery: Shanghai.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_inserted_text_is_indexed_once_in_place_with_or_without_the_option() -> None:
    for options in ({}, {"office_tracked_changes": True}):
        elements = _parse(_contract(), "contract.docx", **options)
        body = [e.text for e in elements if e.section_path[:1] != (TRACKED_SECTION,)]
        # As Word shows it, changes accepted, where the paragraph stands: once.
        assert body == [
            "合同修订稿 Contract revision.",
            "付款条件 Payment: 验收后三十日内付清 within 30 days",
            "交货地点：上海。Delivery: Shanghai.",
        ]
        text = "\n".join(e.text for e in elements)
        assert text.count("验收后三十日内付清") == 1 and text.count("付款条件") == 1
    tracked = [
        (e.section_path, e.text) for e in elements if e.section_path[:1] == (TRACKED_SECTION,)
    ]
    assert tracked == [((TRACKED_SECTION, "删除 Deleted", "王芳"), "预付百分之五十")]
