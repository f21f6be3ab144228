"""Check and repair the citations of a generated answer, whole or while it streams.

Small models cite in many styles; what leaves here is always ``[n]`` with ``1 <= n <= the
number of passages given``:

    [1]  [1, 2]  [1][2]  [1-3]  【1】  ［1］  [Passage 1]  [Source 2, 3]  [^1]  [文档1]
    (Passage 1)  and a bare (1) or (1, 2) at the end of a sentence: "… blue (1)."

A citation to a passage that was not given is dropped (with the spaces before it). A bare
``(1)`` elsewhere is left alone: "(1) first, (2) second" is a list, not a citation. Nothing
inside backtick code spans or fences is touched.

:class:`CitationFilter` does this on the fly; it holds back only what could still become a
citation (an open ``[…``, trailing spaces, trailing backticks), so a streamed answer never
shows an invalid citation. ``repair_citations`` is the same filter run over a whole text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from llm.reply_language import ENGLISH, REFUSALS

# What the prompt asks the model to say; the answer path replaces it by the question's
# language's own refusal (``llm.reply_language.REFUSALS``), which is recognised as well.
DONT_KNOW = REFUSALS[ENGLISH]

BRACKETS = {"[": "]", "【": "】", "［": "］", "(": ")", "（": "）"}
PARENS = frozenset("(（")
# Longest bracket content considered: "[Passages 1, 2, 3, 4, 5]" fits, prose does not.
MAX_INNER = 40
KEYWORDS = (
    r"passages?|sources?|docs?|documents?|refs?|references?|citations?"
    r"|段落|文档|文件|资料|来源|参考|片段"
)
NUMBER = rf"(?:\^|(?:{KEYWORDS})\s*)?\d{{1,3}}(?:\s*[-–~]\s*\d{{1,3}})?"
INNER = re.compile(
    rf"\s*(?P<keyword>\^|(?:{KEYWORDS}))?\s*{NUMBER}(?:\s*(?:,|，|、|;|；|and|&)\s*{NUMBER})*\s*",
    re.IGNORECASE,
)
# Characters that may stand between the brackets of a citation (keywords are \w).
ALLOWED_INNER = re.compile(r"[\w\s,，、;；^&\-–~]")
# After a bare "(1)": sentence punctuation or the end of the line.
ENDS_SENTENCE = frozenset(".,;:!?。，；：！？\n")
MAX_RANGE = 10


@dataclass(frozen=True)
class RepairedAnswer:
    text: str
    cited: list[int]  # passage numbers in order of first citation
    dropped: int  # citations (or parts of one) to passages that were not given


class CitationFilter:
    """Streaming repair: ``feed(delta)`` returns what can be shown now, ``flush()`` the rest."""

    def __init__(self, passage_count: int) -> None:
        self.passage_count = passage_count
        self.cited: list[int] = []
        self.dropped = 0
        self._pending = ""
        self._fence = 0  # length of the backtick run that opened the current code span
        self._prev = ""  # last non-space character read (not necessarily shown)
        self._owed = ""  # spaces before a dropped citation: shown only if a kept one follows

    def feed(self, delta: str) -> str:
        self._pending += delta
        return self._process(final=False)

    def flush(self) -> str:
        return self._process(final=True)

    def _process(self, final: bool) -> str:
        text, out, i = self._pending, [], 0
        while i < len(text):
            char = text[i]
            if char == "`":
                end = _run_end(text, i, "`")
                if end == len(text) and not final:
                    break  # "``" may still become "```"
                run = end - i
                if not self._fence:
                    self._fence = run
                elif run == self._fence:
                    self._fence = 0
                out.append(text[i:end])
                self._prev, self._owed, i = "`", "", end
            elif self._fence:
                end = text.find("`", i)
                end = len(text) if end < 0 else end
                out.append(text[i:end])
                self._remember(text[i:end])
                i = end
            elif char in " \t":
                end = _run_end(text, i, " \t")
                if end == len(text) and not final:
                    break  # the spaces go if a dropped citation follows
                match = (
                    self._citation(text, end, final) if text[end : end + 1] in BRACKETS else None
                )
                if match is _PARTIAL:
                    break
                spaces, self._owed = text[i:end], ""
                if match is None:
                    out.append(spaces)
                    i = end
                else:
                    i, replacement = match
                    self._emit_or_owe(out, spaces, replacement)
            elif char in BRACKETS:
                match = self._citation(text, i, final)
                if match is _PARTIAL:
                    break
                if match is None:
                    out.append(char)
                    self._prev, self._owed, i = char, "", i + 1
                else:
                    i, replacement = match
                    self._emit_or_owe(out, self._owed, replacement)
            else:
                out.append(char)
                self._remember(char)
                i += 1
        self._pending = text[i:]
        return "".join(out)

    def _citation(self, text: str, start: int, final: bool) -> tuple[int, str] | object | None:
        """At an opening bracket: ``(end, replacement)``, ``_PARTIAL`` or ``None`` (not one)."""
        opener = text[start]
        closer = BRACKETS[opener]
        close = text.find(closer, start + 1, start + 2 + MAX_INNER)
        inner = text[start + 1 : close if close >= 0 else start + 2 + MAX_INNER]
        if not all(ALLOWED_INNER.match(c) for c in inner):
            return None
        if close < 0:
            within_reach = start + 1 + MAX_INNER >= len(text)
            return _PARTIAL if within_reach and not final else None
        match = INNER.fullmatch(inner)
        if match is None:
            return None
        end = close + 1
        numbers = _numbers(inner)
        if numbers is None:
            return None
        if opener in PARENS and not match["keyword"]:
            # A bare "(1)" is a citation only where a sentence ends right after it.
            if end == len(text) and not final:
                return _PARTIAL
            if end < len(text) and text[end] not in ENDS_SENTENCE:
                return None
            if self._prev in ("", "\n", ":", "：") or any(
                not 1 <= n <= self.passage_count for n in numbers
            ):
                return None
        self._prev = closer
        valid = []
        for n in numbers:
            if 1 <= n <= self.passage_count:
                if n not in valid:
                    valid.append(n)
            else:
                self.dropped += 1
        for n in valid:
            if n not in self.cited:
                self.cited.append(n)
        return end, "".join(f"[{n}]" for n in valid)

    def _emit_or_owe(self, out: list[str], spaces: str, replacement: str) -> None:
        """A kept citation keeps the spaces before it; a dropped one takes them along, unless
        a kept citation follows at once ("x [9][1]" -> "x [1]")."""
        if replacement:
            out.append(spaces + replacement)
            self._owed = ""
        else:
            self._owed = spaces

    def _remember(self, text: str) -> None:
        self._owed = ""
        stripped = text.rstrip(" \t")
        if stripped:
            self._prev = stripped[-1]


_PARTIAL = object()


def _run_end(text: str, start: int, chars: str) -> int:
    end = start
    while end < len(text) and text[end] in chars:
        end += 1
    return end


def _numbers(inner: str) -> list[int] | None:
    numbers: list[int] = []
    for low, high in re.findall(r"(\d{1,3})(?:\s*[-–~]\s*(\d{1,3}))?", inner):
        first, last = int(low), int(high or low)
        if last < first or last - first >= MAX_RANGE:
            return None  # "[1990-2020]" is a span of years, not passages
        numbers.extend(range(first, last + 1))
    return numbers


def repair_citations(text: str, passage_count: int) -> RepairedAnswer:
    """Normalise every citation in ``text`` to ``[n]`` and drop those beyond the passages."""
    citation_filter = CitationFilter(passage_count)
    repaired = citation_filter.feed(text) + citation_filter.flush()
    return RepairedAnswer(repaired, citation_filter.cited, citation_filter.dropped)


_DONT_KNOW_OPENINGS = (
    "i don't know",
    "i do not know",
    "i cannot answer",
    "i can't answer",
    "the passages do not",
    "the provided passages do not",
)
# Paraphrases measured on the small models: "X is not mentioned in the provided passages",
# "The passages do not say…". Looked for in the first sentence only.
_NOT_IN_PASSAGES = re.compile(
    r"\bnot (?:explicitly )?(?:mentioned|stated|specified|described|provided|given|found|"
    r"included)\b[^.]{0,30}\b(?:passages?|documents?|context|sources?)\b"
    r"|\b(?:passages?|documents?|context) (?:do|does) not (?:mention|contain|say|state|specify|"
    r"describe|provide|include)\b"
)
# Chinese answers rarely keep the English sentence; these near the start mean the same
# (Simplified, then Traditional).
_DONT_KNOW_CHINESE = (
    *("不知道", "无法回答", "无法从", "没有提供", "未提及", "没有提到"),
    *("無法回答", "無法從", "沒有提供", "沒有提到"),
)


def is_dont_know(answer: str) -> bool:
    """True when the model said it cannot answer from the passages (in any wording we know).

    The prompt asks for exactly :data:`DONT_KNOW`; small models paraphrase or translate it.
    An answer that opens with "The passages do not mention X, but…" counts as not knowing,
    and so does each language's own refusal in ``REFUSALS``.
    """
    text = unicodedata.normalize("NFKC", answer).strip().lower().replace("’", "'")
    text = re.sub(r"^(?:[\s*_\"'>#-]|\[\d+\])+", "", text)  # emphasis, quotes, a stray [1]
    if text.startswith(_DONT_KNOW_OPENINGS) or any(
        _folded(refusal) in text for refusal in REFUSALS.values()
    ):
        return True
    if _NOT_IN_PASSAGES.search(re.split(r"[.!?\n]", text, maxsplit=1)[0]):
        return True
    return any(phrase in text[:40] for phrase in _DONT_KNOW_CHINESE)


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower().replace("’", "'")
