"""Legacy Office, WPS, RTF, OpenDocument and EPUB files, converted by LibreOffice headless
(pandoc for EPUB) and parsed like their modern twins: real files from ``../shared`` and
Chinese/English fixtures the test makes itself (python-docx/-pptx/openpyxl, then LibreOffice
saves them in the old formats). Also the converter's limits: time, memory, a missing binary,
and a profile that never runs macros."""

from __future__ import annotations

import io
import subprocess
import tempfile
from pathlib import Path

import docx
import openpyxl
import pptx
import pytest

from core.errors import UnprocessableDocument
from core.settings import LimitsSettings
from core.settings_parsing import ParsingSettings
from ingest import office_convert
from ingest.office_convert import ConvertLimits, convert
from ingest.parsing import parse_document
from tests.ingest.helpers import parse_bytes

UNSTRUCTURED = "unstructured-example-docs"
CONTRACT = "甲方应于二〇二六年三月前支付首期款项。The Supplier shall deliver within 30 days."
TRADITIONAL = "乙方須於交貨後提供保固服務，期限為兩年。"
SHEET_ROW = ("2022 年主体信用评级", "AA+", "中诚信国际")
SLIDE_TITLE = "第三季度经营情况 Q3 review"
SLIDE_BODY = "华东区营收增长百分之十二"


def _docx() -> bytes:
    document = docx.Document()
    document.add_heading("采购合同 Purchase contract", level=1)
    document.add_paragraph(CONTRACT)
    document.add_paragraph(TRADITIONAL)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _xlsx() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "评级"
    sheet.append(["年份 Year", "评级 Rating", "机构 Agency"])
    sheet.append(list(SHEET_ROW))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _pptx() -> bytes:
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = SLIDE_TITLE
    slide.placeholders[1].text = SLIDE_BODY
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def legacy() -> dict[str, bytes]:
    """The fixtures saved by LibreOffice itself in each old format (one start per target)."""
    made: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        sources = {"docx": _docx(), "xlsx": _xlsx(), "pptx": _pptx()}
        for ext, data in sources.items():
            (root / f"fixture.{ext}").write_bytes(data)
        targets = {
            "doc": ("docx", "doc:MS Word 97"),
            "rtf": ("docx", "rtf:Rich Text Format"),
            "odt": ("docx", "odt"),
            "xls": ("xlsx", "xls:MS Excel 97"),
            "ods": ("xlsx", "ods"),
            "ppt": ("pptx", "ppt:MS PowerPoint 97"),
            "odp": ("pptx", "odp"),
        }
        profile = (root / "profile").as_uri()
        for target, (source, export_filter) in targets.items():
            out = root / target
            subprocess.run(
                [
                    "soffice",
                    f"-env:UserInstallation={profile}",
                    "--headless",
                    "--convert-to",
                    export_filter,
                    "--outdir",
                    str(out),
                    str(root / f"fixture.{source}"),
                ],
                check=True,
                capture_output=True,
                timeout=300,
            )
            made[target] = (out / f"fixture.{target}").read_bytes()
    return made


@pytest.mark.parametrize(
    ("kind", "filename"),
    [
        ("doc", "采购合同.doc"),
        ("doc", "采购合同.wps"),
        ("rtf", "采购合同.rtf"),
        ("odt", "合同.odt"),
    ],
)
def test_word_processor_files_keep_their_chinese_and_english_text(
    legacy: dict[str, bytes], kind: str, filename: str
) -> None:
    parsed = parse_bytes(legacy[kind], filename)
    text = "\n".join(element.text for element in parsed.elements)
    assert CONTRACT in text
    assert TRADITIONAL in text
    assert parsed.metadata["converted_from"] == filename.rsplit(".", 1)[1]
    assert parsed.metadata["converter"] == "libreoffice"
    # The heading stays a heading: sections survive the conversion.
    assert any(e.kind == "title" and "采购合同" in e.text for e in parsed.elements)


@pytest.mark.parametrize(
    ("kind", "filename"), [("xls", "评级.xls"), ("xls", "评级.et"), ("ods", "评级.ods")]
)
def test_spreadsheets_keep_rows_together(
    legacy: dict[str, bytes], kind: str, filename: str
) -> None:
    parsed = parse_bytes(legacy[kind], filename)
    tables = [e for e in parsed.elements if e.kind == "table"]
    assert tables, [e.kind for e in parsed.elements]
    # The year, the rating and the agency in one row of one table: a question can be answered.
    assert any(" | ".join(SHEET_ROW) in table.text for table in tables), tables[0].text


@pytest.mark.parametrize(
    ("kind", "filename"), [("ppt", "汇报.ppt"), ("ppt", "汇报.dps"), ("odp", "汇报.odp")]
)
def test_presentations_keep_slides_as_pages(
    legacy: dict[str, bytes], kind: str, filename: str
) -> None:
    parsed = parse_bytes(legacy[kind], filename)
    texts = {e.text for e in parsed.elements}
    assert SLIDE_TITLE in texts
    assert SLIDE_BODY in texts
    assert {e.page for e in parsed.elements if e.text == SLIDE_BODY} == {1}


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("simple.doc", "These are a few of my favorite things:"),
        ("fake-doc.rtf", "My first paragraph."),
        ("fake-power-point.ppt", "Adding a Bullet Slide"),
        ("simple.odt", "Parrots"),
        ("tests-example.xls", "What is 2+2?"),
        ("winter-sports.epub", "Winter Sports"),
    ],
)
def test_real_files_from_the_wild(docs: Path, filename: str, expected: str) -> None:
    parsed = parse_bytes((docs / UNSTRUCTURED / filename).read_bytes(), filename)
    assert expected in "\n".join(element.text for element in parsed.elements)


def test_a_damaged_file_fails_with_a_reason_not_a_crash(legacy: dict[str, bytes]) -> None:
    broken = legacy["doc"][: len(legacy["doc"]) // 3]
    with pytest.raises(UnprocessableDocument) as failure:
        parse_bytes(broken, "broken.doc")
    assert "broken.doc" in str(failure.value) or "corrupt" in str(failure.value)


def test_limits_time_memory_and_a_missing_converter(legacy: dict[str, bytes]) -> None:
    # A cold start (a new soffice takes seconds) always outlasts 50 ms; the warm converter
    # turned this small file around within it on a fast machine.
    with pytest.raises(UnprocessableDocument, match="took longer than"):
        convert(legacy["doc"], "slow.doc", "doc", ConvertLimits(timeout_s=0.05, warm=False))
    with pytest.raises(UnprocessableDocument, match=r"needed more than 64 MiB|failed"):
        convert(legacy["doc"], "big.doc", "doc", ConvertLimits(max_memory_mib=64))
    # The installation's fault, not the file's: propagates unchanged (a retry can succeed).
    with pytest.raises(FileNotFoundError, match="not installed"):
        parse_document(
            legacy["doc"],
            "a.doc",
            ParsingSettings(soffice="no-such-soffice"),
            LimitsSettings(),
        )


def test_profiles_never_run_macros_or_update_links(legacy: dict[str, bytes]) -> None:
    # The cold converter's kept profiles (the warm one's: tests/ingest/test_office_warm.py).
    convert(legacy["rtf"], "a.rtf", "rtf", ConvertLimits(warm=False))
    profiles = office_convert._profiles()
    registry = next(profiles._root.glob("*/user/registrymodifications.xcu")).read_text()
    assert '"DisableMacrosExecution" oor:op="fuse"><value>true' in registry
    assert '"MacroSecurityLevel" oor:op="fuse"><value>3' in registry
    assert registry.count('"Link" oor:op="fuse"><value>0') == 2
