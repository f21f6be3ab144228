"""How many rows a workbook holds, counted before a parser reads it.

unstructured reads a spreadsheet row by row into elements (a few ms a row on a busy core): a
sheet of a million rows, a 7 MB upload, ties the parser up until ``ParsingSettings.timeout_s``
and then fails as "parsing took longer than the limit". The rows are counted first instead,
streaming each worksheet's XML (its inflated size is already bounded by the zip-bomb checks
in ``ingest.formats``), and a workbook over ``ParsingSettings.max_sheet_rows`` is refused at
once with the reason. Rows written empty (``<row r="9"/>``, formatting only) are not counted.
"""

from __future__ import annotations

import io
import re
import zipfile

from core.errors import UnprocessableDocument

# A row start tag that is not self-closing, with or without a namespace prefix.
_ROW = re.compile(rb"<(?:\w+:)?row(?:\s[^>]*)?(?<!/)>")
_WORKSHEET = re.compile(r"^xl/worksheets/[^/]+\.xml$")
_CHUNK = 1 << 20
# Bytes kept back at the end of a chunk: a tag may begin there and end in the next one.
_OVERLAP = 4096


def sheet_rows(data: bytes, limit: int) -> int:
    """Rows with content in the workbook's worksheets, counted up to ``limit + 1``."""
    rows = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if not _WORKSHEET.match(name):
                continue
            with archive.open(name) as sheet:
                carry = b""
                while chunk := sheet.read(_CHUNK):
                    text = carry + chunk
                    # Count the tags before the last "<" ahead of the tail (no tag runs past
                    # the next "<"); the rest is carried over to the next chunk.
                    tail = max(0, len(text) - _OVERLAP)
                    found = text.rfind(b"<", 0, tail)
                    cut = found if found >= 0 else tail
                    rows += len(_ROW.findall(text, 0, cut))
                    carry = text[cut:]
                    if rows > limit:
                        return limit + 1
                rows += len(_ROW.findall(carry))
            if rows > limit:
                return limit + 1
    return rows


def check_sheet_rows(data: bytes, limit: int) -> None:
    """Refuse a workbook with more than ``limit`` rows; 0: no limit."""
    if limit and sheet_rows(data, limit) > limit:
        raise UnprocessableDocument(
            f"the spreadsheet has more than {limit:,} rows (limit {limit:,}): split it, or"
            " upload the rows people need to search"
        )
