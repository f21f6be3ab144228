"""The text of an Office chart (DOCX, XLSX and PPTX chart parts, ``c:chartSpace``): its title,
its axes' titles, and per series its name and data, as the chart's data labels and legend show
them: "华东销量 East units: 一月 Jan 120; 二月 Feb 135".

Word and PowerPoint keep the data with the chart (caches in the chart part, ``c:strCache`` and
``c:numCache``, beside an embedded workbook), and so does Excel; a chart written by another
program (openpyxl) may keep only the cell references (``'销售 Sales'!$B$2:$B$4``): those are read
from the workbook's own sheets (:class:`WorkbookCells`). Used by :mod:`ingest.office_extras`
when ``ParsingSettings.office_chart_titles`` is on.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

_A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
_C = "{http://schemas.openxmlformats.org/drawingml/2006/chart}"
_S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_RANGE = re.compile(r"^(?:'((?:[^']|'')+)'|([^!]+))!\$?([A-Z]+)\$?(\d+)(?::\$?([A-Z]+)\$?(\d+))?$")
_NUMERIC = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
# A series longer than this is a data table, not a chart's labels: its first points only.
MAX_POINTS = 200


class WorkbookCells:
    """Cell values of an XLSX package's sheets, read once per sheet when a chart asks."""

    def __init__(self, package: zipfile.ZipFile, names: set[str], xml: Callable[[bytes], Any]):
        self._package, self._names, self._xml = package, names, xml
        self._sheets: dict[str, str] | None = None  # sheet name → part name
        self._strings: list[str] | None = None
        self._cells: dict[str, dict[tuple[int, int], str]] = {}

    def values(self, formula: str) -> dict[int, str]:
        """Point index → text of the cells ``formula`` names (one row or one column)."""
        match = _RANGE.match(formula.strip())
        if match is None:
            return {}
        quoted, plain, col1, row1, col2, row2 = match.groups()
        sheet = (quoted.replace("''", "'") if quoted else plain or "").strip()
        cells = self._sheet(sheet)
        first = (int(row1), _column(col1))
        last = (int(row2), _column(col2)) if col2 and row2 else first
        out: dict[int, str] = {}
        index = 0
        for row in range(first[0], last[0] + 1):
            for column in range(first[1], last[1] + 1):
                if index >= MAX_POINTS:
                    return out
                if (row, column) in cells:
                    out[index] = cells[(row, column)]
                index += 1
        return out

    def _sheet(self, name: str) -> dict[tuple[int, int], str]:
        if name not in self._cells:
            part = self._sheet_parts().get(name)
            self._cells[name] = self._read(part) if part in self._names else {}
        return self._cells[name]

    def _sheet_parts(self) -> dict[str, str]:
        if self._sheets is None:
            self._sheets = {}
            if {"xl/workbook.xml", "xl/_rels/workbook.xml.rels"} <= self._names:
                rels = self._xml(self._package.read("xl/_rels/workbook.xml.rels"))
                targets = {r.get("Id"): r.get("Target", "") for r in rels.iter("{*}Relationship")}
                book = self._xml(self._package.read("xl/workbook.xml"))
                for sheet in book.iter(f"{_S}sheet"):
                    target = targets.get(sheet.get(f"{_R}id"), "")
                    part = target.lstrip("/") if target.startswith("/") else "xl/" + target
                    self._sheets[sheet.get("name", "")] = posixpath.normpath(part)
        return self._sheets

    def _read(self, part: str) -> dict[tuple[int, int], str]:
        cells: dict[tuple[int, int], str] = {}
        for cell in self._xml(self._package.read(part)).iter(f"{_S}c"):
            where = re.match(r"([A-Z]+)(\d+)$", cell.get("r", ""))
            if where is None:
                continue
            kind = cell.get("t")
            if kind == "inlineStr":
                text = "".join(t.text or "" for t in cell.iter(f"{_S}t"))
            else:
                value = cell.find(f"{_S}v")
                text = value.text or "" if value is not None else ""
                if kind == "s" and text.isdigit():
                    strings = self._shared_strings()
                    text = strings[int(text)] if int(text) < len(strings) else ""
            if text.strip():
                cells[(int(where.group(2)), _column(where.group(1)))] = text.strip()
        return cells

    def _shared_strings(self) -> list[str]:
        if self._strings is None:
            self._strings = []
            if "xl/sharedStrings.xml" in self._names:
                table = self._xml(self._package.read("xl/sharedStrings.xml"))
                for item in table.iter(f"{_S}si"):
                    self._strings.append("".join(t.text or "" for t in item.iter(f"{_S}t")))
        return self._strings


def _column(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


def chart_texts(chart: Any, cells: WorkbookCells | None = None) -> Iterator[str]:
    """The chart's title, its axes' titles, and per series its name with its data: category
    and value pairs ("华东销量 East units: 一月 Jan 120; 二月 Feb 135"), then any data label typed
    in by hand."""
    for title in chart.iter(f"{_C}title"):
        text = "".join(t.text or "" for t in title.iter(f"{_A}t"))
        if text.strip():
            yield text.strip()
    for series in chart.iter(f"{_C}ser"):
        label = " ".join(_data(series.find(f"{_C}tx"), cells).values())
        if not label:
            name = series.find(f"{_C}tx")
            label = "".join(t.text or "" for t in name.iter(f"{_A}t")) if name is not None else ""
        label = label.strip()
        points = _series_points(series, cells)
        if points:
            yield f"{label}: {points}" if label else points
        elif label:
            yield label
        for typed in series.iterfind(f"{_C}dLbls/{_C}dLbl/{_C}tx"):
            text = "".join(t.text or "" for t in typed.iter(f"{_A}t")).strip()
            if text:
                yield text


def _series_points(series: Any, cells: WorkbookCells | None) -> str:
    """ "category value; ..." from the series' categories (``c:cat``, or ``c:xVal`` of a
    scatter chart) and values (``c:val``/``c:yVal``); values alone when it has no categories."""
    categories = _data(series.find(f"{_C}cat"), cells) or _data(series.find(f"{_C}xVal"), cells)
    values = _data(series.find(f"{_C}val"), cells) or _data(series.find(f"{_C}yVal"), cells)
    pairs = [
        f"{categories.get(index, '')} {value}".strip()
        for index, value in sorted(values.items())[:MAX_POINTS]
    ]
    return "; ".join(pair for pair in pairs if pair)


def _data(node: Any, cells: WorkbookCells | None) -> dict[int, str]:
    """Point index → text of a chart reference: its cache (``c:strCache``/``c:numCache``/
    ``c:multiLvlStrCache``), a literal (``c:strLit``/``c:numLit``, ``c:v``), or else the cells
    its formula (``c:f``) names."""
    if node is None:
        return {}
    out: dict[int, str] = {}
    for point in node.iter(f"{_C}pt"):
        value = point.find(f"{_C}v")
        if value is None or not (value.text or "").strip():
            continue
        index = int(point.get("idx", len(out)))
        text = _number(value.text.strip())
        # Multi-level categories: the levels of one point joined, innermost first.
        out[index] = f"{out[index]} {text}" if index in out else text
    if not out:
        literal = node.find(f"{_C}v")
        if literal is not None and (literal.text or "").strip():
            return {0: literal.text.strip()}
        formula = node.find(f".//{_C}f")
        if cells is not None and formula is not None and formula.text:
            out = {i: _number(v) for i, v in cells.values(formula.text).items()}
    return out


def _number(text: str) -> str:
    """A number as a person reads it: 120 not 120.0, 0.35 not 0.35000000000000003."""
    if not _NUMERIC.fullmatch(text):
        return text
    value = float(text)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}"
