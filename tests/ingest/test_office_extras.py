"""Text in Office files that the main readers leave out: ruby and tracked insertions in DOCX
and text boxes on worksheets always (a reader sees them); comments, tracked changes listed as
such, charts' titles (XLSX, PPTX) and hidden sheets only when the settings ask, in Chinese and
English."""

from __future__ import annotations

import io
import zipfile

import docx
import openpyxl
import pptx
from docx.oxml import parse_xml
from openpyxl.chart import BarChart, Reference
from pptx.chart.data import CategoryChartData
from pptx.enum.chart import XL_CHART_TYPE
from pptx.util import Inches

from core.settings import LimitsSettings
from core.settings_parsing import ParsingSettings
from ingest.office_extras import CHART_SECTION, TEXT_BOX_SECTION, TRACKED_SECTION
from ingest.parsing import parse_document
from ingest.types import Element

_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _parse(data: bytes, name: str, **options: bool) -> list[Element]:
    return parse_document(data, name, ParsingSettings(**options), LimitsSettings()).elements


def _text(elements: list[Element]) -> str:
    return "\n".join(e.text for e in elements)


def _ruby(base: str, reading: str) -> str:
    return (
        f'<w:r {_W}><w:ruby><w:rubyPr><w:rubyAlign w:val="center"/></w:rubyPr>'
        f"<w:rt><w:r><w:t>{reading}</w:t></w:r></w:rt>"
        f"<w:rubyBase><w:r><w:t>{base}</w:t></w:r></w:rubyBase></w:ruby></w:r>"
    )


def _report() -> bytes:
    document = docx.Document()
    document.add_paragraph("合同审阅稿 Contract draft under review.")
    ruby = document.add_paragraph()
    for base, reading in (("漢字", "かんじ"), ("東京", "とうきょう")):
        ruby._p.append(parse_xml(_ruby(base, reading)))
    changed = document.add_paragraph("付款条件：")
    inserted = "<w:r><w:t>验收后三十日内付清</w:t></w:r>"
    deleted = "<w:r><w:delText>预付百分之五十</w:delText></w:r>"
    changed._p.append(parse_xml(f'<w:ins {_W} w:id="1" w:author="李明">{inserted}</w:ins>'))
    changed._p.append(parse_xml(f'<w:del {_W} w:id="2" w:author="李明">{deleted}</w:del>'))
    commented = document.add_paragraph("Delivery within 30 days.")
    document.add_comment(
        commented.runs, text="交货期是否可以缩短？Can this be shorter?", author="王芳"
    )
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_ruby_text_is_read_with_its_reading() -> None:
    text = _text(_parse(_report(), "ruby.docx"))
    assert "漢字(かんじ)東京(とうきょう)" in text
    assert "Contract draft under review." in text


def test_comments_and_tracked_changes_only_when_asked() -> None:
    plain = _text(_parse(_report(), "draft.docx"))
    assert "付款条件：验收后三十日内付清" in plain  # as Word shows it, changes accepted
    assert "交货期是否可以缩短" not in plain
    assert "预付百分之五十" not in plain
    elements = _parse(_report(), "draft.docx", office_comments=True, office_tracked_changes=True)
    comments = [e for e in elements if e.section_path[:1] == ("批注 Comments",)]
    assert comments and "交货期是否可以缩短？Can this be shorter?" in comments[0].text
    assert comments[0].section_path == ("批注 Comments", "王芳")
    tracked = {
        e.section_path[1:]: e.text for e in elements if e.section_path[:1] == (TRACKED_SECTION,)
    }
    # The inserted text is in the body already (changes accepted): not listed a second time.
    assert tracked == {("删除 Deleted", "李明"): "预付百分之五十"}
    assert _text(elements).count("验收后三十日内付清") == 1


def _workbook() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "销售 Sales"
    sheet.append(["季度 Quarter", "收入 Revenue"])
    for row in (["Q1", 120], ["Q2", 135], ["Q3", 150]):
        sheet.append(row)
    chart = BarChart()
    chart.title = "季度收入趋势 Quarterly revenue"
    chart.y_axis.title = "万元 10k yuan"
    chart.add_data(Reference(sheet, min_col=2, min_row=1, max_row=4), titles_from_data=True)
    sheet.add_chart(chart, "D2")
    hidden = book.create_sheet("内部成本 Internal")
    hidden.append(["成本核算明细", "Cost breakdown, confidential"])
    hidden.sheet_state = "hidden"
    out = io.BytesIO()
    book.save(out)
    return _with_text_box(out.getvalue(), "注：数据未经审计 Unaudited figures")


def _with_text_box(data: bytes, text: str) -> bytes:
    """A text box added to the first worksheet's drawing, as Excel writes one (openpyxl
    writes charts into the drawing but no shapes)."""
    shape = (
        '<xdr:twoCellAnchor xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/'
        'spreadsheetDrawing" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main">'
        "<xdr:from><xdr:col>0</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>8</xdr:row>"
        "<xdr:rowOff>0</xdr:rowOff></xdr:from><xdr:to><xdr:col>3</xdr:col><xdr:colOff>0"
        "</xdr:colOff><xdr:row>11</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:to>"
        '<xdr:sp macro="" textlink=""><xdr:nvSpPr><xdr:cNvPr id="9" name="TextBox 1"/>'
        '<xdr:cNvSpPr txBox="1"/></xdr:nvSpPr><xdr:spPr/><xdr:txBody><a:bodyPr/>'
        f"<a:p><a:r><a:t>{text}</a:t></a:r></a:p></xdr:txBody></xdr:sp><xdr:clientData/>"
        "</xdr:twoCellAnchor>"
    )
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "xl/drawings/drawing1.xml":
                content = content.replace(b"</wsDr>", shape.encode() + b"</wsDr>")
            target.writestr(info, content)
    return out.getvalue()


def test_text_boxes_on_worksheets_are_read() -> None:
    elements = _parse(_workbook(), "sales.xlsx")
    boxes = [e for e in elements if e.section_path == (TEXT_BOX_SECTION,)]
    assert [e.text for e in boxes] == ["注：数据未经审计 Unaudited figures"]


def test_hidden_sheets_and_chart_titles_only_when_asked() -> None:
    plain = _text(_parse(_workbook(), "sales.xlsx"))
    assert "Q3" in plain
    assert "成本核算明细" not in plain
    assert "季度收入趋势" not in plain
    elements = _parse(
        _workbook(), "sales.xlsx", office_hidden_sheets=True, office_chart_titles=True
    )
    text = _text(elements)
    assert "成本核算明细" in text and "Cost breakdown, confidential" in text
    charts = [e.text for e in elements if e.section_path == (CHART_SECTION,)]
    assert "季度收入趋势 Quarterly revenue" in charts
    assert "万元 10k yuan" in charts


def test_chart_titles_and_series_of_a_slide_when_asked() -> None:
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "年度销量 Annual sales"
    data = CategoryChartData()
    data.categories = ["2023", "2024"]
    data.add_series("华东销量 East units", (120, 150))
    frame = slide.shapes.add_chart(
        XL_CHART_TYPE.COLUMN_CLUSTERED, Inches(1), Inches(2), Inches(6), Inches(4), data
    )
    frame.chart.has_title = True
    frame.chart.chart_title.text_frame.text = "销量对比 Units compared"
    out = io.BytesIO()
    deck.save(out)
    assert "销量对比" not in _text(_parse(out.getvalue(), "sales.pptx"))
    elements = _parse(out.getvalue(), "sales.pptx", office_chart_titles=True)
    charts = [e.text for e in elements if e.section_path == (CHART_SECTION,)]
    assert charts == ["销量对比 Units compared", "华东销量 East units: 2023 120; 2024 150"]
