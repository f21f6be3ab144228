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
nearly all phrases in OpenCC's tables are two to four characters, and a Chinese clause runs
to its punctuation with no other break, so a longer hold would delay the first words shown
by a whole clause (seconds on a CPU model).
"""

from __future__ import annotations

from core.text_forms import HAN_CHAR, to_hong_kong_forms, to_simplified, to_traditional
from llm.reply_language import SIMPLIFIED, TRADITIONAL

MAX_HELD = 10
KEEP = 4


class ScriptFollower:
    """``feed(text)`` returns what can be shown now, in the question's script; ``flush()`` the
    rest. Joined, the pieces equal the whole text converted at once wherever no run of Han
    characters is longer than ``MAX_HELD`` (a longer one may be cut between phrases)."""

    def __init__(self, language: str, hong_kong: bool = False) -> None:
        # ``hong_kong``: the reader's Traditional is Hong Kong's (zh-HK, zh-MO, zh-Hant-HK, as
        # ``api.web.i18n.supported`` reads tags): its character forms, not Taiwan's.
        if language == TRADITIONAL:
            self._convert = to_hong_kong_forms if hong_kong else to_traditional
        elif language == SIMPLIFIED:
            self._convert = to_simplified
        else:
            self._convert = None
        self._held = ""
        # The last characters already shown, unconverted: the left context of the next piece,
        # so a phrase cut by a forced release (皇|后) still converts as a phrase.
        self._context = ""

    def feed(self, text: str) -> str:
        if self._convert is None:
            return text
        text = self._held + text
        cut = len(text)
        while cut > 0 and HAN_CHAR.match(text[cut - 1]):
            cut -= 1
        if len(text) - cut > MAX_HELD:
            cut = len(text) - KEEP  # the held run's tail is the right context of what goes
        self._held = text[cut:]
        return self._release(text, cut)

    def flush(self) -> str:
        held, self._held = self._held, ""
        if self._convert is None or not held:
            return held
        return self._release(held, len(held))

    def _release(self, text: str, cut: int) -> str:
        """``text[:cut]`` converted with the shown context before it and ``text[cut:]`` after."""
        if not cut:
            return ""
        assert self._convert is not None
        whole = self._context + text
        converted = self._convert(whole)
        self._context = whole[: len(self._context) + cut][-KEEP:]
        if len(converted) != len(whole):  # not one for one: convert the piece on its own
            return self._convert(text[:cut])
        start = len(whole) - len(text)
        return converted[start : start + cut]
