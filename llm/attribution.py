"""Cite every sentence that states something from the passages, in code when the model did not.

Small models often leave Chinese answers uncited (3 of 12 carried a citation in issue 12's
check) and now and then cite the wrong passage. :class:`SentenceAttributor` reads the answer
after :class:`llm.citations.CitationFilter` (citations already ``[n]``), holds each sentence
until it ends (with any citations written after its full stop), and then:

- a sentence without a citation whose words are clearly in a passage gets that passage's
  citation before its full stop: "有十二名员工。" -> "有十二名员工[2]。";
- a citation to a passage that shares (almost) nothing with the sentence, while another
  passage clearly holds it, is moved there; one that only looks weak is left alone;
- an answer that would end with no citation at all cites the passage that best holds it.

Overlap is measured on what a sentence says (:func:`core.text_terms.overlap_terms`: Chinese
as character bigrams in one script, other text as words with plain suffixes cut, numbers as
numbers). Each term is weighed by how few of the given passages hold it, and terms of the
question count half, since an answer restates its question and the new part is what tells
passages apart.

The first sentence also decides whether the model refused: if it did, the refusal in the
question's language replaces it and the rest of the answer (``declined``).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence

from core.text_terms import overlap_terms
from llm.citations import is_dont_know

# A sentence's share of (weighted) terms found in a passage, from 0 to 1.
ADD_CITATION_FROM = 0.3  # an uncited sentence is cited from this much overlap on
MISPLACED_BELOW = 0.15  # a cited passage this weak is wrong only if another is clear:
CLEAR_SUPPORT = 0.6  # one that holds this much of the sentence,
CLEAR_MARGIN = 0.4  # and this much more than the cited one
LAST_RESORT_FROM = 0.15  # an answer with no citation at all cites its best passage from here
QUESTION_TERM_WEIGHT = 0.5
# A sentence that only restates the question ("Yes, it is true that …") shares its words with
# every passage a search found for that question, so words cannot say which holds it; its
# meaning can (``meaning``: the sentence's cosine to each passage). A citation is moved only
# to a passage this much closer in meaning than every one it cites (near-ties stay). Chosen on
# bench.citation_rate's tuning split (SciFact train claims, 19 restating sentences): every
# right citation was within 0.004 of the closest passage, the wrong ones 0.019-0.084 behind
# it (the closest was right for each); see docs/benchmarks.md.
MEANING_MARGIN = 0.01
# A run of text with no sentence end is attributed and shown anyway past this many characters.
MAX_HELD_CHARS = 400
# A first sentence this long with no refusal in it is no refusal (``is_dont_know`` looks for
# Chinese refusal phrases in the first 40 characters).
REFUSAL_CHECK_CHARS = 40
# How refusals open, in the wordings the small models use ("根据所提供的文档内容，我无法回答",
# "抱歉，…", "文中未提及…", "I don't know…"): a first sentence that opens otherwise is an
# answer ("申请成为议员必须年满18周岁") and streams from its first characters instead of being
# held for a whole sentence (seconds of a CPU model's first token). Folded as ``is_dont_know``
# folds; any Latin letter opens a hold too (an English reply to a Chinese question).
_REFUSAL_OPENERS = (
    *("根据", "根據", "基于", "基於", "依据", "依據", "按照", "鉴于", "鑒於", "经过", "經過"),
    *("抱歉", "很抱歉", "对不起", "對不起", "不好意思", "遗憾", "遺憾", "很遗憾", "很遺憾"),
    *("无法", "無法", "不能", "不知道", "不清楚", "不确定", "不確定", "我", "您", "目前"),
    *("没有", "沒有", "没", "沒", "未", "并未", "並未", "并没", "並沒", "尚未", "无", "無"),
    *("提供", "所提供", "给定", "給定", "所给", "所給", "上述", "以上", "前述", "该问题"),
    *("該問題", "这个问题", "這個問題", "此问题", "此問題", "问题", "問題", "关于", "關於"),
    *("对于", "對於", "文档", "文檔", "文件", "文中", "文本", "文章", "段落", "资料", "資料"),
    *("材料", "内容", "內容", "信息", "資訊", "上下文", "在提供", "在所", "在给", "在給"),
    *("在上述", "在文", "在段落", "在资料", "在資料", "从", "從", "参考", "參考", "很遗"),
)
_OPENER_CHARS = max(map(len, _REFUSAL_OPENERS))
_LATIN = re.compile(r"[a-z]")

_CITATION = re.compile(r"\[(\d{1,3})\]")
# What may close a sentence, and what may follow its end before the next one starts.
_STOPS = frozenset("。！？!?；;…")
_AFTER_STOP = frozenset("\"'”’)）」』】")
# A "." after these (compared case-folded, the word just before it) does not end a sentence.
_ABBREVIATIONS = frozenset(
    {
        *("e.g", "i.e", "al", "cf", "vs", "fig", "figs", "eq", "approx", "dr", "mr", "mrs"),
        *("ms", "prof", "vol", "pp", "ca", "resp", "incl", "esp", "dept"),
    }
)
_WORD_BEFORE = re.compile(r"[A-Za-z](?:[A-Za-z.]*[A-Za-z])?$")
# What ``_insert`` steps back over to put a citation before it: held until the sentence ends.
_MAY_PRECEDE_CITATION = _STOPS | _AFTER_STOP | {"."}


def _may_open_refusal(text: str) -> bool:
    """True while ``text`` (the first sentence so far) may still be a refusal's opening:
    too short to tell, or opening as refusals do (``_REFUSAL_OPENERS``)."""
    opening = unicodedata.normalize("NFKC", text).lower()
    opening = re.sub(r"^(?:[\s*_\"'>#-]|\[\d+\])+", "", opening)  # as ``is_dont_know``
    if _LATIN.match(opening):
        return True
    opening = opening[:_OPENER_CHARS]
    if len(opening) < _OPENER_CHARS:
        # Too short to tell unless nothing it could grow into opens a refusal.
        return any(o.startswith(opening) or opening.startswith(o) for o in _REFUSAL_OPENERS)
    return opening.startswith(_REFUSAL_OPENERS)


class SentenceAttributor:
    """Streaming: ``feed(text)`` returns what can be shown now, ``flush()`` the rest.

    A sentence is shown as it comes, up to what attribution may still change: from its first
    citation on, and its full stop (a citation may go before it). With a ``refusal`` (for a
    question not in English), a first sentence that opens as refusals do is held until it ends
    or is clearly no refusal (``REFUSAL_CHECK_CHARS``), so a refusal in the wrong language is
    never shown; one that opens otherwise streams at once.

    ``cited`` lists the passage numbers in the order the shown answer first cites them;
    ``declined`` is set when the answer opened with a refusal: ``refusal`` is shown instead
    of the whole answer, or without one the model's words are, unattributed.
    """

    def __init__(
        self,
        passages: Sequence[str],
        question: str = "",
        refusal: str = "",
        meaning: Callable[[str], Sequence[float] | None] | None = None,
    ) -> None:
        """``meaning``: a sentence's similarity to each passage (None when not known yet),
        consulted only for sentences that restate the question (:data:`MEANING_MARGIN`)."""
        self._meaning = meaning
        self._passages = [set(overlap_terms(p)) for p in passages]
        self._question = set(overlap_terms(question))
        self._refusal = refusal
        self.cited: list[int] = []
        self.declined = False
        self._pending = ""  # the sentence in progress (and what follows it)
        self._emitted = 0  # characters of ``_pending`` shown already
        self._started = False  # the first sentence was checked for a refusal
        self._shown: list[str] = []

    def feed(self, text: str) -> str:
        if self.declined and self._refusal:
            return ""
        self._pending += text
        out = []
        while (end := self._sentence_end()) is not None:
            out.append(self._release(self._pending[:end], final=False))
            self._pending, self._emitted = self._pending[end:], 0
            if self.declined and self._refusal:
                return "".join(out)
        out.append(self._early())
        return "".join(out)

    def flush(self) -> str:
        if (self.declined and self._refusal) or not self._pending:
            return ""
        shown = self._release(self._pending, final=True)
        self._pending, self._emitted = "", 0
        return shown

    def _early(self) -> str:
        """The part of the sentence in progress that attribution cannot change any more."""
        text = self._pending
        if self._refusal and not self._started:
            if _may_open_refusal(text) and len(text.strip()) < REFUSAL_CHECK_CHARS:
                return ""
            self._started = True
            if is_dont_know(text):
                self.declined = True
                return self._refusal
        safe = text.find("[")
        safe = len(text) if safe < 0 else safe
        while safe > 0 and (text[safe - 1] in _MAY_PRECEDE_CITATION or text[safe - 1].isspace()):
            safe -= 1
        if safe <= self._emitted:
            return ""
        shown, self._emitted = text[self._emitted : safe], safe
        return shown

    # -- sentences ---------------------------------------------------------------------

    def _sentence_end(self) -> int | None:
        """Where the first held sentence ends (after the citations written behind its full
        stop), or None while it may go on."""
        text = self._pending
        i, fence = 0, False
        while i < len(text):
            if text.startswith("```", i):
                fence, i = not fence, i + 3
                continue
            char = text[i]
            if fence:
                i += 1
                continue
            stop = char in _STOPS or char == "\n"
            if char == ".":
                following = text[i + 1 : i + 2]
                if not following:
                    return None  # "3." may become "3.5"
                stop = following.isspace() or following in _AFTER_STOP or following == "["
                if stop and following in " \t":
                    stop = self._full_stop(text, i)
                    if stop is None:
                        return None  # what follows the spaces decides
            if stop:
                return self._after_stop(i + 1)
            i += 1
        if fence or len(text) <= MAX_HELD_CHARS:
            return None
        return len(text)

    @staticmethod
    def _full_stop(text: str, i: int) -> bool | None:
        """Whether the "." at ``i``, followed by spaces, ends its sentence: not after a common
        abbreviation (e.g., et al., Fig.) nor before a lower-case word ("H. pylori",
        "E. coli" are one sentence); None while only spaces follow it yet."""
        word = _WORD_BEFORE.search(text, 0, i)
        if word is not None and word.group(0).casefold() in _ABBREVIATIONS:
            return False
        j = i + 1
        while j < len(text) and text[j] in " \t":
            j += 1
        if j == len(text):
            return None
        return not ("a" <= text[j] <= "z")

    def _after_stop(self, i: int) -> int | None:
        """The end of a sentence whose stop is just before ``i``: closing quotes, spaces and
        ``[n]`` citations still belong to it; None while the text may go on with them."""
        text = self._pending
        while i < len(text):
            if text[i] in _AFTER_STOP or text[i] in _STOPS or text[i] == "\n":
                i += 1
                continue
            if text[i] in " \t":
                j = i
                while j < len(text) and text[j] in " \t":
                    j += 1
                if j == len(text):
                    return None
                if text[j] != "[":
                    return i  # the spaces open the next sentence
                i = j
            if text[i] == "[":
                match = _CITATION.match(text, i)
                if match is None:
                    if len(text) - i < 5 and re.fullmatch(r"\[\d{0,3}", text[i:]):
                        return None
                    return i
                i = match.end()
                continue
            return i
        return None

    def _release(self, unit: str, final: bool) -> str:
        """``unit``, a whole sentence, attributed; less what ``_early`` showed of it."""
        if not self._started and unit.strip():
            self._started = True
            if is_dont_know(unit):
                self.declined = True
                return self._refusal or unit[self._emitted :]
        if self.declined:  # refused without words of ours: the model's, as they are
            return unit[self._emitted :]
        shown = self._attribute(unit, final)
        for number in map(int, _CITATION.findall(shown)):
            if number not in self.cited:
                self.cited.append(number)
        self._shown.append(shown)
        # Attribution only changes what _early held back, so the shown part is a prefix.
        return shown[self._emitted :]

    # -- attribution -------------------------------------------------------------------

    def _attribute(self, unit: str, final: bool) -> str:
        numbers = list(dict.fromkeys(int(n) for n in _CITATION.findall(unit)))
        body = _CITATION.sub("", unit)
        scores = self.support(body)
        if scores is None:
            return unit
        best = self._best(scores)
        closest = self._closest_in_meaning(body, numbers or [best + 1])
        # (An uncited sentence not clearly from any passage is left to the last resort.)
        if closest is not None and (numbers or scores[best] >= ADD_CITATION_FROM):
            return (
                self._move(unit, set(numbers), numbers, closest)
                if numbers
                else _insert(unit, closest)
            )
        if numbers:
            # Judged on what the sentence adds to the question: a passage that only shares
            # the question's words with it ("the Lisbon office") is not its source.
            new = self.support(body, new_only=True) or scores
            return self._check(unit, numbers, new, self._best(new))
        if scores[best] >= ADD_CITATION_FROM:
            return _insert(unit, best + 1)
        if final and not self.cited:
            # The last sentence of an answer that cited nothing: the answer as a whole.
            whole = self.support("".join(self._shown) + unit)
            if whole is not None and whole[(top := self._best(whole))] >= LAST_RESORT_FROM:
                return _insert(unit, top + 1)
        return unit

    def support(self, text: str, new_only: bool = False) -> list[float] | None:
        """Per passage, the weighted share of ``text``'s terms it holds; None for text with
        nothing to look for ("Yes.", a lone citation). ``new_only``: only the terms that are
        not the question's (what the sentence adds), when it has any."""
        found = set(overlap_terms(text))
        if new_only and found - self._question:
            found -= self._question
        if not found or not self._passages:
            return None
        count = len(self._passages)
        weights = {}
        for term in found:
            holding = sum(term in p for p in self._passages)
            weight = math.log(1 + count / holding) if holding else 1.0
            weights[term] = weight * (QUESTION_TERM_WEIGHT if term in self._question else 1.0)
        total = sum(weights.values())
        return [sum(w for t, w in weights.items() if t in p) / total for p in self._passages]

    def _closest_in_meaning(self, text: str, cited: list[int]) -> int | None:
        """For a sentence that adds no term to the question's: the passage closest to it in
        meaning, when every passage it cites (or would cite) is :data:`MEANING_MARGIN` further
        from it; None otherwise, or when meaning is not known."""
        if self._meaning is None:
            return None
        found = set(overlap_terms(text))
        if not found or found - self._question:
            return None
        similarity = self._meaning(text)
        if similarity is None or len(similarity) != len(self._passages):
            return None
        top = max(range(len(similarity)), key=lambda i: similarity[i])
        if all(
            1 <= n <= len(similarity) and similarity[n - 1] + MEANING_MARGIN <= similarity[top]
            for n in cited
        ):
            return top + 1
        return None

    def _best(self, scores: list[float]) -> int:
        """The passage that holds the sentence best; near-ties go to the one that also holds
        the question's terms, then to one already cited."""
        top = max(scores)

        def rank(index: int) -> tuple[float, float, bool]:
            near = scores[index] >= top - 0.1
            asked = len(self._question & self._passages[index]) / max(len(self._question), 1)
            return (near, scores[index] + QUESTION_TERM_WEIGHT * asked, index + 1 in self.cited)

        return max(range(len(scores)), key=rank)

    def _check(self, unit: str, numbers: list[int], scores: list[float], best: int) -> str:
        """Move a citation the overlap clearly says is wrong; keep the rest as written."""
        clear = scores[best] >= CLEAR_SUPPORT
        wrong = {
            n
            for n in numbers
            if clear
            and 1 <= n <= len(scores)
            and scores[n - 1] < MISPLACED_BELOW
            and scores[best] - scores[n - 1] >= CLEAR_MARGIN
        }
        if not wrong:
            return unit
        return self._move(unit, wrong, numbers, best + 1)

    @staticmethod
    def _move(unit: str, wrong: set[int], numbers: list[int], target: int) -> str:
        """``unit`` with its first ``wrong`` citation made ``[target]`` and the others
        dropped (all dropped when ``target`` is cited already)."""
        replaced = False

        def swap(match: re.Match[str]) -> str:
            nonlocal replaced
            number = int(match[1])
            if number not in wrong:
                return match[0]
            if target in numbers or replaced:
                return ""  # the right passage is cited already: drop the wrong one
            replaced = True
            return f"[{target}]"

        return _CITATION.sub(swap, unit)


def _insert(unit: str, number: int) -> str:
    """``[number]`` before the sentence's full stop (and closing quotes, trailing spaces):
    "… employees." -> "… employees [2].", "…员工。" -> "…员工[2]。"."""
    end = len(unit.rstrip())
    while end > 0 and (
        unit[end - 1] in _STOPS or unit[end - 1] in _AFTER_STOP or unit[end - 1] == "."
    ):
        end -= 1
    body = unit[:end]
    if not body.strip():
        return unit
    last = body[-1]
    space = " " if last.isascii() and (last.isalnum() or last in ")%`") else ""
    return f"{body}{space}[{number}]{unit[end:]}"
