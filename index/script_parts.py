"""Extra dense vectors for chunks that hold two languages: the ``per_script`` vector layout.

Why: one vector stands for one chunk, and a chunk that mixes an English passage with Chinese
notes (or a Chinese contract quoting English clauses) gets a vector halfway between the two,
close to neither language's questions. On the mixed-language benchmark the fused ranking then
fell below keyword search alone. In the ``per_script`` layout such a chunk keeps its whole-text
vector and gains one for its Latin runs and one for its Han text; the engine stores the three
as one multivector and scores a query by the best of them (Qdrant's MaxSim), so a question
matches the part in its own language. Measured through the engine on that benchmark with 300
mixed distractors (``bench/retrieval_mixed_multivector.py``): English questions 0.588 -> 0.699
nDCG@10 (keyword search 0.647), Chinese 0.781 -> 0.871 (0.818), for 19% more vectors on that
set; a mixed chunk embeds 1.85x slower (``bench/layout_embed_cost.py``). A chunk in one
language (nearly every chunk of a real corpus) gets no extra vector.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from core.text_forms import HAN_CHAR, fold_width
from index.types import PER_SCRIPT

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
    """(the Latin runs, the rest) of a chunk holding both languages substantially; else [].
    Full-width Latin (ＩＳＯ　９００１, common in Chinese typesetting) counts as Latin: the text is
    width-folded first, as the model reads it (NFKC)."""
    text = fold_width(text)
    latin = " ".join(m.group().strip() for m in _LATIN_RUN.finditer(text))
    rest = _LATIN_RUN.sub(" ", text)
    if len(latin.split()) < MIN_LATIN_WORDS or len(HAN_CHAR.findall(rest)) < MIN_HAN_CHARS:
        return []
    return [latin, _SPACES.sub(" ", rest).strip()]


def embed_parts(
    embedder: DocumentEmbedder, texts: Sequence[str], layout: str = PER_SCRIPT
) -> list[list[list[float]]]:
    """Each text's extra vectors for a collection of ``layout``, in one model call: none for
    a text in one language, and none at all unless the layout keeps them."""
    owners, parts = _parts_of(texts, layout)
    vectors = embedder.embed_documents(parts) if parts else np.empty((0, 0), np.float32)
    return _attach(len(texts), owners, vectors)


def embed_with_parts(
    embedder: DocumentEmbedder, texts: Sequence[str], layout: str = PER_SCRIPT
) -> tuple[np.ndarray, list[list[list[float]]]]:
    """``embedder.embed_documents(texts)`` and ``embed_parts(embedder, texts, layout)`` in one
    model call: the parts are sorted into the texts' batches instead of a call of their own
    (a call of two texts, for the one mixed chunk among many, costs the model 1.3-1.9 times a
    text's CPU for each of them). A text's vector does not depend on its batch, so both are
    the vectors the two calls give."""
    owners, parts = _parts_of(texts, layout)
    vectors = embedder.embed_documents([*texts, *parts])
    return vectors[: len(texts)], _attach(len(texts), owners, vectors[len(texts) :])


def _parts_of(texts: Sequence[str], layout: str) -> tuple[list[int], list[str]]:
    owners: list[int] = []
    parts: list[str] = []
    for n, text in enumerate(texts if layout == PER_SCRIPT else ()):
        for part in script_parts(text):
            owners.append(n)
            parts.append(part)
    return owners, parts


def _attach(count: int, owners: list[int], vectors: np.ndarray) -> list[list[list[float]]]:
    out: list[list[list[float]]] = [[] for _ in range(count)]
    for owner, vector in zip(owners, vectors.tolist(), strict=True):
        out[owner].append(vector)
    return out
