"""Extra dense vectors for chunks that hold two languages: the ``per_script`` vector layout.

Why: one vector stands for one chunk, and a chunk that mixes an English passage with Chinese
notes (or a Chinese contract quoting English clauses) gets a vector halfway between the two,
close to neither language's questions. On the mixed-language benchmark the fused ranking then
fell below keyword search alone. In the ``per_script`` layout such a chunk keeps its whole-text
vector and gains one for its Latin runs and one for its Han text; the engine stores the three
as one multivector and scores a query by the best of them (Qdrant's MaxSim), so a question
matches the part in its own language. Measured on that benchmark with 300 mixed distractors
(``bench/retrieval_mixed_multivector.py``): English questions 0.584 -> 0.701 nDCG@10 (keyword
search 0.647), Chinese 0.779 -> 0.868 (0.818), for 19% more vectors on that set. A chunk in
one language (nearly every chunk of a real corpus) gets no extra vector and costs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from core.text_forms import HAN_CHAR

# A run of Latin text: words with the digits, spaces and punctuation between them, so that
# "Section 4.2 (Termination), 30 days" stays one run.
_LATIN_RUN = re.compile(r"[A-Za-z\u00c0-\u024f][A-Za-z0-9\u00c0-\u024f\s.,;:'\"()\-/%+=<>]*")
_SPACES = re.compile(r"\s+")
# What makes a chunk "substantially" two languages: a sentence's worth of each. A product
# name or a one-word English gloss in a Chinese paragraph is part of its topic, not a second one.
MIN_LATIN_WORDS = 8
MIN_HAN_CHARS = 16


class DocumentEmbedder(Protocol):
    def embed_documents(self, texts: list[str]) -> np.ndarray: ...


def script_parts(text: str) -> list[str]:
    """(the Latin runs, the rest) of a chunk holding both languages substantially; else []."""
    latin = " ".join(m.group().strip() for m in _LATIN_RUN.finditer(text))
    rest = _LATIN_RUN.sub(" ", text)
    if len(latin.split()) < MIN_LATIN_WORDS or len(HAN_CHAR.findall(rest)) < MIN_HAN_CHARS:
        return []
    return [latin, _SPACES.sub(" ", rest).strip()]


def embed_parts(embedder: DocumentEmbedder, texts: Sequence[str]) -> list[list[list[float]]]:
    """Each text's extra vectors (none for a text in one language), in one model call."""
    owners: list[int] = []
    parts: list[str] = []
    for n, text in enumerate(texts):
        for part in script_parts(text):
            owners.append(n)
            parts.append(part)
    out: list[list[list[float]]] = [[] for _ in texts]
    if parts:
        for owner, vector in zip(owners, embedder.embed_documents(parts).tolist(), strict=True):
            out[owner].append(vector)
    return out
