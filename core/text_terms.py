"""The terms two texts are compared on without a model: which sentence of a passage the
question asks about (``retrieval.context``), which passage an answer's sentence states
(``llm.attribution``).

Both scripts are read in one form (:func:`core.text_forms.search_form`: full-width folded,
Traditional as Simplified, so 經理 meets 经理). Chinese counts as character pairs, since it
has no spaces to find words by (a lone character stands for itself); other text as words
less the commonest, plain English suffixes cut and long words cut to five letters
("employees" meets "employee", "manager" meets "manages"); numbers as numbers, thousands
separators dropped (12,000 meets 12000).
"""

from __future__ import annotations

import re

from core.text_forms import HAN_RUN, search_form

_WORD = re.compile(r"[^\W_]+(?:[.'][^\W_]+)*")
# "12,000元": a Han character after the digits is no word boundary, so none is asked for.
_THOUSANDS = re.compile(r"(?<=\d)[,，](?=\d{3}(?!\d))")
_SUFFIXES = (
    (re.compile(r"ies$"), "y"),
    (re.compile(r"(?:(?<=ss)|(?<=sh)|(?<=ch)|(?<=x))es$"), ""),
    (re.compile(r"(?<![su])s$"), ""),
    (re.compile(r"(?:ing|ed|ly)$"), ""),
)
# Longer words are cut to this many letters after their suffix: "manager" meets "manages".
_PREFIX = 5
_STOPWORD_LIST = (
    "a an the and or but of to in on at by for with from as is are was were be been being"
    " it its this that these those there their they them he she his her we you your our i"
    " not no do does did has have had which who whom what when where why how than then so"
    " such can could may might will would should shall also into about over after before"
    " between based provided passage passages according yes"
)
_STOPWORDS = frozenset(_STOPWORD_LIST.split())


def overlap_terms(text: str) -> list[str]:
    """``text``'s terms in order, repeats kept (see the module's docstring)."""
    text = _THOUSANDS.sub("", search_form(text).casefold())
    found: list[str] = []
    position = 0
    for run in HAN_RUN.finditer(text):
        found.extend(_word_terms(text[position : run.start()]))
        chars = run.group()
        found.extend(
            [chars] if len(chars) == 1 else [chars[i : i + 2] for i in range(len(chars) - 1)]
        )
        position = run.end()
    found.extend(_word_terms(text[position:]))
    return found


def _word_terms(text: str) -> list[str]:
    words = (w for w in _WORD.findall(text) if w not in _STOPWORDS)
    # Words with digits are names and numbers (abc123, 2400, 3.5): kept whole.
    return [_stem(w)[:_PREFIX] if len(w) > 4 and w.isalpha() else w for w in words]


def _stem(word: str) -> str:
    for suffix, replacement in _SUFFIXES:
        stemmed = suffix.sub(replacement, word)
        if stemmed != word:
            return stemmed
    return word
