"""Citation repair, whole and streamed, and "don't know" detection."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm.citations import DONT_KNOW, CitationFilter, is_dont_know, repair_citations
from llm.reply_language import refusal


@pytest.mark.parametrize(
    ("raw", "expected", "cited"),
    [
        ("Blue [1].", "Blue [1].", [1]),
        ("Blue [1, 2].", "Blue [1][2].", [1, 2]),
        ("Blue [1][2].", "Blue [1][2].", [1, 2]),
        ("Blue [1-3].", "Blue [1][2][3].", [1, 2, 3]),
        ("Blue【2】。", "Blue[2]。", [2]),
        ("蓝色［2］。", "蓝色[2]。", [2]),
        ("Blue [Passage 2].", "Blue [2].", [2]),
        ("Blue [passages 1 and 3].", "Blue [1][3].", [1, 3]),
        ("Blue [Source 3, Source 1].", "Blue [3][1].", [3, 1]),
        ("Blue [^1][^2].", "Blue [1][2].", [1, 2]),
        ("蓝色[文档2]。", "蓝色[2]。", [2]),
        ("Blue (Passage 2) and green.", "Blue [2] and green.", [2]),
        ("The sky is blue (1).", "The sky is blue [1].", [1]),
        ("天空是蓝色的（2）。", "天空是蓝色的[2]。", [2]),
        ("Blue [1, 1].", "Blue [1].", [1]),
    ],
)
def test_styles_normalise_to_brackets(raw: str, expected: str, cited: list[int]) -> None:
    repaired = repair_citations(raw, passage_count=3)
    assert repaired.text == expected
    assert repaired.cited == cited
    assert repaired.dropped == 0


@pytest.mark.parametrize(
    ("raw", "expected", "dropped"),
    [
        ("Blue [4].", "Blue.", 1),
        ("Blue [0] and green [2].", "Blue and green [2].", 1),
        ("Blue [2, 9].", "Blue [2].", 1),
        ("Blue [Passage 7][1].", "Blue [1].", 1),
        ("Blue【5】。", "Blue。", 1),
    ],
)
def test_citations_beyond_the_passages_are_dropped(raw: str, expected: str, dropped: int) -> None:
    repaired = repair_citations(raw, passage_count=3)
    assert repaired.text == expected
    assert repaired.dropped == dropped


@pytest.mark.parametrize(
    "text",
    [
        "Steps: (1) open the valve, (2) wait.",
        "(1) First line\n(2) Second line",
        "Options:(1)",
        "The ratio (9).",  # 9 is not a passage: a bare parenthesis is then not a citation
        "See [the manual] and [1990-2020] and [a, b].",
        "Use `items[5]` or\n```\nx = a[7]\n```\n",
        "An array [1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23].",
        "[link](https://example.com/[4])",
    ],
)
def test_text_that_is_not_a_citation_is_left_alone(text: str) -> None:
    repaired = repair_citations(text, passage_count=3)
    if "[4]" in text:  # inside a URL: still a bracketed number, so it is dropped
        assert repaired.text == "[link](https://example.com/)"
    else:
        assert repaired.text == text
        assert repaired.cited == []


def test_streaming_holds_back_only_a_possible_citation() -> None:
    stream = CitationFilter(passage_count=2)
    assert stream.feed("The sky is blue") == "The sky is blue"
    assert stream.feed(" [") == ""  # could become " [7]", which would vanish with its space
    assert stream.feed("Passage 1") == ""
    assert stream.feed("] and the sea") == " [1] and the sea"
    assert stream.feed(" [9") == ""
    assert stream.feed("].") == "."
    assert stream.flush() == ""
    assert stream.cited == [1]
    assert stream.dropped == 1


def test_flush_releases_an_unfinished_bracket() -> None:
    stream = CitationFilter(passage_count=2)
    assert stream.feed("cut off [1") == "cut off"
    assert stream.flush() == " [1"


# Text made of the pieces that matter, so that Hypothesis meets every case often.
PIECES = st.sampled_from(
    [
        "[", "]", "【", "】", "(", ")", "（", "）", "[1]", "[2]", "[7]", "[0]", "(1)", "(3)",
        "[1, 2]", "[1][9]", "[Passage 2]", "[^1]", "[1-3]", "【9】", "Passage", " ", "  ", "\t",
        "\n", ",", ".", "。", "`", "```", "a", "sky", "蓝", "12", "-", ":", "^", "and",
    ]
)  # fmt: skip
TEXTS = st.lists(PIECES, max_size=40).map("".join) | st.text(max_size=60)


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(c, len(text)) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


@settings(max_examples=600, deadline=None)
@given(text=TEXTS, cuts=st.lists(st.integers(0, 100), max_size=12), count=st.integers(0, 4))
def test_streaming_equals_whole_text_for_any_split(text: str, cuts: list[int], count: int) -> None:
    whole = repair_citations(text, count)
    stream = CitationFilter(count)
    streamed = "".join(stream.feed(part) for part in _split(text, cuts)) + stream.flush()
    assert streamed == whole.text
    assert stream.cited == whole.cited
    assert stream.dropped == whole.dropped


WORDS = st.sampled_from(["The sky is blue", "water boils", "它是蓝色的", "see below", "x"])
MARKERS = st.sampled_from(["[1]", "[5]", "[2, 6]", "【3】", "[Passage 4]", "[^2]", " [9]", " (2)"])
ANSWERS = st.lists(st.tuples(WORDS, MARKERS, st.sampled_from([". ", "。", ", ", "\n"])), max_size=8)


@settings(max_examples=300, deadline=None)
@given(parts=ANSWERS, count=st.integers(0, 4))
def test_repaired_answers_only_cite_given_passages(
    parts: list[tuple[str, str, str]], count: int
) -> None:
    text = "".join(word + marker + end for word, marker, end in parts)
    repaired = repair_citations(text, count)
    numbers = [int(n) for n in re.findall(r"\[(\d+)\]", repaired.text)]
    assert all(1 <= n <= count for n in numbers)
    assert sorted(set(numbers)) == sorted(repaired.cited)
    assert not re.search(r"【|\[Passage|\[\^", repaired.text)
    # A bare "(n)" stays only where n is no passage: then it may well not be a citation.
    assert all(int(n) > count for n in re.findall(r"\((\d)\)", repaired.text))


@pytest.mark.parametrize(
    "answer",
    [
        DONT_KNOW,
        "I don't know based on the provided passages",
        "**I don’t know** based on the passages.",
        "I do not know: the passages say nothing about it.",
        "The provided passages do not mention the warranty period.",
        "我不知道。",
        "根据提供的资料，无法回答这个问题。",
        "所提供的段落中没有提到保修期。",
        "[1] I don't know based on the provided passages.",
        "The Zorblax 9 is not described in the provided passages.",
        "The captain of the Merivel is not explicitly stated in the given passages. It only...",
        "The documents do not mention a captain.",
    ],
)
def test_dont_know_is_detected(answer: str) -> None:
    assert is_dont_know(answer)


@pytest.mark.parametrize(
    "answer",
    [
        "The warranty lasts two years [1].",
        "保修期为两年[1]。",
        "Nobody knows the exact date, but the passages say it was built in 1901 [2].",
        "It was built in 1901 [2]. Its architect is not mentioned in the passages.",
    ],
)
def test_real_answers_are_not_dont_know(answer: str) -> None:
    assert not is_dont_know(answer)


@pytest.mark.parametrize("language", ["en", "zh-Hans", "zh-Hant"])
def test_each_languages_own_refusal_is_recognised(language: str) -> None:
    assert is_dont_know(refusal(language))
    assert is_dont_know(f"**{refusal(language)}**")


@pytest.mark.parametrize(
    "answer",
    ["根據所提供的資料，無法回答這個問題。", "所提供的段落中沒有提到保修期。"],
)
def test_traditional_chinese_paraphrases_are_recognised(answer: str) -> None:
    assert is_dont_know(answer)
