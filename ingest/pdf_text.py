"""A PDF's text layer read by pdfium: lines measured, grouped into blocks.

Why not unstructured's ``fast`` strategy: it reads the text layer with pdfminer, whose content
stream interpreter is pure Python. On the benchmark's PDFs that interpreter took 75% of all
parse time, more than embedding the chunks took, and another 13% went to spaCy guessing
which short lines are titles. pdfium (C++, the engine in Chrome) reads the same text layer many
times faster and also reports each character's font and size, which tell headings apart
better than guessing from the words. ``ParsingSettings.pdf_text = "pdfminer"`` keeps
unstructured's path.

What happens, per page:

1. pdfium returns the page text in content order with its own line breaks. For each line we
   ask for the baseline, left and right edges, size and weight of its first and last letters
   (a few calls per line, not per character).
2. Lines become blocks. A block ends at a gap wider than its line spacing, a change of size or
   weight, a jump up or sideways (the next column), a bullet, an indented first line, or a
   short line that ends a sentence.
3. Blocks become elements (:mod:`ingest.pdf_elements`): headings by font size, list items,
   page numbers, running headers and footers, text.

Tables are read row by row as lines, as ``fast`` did; neither finds table structure in a PDF.
"""

from __future__ import annotations

import ctypes
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from ingest.cjk import CJK_CHAR

_LINE = re.compile(r"[^\r\n]+")
_ALNUM = re.compile(r"\w")
BULLET = re.compile(r"^(?:[•●▪◦‣∙·○■□➢►✓\-–*]|\(?(?:\d{1,2}|[a-z]|[ivx]{1,4})[.)])\s+\S")
_SENTENCE_END = re.compile(r"[.!?:。！？：]['\")\]]*$")
_RTL_SENTENCE_END = re.compile(r"^['\"(\[]*[.!?:؟]")  # visual order: the stop comes first
_RTL = re.compile(r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
_BOLD_NAME = re.compile(r"bold|black|heavy|semibold|demi", re.I)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_FORCE_BOLD_FLAG = 1 << 18


@dataclass
class Line:
    """One line of text, measured in the frame of its writing direction: x along the
    baseline, y upwards from it (for upright text, the page's own coordinates)."""

    text: str
    page: int
    x0: float  # left edge
    x1: float  # right edge
    y: float  # baseline of the first letter
    # Baseline of the last letter: lower than ``y`` where pdfium ran two printed lines together.
    y_last: float
    size: float
    bold: bool
    turn: int  # quarter turns anticlockwise of the writing direction (0: left to right)
    # Written in another direction than most of its page (a side stamp, a rotated label).
    rotated: bool = False


@dataclass
class Block:
    lines: list[Line] = field(default_factory=list)

    @property
    def first(self) -> Line:
        return self.lines[0]

    @property
    def x0(self) -> float:
        return min(line.x0 for line in self.lines)

    @property
    def x1(self) -> float:
        return max(line.x1 for line in self.lines)

    def spacing(self) -> float | None:
        if len(self.lines) < 2:
            return None
        return self.lines[-2].y_last - self.lines[-1].y

    def text(self) -> str:
        out = self.lines[0].text
        for prev, line in pairwise(self.lines):
            size = max(prev.size, line.size)
            touching = abs(prev.y_last - line.y) < 0.3 * size and line.x0 - prev.x1 < 0.15 * size
            out = out + line.text if touching else _join(out, line.text)
        return out


@dataclass(frozen=True)
class PageText:
    """One page's text layer, grouped into blocks, and the page's extent across the lines
    (in the frame of the page's main writing direction)."""

    bottom: float
    top: float
    blocks: list[Block]


def read_page(page: pdfium.PdfPage, textpage: pdfium.PdfTextPage, number: int) -> PageText:
    """Blocks of one page (``number`` is 1-based). The caller holds pdfium's lock.

    A page turned sideways (landscape content drawn rotated, or a ``/Rotate``d scan with a text
    layer) is read in its main writing direction; lines in other directions stay alone."""
    lines = list(_page_lines(textpage, number))
    weight = Counter[int]()
    for line in lines:
        weight[line.turn] += len(line.text)
    upright = weight.most_common(1)[0][0] if weight else 0
    for line in lines:
        line.rotated = line.turn != upright
    left, bottom, right, top = page.get_bbox()
    ys = [_to_frame(upright, x, y)[1] for x in (left, right) for y in (bottom, top)]
    return PageText(min(ys), max(ys), _blocks(lines))


def _to_frame(turn: int, x: float, y: float) -> tuple[float, float]:
    """Page coordinates → the frame of text written ``turn`` quarter turns anticlockwise."""
    if turn == 1:
        return y, -x
    if turn == 2:
        return -x, -y
    if turn == 3:
        return -y, x
    return x, y


def _page_lines(textpage: pdfium.PdfTextPage, number: int) -> Iterator[Line]:
    raw = textpage.raw
    text = _page_text(textpage)
    matrix = pdfium_c.FS_MATRIX()
    x, y = ctypes.c_double(), ctypes.c_double()
    left, right, bottom, top = (ctypes.c_double() for _ in range(4))
    boxes = ctypes.byref(left), ctypes.byref(right), ctypes.byref(bottom), ctypes.byref(top)
    name = ctypes.create_string_buffer(128)
    flags = ctypes.c_int()

    def style(index: int) -> tuple[float, bool, int]:
        """Size in points (the text matrix scales the nominal size), bold, quarter turns."""
        pdfium_c.FPDFText_GetMatrix(raw, index, ctypes.byref(matrix))
        scale = (matrix.b * matrix.b + matrix.d * matrix.d) ** 0.5
        size = pdfium_c.FPDFText_GetFontSize(raw, index) * scale
        pdfium_c.FPDFText_GetFontInfo(raw, index, name, len(name), ctypes.byref(flags))
        bold = (
            bool(_BOLD_NAME.search(name.value.decode("latin-1")))
            or bool(flags.value & _FORCE_BOLD_FLAG)
            or pdfium_c.FPDFText_GetFontWeight(raw, index) >= 600
        )
        turn = round(math.atan2(matrix.b, matrix.a) / (math.pi / 2)) % 4
        return size, bold, turn

    def baseline(index: int, turn: int) -> float:
        pdfium_c.FPDFText_GetCharOrigin(raw, index, ctypes.byref(x), ctypes.byref(y))
        return _to_frame(turn, x.value, y.value)[1]

    def extent(index: int, turn: int) -> tuple[float, float]:
        """Left and right edge of a character's box along the baseline."""
        pdfium_c.FPDFText_GetCharBox(raw, index, *boxes)
        a = _to_frame(turn, left.value, bottom.value)[0]
        b = _to_frame(turn, right.value, top.value)[0]
        return min(a, b), max(a, b)

    for match in _LINE.finditer(text):
        found = match.group()
        line = _CONTROL.sub("", found).strip()
        if not line:
            continue
        start = match.start() + len(found) - len(found.lstrip())
        end = match.end() - 1 - (len(found) - len(found.rstrip()))
        letters = [m.start() + match.start() for m in _ALNUM.finditer(found)]
        first, last = (letters[0], letters[-1]) if letters else (start, end)
        # The line's style is its first and last letter's: a bold lead-in is not a bold line.
        size, bold, turn = style(first)
        if last != first:
            last_size, last_bold, _ = style(last)
            size, bold = max(size, last_size), bold and last_bold
        y_first = baseline(first, turn)
        y_last = baseline(last, turn) if last != first else y_first
        # Right-to-left lines start at the right: take the outer edges of both ends.
        (a0, a1), (b0, b1) = extent(start, turn), extent(end, turn)
        x0, x1 = min(a0, b0), max(a1, b1)
        yield Line(line, number, x0, x1, y_first, y_last, size or 1.0, bold, turn)


def _page_text(textpage: pdfium.PdfTextPage) -> str:
    """The page text, one string character per pdfium character index.

    ``get_text_range`` leaves out characters without a Unicode value (icons, some symbol
    fonts), which would shift every later index; then we read the characters one by one and
    keep a NUL in their place (removed with the other control characters)."""
    count = textpage.count_chars()
    text = textpage.get_text_range()
    if len(text) == count:
        return text
    codes = (pdfium_c.FPDFText_GetUnicode(textpage.raw, index) for index in range(count))
    return "".join(
        chr(code) if 0 < code < 0xD800 or 0xE000 <= code < 0x110000 else "\x00" for code in codes
    )


def _blocks(lines: list[Line]) -> list[Block]:
    leading = _leading(lines)
    blocks: list[Block] = []
    for line in lines:
        if blocks and _continues(blocks[-1], line, leading):
            blocks[-1].lines.append(line)
        else:
            blocks.append(Block([line]))
    return blocks


def _leading(lines: list[Line]) -> dict[float, float]:
    """The most common distance between baselines of consecutive lines, per font size: what
    a paragraph's second line is compared with before the paragraph has its own spacing."""
    gaps: dict[float, Counter[float]] = {}
    for prev, line in pairwise(lines):
        size = half_point(line.size)
        gap = prev.y_last - line.y
        if half_point(prev.size) == size and 0.8 * size <= gap <= 3 * size:
            gaps.setdefault(size, Counter())[round(gap, 1)] += 1
    return {size: counts.most_common(1)[0][0] for size, counts in gaps.items()}


def _continues(block: Block, line: Line, leading: dict[float, float]) -> bool:
    prev = block.lines[-1]
    if line.rotated or prev.rotated:
        return False
    size = max(prev.size, line.size)
    if abs(line.size - prev.size) > 0.1 * size or line.bold != prev.bold:
        return False
    gap = prev.y_last - line.y
    if abs(gap) < 0.3 * size:  # same baseline: pdfium broke a row at a wide space
        return 0 <= line.x0 - prev.x1 < 1.5 * size
    if BULLET.match(line.text):
        return False
    spacing = block.spacing() or leading.get(half_point(line.size)) or 1.4 * size
    if gap < 0 or gap > spacing * 1.25 + 0.1 * size:
        return False  # a paragraph gap, or up into the next column
    if line.x0 > block.x1 or line.x1 < block.x0:
        return False  # sideways into another column
    # Where lines start and end: the left edge for left-to-right text, the right for Arabic
    # and Hebrew (whose sentence end pdfium puts first, in visual order).
    rtl = bool(_RTL.search(prev.text))
    indent = prev.x1 - line.x1 if rtl else line.x0 - prev.x0
    if len(block.lines) >= 2 and indent > 0.8 * size:
        return False  # an indented first line
    ends_early = prev.x0 > block.x0 + 4 * size if rtl else prev.x1 < block.x1 - 4 * size
    ends_sentence = (_RTL_SENTENCE_END if rtl else _SENTENCE_END).search(prev.text)
    return not (ends_early and len(block.lines) >= 2 and ends_sentence)


def _join(text: str, more: str) -> str:
    if text.endswith("\x02") or (
        len(text) > 1 and text[-1] in "-\xad" and text[-2].isalpha() and more[:1].islower()
    ):
        return text[:-1] + more  # a word hyphenated across the line break
    if CJK_CHAR.match(text[-1]) and CJK_CHAR.match(more[0]):
        return text + more
    return text + " " + more


def half_point(size: float) -> float:
    return round(size * 2) / 2
