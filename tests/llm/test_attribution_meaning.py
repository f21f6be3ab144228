"""Sentences that restate the question are attributed by meaning (issue 12, item 5).

A restating sentence ("Yes, it is true that …") shares its words with every passage the
search found for the question, so overlap cannot say which one holds it; the attributor
then asks how close in meaning the sentence is to each passage (``meaning``), and the answer
path gives it the retrieval model's cosines (``services.answer_meaning``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import numpy as np
import pytest

from core.settings import Settings
from index.embedders import build_embedder
from index.embedding import Embedder
from llm.attribution import MEANING_MARGIN, SentenceAttributor
from llm.citations import CitationFilter
from services.answer_meaning import PassageMeaning

ENGLISH = [
    "Metformin lowers blood glucose in type 2 diabetes; lung fibrosis rarely reverses.",
    "In mice with pulmonary scarring, metformin dissolved the scar and restored the lung.",
    "Lung fibrosis after radiotherapy: metformin was not given.",
]
ENGLISH_QUESTION = "Is it true that metformin reverses lung fibrosis?"
CHINESE = [
    "二甲双胍是治疗2型糖尿病的一线药物，肺纤维化很少能逆转。",
    "在已形成肺部瘢痕的小鼠中，二甲双胍使瘢痕消退，恢复了正常的肺部结构。",
    "放疗后的肺纤维化患者没有使用二甲双胍。",
]
CHINESE_QUESTION = "二甲双胍能逆转肺纤维化吗？"
TRADITIONAL = [
    "二甲雙胍是糖尿病的一線藥物，肺纖維化很少能逆轉。",
    "小鼠肺部瘢痕中，二甲雙胍逆轉了肺纖維化。",
]
TRADITIONAL_QUESTION = "二甲雙胍能逆轉肺纖維化嗎？"


class Meaning:
    """Fixed similarities, noting each sentence asked about."""

    def __init__(self, similarity: Sequence[float] | None) -> None:
        self.similarity = similarity
        self.asked: list[str] = []

    def __call__(self, sentence: str) -> Sequence[float] | None:
        self.asked.append(sentence)
        return self.similarity


def attribute(raw: str, passages: list[str], question: str, meaning: Meaning) -> str:
    citations = CitationFilter(len(passages))
    attributor = SentenceAttributor(passages, question, meaning=meaning)
    shown = attributor.feed(citations.feed(raw))
    return shown + attributor.feed(citations.flush()) + attributor.flush()


@pytest.mark.parametrize(
    ("raw", "passages", "question", "expected"),
    [
        (
            "Yes, it is true that metformin reverses lung fibrosis [1].",
            ENGLISH,
            ENGLISH_QUESTION,
            "Yes, it is true that metformin reverses lung fibrosis [2].",
        ),
        ("二甲双胍能逆转肺纤维化[3]。", CHINESE, CHINESE_QUESTION, "二甲双胍能逆转肺纤维化[2]。"),
        (
            "二甲雙胍能逆轉肺纖維化[1]。",
            TRADITIONAL,
            TRADITIONAL_QUESTION,
            "二甲雙胍能逆轉肺纖維化[2]。",
        ),
    ],
)
def test_a_restating_sentence_cites_the_passage_closest_in_meaning(
    raw: str, passages: list[str], question: str, expected: str
) -> None:
    similarity = [0.80] * len(passages)
    similarity[1] = 0.86
    assert attribute(raw, passages, question, Meaning(similarity)) == expected


def test_an_uncited_restating_sentence_gets_the_passage_closest_in_meaning() -> None:
    shown = attribute(
        "Yes, it is true that metformin reverses lung fibrosis.",
        ENGLISH,
        ENGLISH_QUESTION,
        Meaning([0.80, 0.86, 0.81]),
    )
    assert shown == "Yes, it is true that metformin reverses lung fibrosis [2]."


def test_near_ties_in_meaning_keep_the_citation_as_written() -> None:
    raw = "Yes, it is true that metformin reverses lung fibrosis [1]."
    near = [0.85, 0.85 + MEANING_MARGIN / 2, 0.80]
    assert attribute(raw, ENGLISH, ENGLISH_QUESTION, Meaning(near)) == raw
    # Two citations: moved only when the closest passage is ahead of both.
    both = "Yes, it is true that metformin reverses lung fibrosis [1][3]."
    assert attribute(both, ENGLISH, ENGLISH_QUESTION, Meaning([0.80, 0.86, 0.857])) == both
    assert attribute(both, ENGLISH, ENGLISH_QUESTION, Meaning([0.80, 0.86, 0.81])) == (
        "Yes, it is true that metformin reverses lung fibrosis [2]."
    )


@pytest.mark.parametrize(
    ("raw", "passages", "question"),
    [
        # Words of its own ("scar", "mice"): overlap decides, meaning is not asked.
        ("Metformin dissolved the scar in mice [2].", ENGLISH, ENGLISH_QUESTION),
        ("二甲双胍使小鼠的瘢痕消退[2]。", CHINESE, CHINESE_QUESTION),
    ],
)
def test_a_sentence_with_words_of_its_own_is_judged_by_them(
    raw: str, passages: list[str], question: str
) -> None:
    meaning = Meaning([0.9, 0.5, 0.5])
    assert attribute(raw, passages, question, meaning) == raw
    assert meaning.asked == []


def test_without_meaning_yet_a_restating_sentence_is_judged_by_words() -> None:
    raw = "Yes, it is true that metformin reverses lung fibrosis [1]."
    assert attribute(raw, ENGLISH, ENGLISH_QUESTION, Meaning(None)) == raw
    # A similarity list that does not match the passages is not used either.
    assert attribute(raw, ENGLISH, ENGLISH_QUESTION, Meaning([0.1, 0.9])) == raw


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    settings = Settings(environment="test")
    return build_embedder(settings.embedding, settings.model_cache_path)


@pytest.mark.parametrize(
    ("passages", "sentence"),
    [
        (ENGLISH, "Metformin restored the lung of mice."),
        (CHINESE, "二甲双胍恢复了小鼠的肺部结构。"),
    ],
)
def test_passage_meaning_is_the_retrieval_models_cosine(
    embedder: Embedder, passages: list[str], sentence: str
) -> None:
    async def cosines() -> list[float] | None:
        return PassageMeaning(embedder, passages, wait_s=60)(sentence)

    found = asyncio.run(cosines())
    expected = embedder.embed_documents(passages) @ embedder.embed_query(sentence)
    assert found is not None
    assert np.allclose(found, expected, atol=1e-5)


class SlowEmbedder:
    """An embedder whose passage vectors take a while, or fail."""

    def __init__(self, inner: Embedder, delay_s: float, fail: bool = False) -> None:
        self.inner, self.delay_s, self.fail = inner, delay_s, fail

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        time.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("the model fell over")
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)


def test_the_answer_never_waits_for_passage_vectors(embedder: Embedder) -> None:
    slow = PassageMeaning(SlowEmbedder(embedder, 2.0), ENGLISH)  # type: ignore[arg-type]
    started = time.perf_counter()
    assert slow("Metformin restored the lung.") is None
    assert time.perf_counter() - started < 0.5
    slow.close()
    failing = PassageMeaning(SlowEmbedder(embedder, 0.0, fail=True), CHINESE, wait_s=10)  # type: ignore[arg-type]
    assert failing("二甲双胍恢复了肺部结构。") is None
