"""Which language a query is in, as far as routing needs to know: Chinese or not."""

from __future__ import annotations

import re

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")


def query_language(text: str) -> str:
    """``"zh"`` when Han characters are at least half as many as Latin words, else ``"en"``.

    Characters against words, because a Chinese character carries about as much as an
    English word: a Chinese question quoting an English product name is still a Chinese
    question, and an English-only dense model would still miss it.
    """
    han = len(_HAN.findall(text))
    if not han:
        return "en"
    return "zh" if han * 2 >= len(_LATIN_WORD.findall(text)) else "en"
