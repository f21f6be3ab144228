"""unstructured's elements → our :class:`~ingest.types.Element`, with section paths.

Section paths come from a stack of enclosing titles ordered by ``category_depth`` (heading
level for DOCX/HTML/Markdown; absent for PDF and plain text, where every title is treated as
top level). We do not follow ``parent_id``: unstructured resets it at page breaks, so a
"Heading 2" on page 2 loses its "Heading 1" from page 1, while the depth stack keeps it. A
spreadsheet's sheet name is the outermost section of everything on that sheet.

Two fixes to unstructured's output, both for text it cannot classify well:
* OCR and some PDF text layers put spaces between Chinese characters ("新 鲜 甘 草"); they are
  removed, since Chinese uses none and they break search and display.
* unstructured's title heuristic counts words by spaces, so a whole Chinese paragraph is "one
  word" and often becomes a Title; a title that reads like a sentence (CJK text with a
  full-width comma, ending in 。！？, or longer than 40 characters; any text over 200
  characters) is demoted to text, as is
  debris such as an arXiv side stamp read letter by letter ("n u J").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from ingest.cjk import CJK, CJK_CHAR
from ingest.tables import render_rows, table_rows
from ingest.types import Element

_KINDS = {
    "Title": "title",
    "NarrativeText": "text",
    "UncategorizedText": "text",
    "Text": "text",
    "Address": "text",
    "EmailAddress": "text",
    "ListItem": "list_item",
    "Table": "table",
    "CodeSnippet": "code",
    "FigureCaption": "caption",
    "Formula": "formula",
    "Header": "header",
    "Footer": "footer",
    "PageNumber": "page_number",
    "Image": "image",
}
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{CJK}])[ \t]+(?=[{CJK}])")
_SENTENCE_END = re.compile(r"[。！？；!?]\W*$")
# Typographic ligatures (ﬁ, ﬂ, ﬀ...) from PDF text layers; "conﬁguration" matches no query.
_LIGATURES = re.compile("[\ufb00-\ufb06]")
MAX_TITLE_CHARS = 200
MAX_CJK_TITLE_CHARS = 40


def normalize_text(text: str) -> str:
    text = _LIGATURES.sub(lambda match: unicodedata.normalize("NFKC", match.group()), text)
    return _SPACE_BETWEEN_CJK.sub("", text).strip()


def to_elements(raw: Iterable[Any], *, email: bool = False) -> list[Element]:
    """Convert unstructured elements in reading order; drops empty ones and page breaks."""
    raw = list(raw)
    out = _email_header(raw[0].metadata) if email and raw else []
    # (depth, title): enclosing titles, outermost first.
    stack = [(-1, out[0].text)] if out and out[0].kind == "title" else []
    sheet: str | None = None
    for item in raw:
        kind = _KINDS.get(item.category, "text")
        metadata = item.metadata
        page_name = getattr(metadata, "page_name", None)
        if page_name and page_name != sheet:
            sheet = page_name
            stack = [(-2, page_name)]
        html = getattr(metadata, "text_as_html", None) if kind == "table" else None
        text = _table_text(item.text, html) if kind == "table" else normalize_text(item.text)
        if not text or item.category == "PageBreak":
            continue
        if kind == "title" and not reads_like_title(text):
            kind = "text"
        page = getattr(metadata, "page_number", None)
        if kind == "title" and stack and stack[-1][1] == text:
            # A sheet's or e-mail's own title repeated as its first heading: one level only.
            out.append(Element(text, kind, page, tuple(t for _, t in stack[:-1])))
        elif kind == "title":
            depth = getattr(metadata, "category_depth", None) or 0
            while stack and stack[-1][0] >= depth:
                stack.pop()
            out.append(Element(text, kind, page, tuple(t for _, t in stack)))
            stack.append((depth, text))
        else:
            out.append(Element(text, kind, page, tuple(t for _, t in stack), html))
    return out


def _table_text(text: str, html: str | None) -> str:
    rows = table_rows(html) if html else []
    return normalize_text(render_rows(rows) if rows else text)


def reads_like_title(text: str) -> bool:
    if len(text) > MAX_TITLE_CHARS:
        return False
    words = text.split()
    if len(words) >= 2 and all(len(word) == 1 for word in words):
        return False  # letters of a rotated or spaced-out line, not a heading
    if not any(ch.isalnum() for ch in text):
        return False
    cjk_share = len(CJK_CHAR.findall(text)) / len(text)
    if cjk_share > 0.3:
        clause = "，" in text or "；" in text  # headings are phrases, not clauses
        return len(text) <= MAX_CJK_TITLE_CHARS and not clause and not _SENTENCE_END.search(text)
    return True


def _email_header(metadata: Any) -> list[Element]:
    """The subject as the title, and sender/recipients as a line: unstructured keeps them in
    metadata only, yet they are what people search mail by."""
    subject = normalize_text(getattr(metadata, "subject", None) or "")
    parts = []
    for label, field in (("From", "sent_from"), ("To", "sent_to"), ("Cc", "cc_recipient")):
        values = getattr(metadata, field, None)
        if values:
            parts.append(f"{label}: {', '.join(values)}")
    elements = [Element(subject, "title", None, ())] if subject else []
    if parts:
        path = (subject,) if subject else ()
        elements.append(Element("; ".join(parts), "text", None, path))
    return elements
