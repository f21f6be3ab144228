"""Tesseract OCR agent for ``unstructured``'s ``ocr_only`` strategy that works for Chinese.

Registered through the ``OCR_AGENT`` setting by :mod:`ingest.unstructured_runtime`; never
imported directly by our code.

Tesseract reports Chinese one character per "word", with gaps between them. unstructured's
own grouping pads each box by a share of its *width* before joining neighbours, which for a
narrow character is less than the gap: a line came out as "合同金额为人民币八 / 十 / 万 / 元".
Here words are grouped as a reader sees them: into lines (boxes side by side at the same
height, gaps measured in character heights, a wide gap keeping table columns apart), lines
into paragraphs (close below one another, overlapping across), each read left to right and
top to bottom, joined without spaces between Chinese characters.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from statistics import mean, median
from typing import TYPE_CHECKING

import unstructured_pytesseract
from unstructured.partition.utils.ocr_models.tesseract_ocr import OCRAgentTesseract

from core.text_forms import HAN_CHAR
from ingest.cjk import join_words

if TYPE_CHECKING:
    from PIL import Image as PILImage
    from unstructured_inference.inference.elements import TextRegions
    from unstructured_inference.inference.layoutelement import LayoutElements

# Gaps, in character heights: wider than this between two words of a line is another
# column (a table cell, a two-column layout); taller than this between two lines, another
# paragraph.
MAX_WORD_GAP = 1.5
MAX_LINE_GAP = 0.8
# Two boxes are on one line when they overlap over this share of the smaller height.
MIN_LINE_OVERLAP = 0.5


@dataclass
class _Box:
    x1: float
    y1: float
    x2: float
    y2: float
    text: str

    @property
    def height(self) -> float:
        return max(self.y2 - self.y1, 1.0)


@dataclass
class _Run:
    """Boxes read in one go: a line's words, or a paragraph's lines."""

    boxes: list[_Box] = field(default_factory=list)

    @property
    def x1(self) -> float:
        return min(b.x1 for b in self.boxes)

    @property
    def x2(self) -> float:
        return max(b.x2 for b in self.boxes)

    @property
    def y1(self) -> float:
        return min(b.y1 for b in self.boxes)

    @property
    def y2(self) -> float:
        return max(b.y2 for b in self.boxes)

    @property
    def height(self) -> float:
        return median(b.height for b in self.boxes)


# Tesseract's Chinese models, one per script. Either reads the other script's page, badly
# and in its own script: a Traditional scan read with chi_sim came out Simplified with 0.61
# of its characters right (0.93 with chi_tra), a Simplified one read with chi_tra 0.58; both
# at once mix the scripts in one text (0.84-0.92). So a page is read with one of them.
CHINESE_SCRIPTS = ("chi_sim", "chi_tra")
# How sure a reading is: the mean confidence (0-100) of its words holding Chinese (of all
# its words where none does). On 17 Chinese pages drawn in either script (clean, blurred
# with noise, half size, A4: ``bench.ocr_scripts``), chi_sim's reading of a Traditional page
# scored up to 91.0, and the right script beat the wrong one by 3.4-23.7 points on
# Traditional pages and by 0.7-6.8 on Simplified ones. So a first reading at least this sure
# is kept, and another script's reading replaces it only when surer by the margin: a
# Simplified page that could go either way stays Simplified.
SURE_SCRIPT_CONFIDENCE = 93.0
SCRIPT_MARGIN = 2.0
# A first reading with no Chinese is kept (an English page) unless at most this share of its
# Latin words read as words (lower-case or capitalised): chi_sim turned a Traditional page
# into "AAS ARTES /\ERIC, ARRITT" at confidence 92-93. Then chi_tra reads it too, and its
# reading replaces the first when Chinese is at least this share of its words (less is a
# stray character among Latin letters), read at least this sure (an English page read again
# stays English: no Chinese in either reading).
MIN_WORDLIKE_SHARE = 0.5
MIN_HAN_SHARE = 0.3
MIN_HAN_CONFIDENCE = 85.0
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_WORDLIKE = re.compile(r"[A-Z]?[a-z]+")
_WORD_CONFIDENCE = re.compile(r"x_wconf (\d+)")


class SpatialTesseractAgent(OCRAgentTesseract):
    """Groups OCR words into lines and paragraphs by their position on the page (one
    tesseract run per page; the stock agent runs it twice and matches words against text
    split on spaces, which Chinese does not have). Given both Chinese scripts, reads each
    page with the one it is written in (:data:`SURE_SCRIPT_CONFIDENCE`); languages whose
    model is not installed are left out rather than failing every page."""

    def __init__(self, language: str = "eng") -> None:
        codes = [code for code in language.split("+") if code]
        installed = _installed_languages()
        super().__init__("+".join(c for c in codes if c in installed) or language)
        # How sure the last reading is: measured only for a script choice (``_reading``).
        self._measure = False
        self._reading_of_last: Reading | None = None

    def get_layout_elements_from_image(self, image: PILImage.Image) -> LayoutElements:
        return group_regions(self._read(image))

    def _read(self, image: PILImage.Image) -> TextRegions:
        codes = self.language.split("+")
        scripts = [code for code in codes if code in CHINESE_SCRIPTS]
        if len(scripts) < 2:
            return self.get_layout_from_image(image)
        first, first_regions = self._reading(codes, scripts[0], image)
        if first is None or first.sure():
            return first_regions
        second, second_regions = self._reading(codes, scripts[1], image)
        return second_regions if second is not None and second.beats(first) else first_regions

    def _reading(
        self, codes: list[str], script: str, image: PILImage.Image
    ) -> tuple[Reading | None, TextRegions]:
        agent = SpatialTesseractAgent(
            "+".join(c for c in codes if c not in CHINESE_SCRIPTS or c == script)
        )
        agent._measure = True
        regions = agent.get_layout_from_image(image)
        return agent._reading_of_last, regions

    def hocr_to_dataframe(self, hocr: str, character_confidence_threshold: float = 0.0):  # type: ignore[no-untyped-def]
        if self._measure:  # how sure this reading is, kept to choose the page's script
            self._reading_of_last = Reading.of(hocr, self.hocr_namespace)
        return super().hocr_to_dataframe(hocr, character_confidence_threshold)


@dataclass(frozen=True)
class Reading:
    """How sure one reading of a page is: its words' confidences (tesseract's, 0-100), those
    holding Chinese apart, and the share of its Latin words that read as words."""

    han: tuple[float, ...]
    every: tuple[float, ...]
    wordlike_share: float

    @property
    def chinese(self) -> bool:
        """Read as Chinese: a stray character in Latin letters is not."""
        return bool(self.han) and len(self.han) >= MIN_HAN_SHARE * len(self.every)

    @property
    def confidence(self) -> float:
        chosen = self.han if self.chinese else self.every
        return mean(chosen) if chosen else 0.0

    def sure(self) -> bool:
        if not self.chinese and self.wordlike_share <= MIN_WORDLIKE_SHARE:
            return False  # Latin letters that are not words: Chinese read by the wrong model?
        return self.confidence >= SURE_SCRIPT_CONFIDENCE

    def beats(self, other: Reading) -> bool:
        if not self.chinese:
            return False
        if not other.chinese:
            return self.confidence >= MIN_HAN_CONFIDENCE
        return self.confidence >= other.confidence + SCRIPT_MARGIN

    @classmethod
    def of(cls, hocr: str, namespace: dict[str, str]) -> Reading | None:
        from lxml import etree

        if not hocr:
            return None
        han, every, latin, wordlike = [], [], 0, 0
        for word in etree.fromstring(hocr).findall('.//h:span[@class="ocrx_word"]', namespace):
            found = _WORD_CONFIDENCE.search(word.get("title", ""))
            text = "".join(word.itertext()).strip()
            if not found or not text:
                continue
            every.append(float(found.group(1)))
            if HAN_CHAR.search(text):
                han.append(every[-1])
            for run in _LATIN_WORD.findall(text):
                latin += 1
                wordlike += bool(_WORDLIKE.fullmatch(run))
        if not every:
            return None
        return cls(tuple(han), tuple(every), wordlike / latin if latin else 1.0)


@functools.cache
def _installed_languages() -> frozenset[str]:
    try:
        return frozenset(unstructured_pytesseract.get_languages(config=""))
    except Exception:  # no tesseract at all: the OCR itself will say so
        return frozenset()


def group_regions(regions: TextRegions) -> LayoutElements:
    import numpy as np
    from unstructured.documents.elements import ElementType
    from unstructured_inference.inference.layoutelement import LayoutElements

    boxes = [
        _Box(float(x1), float(y1), float(x2), float(y2), str(text).strip())
        for (x1, y1, x2, y2), text in zip(regions.element_coords, regions.texts, strict=True)
        if text and str(text).strip()
    ]
    paragraphs = _paragraphs(_lines(boxes))
    coords = np.array([_bbox(p) for p in paragraphs], dtype=float).reshape(-1, 4)
    texts = np.array([_paragraph_text(p) for p in paragraphs], dtype=object)
    source = regions.sources[0] if len(regions.sources) else None
    return LayoutElements(
        element_coords=coords,
        texts=texts,
        sources=np.array([source] * len(paragraphs), dtype=object),
        element_class_ids=np.zeros(len(paragraphs)),
        element_class_id_map={0: ElementType.UNCATEGORIZED_TEXT},
    )


def _lines(boxes: list[_Box]) -> list[_Run]:
    """Words side by side at one height, split where a gap is wider than a column gap."""
    rows: list[_Run] = []
    for box in sorted(boxes, key=lambda b: (b.y1 + b.y2) / 2):
        for row in rows:
            last = row.boxes[-1]
            overlap = min(last.y2, box.y2) - max(last.y1, box.y1)
            if overlap >= MIN_LINE_OVERLAP * min(last.height, box.height):
                row.boxes.append(box)
                break
        else:
            rows.append(_Run([box]))
    lines: list[_Run] = []
    for row in rows:
        ordered = sorted(row.boxes, key=lambda b: b.x1)
        current = _Run([ordered[0]])
        for box in ordered[1:]:
            gap = box.x1 - current.boxes[-1].x2
            if gap > MAX_WORD_GAP * max(current.height, box.height):
                lines.append(current)
                current = _Run([box])
            else:
                current.boxes.append(box)
        lines.append(current)
    return lines


def _paragraphs(lines: list[_Run]) -> list[list[_Run]]:
    """Lines close below one another and overlapping across, top to bottom."""
    paragraphs: list[list[_Run]] = []
    for line in sorted(lines, key=lambda r: (r.y1, r.x1)):
        for paragraph in paragraphs:
            last = paragraph[-1]
            gap = line.y1 - last.y2
            across = min(line.x2, last.x2) - max(line.x1, last.x1)
            if -0.5 * line.height <= gap <= MAX_LINE_GAP * line.height and across > 0:
                paragraph.append(line)
                break
        else:
            paragraphs.append([line])
    return paragraphs


def _bbox(paragraph: list[_Run]) -> list[float]:
    return [
        min(line.x1 for line in paragraph),
        min(line.y1 for line in paragraph),
        max(line.x2 for line in paragraph),
        max(line.y2 for line in paragraph),
    ]


def _paragraph_text(paragraph: list[_Run]) -> str:
    """Words of a line joined by a space, except between Chinese characters; lines likewise
    (a line break inside a paragraph is wrapping)."""
    text = ""
    for line in paragraph:
        for box in line.boxes:
            text = join_words(text, box.text)
    return text
