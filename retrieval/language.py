"""Which language a query is in, as far as routing needs to know: Chinese or not."""

from __future__ import annotations

import re

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_LETTER = re.compile(r"[^\W\d_]")


def query_language(text: str) -> str:
    """``"zh"`` when Han characters make up at least a fifth of the letters, else ``"en"``.

    A fifth, not a majority: a Chinese question quoting an English product name is still a
    Chinese question, and an English-only dense model would still miss it.
    """
    letters = len(_LETTER.findall(text))
    if not letters:
        return "en"
    return "zh" if len(_HAN.findall(text)) * 5 >= letters else "en"
