"""An answer written in the question's script: Traditional for a Traditional question.

The packaged model answers a Traditional-Chinese question in Simplified more often than not
(its training data is mostly Simplified; asking in the prompt did not hold), and quotes a
Traditional document's words in Traditional when the question is Simplified. So the text the
user sees is converted, as it streams, with OpenCC (``core.text_forms``): Simplified to
Traditional for a Traditional question, Traditional to Simplified for a Simplified one. English
answers pass untouched.

OpenCC converts by phrases (皇后 stays 皇后, 后天 becomes 後天), so a run of Han characters is
held back at the end of each piece until it is closed by anything else (punctuation, a space,
a citation), or grows past ``MAX_HELD`` characters, when all but its last ``KEEP`` go out:
phrases in OpenCC's tables are shorter than that.
"""

from __future__ import annotations

from core.text_forms import HAN_CHAR, to_simplified, to_traditional
from llm.reply_language import SIMPLIFIED, TRADITIONAL

MAX_HELD = 24
KEEP = 8


class ScriptFollower:
    """``feed(text)`` returns what can be shown now, in the question's script; ``flush()`` the
    rest. Joined, the pieces equal the whole text converted at once (phrases are never cut
    by a piece boundary shorter than ``KEEP`` characters)."""

    def __init__(self, language: str) -> None:
        if language == TRADITIONAL:
            self._convert = to_traditional
        elif language == SIMPLIFIED:
            self._convert = to_simplified
        else:
            self._convert = None
        self._held = ""

    def feed(self, text: str) -> str:
        if self._convert is None:
            return text
        text = self._held + text
        cut = len(text)
        while cut > 0 and HAN_CHAR.match(text[cut - 1]):
            cut -= 1
        if len(text) - cut > MAX_HELD:
            cut = len(text) - KEEP
        self._held = text[cut:]
        return self._convert(text[:cut]) if cut else ""

    def flush(self) -> str:
        held, self._held = self._held, ""
        if self._convert is None or not held:
            return held
        return self._convert(held)
