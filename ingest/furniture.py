"""Page headers and footers: which carry content worth indexing once, which are running heads."""

from __future__ import annotations

import re
from dataclasses import replace

from ingest.types import Element

_DIGITS = re.compile(r"\d+")
_LETTERS = re.compile(r"[^\W\d_]")
_FURNITURE = frozenset({"header", "footer"})


def keep_distinct_furniture(elements: list[Element]) -> list[Element]:
    """Page headers and footers that carry content ("机密：仅限内部使用", a contract's
    number, a department) become text once per document; their repeats and the bare running
    heads ("Page 3 of 10", "— 7 —") stay furniture, which chunking leaves out.

    Two headers that differ only in their numbers are one header."""
    seen: set[str] = set()
    out: list[Element] = []
    for element in elements:
        if element.kind in _FURNITURE:
            key = _DIGITS.sub("#", " ".join(element.text.split())).casefold()
            letters = len(_LETTERS.findall(_DIGITS.sub("", element.text)))
            if key not in seen and letters >= _MIN_FURNITURE_LETTERS and not _is_page_label(key):
                seen.add(key)
                element = replace(element, kind="text")
            else:
                seen.add(key)
        out.append(element)
    return out


# "Page # of #" and its kin in the languages we read: a page label, not content.
_PAGE_LABEL = re.compile(
    r"^(page|p\.|第|页|頁|seite|pagina)?\s*#\s*(of|/|页|頁|共)?\s*#?\s*(页|頁)?$"
)
_MIN_FURNITURE_LETTERS = 4


def _is_page_label(key: str) -> bool:
    return bool(_PAGE_LABEL.match(key.strip(" -—–·|")))
