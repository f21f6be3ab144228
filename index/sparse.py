"""BM25 sparse vectors for Qdrant's sparse index with the IDF modifier.

Qdrant multiplies each matching term by its IDF, computed over the collection, so the
vectors carry everything else: documents hold BM25's saturated term frequency
``tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg_len))`` and queries hold 1.0 per
distinct term. A query's score is then exactly BM25 (with query term frequency ignored).

Tokens: jieba's search-mode segmentation for runs of Chinese characters; lowercase word
tokens with English stop words removed and Porter stemming for everything else; numbers
kept. On SciFact's train split stemming plus stop words scored nDCG@10 0.702 against 0.668
for plain lowercase words; on xquad-r-zh the Chinese segmentation scores 0.820.
Term ids are a 32-bit BLAKE2 hash, identical in every process.

Text with Chinese in it is first put in one written form (:func:`core.text_forms.search_form`:
full-width forms folded, Traditional as Simplified), so 龍井 finds 龙井 and the reverse;
and its words that run letters into digits (``iPhone15``, ``Python3``, written without spaces
in Chinese) also count as their parts, so they meet ``iPhone 15``. ASCII text (English) is
tokenized exactly as before. See ``docs/benchmarks.md`` "Chinese query normalisation".
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Protocol, runtime_checkable

import jieba
from nltk.stem.porter import PorterStemmer

from core.text_forms import HAN_RUN, search_form
from index.types import SparseVector

# What the term ids and weights mean. A re-index records it (``Bm25Encoder.version``), so
# vectors built by another tokenization are never mixed with these: change it with the tokens.
# 2: Traditional folded into Simplified, letter/digit words split in Chinese text.
SPARSE_ENCODER_VERSION = "bm25-jieba/2"

# BM25 parameters measured best on SciFact (k1 and b barely matter near these values).
DEFAULT_K1 = 0.9
DEFAULT_B = 0.4
# Tokens in a typical 256-token chunk: English keeps ~0.46 of the model's word pieces after
# stop words (118), Chinese ~0.59 (150). ``b`` is small, so the exact value matters little.
DEFAULT_AVG_LEN = 128.0

_WORD = re.compile(r"[^\W_]+")
# A word's runs of letters and of digits: ``iphone15`` -> ``iphone``, ``15``.
_LETTERS_OR_DIGITS = re.compile(r"[^\W\d_]+|\d+")
# Function words that only add noise to English queries; chosen small on purpose: negations
# and domain words stay.
_STOP_WORD_LIST = """a an and are as at be been being but by can could did do does for from had has
    have he her his how i if in into is it its may might must of on or our shall she should so such
    than that the their them then there these they this those to too very was we were what
    when where which who whom why will with would you your"""
_STOP_WORDS = frozenset(_STOP_WORD_LIST.split())

_jieba_lock = threading.Lock()
_segmenter: jieba.Tokenizer | None = None
_stemmer = PorterStemmer()


@runtime_checkable
class SparseEncoder(Protocol):
    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]: ...

    def encode_query(self, text: str) -> SparseVector: ...


def _chinese_segmenter() -> jieba.Tokenizer:
    """One jieba dictionary per process, loaded on first use (it takes about a second)."""
    global _segmenter
    if _segmenter is None:
        with _jieba_lock:
            if _segmenter is None:
                jieba.setLogLevel(logging.WARNING)
                segmenter = jieba.Tokenizer()
                segmenter.initialize()
                _segmenter = segmenter
    return _segmenter


# Each word seen: its stem, or "" for a stop word. One dictionary read per word (a hot loop:
# every chunk's every word); emptied when full, so memory stays bounded.
_TERMS: dict[str, str] = {}
_TERMS_MAX = 200_000


def _term(word: str) -> str:
    term = _TERMS.get(word)
    if term is None:
        if len(_TERMS) >= _TERMS_MAX:
            _TERMS.clear()
        term = _TERMS[word] = "" if word in _STOP_WORDS else _stemmer.stem(word)
    return term


def _latin_tokens(text: str) -> list[str]:
    terms = _TERMS
    tokens: list[str] = []
    for word in _WORD.findall(text):
        term = terms.get(word)
        if term is None:
            term = _term(word)
        if term:
            tokens.append(term)
    return tokens


def _latin_tokens_in_chinese(text: str) -> list[str]:
    """:func:`_latin_tokens`, plus the parts of each word that mixes letters and digits:
    Chinese writes ``iPhone15价格`` where English writes ``iPhone 15``. The whole word stays
    too, so an English text's ``iPhone15`` still matches."""
    tokens = _latin_tokens(text)
    for word in _WORD.findall(text):
        if not (word.isalpha() or word.isdigit()):
            tokens += _latin_tokens(" ".join(_LETTERS_OR_DIGITS.findall(word)))
    return tokens


def tokenize(text: str) -> list[str]:
    """Search tokens of ``text``, in order, repeats kept (they are term frequencies)."""
    if text.isascii():
        # Most chunks: the search form of ASCII is itself, and there is no Chinese to segment.
        return _latin_tokens(text.lower())
    return _mixed_tokens(search_form(text).lower(), _latin_tokens_in_chinese)


def _mixed_tokens(text: str, latin: Callable[[str], list[str]]) -> list[str]:
    runs = list(HAN_RUN.finditer(text))
    if not runs:
        return _latin_tokens(text)  # e.g. accented English: no Chinese context
    tokens: list[str] = []
    position = 0
    segmenter = _chinese_segmenter()
    for run in runs:
        tokens += latin(text[position : run.start()])
        tokens += [w for w in segmenter.lcut_for_search(run.group()) if w.strip()]
        position = run.end()
    tokens += latin(text[position:])
    return tokens


@lru_cache(maxsize=500_000)
def term_id(term: str) -> int:
    """Stable across processes and platforms, unlike ``hash()``; fits Qdrant's u32 indices."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "little")


class Bm25Encoder:
    version = SPARSE_ENCODER_VERSION

    def __init__(
        self,
        k1: float = DEFAULT_K1,
        b: float = DEFAULT_B,
        avg_len: float = DEFAULT_AVG_LEN,
        tokenizer: Callable[[str], list[str]] = tokenize,
    ) -> None:
        if k1 < 0 or not 0 <= b <= 1 or avg_len <= 0:
            raise ValueError(f"invalid BM25 parameters k1={k1} b={b} avg_len={avg_len}")
        self.k1 = k1
        self.b = b
        self.avg_len = avg_len
        # Another tokenizer is for benchmarks (before/after); ``version`` names the default.
        self._tokenize = tokenizer

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        return [self.encode_document(text) for text in texts]

    def encode_document(self, text: str) -> SparseVector:
        tokens = self._tokenize(text)
        norm = self.k1 * (1 - self.b + self.b * len(tokens) / self.avg_len)
        weights: dict[int, float] = {}
        for term, tf in Counter(tokens).items():
            index = term_id(term)
            # Two terms sharing a hash (rare) add up, as Qdrant wants unique indices.
            weights[index] = weights.get(index, 0.0) + tf * (self.k1 + 1) / (tf + norm)
        return _sorted_vector(weights)

    def encode_query(self, text: str) -> SparseVector:
        return _sorted_vector(dict.fromkeys(map(term_id, self._tokenize(text)), 1.0))


def _sorted_vector(weights: dict[int, float]) -> SparseVector:
    indices = sorted(weights)
    return SparseVector(indices=indices, values=[weights[i] for i in indices])
