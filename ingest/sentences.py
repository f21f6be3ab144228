"""Sentence splitting for Chinese and English text, lossless (the pieces join back exactly).

Chinese writes no spaces and ends sentences with full-width marks (。！？；…), often followed
directly by the next sentence; English ends them with ``.!?`` followed by a space. A line break
also ends a piece (list items, table rows, code). Abbreviations such as "e.g. " are split too:
the pieces only feed the chunk packer, where a split in the wrong place costs little.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(
    r"""
    (?:
        [。！？；!?;]+          # Chinese and English terminators (repeats: "?!", "！！")
      | …+ | \.{3}             # ellipses
      | \.(?=\s|$)             # a full stop followed by a space or the end: not "3.14"
    )
    [”’"'」』）)\]】]*          # closing quotes and brackets stay with their sentence
    [ \t\u3000]*               # so does the space after it
    (?:\r?\n\s*)?              # and a line break
    | \r?\n\s*                 # a bare line break ends a piece too
    """,
    re.VERBOSE,
)
# Clause marks, for sentences too long to fit in one chunk.
CLAUSE_REGEX = r"[^,;:，、；：]+[,;:，、；：]?\s*"


def split_sentences(text: str) -> list[str]:
    """Split after each sentence end; ``"".join(split_sentences(t)) == t``."""
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if end > start:
            pieces.append(text[start:end])
            start = end
    if start < len(text):
        pieces.append(text[start:])
    return pieces
