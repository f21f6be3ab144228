"""A workbook's rows are counted before it is read: one past the limit fails at once with its
reason (a million-row sheet tied the parser up until its time limit)."""

from __future__ import annotations

import io
import time
import zipfile

import pytest

from api.reasons import localize
from api.web.i18n import CHINESE
from core.errors import UnprocessableDocument
from core.settings import LimitsSettings
from core.settings_parsing import ParsingSettings
from ingest.parsing import parse_document
from ingest.sheet_limits import sheet_rows

_TYPES = (
    '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
    'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/'
    'sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
    'worksheet+xml"/></Types>'
)
_RELS = 'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"'
_MAIN = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'


def workbook(rows: int, empty_rows: int = 0, prefix: str = "") -> bytes:
    """An XLSX of one sheet: ``rows`` rows of one inline string, then ``empty_rows`` rows
    written empty (formatting only)."""
    ns = f"xmlns:{prefix[:-1]}" if prefix else "xmlns"
    body = "".join(
        f'<{prefix}row r="{i}"><{prefix}c r="A{i}" t="inlineStr"><{prefix}is><{prefix}t>'
        f"row {i} text</{prefix}t></{prefix}is></{prefix}c></{prefix}row>"
        for i in range(1, rows + 1)
    )
    body += "".join(f'<{prefix}row r="{rows + i}" ht="20"/>' for i in range(1, empty_rows + 1))
    sheet = (
        f'<?xml version="1.0"?><{prefix}worksheet {ns}="http://schemas.openxmlformats.org/'
        f'spreadsheetml/2006/main"><{prefix}sheetData>{body}</{prefix}sheetData>'
        f"</{prefix}worksheet>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _TYPES)
        archive.writestr(
            "_rels/.rels",
            f'<?xml version="1.0"?><Relationships {_RELS}><Relationship Id="rId1" Type="http://'
            "schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
            '" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0"?><workbook {_MAIN} {_R}><sheets><sheet name="S" sheetId="1"'
            ' r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<?xml version="1.0"?><Relationships {_RELS}><Relationship Id="rId1" Type="http://'
            "schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
            '" Target="worksheets/sheet1.xml"/></Relationships>',
        )
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
    return buffer.getvalue()


def _parse(data: bytes, max_sheet_rows: int):  # type: ignore[no-untyped-def]
    settings = ParsingSettings(max_sheet_rows=max_sheet_rows)
    return parse_document(data, "data.xlsx", settings, LimitsSettings())


@pytest.mark.parametrize("prefix", ["", "x:"])
def test_rows_are_counted_across_chunks_and_empty_rows_are_not(prefix: str) -> None:
    # ~60 bytes a row: 40,000 rows span several 1 MiB reads.
    data = workbook(40_000, empty_rows=500, prefix=prefix)
    assert sheet_rows(data, 10**9) == 40_000
    assert sheet_rows(data, 100) == 101  # stops counting past the limit


def test_a_workbook_over_the_limit_fails_at_once_with_its_reason() -> None:
    data = workbook(2_001)
    started = time.monotonic()
    with pytest.raises(UnprocessableDocument) as refused:
        _parse(data, 2_000)
    assert time.monotonic() - started < 5
    reason = str(refused.value)
    assert reason == (
        "the spreadsheet has more than 2,000 rows (limit 2,000): split it, or upload the rows"
        " people need to search"
    )
    assert localize(f"the file could not be parsed: {reason}", CHINESE) == (
        "无法解析该文件：表格超过 2,000 行（上限 2,000 行）：请拆分，或只上传需要检索的行"
    )


def test_a_workbook_within_the_limit_is_read() -> None:
    parsed = _parse(workbook(3, empty_rows=10), 3)
    assert [e.text for e in parsed.elements] == ["row 1 text", "row 2 text", "row 3 text"]
