"""Chinese, Japanese and Korean characters, and how pieces of text join around them: with a
space between words of alphabetic scripts, without one between CJK characters (a line break
inside a Chinese sentence is wrapping, not a word boundary)."""

from __future__ import annotations

import re

# CJK radicals to the unified ideographs (extension A included), compatibility ideographs,
# CJK punctuation, full-width forms.
CJK = "\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef"
CJK_CHAR = re.compile(rf"[{CJK}]")


def join_words(left: str, right: str) -> str:
    """``left`` and ``right`` as one text: no space between two CJK characters, else one."""
    if not left:
        return right
    if CJK_CHAR.match(left[-1:]) and CJK_CHAR.match(right[:1]):
        return left + right
    return f"{left} {right}"
