"""Plain text (.txt) → :class:`~ingest.types.Element` list, without unstructured or spaCy.

unstructured's ``partition_text`` tags every paragraph with spaCy to tell a title from
narrative text (~6 CPU s per 1,000 small files, the largest per-document cost of ingestion after
the embedding model) and counts words by spaces, which Chinese does not use. Here the structure
comes from the layout of the text itself:

* Paragraphs are separated by blank lines. Lines wrapped at a fixed width are joined back
  (with a space, or with nothing between Chinese characters); short lines such as an address
  keep their line breaks.
* A heading is a line that is short, has no sentence punctuation at its end and either follows
  a recognised numbering ("第一章 总则", "第二节", "一、", "1.2 Scope", "CHAPTER IV") or is
  followed by a paragraph (a plain "Background", "1 Scope", "1. Introduction", "（一）总体要求").
  The first line of a file is a heading when it reads like one (up to 200 characters: SciFact's
  titles are long). Headings nest by their numbering: 编/篇 > 章 > 节 > 一、 > （一）,
  Part/Book > Chapter > Section, and 1 > 1.2 > 1.2.3; an unnumbered heading sits one level below
  the numbered one above it. The first line is the whole file's title, above everything, when
  another heading follows it directly ("Manual", "1 Scope"); followed by text, it is the first
  of several sections ("Results", text, "Outlook", text).
* List items start with a bullet ("-", "*", "•"...; removed) or a number ("1.", "1)", "(1)",
  "1、", "（一）", "①"; kept, it is part of the text). Indented or wrapped lines continue an item.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.cjk import CJK, join_words
from ingest.elements import normalize_text, reads_like_title
from ingest.types import Element

_NUMERAL = "一二三四五六七八九十百千零〇两"
# Numbered headings. Their ranks order the levels of nesting; smaller is outer.
_CHAPTER = re.compile(rf"^第[{_NUMERAL}\d]+([编篇部卷章节])(?:\s|$|(?=[{CJK}]))")
_CHAPTER_RANKS = {"编": 0, "篇": 0, "部": 0, "卷": 0, "章": 1, "节": 2}
_DIVISION = re.compile(
    r"^(part|book|volume|chapter|section|appendix)\s+(?:[\dIVXLC]+|[A-Z]|one|two|three|four|"
    r"five|six|seven|eight|nine|ten|eleven|twelve)\b",
    re.IGNORECASE,
)  # "CHAPTER XIII", "Part Two: 1805", "Appendix A"
_DIVISION_RANKS = {"part": 0, "book": 0, "volume": 0, "chapter": 1, "appendix": 1, "section": 2}
_DIVISION_MAX_WORDS = 8
_CHINESE_SECTION = re.compile(rf"^[{_NUMERAL}]+[、．.]\s*\S")  # 一、
_DECIMAL_SECTION = re.compile(r"^(\d{1,3}(?:\.\d{1,3})+)\.?\s+\S")  # 1.2 Scope
_NUMBER_SECTION = re.compile(rf"^(\d{{1,3}})\s+[A-Z{CJK}]")  # 1 Scope (needs a paragraph)
# List markers kept as text, and bullets that are removed.
_NUMBERED_ITEM = re.compile(
    rf"^(?:\d{{1,3}}[.)、．](?!\d)|[(（]\s*(?:\d{{1,3}}|[{_NUMERAL}]+|[a-z])\s*[)）]"
    r"|[a-z]\)|[\u2460-\u2473\u2776-\u277f])\s*\S"
)
_PARENTHESISED = re.compile(r"^[（(]")
_BULLET = re.compile(r"^(?:[-*+–]\s+|[•·●○◦▪■□‣➢➤✓✔]\s*)(?=\S)")
_SENTENCE_END = re.compile(r"[.。!！?？;；,，:：、…]['\"”’」』)）]*$")
_PARAGRAPH_END = re.compile(r"[.。!！?？;；…]['\"”’」』)）]*$")
_STARTS_LOWER = re.compile(r"^[a-z]")
_CONTINUES = re.compile(r"^[a-z(]")
_FOOTNOTES = re.compile(r"(?:\[\d{1,3}\])+$")  # "fan.[2]": the sentence ends before the mark
_LEADING_NUMBER = re.compile(r"^[(（]?[\d.]+[.)）、]?\s*")
_PAIRS = (("(", ")"), ("（", "）"), ("[", "]"), ("“", "”"), ("「", "」"), ("《", "》"))
# English words a heading does not end with; a line ending so was cut in mid-sentence.
_FUNCTION_WORDS = frozenset(
    (  # noqa: SIM905 (a word list reads better as words)
        "a an the and or but nor of to in on at by for with from as that which who whom whose "
        "where when while than his her its their our my your is are was were be been has have had"
    ).split()
)
FIRST_TITLE_MAX_CHARS = 200
TITLE_MAX_CHARS = 100
TITLE_MAX_WORDS = 12  # as unstructured's title check
# A line at least this share of its block's long lines (90th percentile) was wrapped.
_WRAPPED_SHARE = 0.6
_MIN_WRAPPED_CHARS = 30
_DOCUMENT_RANK = -1
_FIRST_NUMBERED_RANK = 3
_PLAIN = -100  # marks an unnumbered heading


@dataclass
class _Line:
    text: str
    indented: bool
    block: int  # which blank-line-separated block it came from


def parse_plain_text(text: str) -> list[Element]:
    """The elements of ``text`` in reading order, with section paths."""
    lines = [line for block in _blocks(text) for line in block]
    out: list[Element] = []
    stack: list[tuple[int, str, bool]] = []  # (rank, title, numbered), outermost first
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            _append(out, "\n".join(paragraph), "text", stack)
            paragraph.clear()

    for index, line in enumerate(lines):
        following = lines[index + 1] if index + 1 < len(lines) else None
        rank = _heading_rank(line, following, first=index == 0)
        if rank is not None:
            flush()
            numbered = rank != _PLAIN
            if not numbered:
                rank = _plain_rank(stack, file_title=index == 0 and _heads_a_heading(lines))
            while stack and stack[-1][0] >= rank:
                stack.pop()
            title = normalize_text(line.text)
            _append(out, title, "title", stack)
            stack.append((rank, title, numbered))
        elif _is_list_item(line.text):
            flush()
            _append(out, _BULLET.sub("", line.text), "list_item", stack)
        elif out and out[-1].kind == "list_item" and _continues_item(line, lines[index - 1]):
            last = out.pop()
            out.append(
                Element(join_words(last.text, line.text), "list_item", None, last.section_path)
            )
        else:
            if paragraph and line.block != lines[index - 1].block:
                flush()
            paragraph.append(line.text)
    flush()
    return out


def _plain_rank(stack: list[tuple[int, str, bool]], *, file_title: bool) -> int:
    """An unnumbered heading's rank: the file's title above all; otherwise one level below the
    nearest numbered heading, or the first level when there is none."""
    if file_title:
        return _DOCUMENT_RANK
    numbered = [rank for rank, _, is_numbered in stack if is_numbered]
    return numbered[-1] + 1 if numbered else _FIRST_NUMBERED_RANK


def _heads_a_heading(lines: list[_Line]) -> bool:
    """The first line is the whole file's title when a heading follows it directly; followed
    by text, it is the first of several sections ("Results", text, "Outlook", text)."""
    following = lines[2] if len(lines) > 2 else None
    return len(lines) > 1 and _heading_rank(lines[1], following, first=False) is not None


def _append(out: list[Element], text: str, kind: str, stack: list[tuple[int, str, bool]]) -> None:
    text = normalize_text(text)
    if text:
        out.append(Element(text, kind, None, tuple(title for _, title, _ in stack)))


# -- blocks and lines ----------------------------------------------------------------------


def _blocks(text: str) -> list[list[_Line]]:
    """Blank-line-separated blocks of lines, wrapped lines joined."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    blocks: list[list[_Line]] = []
    raw: list[str] = []
    for line in [*text.split("\n"), ""]:
        if line.strip():
            raw.append(line.rstrip())
        elif raw:
            blocks.append(_unwrap(raw, len(blocks)))
            raw = []
    return blocks


def _unwrap(raw: list[str], block: int) -> list[_Line]:
    """Lines of one block, those wrapped by an editor joined back: a line that ends without
    punctuation continues on the next when the next starts in lower case, or when it is about
    as long as the block's long lines (the width it was wrapped at)."""
    lengths = sorted(len(line.strip()) for line in raw)
    wrap_at = max(_MIN_WRAPPED_CHARS, lengths[int(0.9 * (len(lengths) - 1))] * _WRAPPED_SHARE)
    lines: list[_Line] = []
    for line in raw:
        stripped = line.strip()
        previous = lines[-1].text if lines else ""
        if (
            previous
            and not _SENTENCE_END.search(_without_footnotes(previous))
            and not _starts_structure(stripped)
            and (len(previous) >= wrap_at or _CONTINUES.match(stripped))
        ):
            lines[-1].text = join_words(previous, stripped)
        else:
            lines.append(_Line(stripped, line[:1].isspace(), block))
    return lines


def _starts_structure(text: str) -> bool:
    return bool(
        _is_list_item(text)
        or _CHAPTER.match(text)
        or _DIVISION.match(text)
        or _CHINESE_SECTION.match(text)
        or _DECIMAL_SECTION.match(text)
    )


def _is_list_item(text: str) -> bool:
    return bool(_BULLET.match(text) or _NUMBERED_ITEM.match(text))


def _continues_item(line: _Line, previous: _Line) -> bool:
    """An indented line under a list item, in the same block (wrapped items were joined by
    ``_unwrap`` already)."""
    return line.block == previous.block and line.indented


# -- headings ------------------------------------------------------------------------------


def _heading_rank(line: _Line, following: _Line | None, *, first: bool) -> int | None:
    """The nesting rank of ``line`` as a heading, ``_PLAIN`` for an unnumbered heading (its
    rank depends on the headings above it), or None when it is not a heading."""
    text = line.text
    if not _short_phrase(text, FIRST_TITLE_MAX_CHARS if first else TITLE_MAX_CHARS):
        return None
    chapter = _CHAPTER.match(text)
    if chapter:
        return _CHAPTER_RANKS[chapter.group(1)]
    division = _DIVISION.match(text)
    if division and len(text.split()) <= _DIVISION_MAX_WORDS:
        return _DIVISION_RANKS[division.group(1).lower()]
    if _CHINESE_SECTION.match(text):
        return _FIRST_NUMBERED_RANK
    decimal = _DECIMAL_SECTION.match(text)
    if decimal:
        return _FIRST_NUMBERED_RANK + decimal.group(1).count(".")
    if first and following is not None and not _BULLET.match(text):
        return _PLAIN  # the file's own title
    if following is None or not _opens_paragraph(following):
        return None
    if _NUMBER_SECTION.match(text) or _NUMBERED_ITEM.match(text):
        return _FIRST_NUMBERED_RANK + (1 if _PARENTHESISED.match(text) else 0)
    words = text.split()
    if (
        _BULLET.match(text)
        or _STARTS_LOWER.match(text)
        or text.startswith("[")  # a footnote mark: the rest of a paragraph
        or len(words) > TITLE_MAX_WORDS
        or words[-1].lower() in _FUNCTION_WORDS
    ):
        return None
    return _PLAIN


def _short_phrase(text: str, max_chars: int) -> bool:
    """Reads like a heading: short, no sentence punctuation at its end or inside (after its
    number), no link, brackets and quotes closed."""
    body = _LEADING_NUMBER.sub("", text)
    return (
        len(text) <= max_chars
        and not _SENTENCE_END.search(_without_footnotes(text))
        and ". " not in body
        and "://" not in text
        and any(ch.isalpha() for ch in text)
        and all(text.count(opening) == text.count(closing) for opening, closing in _PAIRS)
        and text.count('"') % 2 == 0
        and reads_like_title(text)
    )


def _without_footnotes(text: str) -> str:
    return _FOOTNOTES.sub("", text)


def _opens_paragraph(line: _Line) -> bool:
    """Text that a heading could stand over: a sentence, a long line or Chinese with a clause
    mark; not a list, another heading-like line or a lead-in ("Check the following:")."""
    text = line.text
    if _is_list_item(text) or _starts_structure(text):
        return False
    long = len(text) > TITLE_MAX_CHARS or len(text.split()) > TITLE_MAX_WORDS
    if text.endswith((":", "：")):
        return long
    ends = _PARAGRAPH_END.search(_without_footnotes(text))
    return bool(ends) or long or not reads_like_title(text)
